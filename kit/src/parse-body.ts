import type { z } from 'zod';

/** Parses a request body, or throws the program's request-invalid error naming the first bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown, invalid: (detail: string) => Error): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw invalid(firstIssue(result.error));
}

/** `field.path: what is wrong`, for the first issue; `body` when the whole body is wrong. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
  return `${where}: ${issue?.message ?? 'invalid'}`;
}
