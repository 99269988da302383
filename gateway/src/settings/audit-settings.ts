import { z } from 'zod';
import { DurationSchema } from './duration.ts';

const ListenSchema = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'listen is host:port (e.g. "127.0.0.1:8088")');

/**
 * The gateway's `audit` section: where recordings go. What is recorded comes per user from the
 * config webhook (`config.audit`); this is plumbing only. S3 credentials live in a file of
 * their own and are never logged.
 */
export const AuditSettingsSchema = z.strictObject({
  /** `storage: file` recordings: one folder per connection under this directory. */
  directory: z.string().min(1).optional(),
  /** `storage: s3` recordings, on any S3-compatible service. */
  s3: z
    .strictObject({
      endpoint: z.url().optional(),
      region: z.string().min(1).default('us-east-1'),
      bucket: z.string().min(1),
      /** Key prefix inside the bucket. */
      prefix: z.string().default(''),
      /** JSON file `{ "accessKeyId": …, "secretAccessKey": … }`; without it the SDK's default chain applies. */
      credentialsFile: z.string().min(1).optional(),
      /** Path-style URLs (`endpoint/bucket/key`), as MinIO and most self-hosted stores need. */
      forcePathStyle: z.boolean().default(true),
      /** Multipart part size; S3 refuses parts below 5 MiB except the last. */
      partSize: z
        .number()
        .int()
        .min(5 * 1024 * 1024)
        .default(5 * 1024 * 1024),
      /** How long a bucket check may take before the store counts as unavailable. */
      timeout: DurationSchema.default(5_000),
    })
    .optional(),
  /**
   * Local staging for uploads in progress: at most one part per open recording stream, plus a
   * journal that lets a restarted gateway finish what a crashed one left.
   */
  stagingDirectory: z.string().min(1).optional(),
  /** A recording chunk is closed and written at least this often: a crash loses no more than this. */
  flushInterval: DurationSchema.default(5_000),
  /** A chunk is also closed when its raw content reaches this size. */
  maxChunkBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /**
   * Back-pressure: when this many bytes of one recording wait for the storage, the session's
   * streams pause (the SSH window holds the client) until a quarter is left. Nothing is dropped.
   */
  maxPendingBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .default(16 * 1024 * 1024),
  /**
   * Raw bytes one connection's recording may take. Past it nothing more is recorded and the
   * recording says so; a session whose policy requires recording is ended instead.
   */
  maxRecordingBytes: z
    .number()
    .int()
    .positive()
    .default(256 * 1024 * 1024),
  /**
   * Free bytes kept on the recording directory's filesystem (file storage and S3 staging):
   * below it no recording starts (a required one refuses the login) and running ones stop
   * as at their own quota, so recordings never fill the disk.
   */
  minFreeBytes: z
    .number()
    .int()
    .nonnegative()
    .default(1024 * 1024 * 1024),
  /**
   * The recording player page (off unless set). HTTPS that admits only auditors: a client
   * certificate signed by `tls.clientCaFile` whose common name is `auditor:<name>`
   * (`portcullis pki auditor NAME`). Every view is logged with the auditor's name.
   */
  player: z
    .strictObject({
      listen: ListenSchema,
      pageSize: z.number().int().positive().max(500).default(20),
      tls: z.strictObject({
        /** The page's server certificate and key (`portcullis pki player --san HOST`). */
        certFile: z.string().min(1),
        keyFile: z.string().min(1),
        /** The CA that signs auditor certificates; any other client fails the TLS handshake. */
        clientCaFile: z.string().min(1),
      }),
      /** Which store the page shows; by default the directory when set, else S3. */
      storage: z.enum(['file', 's3']).optional(),
    })
    .optional(),
});
export type AuditSettings = z.infer<typeof AuditSettingsSchema>;
