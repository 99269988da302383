import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { z } from 'zod';
import { ErrorResponseSchema } from '@portcullis/wire';
import type { WebhookConfig } from '../settings/index.ts';
import { describeIssues } from '../settings/index.ts';

/** Largest webhook answer accepted; a config with pod spec and files stays far below it. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** Why a webhook call did not produce a usable answer; each is "unavailable", never "denied". */
export type WebhookFailureReason = 'timeout' | 'unreachable' | 'status' | 'invalid';

export class WebhookFailure extends Error {
  constructor(
    readonly reason: WebhookFailureReason,
    detail: string,
    options?: { cause?: unknown; answer?: { code: string; message: string } },
  ) {
    super(detail, options);
    this.name = 'WebhookFailure';
    this.answer = options?.answer;
  }

  /** A non-200 answer's `{ code, message }` body, when the server sent one (Portcullis's error shape). */
  readonly answer: { code: string; message: string } | undefined;

  /** Short words a user may read: what went wrong, without anything the server said. */
  describe(): string {
    switch (this.reason) {
      case 'timeout':
        return 'did not answer in time';
      case 'unreachable':
        return 'cannot be reached';
      case 'status':
        return 'answered with an error';
      case 'invalid':
        return 'answered with an invalid response';
    }
  }
}

/**
 * JSON over HTTPS with mutual TLS to one webhook server. Connections are kept alive so a
 * login costs no extra handshake; the server certificate and hostname are always verified.
 */
export class WebhookClient {
  private readonly agent: Agent;
  private readonly baseUrl: URL;
  private readonly timeoutMs: number;
  private readonly tls: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer };

  constructor(config: WebhookConfig) {
    this.baseUrl = new URL(config.url);
    this.timeoutMs = config.timeout;
    this.tls = { ca: readFileSync(config.caFile), cert: readFileSync(config.certFile), key: readFileSync(config.keyFile) };
    this.agent = new Agent({ keepAlive: true, maxSockets: 64, ...this.tls, rejectUnauthorized: true });
  }

  /** POSTs `body` to `path` below the base URL (or the base URL itself) and validates the answer. */
  async post<Schema extends z.ZodType>(path: string | null, body: unknown, schema: Schema): Promise<z.output<Schema>> {
    const url = path === null ? this.baseUrl : new URL(path, withTrailingSlash(this.baseUrl));
    const { status, text } = await this.send(url, JSON.stringify(body));
    if (status !== 200) {
      const answer = ErrorResponseSchema.safeParse(safeJson(text));
      throw new WebhookFailure('status', `${url.pathname} answered HTTP ${status}`, answer.success ? { answer: answer.data } : {});
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (cause) {
      throw new WebhookFailure('invalid', `${url.pathname} answered a body that is not JSON`, { cause });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new WebhookFailure('invalid', `${url.pathname} answered an invalid body: ${describeIssues(parsed.error)}`);
    }
    return parsed.data;
  }

  /**
   * Health probe: a full mutual-TLS handshake with the server, verified as a real call
   * would be, and nothing sent. Resolves when the server could serve a request.
   */
  reachable(): Promise<void> {
    const { tls } = this;
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: this.baseUrl.hostname,
        port: Number(this.baseUrl.port || 443),
        servername: this.baseUrl.hostname,
        ...tls,
        rejectUnauthorized: true,
        timeout: this.timeoutMs,
      });
      socket.once('secureConnect', () => {
        socket.end();
        resolve();
      });
      socket.once('timeout', () => socket.destroy(new WebhookFailure('timeout', `${this.baseUrl.host} did not answer in time`)));
      socket.once('error', (error) => reject(classify(error, this.baseUrl, this.timeoutMs)));
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private send(url: URL, payload: string): Promise<{ status: number; text: string }> {
    return new Promise((resolvePromise, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            'content-length': Buffer.byteLength(payload),
          },
          signal: AbortSignal.timeout(this.timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new WebhookFailure('invalid', `${url.pathname} answered more than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', (error) => reject(classify(error, url, this.timeoutMs)));
        },
      );
      req.on('error', (error) => reject(classify(error, url, this.timeoutMs)));
      req.end(payload);
    });
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function withTrailingSlash(url: URL): URL {
  return url.pathname.endsWith('/') ? url : new URL(`${url.href}/`);
}

function classify(error: Error, url: URL, timeoutMs: number): WebhookFailure {
  if (error instanceof WebhookFailure) return error;
  if (error.name === 'AbortError' || error.name === 'TimeoutError') {
    return new WebhookFailure('timeout', `${url.host} did not answer within ${timeoutMs} ms`, { cause: error });
  }
  return new WebhookFailure('unreachable', `${url.host}: ${error.message}`, { cause: error });
}
