import { z } from 'zod';

/**
 * Messages between the cluster primary and its workers (node:cluster IPC). Both sides parse
 * what they receive: a worker runs code that talks to untrusted clients, so the primary, which
 * holds every worker's limits, trusts no field of a worker's message it has not checked.
 * prom-client's own metrics messages share the channel; they carry `type`, never `t`.
 */
const Id = z.number().int().nonnegative();
const Username = z.string().min(1).max(4096);
const Penalty = z.enum(['authfail', 'noauth', 'grace-exceeded']);

const SingleWorkerMessageSchema = z.discriminatedUnion('t', [
  z.strictObject({ t: z.literal('ready'), instanceId: z.string().max(64) }),
  /** Source checks for a connection whose address only the worker knows (PROXY protocol header). */
  z.strictObject({ t: z.literal('admit'), req: Id, address: z.string().max(64) }),
  z.strictObject({ t: z.literal('logged-in'), ticket: Id }),
  z.strictObject({ t: z.literal('closed'), ticket: Id, penalty: Penalty.optional() }),
  z.strictObject({ t: z.literal('take-connection'), req: Id, username: Username, limit: z.number().int().positive().optional() }),
  z.strictObject({ t: z.literal('take-container'), req: Id, username: Username }),
  z.strictObject({ t: z.literal('release-slot'), slot: Id }),
  z.strictObject({
    t: z.literal('health'),
    req: Id,
    results: z.array(z.strictObject({ name: z.string().max(64), error: z.string().max(1024).optional(), warning: z.string().max(1024).optional() })).max(16),
  }),
]);
export type WorkerMessage = z.infer<typeof SingleWorkerMessageSchema>;

/** A worker sends what one turn of its event loop produced as one IPC write (fewer syscalls and wake-ups per connection). */
export const WorkerBatchSchema = z.array(SingleWorkerMessageSchema).min(1).max(10_000);

const RefusalCodeSchema = z.enum(['SECURITY_MAX_CONNECTIONS', 'SECURITY_MAX_CONNECTIONS_PER_USER', 'SECURITY_MAX_CONTAINERS_PER_USER']);
export type RefusalCode = z.infer<typeof RefusalCodeSchema>;
const Refusal = z.strictObject({ code: RefusalCodeSchema, message: z.string().max(1024) });

export const PrimaryMessageSchema = z.discriminatedUnion('t', [
  /** With a socket handle: a connection the primary admitted (`ticket`), or one whose PROXY header the worker reads first. */
  z.strictObject({ t: z.literal('connection'), ticket: Id, delayMs: z.number().nonnegative(), passwordsRefusedMs: z.number().nonnegative() }),
  z.strictObject({ t: z.literal('proxied-connection') }),
  z.strictObject({ t: z.literal('admitted'), req: Id, ticket: Id.optional(), delayMs: z.number().nonnegative(), passwordsRefusedMs: z.number().nonnegative() }),
  z.strictObject({ t: z.literal('slot'), req: Id, slot: Id.optional(), refusal: Refusal.optional() }),
  z.strictObject({ t: z.literal('check-health'), req: Id }),
  z.strictObject({ t: z.literal('shutdown') }),
]);
export type PrimaryMessage = z.infer<typeof PrimaryMessageSchema>;

/** How many worker processes `workers` asks for: `auto` is one per core, at most this many. */
export const MAX_AUTO_WORKERS = 16;
