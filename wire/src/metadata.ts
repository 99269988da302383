import { z } from 'zod';

/**
 * One metadata, environment or file entry. `sensitive` entries must never reach logs,
 * metrics, audit events or error messages (ContainerSSH metadata/common.go).
 */
export const MetadataValueSchema = z.object({
  value: z.string(),
  sensitive: z.boolean().default(false),
});
export type MetadataValue = z.infer<typeof MetadataValueSchema>;

export const MetadataMapSchema = z.record(z.string().min(1), MetadataValueSchema);
export type MetadataMap = z.infer<typeof MetadataMapSchema>;

/** Environment variable names a shell can hold; anything else is refused at the boundary. */
export const EnvironmentMapSchema = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and _'),
  MetadataValueSchema,
);
export type EnvironmentMap = z.infer<typeof EnvironmentMapSchema>;

/** Files map an absolute path to base64 content (Go []byte encoding). */
export const FilesMapSchema = z.record(
  z.string().regex(/^\/[^\0]*$/, 'file paths are absolute'),
  MetadataValueSchema.extend({ value: z.base64() }),
);
export type FilesMap = z.infer<typeof FilesMapSchema>;

/** Maps ContainerSSH carries from step to step (auth → authz → config → backend). */
export const ConnectionMapsSchema = z.object({
  metadata: MetadataMapSchema.optional(),
  environment: EnvironmentMapSchema.optional(),
  files: FilesMapSchema.optional(),
});
export type ConnectionMaps = z.infer<typeof ConnectionMapsSchema>;
