import type { z } from 'zod';

/** `field.path: what is wrong`, for the first issue; `body` when the whole body is wrong. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
  return `${where}: ${issue?.message ?? 'invalid'}`;
}
