import { z } from 'zod';
import { ConnectionMapsSchema } from './metadata.ts';

/** Fields ContainerSSH sends with every webhook request (metadata/connection.go). */
export const ConnectionFieldsSchema = z.object({
  username: z.string().min(1).max(256).describe('The username the client sent.'),
  remoteAddress: z.string().min(1).max(256).describe('Client address as "ip:port" ("[v6]:port").'),
  connectionId: z.string().min(1).max(256).describe('Opaque connection id (32 lower-case hex characters).'),
  clientVersion: z.string().max(1024).optional().describe('The client SSH version string, e.g. SSH-2.0-OpenSSH_9.6.'),
});

export const PasswordRequestSchema = ConnectionFieldsSchema.extend({
  passwordBase64: z.base64().describe('The password, standard base64 with padding.'),
}).extend(ConnectionMapsSchema.shape);
export type PasswordRequest = z.infer<typeof PasswordRequestSchema>;

/** Never-merged ContainerSSH SSH-CA extension; ContainerSSH servers ignore it. */
export const CaCertificateSchema = z.object({
  key: z.string().describe('The CA public key in authorized-key format.'),
  keyID: z.string(),
  validPrincipals: z.array(z.string()),
  validAfter: z.string().describe('RFC 3339 time.'),
  validBefore: z.string().describe('RFC 3339 time.'),
});
export type CaCertificate = z.infer<typeof CaCertificateSchema>;

export const PublicKeyRequestSchema = ConnectionFieldsSchema.extend({
  /** Authorized-key format (`type base64`, no comment); a user certificate travels whole. */
  publicKey: z
    .string()
    .max(16 * 1024)
    .regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/, 'publicKey is in authorized-key format')
    .describe('The key (or the whole OpenSSH user certificate) in authorized-key format, no comment.'),
  caCertificate: CaCertificateSchema.optional().describe('Extension (ContainerSSH SSH-CA branch, never released): parsed certificate information.'),
}).extend(ConnectionMapsSchema.shape);
export type PublicKeyRequest = z.infer<typeof PublicKeyRequestSchema>;

export const AuthorizationRequestSchema = ConnectionFieldsSchema.extend({
  authenticatedUsername: z.string().max(256).describe('The identity the auth step verified.'),
}).extend(ConnectionMapsSchema.shape);
export type AuthorizationRequest = z.infer<typeof AuthorizationRequestSchema>;

/**
 * Answer of /password, /pubkey and /authz. A login is refused only by `success: false`.
 * The connection fields may be echoed (ContainerSSH's document lists them); the gateway
 * ignores them, as ContainerSSH does.
 */
export const AuthResponseSchema = ConnectionFieldsSchema.partial()
  .extend({
    success: z.boolean().describe('false refuses the login; any non-200 status means "unavailable".'),
    authenticatedUsername: z.string().max(256).optional().describe('The verified identity; taken only when non-empty.'),
  })
  .extend(ConnectionMapsSchema.shape);
export type AuthResponse = z.infer<typeof AuthResponseSchema>;
