import type { z } from 'zod';
import { RequestInvalidError } from './errors.ts';

/** Parses a request body, or throws CONFIG_REQUEST_INVALID naming the first bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'body';
  throw new RequestInvalidError(`${where}: ${issue?.message ?? 'invalid'}`);
}
