import { z } from 'zod';
import { ConnectionMapsSchema } from './metadata.ts';

/** Fields ContainerSSH sends with every webhook request (metadata/connection.go). */
export const ConnectionFieldsSchema = z.object({
  username: z.string().min(1).max(256),
  remoteAddress: z.string().min(1).max(256),
  connectionId: z.string().min(1).max(256),
  clientVersion: z.string().max(1024).optional(),
});

export const PasswordRequestSchema = ConnectionFieldsSchema.extend({
  passwordBase64: z.base64(),
}).extend(ConnectionMapsSchema.shape);
export type PasswordRequest = z.infer<typeof PasswordRequestSchema>;

/** Never-merged ContainerSSH SSH-CA extension; ContainerSSH servers ignore it. */
export const CaCertificateSchema = z.object({
  key: z.string(),
  keyID: z.string(),
  validPrincipals: z.array(z.string()),
  validAfter: z.string(),
  validBefore: z.string(),
});
export type CaCertificate = z.infer<typeof CaCertificateSchema>;

export const PublicKeyRequestSchema = ConnectionFieldsSchema.extend({
  /** Authorized-key format (`type base64`, no comment). */
  publicKey: z.string().regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+$/, 'publicKey is in authorized-key format'),
  caCertificate: CaCertificateSchema.optional(),
}).extend(ConnectionMapsSchema.shape);
export type PublicKeyRequest = z.infer<typeof PublicKeyRequestSchema>;

export const AuthorizationRequestSchema = ConnectionFieldsSchema.extend({
  authenticatedUsername: z.string().max(256),
}).extend(ConnectionMapsSchema.shape);
export type AuthorizationRequest = z.infer<typeof AuthorizationRequestSchema>;

/** Answer of /password, /pubkey and /authz. A login is refused only by `success: false`. */
export const AuthResponseSchema = z
  .object({
    success: z.boolean(),
    authenticatedUsername: z.string().max(256).optional(),
  })
  .extend(ConnectionMapsSchema.shape);
export type AuthResponse = z.infer<typeof AuthResponseSchema>;
