import { once } from 'node:events';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import ssh2, { Client, type ConnectConfig, type ExecOptions, type PseudoTtyOptions } from 'ssh2';
import { AppConfigSchema, type AppConfig, type ConnectionMaps } from '@portcullis/wire';
import type { Backend, BackendConnection, ConnectionRequest } from '../../gateway/src/backends/index.ts';
import { GatewayMetrics, createLogger } from '../../gateway/src/observability/index.ts';
import { UserConnections, handleConnection, type ConnectionDependencies } from '../../gateway/src/session/index.ts';
import type { AuthService } from '../../gateway/src/session/authentication.ts';
import type { ConfigService } from '../../gateway/src/session/admission.ts';
import { NoopBackend } from '../../bench/lib/noop-backend.ts';
import { pollUntil } from './poll-until.ts';

/** One log line of the gateway, as pino wrote it. */
export type LogLine = Record<string, unknown> & { readonly code?: string };

export interface InProcessGatewayOptions {
  /** The SSH connection's dependencies the test changes; the rest are the defaults below. */
  readonly deps?: Partial<ConnectionDependencies>;
  /** The config webhook's `config` answer (AppConfig input); default: a docker config with no limits. */
  readonly config?: Record<string, unknown>;
  /** Passwords the fake auth webhook accepts, by user (default: `alice` / `secret`). */
  readonly passwords?: Readonly<Record<string, string>>;
  /** The fake auth webhook's `/authz` answer (default: the user as authenticated). */
  readonly authorize?: AuthService['authorize'];
}

/** A config any backend stub accepts: the docker section is only read by the Docker backend. */
const DEFAULT_CONFIG = { backend: 'docker', docker: { execution: { container: { image: 'portcullis/session:dev' } } } };

/**
 * The gateway's SSH core in this process: an ssh2 server whose every connection goes through
 * handleConnection, with an auth webhook that checks passwords from a table, a config webhook
 * answering a fixed config, and (unless given another) the no-op backend. Nothing is started
 * outside this process; every log line is kept for the test.
 */
export async function startInProcessGateway(t: TestContext, options: InProcessGatewayOptions = {}) {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      for (const text of chunk.toString('utf8').split('\n')) if (text) lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  const log = createLogger('debug', destination);
  const passwords = options.passwords ?? { alice: 'secret' };
  const calls = { password: 0, authorize: 0, config: 0 };
  const noMaps: ConnectionMaps = {};
  const auth: AuthService = {
    password: async (_identity, username, password) => {
      calls.password += 1;
      return passwords[username] !== undefined && passwords[username] === password.toString('utf8') ? { accepted: true, authenticatedUsername: username, maps: noMaps } : { accepted: false };
    },
    publicKey: async () => ({ accepted: false }),
    keyboardInteractive: async () => ({ kind: 'decision', decision: { accepted: false } }),
    authorize: async (identity, username, authenticatedUsername, maps) => {
      calls.authorize += 1;
      return options.authorize ? options.authorize(identity, username, authenticatedUsername, maps) : { accepted: true, authenticatedUsername, maps: noMaps };
    },
  };
  const appConfig: AppConfig = AppConfigSchema.parse(options.config ?? DEFAULT_CONFIG);
  const config: ConfigService = {
    fetch: async () => {
      calls.config += 1;
      return { config: appConfig, maps: { metadata: {}, environment: {}, files: {} } };
    },
  };
  const backend: Backend = new NoopBackend();
  const metrics = new GatewayMetrics();
  let closed = 0;
  const deps: ConnectionDependencies = {
    auth,
    config,
    backend,
    log,
    loginGraceTimeMs: 10_000,
    maxAuthTries: 3,
    metrics,
    userConnections: new UserConnections(100),
    onClosed: () => (closed += 1),
    ...options.deps,
  };
  const server = new ssh2.Server({ hostKeys: [hostKey()] }, (client, info) => handleConnection(client, info, deps));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const clients: Client[] = [];
  // Clients first: the server's close waits for every connection to end.
  t.after(async () => {
    for (const client of clients) client.end();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Connects; resolves the client once logged in, or rejects with ssh2's error; `banners` holds what the gateway showed. */
  const connect = async (config: Partial<ConnectConfig> = {}) => {
    const client = new Client();
    clients.push(client);
    const banners: string[] = [];
    client.on('banner', (message: string) => banners.push(message));
    const ready = new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed before login')));
    });
    client.connect({ host: '127.0.0.1', port, username: 'alice', password: 'secret', readyTimeout: 10_000, ...config });
    await ready;
    client.on('error', () => undefined);
    return { client, banners };
  };

  /** Connects and expects the login to fail; resolves ssh2's error and the banners shown. */
  const refused = async (config: Partial<ConnectConfig> = {}) => {
    const client = new Client();
    clients.push(client);
    const banners: string[] = [];
    client.on('banner', (message: string) => banners.push(message));
    const outcome = new Promise<Error>((resolve) => {
      client.once('ready', () => resolve(new Error('logged in')));
      client.once('error', resolve);
      // A gateway that hangs up after refusing sends no failure the client reports as an error.
      client.once('close', () => resolve(new Error('connection closed')));
    });
    client.connect({ host: '127.0.0.1', port, username: 'alice', password: 'secret', readyTimeout: 10_000, ...config });
    const error = await outcome;
    client.on('error', () => undefined);
    return { client, error, banners };
  };

  /** The first log line with `code`, waited for. */
  const waitForCode = (code: string, timeoutMs = 10_000) => pollUntil(() => lines.find((line) => line.code === code), { what: `a log line with code ${code}`, timeoutMs, intervalMs: 10 });

  return { port, lines, calls, metrics, connect, refused, waitForCode, closedConnections: () => closed };
}

/** The no-op backend with some methods of each connection replaced (to watch or fail them). */
export function noopBackendWith(change: (connection: BackendConnection, request: ConnectionRequest) => Partial<BackendConnection>): Backend {
  const noop = new NoopBackend();
  return {
    name: 'noop',
    openConnection: async (request) => {
      const connection = await noop.openConnection();
      return { ...connection, ...change(connection, request) };
    },
  };
}

/**
 * A host key for the test server. ssh2's generator now and then writes an ed25519 key its own
 * parser refuses ("Malformed OpenSSH private key"): a few tries, each checked, are enough.
 */
function hostKey(): string {
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const key = ssh2.utils.generateKeyPairSync('ed25519').private;
    if (!(ssh2.utils.parseKey(key) instanceof Error)) return key;
  }
  throw new Error('ssh2 generated no host key it can parse in 5 tries');
}

/** Runs a command, sends `input` then EOF; resolves its exit code, stdout and stderr once the channel closed. */
export async function runCommand(
  client: Client,
  command: string,
  options: { pty?: boolean | PseudoTtyOptions; env?: Record<string, string>; input?: string } = {},
): Promise<{ code: number | undefined; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const execOptions: ExecOptions = { ...(options.pty ? { pty: options.pty } : {}), ...(options.env ? { env: options.env } : {}) };
  // Listeners go on inside the callback: ssh2 may deliver the exit and close in the same packet batch.
  const closed = await new Promise<Promise<unknown>>((resolve, reject) =>
    client.exec(command, execOptions, (error, channel) => {
      if (error) return reject(error);
      channel.on('data', (data: Buffer) => (stdout += data.toString('utf8')));
      channel.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
      channel.on('exit', (exitCode: number | null) => (code = exitCode ?? undefined));
      const done = once(channel, 'close');
      channel.end(options.input);
      resolve(done);
    }),
  );
  await closed;
  return { code, stdout, stderr };
}
