import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/** Names per TLS connection: a peer certificate never changes on a socket, and reading it is costly. */
const namesBySocket = new WeakMap<object, string[]>();

/**
 * The names a verified client certificate answers to: its CN and its SAN DNS entries.
 * Empty when the socket is not TLS (app.inject) or carries no certificate.
 */
export function clientNames(socket: unknown): string[] {
  const tls = socket as Partial<TLSSocket>;
  if (typeof tls.getPeerCertificate !== 'function') return [];
  let names = namesBySocket.get(tls);
  if (!names) namesBySocket.set(tls, (names = peerNames(tls as TLSSocket)));
  return names;
}

function peerNames(tls: TLSSocket): string[] {
  const cert = tls.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return [];
  const cn = cert.subject?.CN;
  const names = Array.isArray(cn) ? [...cn] : cn ? [cn] : [];
  for (const entry of (cert.subjectaltname ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4));
  }
  return names;
}

/**
 * onRequest hook pinning which CA-signed clients may call. The TLS layer already proved the
 * certificate chains to our CA; this narrows it to named identities (fail closed: no names, no entry).
 */
export function allowClientNames(allowed: readonly string[], refusal: () => Error) {
  const set = new Set(allowed);
  return async function checkClientName(request: FastifyRequest): Promise<void> {
    if (!clientNames(request.raw.socket).some((name) => set.has(name))) throw refusal();
  };
}
