import { z } from 'zod';

/** Every HTTP error both services send: a stable code and a message a person may read. */
export const ErrorResponseSchema = z.object({
  code: z.string().regex(/^[A-Z][A-Z0-9_]+$/),
  message: z.string(),
});
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;
