import { z } from 'zod';
import { durationSchema } from './duration.ts';

/** `"10s"`, `"500ms"`, `"2m"` in milliseconds. */
const MillisecondsSchema = durationSchema(['ms', 's', 'm'], 'expected a duration such as "10s", "500ms" or "2m"').refine((ms) => ms >= 100, 'at least 100ms');

export const HTTP_LIMIT_DEFAULTS = {
  requestTimeout: 10_000,
  connectionTimeout: 60_000,
  keepAliveTimeout: 60_000,
  handshakeTimeout: 10_000,
  maxRequestsPerSocket: 1000,
  bodyLimit: 64 * 1024,
};

/**
 * What one webhook client may hold: a request (headers and body) must arrive within
 * `requestTimeout`, a socket silent for `connectionTimeout` mid-request is closed, an idle
 * keep-alive socket lasts `keepAliveTimeout`, a TLS handshake `handshakeTimeout`. Without these
 * a client that stalls a body after a few bytes holds its socket and memory forever.
 */
export const HttpLimitsSchema = z
  .strictObject({
    requestTimeout: MillisecondsSchema.default(HTTP_LIMIT_DEFAULTS.requestTimeout),
    connectionTimeout: MillisecondsSchema.default(HTTP_LIMIT_DEFAULTS.connectionTimeout),
    keepAliveTimeout: MillisecondsSchema.default(HTTP_LIMIT_DEFAULTS.keepAliveTimeout),
    handshakeTimeout: MillisecondsSchema.default(HTTP_LIMIT_DEFAULTS.handshakeTimeout),
    maxRequestsPerSocket: z.number().int().positive().default(HTTP_LIMIT_DEFAULTS.maxRequestsPerSocket),
    /** Webhook bodies are a few hundred bytes; 64 KiB leaves room for metadata and stops floods early. */
    bodyLimit: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(HTTP_LIMIT_DEFAULTS.bodyLimit),
  })
  .default(HTTP_LIMIT_DEFAULTS);
export type HttpLimits = z.output<typeof HttpLimitsSchema>;

/** Fastify's server options for these limits. */
export function fastifyLimits(limits: HttpLimits) {
  return {
    requestTimeout: limits.requestTimeout,
    connectionTimeout: limits.connectionTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    bodyLimit: limits.bodyLimit,
  };
}

/**
 * Options for the https server itself: Node checks `requestTimeout` and `headersTimeout` only
 * every `connectionsCheckingInterval` (30 s by default), so a stalled request would live up to
 * that long past its bound.
 */
export function httpsServerLimits(limits: HttpLimits) {
  return {
    handshakeTimeout: limits.handshakeTimeout,
    headersTimeout: limits.requestTimeout,
    connectionsCheckingInterval: Math.min(1_000, limits.requestTimeout),
  };
}
