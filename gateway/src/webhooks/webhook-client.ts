import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { z } from 'zod';
import { ErrorResponseSchema } from '@portcullis/wire';
import { GatewayError, type GatewayCode } from '../errors.ts';
import { WEBHOOK_QUEUE_DEFAULTS, type WebhookConfig } from '../settings/index.ts';
import { describeIssues } from '../settings/index.ts';
import { CallQueue, CallQueueRefusal } from '../call-queue.ts';

/** Largest webhook answer accepted; a config with pod spec and files stays far below it. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/**
 * Why a webhook call did not produce a usable answer; each is "unavailable", never "denied".
 * `queue-full` and `queue-wait`: the call was never sent, the gateway's own queue for this
 * webhook was full or the call waited its bound there.
 */
export type WebhookFailureReason = 'timeout' | 'unreachable' | 'status' | 'invalid' | 'queue-full' | 'queue-wait';

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
      case 'queue-full':
        return 'has too many logins waiting; try again shortly';
      case 'queue-wait':
        return 'is busy: the login waited too long for its turn; try again shortly';
    }
  }
}

/**
 * The error a user sees for a failed webhook call: a call refused by the gateway's own queue
 * under its queue code, anything else under `code`. `sentence` words it around what happened.
 */
export function webhookRefusal(error: unknown, code: GatewayCode, sentence: (why: string) => string): GatewayError {
  const failure = error instanceof WebhookFailure ? error : undefined;
  const queueCode = failure?.reason === 'queue-full' ? 'WEBHOOK_QUEUE_FULL' : failure?.reason === 'queue-wait' ? 'WEBHOOK_QUEUE_TIMEOUT' : undefined;
  return new GatewayError(queueCode ?? code, sentence(failure ? failure.describe() : 'failed'), { cause: error });
}

/**
 * JSON over HTTPS with mutual TLS to one webhook server. Connections are kept alive so a
 * login costs no extra handshake; the server certificate and hostname are always verified.
 * At most `maxConcurrent` calls are in flight, each on its own kept-alive socket; the others
 * wait in a bounded queue whose wait does not count against the call's timeout.
 */
export class WebhookClient {
  private readonly agent: Agent;
  private readonly queue: CallQueue;
  private readonly baseUrl: URL;
  private readonly timeoutMs: number;
  private readonly tls: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer };

  /** The queue bounds default as in the config file. */
  constructor(config: Omit<WebhookConfig, keyof typeof WEBHOOK_QUEUE_DEFAULTS> & Partial<Pick<WebhookConfig, keyof typeof WEBHOOK_QUEUE_DEFAULTS>>) {
    const { maxConcurrent, maxQueued, queueTimeout } = { ...WEBHOOK_QUEUE_DEFAULTS, ...config };
    this.baseUrl = new URL(config.url);
    this.timeoutMs = config.timeout;
    this.tls = { ca: readFileSync(config.caFile), cert: readFileSync(config.certFile), key: readFileSync(config.keyFile) };
    // As many sockets as calls in flight: a call never waits inside the agent, where its timeout would run.
    this.agent = new Agent({ keepAlive: true, maxSockets: maxConcurrent, maxFreeSockets: maxConcurrent, ...this.tls, rejectUnauthorized: true });
    this.queue = new CallQueue({ maxConcurrent, maxQueued, maxWaitMs: queueTimeout });
  }

  /** Calls in flight and calls waiting for a slot (for metrics and tests). */
  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.queue.inFlight, queued: this.queue.queued };
  }

  /** POSTs `body` to `path` below the base URL (or the base URL itself) and validates the answer. */
  async post<Schema extends z.ZodType>(path: string | null, body: unknown, schema: Schema): Promise<z.output<Schema>> {
    const url = path === null ? this.baseUrl : new URL(path, withTrailingSlash(this.baseUrl));
    const { status, text } = await this.queued(() => this.sendRetryingStale(url, JSON.stringify(body)));
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

  private async queued<T>(call: () => Promise<T>): Promise<T> {
    let release: () => void;
    try {
      release = await this.queue.acquire();
    } catch (error) {
      if (!(error instanceof CallQueueRefusal)) throw error;
      throw new WebhookFailure(error.reason === 'full' ? 'queue-full' : 'queue-wait', `${this.baseUrl.host}: ${error.message}`, { cause: error });
    }
    try {
      return await call();
    } finally {
      release();
    }
  }

  /**
   * A kept-alive socket the server closed as idle may be picked just as the close arrives; the
   * request then fails before the server read it. That case alone is sent once more, on a new
   * socket (Node's documented `reusedSocket` pattern); a fresh socket's failure is final.
   */
  private async sendRetryingStale(url: URL, payload: string): Promise<{ status: number; text: string }> {
    try {
      return await this.send(url, payload);
    } catch (error) {
      if (!(error instanceof StaleSocket)) throw error;
      return this.send(url, payload, true);
    }
  }

  private send(url: URL, payload: string, retried = false): Promise<{ status: number; text: string }> {
    return new Promise((resolvePromise, reject) => {
      let answered = false;
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
          answered = true;
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
      req.on('error', (error) => {
        const code = (error as NodeJS.ErrnoException).code;
        const stale = !retried && !answered && req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE');
        reject(stale ? new StaleSocket(classify(error, url, this.timeoutMs)) : classify(error, url, this.timeoutMs));
      });
      req.end(payload);
    });
  }
}

/** A request that failed on a reused keep-alive socket before any answer. */
class StaleSocket extends Error {
  constructor(readonly failure: WebhookFailure) {
    super(failure.message);
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
