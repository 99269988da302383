import { parseBody as parseWith } from '@portcullis/kit';
import type { z } from 'zod';
import { RequestInvalidError } from './errors.ts';

/** Parses a request body, or throws AUTH_REQUEST_INVALID naming the first bad field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  return parseWith(schema, body, (detail) => new RequestInvalidError(detail));
}
