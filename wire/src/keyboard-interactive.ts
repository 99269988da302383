import { z } from 'zod';
import { AuthResponseSchema, ConnectionFieldsSchema } from './auth.ts';

/**
 * Extension (not in ContainerSSH): `POST /keyboard-interactive`, a conversation the auth server
 * drives and the gateway relays verbatim to the SSH client (RFC 4256). Each call carries the
 * answers to the previous step; each answer is either the next step or the final decision.
 */

/** Limits the gateway enforces on both sides; a body outside them is refused (fail closed). */
export const KEYBOARD_INTERACTIVE_LIMITS = {
  /** Prompts in one step (OpenSSH itself refuses more than 100). */
  prompts: 16,
  /** Characters of one prompt, and of one answer. */
  promptLength: 1024,
  answerLength: 1024,
  /** Characters of a step's name and instruction. */
  nameLength: 256,
  instructionLength: 4096,
  /** Characters of the opaque `state` the server may hand back and forth. */
  stateLength: 8192,
} as const;

export const KeyboardInteractivePromptSchema = z.object({
  prompt: z.string().min(1).max(KEYBOARD_INTERACTIVE_LIMITS.promptLength).describe('Text shown before the user types, e.g. "Password: ".'),
  echo: z.boolean().default(false).describe('Show what the user types (a one-time code may echo; a password must not).'),
});
export type KeyboardInteractivePrompt = z.output<typeof KeyboardInteractivePromptSchema>;

/** One step of the conversation, as SSH_MSG_USERAUTH_INFO_REQUEST carries it. */
export const KeyboardInteractiveChallengeSchema = z.object({
  name: z.string().max(KEYBOARD_INTERACTIVE_LIMITS.nameLength).default('').describe('Title; OpenSSH prints it when non-empty.'),
  instruction: z.string().max(KEYBOARD_INTERACTIVE_LIMITS.instructionLength).default('').describe('Text shown before the prompts (e.g. a URL to open and a code to enter); may be several lines.'),
  prompts: z.array(KeyboardInteractivePromptSchema).max(KEYBOARD_INTERACTIVE_LIMITS.prompts).describe('What to ask; may be empty to only show the instruction (the client then answers at once).'),
});
export type KeyboardInteractiveChallenge = z.output<typeof KeyboardInteractiveChallengeSchema>;

export const KeyboardInteractiveRequestSchema = ConnectionFieldsSchema.extend({
  round: z.number().int().min(0).max(10_000).describe('0 when the client starts keyboard-interactive; then the number of steps answered so far.'),
  submethods: z.string().max(1024).optional().describe("The client's RFC 4256 submethods hint, usually empty."),
  state: z.string().max(KEYBOARD_INTERACTIVE_LIMITS.stateLength).optional().describe('The `state` of the previous step, echoed unchanged; absent on round 0.'),
  answers: z
    .array(z.string().max(KEYBOARD_INTERACTIVE_LIMITS.answerLength))
    .max(KEYBOARD_INTERACTIVE_LIMITS.prompts)
    .describe("The user's answers to the previous step's prompts, in order (empty on round 0). Secrets: never logged."),
});
export type KeyboardInteractiveRequest = z.output<typeof KeyboardInteractiveRequestSchema>;

/**
 * The answer: either `challenge` (the next step, with an optional opaque `state` the gateway sends
 * back with the answers) or `success` (the final decision, exactly as /password and /pubkey answer
 * it, with authenticatedUsername, metadata, environment and files). Never both, never neither.
 */
export const KeyboardInteractiveResponseSchema = AuthResponseSchema.extend({
  success: z.boolean().optional().describe('The final decision; absent while the conversation goes on.'),
  challenge: KeyboardInteractiveChallengeSchema.optional().describe('The next step; absent once decided.'),
  state: z.string().max(KEYBOARD_INTERACTIVE_LIMITS.stateLength).optional().describe('Opaque text sent back with the answers to this step (e.g. a conversation id); never shown to the user.'),
}).refine((body) => (body.success === undefined) !== (body.challenge === undefined), {
  message: 'exactly one of success (final) or challenge (next step)',
});
export type KeyboardInteractiveResponse = z.output<typeof KeyboardInteractiveResponseSchema>;
