import type { Writable } from 'node:stream';
import type { ServerChannel, Session, PseudoTtyInfo, WindowChangeInfo } from 'ssh2';
import type { BackendConnection, BackendSession, SessionProgram } from '../backends/index.ts';
import type { ProgressRelay } from './progress-relay.ts';
import { isGatewayError } from '../errors.ts';
import { errorFields, type Logger } from '../observability/index.ts';

/** Client `env` requests kept per session; more are refused. */
const MAX_CLIENT_ENV = 64;

export interface SessionChannelContext {
  /** The connection's container (or pod…); a rejection carries the user-facing error. */
  readonly backend: Promise<BackendConnection>;
  /** Environment from the webhooks, the same for every session of the connection. */
  readonly environment: Readonly<Record<string, string>>;
  /** Backend progress while the user waits for the container. */
  readonly progress?: ProgressRelay;
  /** Told each time a program starts (time-to-shell metric). */
  readonly onProgramStarted?: () => void;
  readonly log: Logger;
}

/**
 * One SSH `session` channel: collects pty and window size, starts exactly one program
 * (shell or exec), streams it both ways and reports its exit status. Requests with no
 * listener here (env, subsystem, signal, x11, agent) are refused by ssh2 itself.
 */
export function handleSessionChannel(session: Session, context: SessionChannelContext): void {
  let pty: SessionProgram['pty'];
  /** `env` requests, used only where the backend passes them on (see BackendConnection). */
  const clientEnv: Record<string, string> = {};
  let running: BackendSession | undefined;
  let started = false;

  session.on('pty', (accept, reject, info: PseudoTtyInfo) => {
    if (started) return reject?.();
    pty = { term: info.term || 'xterm', cols: info.cols || 80, rows: info.rows || 24 };
    accept?.();
  });

  session.on('window-change', (accept, _reject, info: WindowChangeInfo) => {
    if (pty) pty = { ...pty, cols: info.cols, rows: info.rows };
    if (running && pty) void running.resize(pty.cols, pty.rows);
    accept?.();
  });

  // OpenSSH sends env with want-reply false, as sshd silently drops what AcceptEnv does not allow.
  session.on('env', (accept, reject, info) => {
    const acceptable = !started && Object.keys(clientEnv).length < MAX_CLIENT_ENV && /^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(info.key) && info.val.length <= 4096;
    if (!acceptable) return reject?.();
    clientEnv[info.key] = info.val;
    accept?.();
  });

  const start = (command: string | null, accept: () => ServerChannel, subsystem?: string) => {
    started = true;
    const channel = accept();
    const log = context.log.child({ channel: subsystem ?? (command === null ? 'shell' : 'exec') });
    // A client that vanishes mid-write must cost this session only, never the gateway.
    channel.on('error', (error: Error) => log.debug({ code: 'SSH_CONNECTION_ERROR', ...errorFields(error) }, 'channel error'));
    channel.stderr.on('error', () => undefined);
    const detachProgress = context.progress?.attach(channel.stderr as Writable);
    const backend = context.backend.finally(() => detachProgress?.());
    const programFor = (connection: BackendConnection): SessionProgram => ({
      command,
      env: { ...(connection.passesClientEnvironment ? clientEnv : {}), ...context.environment, ...(pty ? { TERM: pty.term } : {}) },
      ...(pty ? { pty } : {}),
      ...(subsystem !== undefined ? { subsystem } : {}),
      onProgress: (line: string) => {
        if (channel.stderr.writable) channel.stderr.write(`${line.replace(/[\r\n]+/g, ' ')}\r\n`);
      },
    });
    void run(programFor, channel, backend, log, (session) => {
      running = session;
      context.onProgramStarted?.();
    });
  };

  session.on('shell', (accept, reject) => (started ? reject?.() : start(null, accept)));
  session.on('exec', (accept, reject, info) => (started ? reject?.() : start(info.command, accept)));
  session.on('subsystem', (accept, reject, info) => (started ? reject?.() : start(null, accept, info.name)));
  // Only a backend that can deliver signals says yes; the client learns the truth either way.
  session.on('signal', (accept, reject, info) => {
    if (!running?.signal) return reject?.();
    running.signal(info.name);
    accept?.();
  });
  session.on('close', () => running?.destroy());
}

async function run(
  programFor: (connection: BackendConnection) => SessionProgram,
  channel: ServerChannel,
  backend: Promise<BackendConnection>,
  log: Logger,
  onStarted: (session: BackendSession) => void,
): Promise<void> {
  let session: BackendSession;
  let program: SessionProgram;
  try {
    const connection = await backend;
    program = programFor(connection);
    session = await connection.startSession(program);
  } catch (error) {
    const line = isGatewayError(error) ? error.toUserLine() : 'portcullis: Could not start your session.';
    if (!isGatewayError(error) || error.code === 'DOCKER_EXEC_CREATE_FAILED') {
      log.error({ code: isGatewayError(error) ? error.code : 'DOCKER_EXEC_CREATE_FAILED', ...errorFields(error) }, 'session not started');
    }
    channel.stderr.write(`${line}\r\n`);
    channel.exit(1);
    channel.end();
    return;
  }
  onStarted(session);
  log.info({ code: 'SESSION_STARTED', pty: program.pty !== undefined }, 'program started');
  session.stdout.pipe(channel, { end: false });
  session.stderr.pipe(channel.stderr as Writable, { end: false });
  channel.pipe(session.stdin);
  const status = await session.exited;
  await Promise.all([flushed(channel), flushed(channel.stderr as Writable)]);
  log.info({ code: 'SESSION_ENDED', ...status }, 'program ended');
  if (!channel.destroyed) {
    if ('signal' in status) channel.exit(status.signal, status.coreDumped, '');
    else channel.exit(status.exitCode);
    channel.end();
  }
}

/** Exit status must follow the last byte of output, so wait for queued writes to leave. */
function flushed(stream: Writable): Promise<void> {
  if (stream.destroyed || stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', check);
      stream.off('close', done);
      resolve();
    };
    const check = () => {
      if (stream.writableLength === 0) done();
    };
    stream.on('drain', check);
    stream.once('close', done);
  });
}
