import { responses, type WebhookApp } from '@portcullis/kit';
import type { FastifyRequest } from 'fastify';
import { AUTH_ANSWER, AuthResponseSchema, PublicKeyRequestSchema, WEBHOOK_ERROR_ANSWERS, type AuthResponse, type MetadataMap, type PublicKeyRequest } from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import { CERTIFICATE_TYPE, type CertificateRefusal, type UserCertificateVerifier } from '../methods/certificate/index.ts';
import type { UserDirectory } from '../users-file.ts';

/** One log code per reason a certificate is refused, so operators can alert on each. */
const REFUSAL_CODES: Record<CertificateRefusal, string> = {
  invalid: LogCode.CERT_INVALID,
  'ca-unknown': LogCode.CERT_CA_UNKNOWN,
  revoked: LogCode.CERT_REVOKED,
  'not-yet-valid': LogCode.CERT_NOT_YET_VALID,
  expired: LogCode.CERT_EXPIRED,
  'principal-mismatch': LogCode.CERT_PRINCIPAL_MISMATCH,
  'source-address-denied': LogCode.CERT_SOURCE_ADDRESS_DENIED,
  'critical-option-unsupported': LogCode.CERT_CRITICAL_OPTION_UNSUPPORTED,
};

/**
 * POST /pubkey: a plain key must be one of the user's authorized keys; an OpenSSH user
 * certificate must pass the configured CAs (signature, validity, principals, critical options,
 * revocation). The client never learns why a certificate was refused; the log says.
 */
export function pubkeyRoute(app: WebhookApp, users: UserDirectory, certificates?: UserCertificateVerifier): void {
  const schema = {
    operationId: 'authPubKey',
    summary: 'Public key authentication',
    body: PublicKeyRequestSchema,
    ...responses({ 200: { schema: AuthResponseSchema, description: AUTH_ANSWER }, ...WEBHOOK_ERROR_ANSWERS }),
  };
  app.post('/pubkey', { schema }, async (request): Promise<AuthResponse> => {
    const body = request.body;
    // Not throttled: keys cannot be guessed, so wrong passwords never refuse the right key from
    // any address (the gateway bounds tries per connection and per source before this).
    return checkKey(request, body, users, certificates);
  });
}

async function checkKey(request: FastifyRequest, body: PublicKeyRequest, users: UserDirectory, certificates: UserCertificateVerifier | undefined): Promise<AuthResponse> {
  const keyType = body.publicKey.split(' ')[0] ?? '';
  if (CERTIFICATE_TYPE.test(keyType)) return certificateLogin(request, body, users, certificates);
  const ok = users.hasAuthorizedKey(body.username, body.publicKey);
  request.log.info(
    {
      code: ok ? LogCode.PUBKEY_ACCEPTED : LogCode.PUBKEY_REJECTED,
      username: body.username,
      connectionId: body.connectionId,
      remoteAddress: body.remoteAddress,
      keyType,
    },
    ok ? 'public key accepted' : 'public key rejected',
  );
  return AuthResponseSchema.parse(ok ? { success: true, authenticatedUsername: body.username, ...users.grantsOf(body.username) } : { success: false });
}

async function certificateLogin(request: FastifyRequest, body: PublicKeyRequest, users: UserDirectory, certificates: UserCertificateVerifier | undefined): Promise<AuthResponse> {
  const where = { username: body.username, connectionId: body.connectionId, remoteAddress: body.remoteAddress, keyType: body.publicKey.split(' ')[0] };
  const check = certificates ? await certificates.check(body.publicKey, body.username, body.remoteAddress) : ({ ok: false, reason: 'ca-unknown', detail: 'no userCertificates configured' } as const);
  if (!check.ok) {
    request.log.info({ code: REFUSAL_CODES[check.reason], reason: check.reason, detail: check.detail, ...where }, 'certificate refused');
    return { success: false };
  }
  request.log.info({ code: LogCode.CERT_ACCEPTED, keyId: check.keyId, serial: check.serial, ca: check.ca, ...where }, 'certificate accepted');
  const grants = users.grantsOf(body.username);
  // Facts the CA vouched for; they override same-named entries of the users file.
  const certificateMetadata: MetadataMap = {
    identity: { value: `certificate:${check.keyId}`, sensitive: false },
    certificateKeyId: { value: check.keyId, sensitive: false },
    certificateSerial: { value: check.serial, sensitive: false },
    certificateCa: { value: check.ca, sensitive: false },
    certificateExtensions: { value: check.extensions.join(','), sensitive: false },
    ...(check.forceCommand !== undefined ? { forceCommand: { value: check.forceCommand, sensitive: false } } : {}),
  };
  return AuthResponseSchema.parse({
    success: true,
    authenticatedUsername: body.username,
    ...grants,
    metadata: { ...grants.metadata, ...certificateMetadata },
  });
}
