import { Writable } from 'node:stream';
import type { ServerChannel, Session } from 'ssh2';
import type { BackendConnection, BackendSession, SessionProgram } from '../backends/index.ts';
import type { ProgressRelay } from './progress-relay.ts';
import type { ChannelTap } from '../audit/index.ts';
import { isGatewayError } from '../errors.ts';
import type { Refusal, SecurityPolicy } from '../filters/index.ts';
import { SESSION_MARKER_VARIABLE, deliverSignal, newSessionMarker, statusAfterSignals } from '../guest/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';
import { ChannelGuard, type FaultReporter } from '../channel/channel-guard.ts';
import { ResizeCoalescer } from './resize-coalescer.ts';
import { SessionRequests, logRefusal } from './session-requests.ts';
import { SignalGate } from './signal-gate.ts';
import type { SessionForwards } from '../forwarding/index.ts';

/**
 * After the program ended, how long its last output may make no progress (while the client's
 * window is open) before the gateway gives up on it and closes the channel.
 */
const FLUSH_STALL_MS = 10_000;

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
  /** The audit recorder's view of this channel. */
  readonly audit?: ChannelTap;
  /** The config's security filters; absent allows what the backend allows. */
  readonly policy?: SecurityPolicy;
  /** Told of every byte of input from the client (idle timeout). */
  readonly onActivity?: () => void;
  /** Told of the running program (time limits signal it) and when the channel closes. */
  readonly onRunning?: (program: RunningProgram) => () => void;
  /** Agent (ssh -A) and X11 (ssh -X) forwarding into the container; absent refuses both. */
  readonly forwards?: SessionForwards;
  /** Aborted once the client's connection is gone: nothing may be written to it after that. */
  readonly connectionGone?: AbortSignal;
  /** Closes this session's connection (alone) after a fault, with a log line and a metric. */
  readonly onFault?: FaultReporter;
}

/** A program running for a session channel, as the connection's time limits see it. */
export interface RunningProgram {
  /** Writes a line to the user's terminal (stderr). */
  tell(line: string): void;
  /** Delivers a signal to the program; resolves whether it arrived. */
  signal(name: string): Promise<boolean>;
  /** Resolves once the program ended and its last output and exit status were sent. */
  readonly ended: Promise<void>;
}

/**
 * The session-channel stage: setup requests go through the security filter (SessionRequests),
 * then exactly one program (shell, exec or subsystem) starts, is streamed both ways and reports
 * its exit status. Requests with no listener are refused by ssh2 itself.
 */
export function handleSessionChannel(session: Session, context: SessionChannelContext): void {
  let running: BackendSession | undefined;
  let programEnded = false;
  let started = false;
  const marker = newSessionMarker();
  const delivered = new Set<string>();
  let runningConnection: BackendConnection | undefined;
  const refused = (refusal: Refusal, fields: Record<string, unknown> = {}) => logRefusal(context.log, refusal, fields);
  /** Environment from agent and X11 forwarding, set up just before the program starts. */
  const forwardEnv: Record<string, string> = {};
  const forwardCleanups: Array<() => void> = [];
  const onFault: FaultReporter = context.onFault ?? ((stage, error) => context.log.warn({ code: 'SSH_CONNECTION_FAULT_CONTAINED', stage, ...errorFields(error) }, 'connection fault contained'));
  const resizes = new ResizeCoalescer((size) => running?.resize(size.cols, size.rows) ?? Promise.resolve());
  const requests = new SessionRequests(session, {
    log: context.log,
    audit: context.audit,
    policy: context.policy,
    forwardingAvailable: context.forwards !== undefined,
    started: () => started,
    onWindowChange: (size) => {
      if (running) resizes.request(size);
    },
  });

  const start = (command: string | null, accept: () => ServerChannel, subsystem?: string) => {
    started = true;
    context.audit?.request(subsystem !== undefined ? 'subsystem' : command === null ? 'shell' : 'exec', { command, name: subsystem });
    const request = subsystem !== undefined ? { kind: 'subsystem' as const, name: subsystem } : command === null ? { kind: 'shell' as const } : { kind: 'exec' as const, command };
    const decision = context.policy?.program(request) ?? {};
    if ('refusal' in decision) {
      const channel = accept();
      channel.on('error', () => undefined);
      refused(decision.refusal, subsystem !== undefined ? { subsystem } : {});
      const guard = new ChannelGuard(channel, context.connectionGone, onFault);
      void guard.line(`portcullis: ${decision.refusal.message} (${decision.refusal.code})`).then(() => guard.finish({ exitCode: 1 }));
      return;
    }
    const originalCommand: Record<string, string> = {};
    if (decision.forced) {
      context.log.info({ code: 'SECURITY_EXEC_FORCING_COMMAND', request: request.kind }, 'forced command replaces the request');
      command = decision.forced.command;
      subsystem = undefined;
      originalCommand.SSH_ORIGINAL_COMMAND = decision.forced.original;
    }
    const channel = accept();
    const log = context.log.child({ channel: subsystem ?? (command === null ? 'shell' : 'exec') });
    // A client that vanishes mid-write must cost this session only, never the gateway.
    channel.on('error', (error: Error) => log.debug({ code: 'SSH_CONNECTION_ERROR', ...errorFields(error) }, 'channel error'));
    channel.stderr.on('error', () => undefined);
    const guard = new ChannelGuard(channel, context.connectionGone, onFault);
    const progressOutput = lineWriter(guard);
    const detachProgress = context.progress?.attach(progressOutput);
    const backend = context.backend
      .finally(() => detachProgress?.())
      .then(async (connection) => {
        // Failures here leave the program without the forward, as sshd does, never without a session.
        const setups = [
          requests.agentRequested && context.forwards ? context.forwards.agent(connection, marker) : undefined,
          requests.x11Request && context.forwards ? context.forwards.x11(connection, marker, requests.x11Request) : undefined,
        ];
        for (const setup of setups) {
          if (!setup) continue;
          try {
            const ready = await setup;
            Object.assign(forwardEnv, ready.env);
            forwardCleanups.push(() => ready.close());
          } catch (error) {
            log.info({ code: 'SSH_FORWARD_REJECTED', ...errorFields(error) }, 'agent or X11 forwarding could not be set up');
          }
        }
        return connection;
      });
    const programFor = (connection: BackendConnection): SessionProgram => ({
      command,
      env: {
        ...(connection.passesClientEnvironment ? Object.fromEntries(requests.clientEnv) : {}),
        ...Object.fromEntries(requests.allowedEnv),
        ...context.environment,
        ...(requests.pty ? { TERM: requests.pty.term } : {}),
        ...originalCommand,
        ...forwardEnv,
        ...(connection.runHelper ? { [SESSION_MARKER_VARIABLE]: marker } : {}),
      },
      ...(requests.pty ? { pty: requests.pty } : {}),
      ...(subsystem !== undefined ? { subsystem } : {}),
      onProgress: (line: string) => void guard.line(line.replace(/[\r\n]+/g, ' ')),
    });
    let forget: (() => void) | undefined;
    channel.once('close', () => forget?.());
    context.connectionGone?.addEventListener('abort', () => forget?.(), { once: true });
    const finished: Promise<void> = run(
      programFor,
      guard,
      channel,
      backend,
      log,
      context.audit,
      (session, startedWith) => {
        running = session;
        // The program's input stream is the backend's: should it fail, this connection's handler
        // ends it, never an unhandled 'error' of the channel piped into it.
        session.stdin.on('error', (error: Error) => onFault('handler', error));
        void session.exited.then(
          () => (programEnded = true),
          () => (programEnded = true),
        );
        // The client left while the program was starting: it gets the hangup it missed.
        if (closed) void hangUp().catch((error: unknown) => onFault('handler', error));
        // Attached just before run() pipes the channel on, in the same tick: no input is lost.
        if (context.onActivity) channel.on('data', context.onActivity);
        void backend.then(
          (connection) => (runningConnection = connection),
          () => undefined,
        );
        context.onProgramStarted?.();
        // A window-change that came while the program was starting is applied now.
        const pty = requests.pty;
        if (pty && startedWith && (pty.cols !== startedWith.cols || pty.rows !== startedWith.rows)) resizes.request(pty);
        forget = context.onRunning?.({
          tell: (line) => void guard.line(line),
          signal: (name) => signals.fromGateway(name),
          ended: finished,
        });
      },
      delivered,
    ).catch((error: unknown) => onFault('handler', error));
  };

  const signalRunning = async (name: string): Promise<boolean> => {
    if (!running) return false;
    delivered.add(name);
    try {
      const ok = await deliverSignal(running, runningConnection ?? (await context.backend), marker, name);
      context.log.info({ code: ok ? 'SESSION_SIGNAL_DELIVERED' : 'SESSION_SIGNAL_FAILED', signal: name }, ok ? 'signal delivered' : 'signal not delivered');
      return ok;
    } catch (error) {
      context.log.info({ code: 'SESSION_SIGNAL_FAILED', signal: name, ...errorFields(error) }, 'signal not delivered');
      return false;
    }
  };
  const signals = new SignalGate(signalRunning);

  session.on('shell', (accept, reject) => (started ? reject?.() : start(null, accept)));
  session.on('exec', (accept, reject, info) => (started ? reject?.() : start(info.command, accept)));
  session.on('subsystem', (accept, reject, info) => (started ? reject?.() : start(null, accept, info.name)));
  // Only a backend that can deliver signals says yes; the client learns the truth either way.
  session.on('signal', (accept, reject, info) => {
    context.audit?.request('signal', { name: info.name });
    const refusal = context.policy?.signal(info.name);
    if (refusal) {
      refused(refusal, { signal: info.name });
      return reject?.();
    }
    if (!running || (!running.signal && !runningConnection?.runHelper)) return reject?.();
    if (signals.fromClient(info.name) === 'rate-limited') {
      context.log.info({ code: 'SESSION_SIGNAL_RATE_LIMITED', signal: info.name }, 'signal refused: too many signals');
      return reject?.();
    }
    accept?.();
  });
  /**
   * Hangup, as sshd's closing of the terminal or pipes: a program that outlives its channel (a
   * persistent container keeps running) must not linger. Then the streams go.
   */
  const hangUp = async () => {
    const current = running;
    if (!current) return;
    const connection = runningConnection ?? (await context.backend.catch(() => undefined));
    if (!programEnded && (current.signal || connection?.runHelper)) void signals.fromGateway('HUP');
    current.destroy();
  };
  let closed = false;
  // ssh2 emits 'close' on a session only for the client's CHANNEL_CLOSE, never when the whole
  // connection drops: both end the session here, once.
  const sessionClosed = () => {
    if (closed) return;
    closed = true;
    for (const cleanup of forwardCleanups) cleanup();
    void hangUp().catch((error: unknown) => onFault('handler', error));
    context.audit?.close();
  };
  session.once('close', sessionClosed);
  context.connectionGone?.addEventListener('abort', sessionClosed, { once: true });
}

/** Progress lines as a stream, through the guard (the relay writes to a Writable). */
function lineWriter(guard: ChannelGuard): Writable {
  return new Writable({
    write: (chunk: Buffer, _encoding, callback) => void guard.line(chunk.toString('utf8').replace(/\r?\n$/, '')).then(() => callback()),
  });
}

async function run(
  programFor: (connection: BackendConnection) => SessionProgram,
  guard: ChannelGuard,
  channel: ServerChannel,
  backend: Promise<BackendConnection>,
  log: Logger,
  audit: ChannelTap | undefined,
  onStarted: (session: BackendSession, size: SessionProgram['pty']) => void,
  delivered: ReadonlySet<string> = new Set(),
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
      // A backend that gave no code is named by none: BACKEND_EXEC_FAILED, whatever the backend.
      log.error({ code: isGatewayError(error) ? error.code : 'BACKEND_EXEC_FAILED', ...errorFields(error) }, 'session not started');
    }
    await guard.line(line);
    guard.finish({ exitCode: 1 });
    return;
  }
  onStarted(session, program.pty);
  log.info({ code: 'SESSION_STARTED', pty: program.pty !== undefined }, 'program started');
  audit?.streams({ stdin: channel, stdout: session.stdout, stderr: session.stderr });
  const stdout = guard.sink('stdout');
  const stderr = guard.sink('stderr');
  session.stdout.pipe(stdout);
  session.stderr.pipe(stderr);
  channel.pipe(session.stdin);
  const status = statusAfterSignals(await session.exited, delivered);
  const flushed = await outputSent(guard, [stdout, stderr]);
  log.info({ code: 'SESSION_ENDED', ...status }, 'program ended');
  audit?.exit(status);
  if (flushed) guard.finish(status);
  else if (guard.open) {
    log.warn({ code: 'SESSION_FLUSH_ABANDONED', stallMs: FLUSH_STALL_MS }, 'the last output made no progress: channel closed without exit status');
    guard.close();
  }
}

/**
 * Exit status must follow the last byte of output: waits until every chunk was taken by ssh2.
 * Bounded: resolves false once the channel is gone, or once nothing moved for FLUSH_STALL_MS
 * although the client's window is open (a slow reader with a closed window is waited for).
 */
async function outputSent(guard: ChannelGuard, sinks: Writable[]): Promise<boolean> {
  const all = Promise.all(sinks.map(streamFinished)).then(() => true);
  let seen = guard.progress;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), FLUSH_STALL_MS)));
    const done = await Promise.race([all, tick]);
    clearTimeout(timer);
    if (done) return true;
    if (!guard.open) return false;
    if (guard.progress === seen && !guard.waitingForWindow) return false;
    seen = guard.progress;
  }
}

function streamFinished(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableFinished) return resolve();
    stream.once('finish', () => resolve());
    stream.once('close', () => resolve());
  });
}
