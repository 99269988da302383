import { z } from 'zod';

/**
 * One metadata or environment entry. `sensitive` entries must never reach logs, metrics,
 * audit events or error messages, and are not re-sent to later webhooks unless the gateway
 * is configured to (ContainerSSH metadata/common.go).
 */
export const MetadataValueSchema = z.object({
  value: z.string().describe('The value; never logged when sensitive.'),
  sensitive: z.boolean().default(false).describe('The value is a secret: kept out of logs, and not sent to later webhooks unless configured.'),
});
export type MetadataValue = z.infer<typeof MetadataValueSchema>;

export const MetadataMapSchema = z.record(z.string().min(1).max(256), MetadataValueSchema);
export type MetadataMap = z.infer<typeof MetadataMapSchema>;

/** Environment variable names a shell can hold; anything else is refused at the boundary. */
export const EnvironmentMapSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _'), MetadataValueSchema);
export type EnvironmentMap = z.infer<typeof EnvironmentMapSchema>;

/**
 * Extension: the permission bits of a file written into the container, as octal text
 * ("0600", "644"). ContainerSSH has no such field and ignores it. No setuid, setgid or
 * sticky bits: a webhook cannot hand the session a privilege-raising program.
 */
export const FileModeSchema = z.string().regex(/^0?[0-7]{3}$/, 'mode is octal permission bits, e.g. "0600"');

/** A file's content as standard base64 with padding (Go's []byte JSON encoding). */
export const FileValueSchema = MetadataValueSchema.extend({
  value: z.base64().describe('File content, standard base64 (Go []byte encoding).'),
  mode: FileModeSchema.optional().describe('Portcullis extension: octal permission bits. Default "0600" when sensitive, else "0644".'),
});
export type FileValue = z.infer<typeof FileValueSchema>;

/** Files map an absolute path inside the session container to its content. */
export const FilesMapSchema = z.record(
  z
    .string()
    .max(4096)
    .regex(/^\/[^\0]*$/, 'file paths are absolute')
    .refine((path) => !path.split('/').includes('..'), 'file paths may not contain ".."'),
  FileValueSchema,
);
export type FilesMap = z.infer<typeof FilesMapSchema>;

/** Maps ContainerSSH carries from step to step (auth → authz → config → backend). */
export const ConnectionMapsSchema = z.object({
  metadata: MetadataMapSchema.optional(),
  environment: EnvironmentMapSchema.optional(),
  files: FilesMapSchema.optional(),
});
export type ConnectionMaps = z.infer<typeof ConnectionMapsSchema>;

/** The permission bits a file entry gets: its own `mode`, else 0600 for secrets and 0644 for the rest. */
export function fileMode(file: FileValue): number {
  return file.mode !== undefined ? Number.parseInt(file.mode, 8) : file.sensitive ? 0o600 : 0o644;
}
