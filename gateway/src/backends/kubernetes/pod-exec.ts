import { PassThrough, Writable } from 'node:stream';
import type { Exec, V1Status } from '@kubernetes/client-node';
import { GatewayError } from '../../errors.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import type { BackendSession, ExitStatus, SessionProgram } from '../backend.ts';
import { execError, withDeadline } from './api-errors.ts';
import { startingAtSize } from '../terminal-size.ts';
import type { Cluster } from './cluster.ts';
import type { PodSettings } from './pod-spec.ts';

/** The only subprotocol that can close stdin alone (a CLOSE frame); older ones close the whole exec. */
const CLOSE_CAPABLE_PROTOCOL = 'v5.channel.k8s.io';

/** Channel numbers of the streaming protocol's frames we write ourselves. */
const STDIN_CHANNEL = 0;
const CLOSE_CHANNEL = 255;
/**
 * Bytes of stdin the WebSocket may hold unsent before the SSH side waits: the client's window
 * then stops it, instead of the gateway buffering whatever a fast upload sends.
 */
const STDIN_HIGH_WATER_BYTES = 1024 * 1024;
/** What a program's stdout or stderr may hold unread before the WebSocket stops reading. */
const OUTPUT_HIGH_WATER_BYTES = 256 * 1024;

/**
 * A program's stdout or stderr as client-node writes it. client-node ignores `write`'s answer,
 * so the answer goes to `onFull` here, and the exec's WebSocket pauses until the reader drains.
 * For a terminal, client-node also reads `columns`/`rows` and listens for `resize` (channel 4).
 */
class ExecOutput extends PassThrough {
  columns: number;
  rows: number;
  onFull: (() => void) | undefined;
  constructor(size?: { cols: number; rows: number }) {
    super({ highWaterMark: OUTPUT_HIGH_WATER_BYTES });
    this.columns = size?.cols ?? 0;
    this.rows = size?.rows ?? 0;
  }

  override write(chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const ok = super.write(chunk, encoding as BufferEncoding, callback as (error: Error | null | undefined) => void);
    if (!ok) this.onFull?.();
    return ok;
  }
}

/** How the status channel (3) says the program ended: `Success`, or `NonZeroExitCode` with an `ExitCode` cause. */
export function exitStatusOf(status: V1Status): ExitStatus {
  if (status.status === 'Success') return { exitCode: 0 };
  const code = status.details?.causes?.find((cause) => cause.reason === 'ExitCode')?.message;
  if (status.reason === 'NonZeroExitCode' && code !== undefined && /^\d+$/.test(code)) return { exitCode: Number(code) };
  // The runtime could not start it at all: a shell would say 127 for a missing program.
  if (/not found|no such file/i.test(status.message ?? '')) return { exitCode: 127 };
  return { exitCode: 1 };
}

/** One exec in a pod over the API server's WebSocket streaming protocol. */
export class PodExecSession implements BackendSession {
  readonly stdin: Writable;
  readonly stdout: ExecOutput;
  readonly stderr: ExecOutput;
  readonly exited: Promise<ExitStatus>;
  private socket: Awaited<ReturnType<Exec['exec']>> | undefined;
  private status: ExitStatus | undefined;
  private settled!: () => void;
  /** Outputs over their high-water mark: while any is, the WebSocket is paused. */
  private readonly full = new Set<ExecOutput>();
  /** stdin work that waits for the exec to open (or fail to). */
  private whenOpen: (() => void)[] | undefined = [];

  constructor(
    private readonly tty: { cols: number; rows: number } | undefined,
    private readonly log: Logger,
  ) {
    this.stdout = new ExecOutput(tty);
    this.stderr = new ExecOutput();
    for (const output of [this.stdout, this.stderr]) {
      output.onFull = () => {
        this.full.add(output);
        this.socket?.pause();
      };
      output.on('drain', () => {
        this.full.delete(output);
        if (this.full.size === 0) this.socket?.resume();
      });
    }
    const ended = new Promise<void>((resolve) => (this.settled = resolve));
    // stdin frames are written here, not by client-node (which ignores back-pressure): each
    // write waits while the WebSocket holds more than its bound, and until the exec is open.
    this.stdin = new Writable({
      highWaterMark: 1024 * 1024,
      write: (chunk: Buffer, _encoding, callback) => this.afterOpen(() => this.sendStdin(chunk, callback)),
      final: (callback) =>
        this.afterOpen(() => {
          this.closeStdin();
          callback();
        }),
    });
    this.exited = Promise.all([ended, finished(this.stdout), finished(this.stderr)]).then(() => this.status ?? { exitCode: 255 });
  }

  private afterOpen(step: () => void): void {
    if (this.whenOpen) this.whenOpen.push(step);
    else step();
  }

  /** The exec opened or failed to: stdin that waited goes out now (or is dropped with the exec). */
  private openSettled(): void {
    const waiting = this.whenOpen ?? [];
    this.whenOpen = undefined;
    for (const step of waiting) step();
  }

  private sendStdin(chunk: Buffer, callback: (error?: Error | null) => void): void {
    const socket = this.socket;
    // A closed exec takes no more input; the session learns of the end from its exit.
    if (!socket || socket.readyState !== socket.OPEN) {
      callback();
      return;
    }
    const frame = Buffer.allocUnsafe(chunk.length + 1);
    frame[0] = STDIN_CHANNEL;
    chunk.copy(frame, 1);
    const waiting = socket.bufferedAmount + frame.length > STDIN_HIGH_WATER_BYTES;
    socket.send(frame, { binary: true }, () => {
      if (waiting) callback();
    });
    if (!waiting) callback();
  }

  /** Opens the exec; a refusal (403, pod gone, API down) is a GatewayError and leaves nothing running. */
  async open(cluster: Cluster, pod: string, container: string, command: string[], timeoutMs: number): Promise<this> {
    let abandoned = false;
    // client-node asks for stdin only when given a stream: this one stays empty and open, since
    // stdin frames (and the v5 close) are sent by sendStdin and closeStdin with back-pressure.
    const stdinRequested = new PassThrough();
    const connecting = cluster.exec.exec(cluster.namespace, pod, container, command, this.stdout, this.stderr, stdinRequested, this.tty !== undefined, (status) => {
      this.status = exitStatusOf(status);
      // client-node has ended stdout and stderr; the socket's close handshake may take longer.
      this.settled();
      if (status.status !== 'Success' && status.reason !== 'NonZeroExitCode') {
        this.log.debug({ code: 'KUBERNETES_EXEC_FAILED', reason: status.reason, message: status.message }, 'program did not run');
      }
    });
    // A connection that opens after the deadline belongs to nobody: close it.
    connecting.then(
      (socket) => abandoned && socket.close(),
      () => undefined,
    );
    try {
      this.socket = await withDeadline(connecting, timeoutMs, 'exec');
    } catch (error) {
      abandoned = true;
      this.openSettled();
      throw execError(error);
    }
    this.socket.on('close', () => this.finish());
    this.socket.on('error', (error: Error) => this.log.debug({ code: 'KUBERNETES_EXEC_FAILED', ...errorFields(error) }, 'exec stream failed'));
    if (this.full.size > 0) this.socket.pause();
    this.openSettled();
    return this;
  }

  /** The socket is gone: whatever the status channel did not say, the streams end now. */
  private finish(): void {
    if (!this.status) this.log.warn({ code: 'KUBERNETES_EXIT_CODE_FAILED' }, 'exec ended without an exit status');
    this.stdout.end();
    this.stderr.end();
    this.settled();
  }

  /**
   * EOF for the program. Only `v5.channel.k8s.io` can close stdin alone; with an older
   * subprotocol closing it would end the whole exec and lose output, so stdin stays open. A
   * terminal is left open, as sshd does, so input the shell has not read yet is not lost.
   */
  private closeStdin(): void {
    if (this.tty) return;
    const socket = this.socket;
    if (socket?.protocol === CLOSE_CAPABLE_PROTOCOL) {
      if (socket.readyState === socket.OPEN) socket.send(Buffer.from([CLOSE_CHANNEL, STDIN_CHANNEL]), { binary: true });
      return;
    }
    this.log.debug({ code: 'KUBERNETES_EXEC', protocol: this.socket?.protocol }, 'stdin EOF not delivered: the API server speaks no v5.channel.k8s.io');
  }

  async resize(cols: number, rows: number): Promise<void> {
    if (!this.tty) return;
    this.stdout.columns = cols;
    this.stdout.rows = rows;
    this.stdout.emit('resize');
  }

  destroy(): void {
    this.socket?.close();
  }
}

function finished(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve();
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
  });
}

/** The command line for a session program: shell, `shell -c command`, or a subsystem's binary; env in front. */
export function programCommand(settings: Pick<PodSettings, 'shellCommand' | 'subsystems'>, program: SessionProgram): string[] {
  let command = program.command === null ? [...settings.shellCommand] : [settings.shellCommand[0]!, '-c', program.command];
  if (program.subsystem !== undefined) {
    // The name is the client's: an own entry only, never `constructor` from the prototype.
    const binary = Object.hasOwn(settings.subsystems, program.subsystem) ? settings.subsystems[program.subsystem] : undefined;
    if (typeof binary !== 'string' || binary === '') throw new GatewayError('KUBERNETES_SUBSYSTEM_NOT_SUPPORTED', `The ${program.subsystem} subsystem is not available in your session.`);
    command = [binary];
  }
  // The exec API has no environment: `env` sets it for the one program.
  const env = Object.entries(program.env).map(([name, value]) => `${name}=${value}`);
  const withEnv = env.length > 0 ? ['/usr/bin/env', ...env, ...command] : command;
  // client-node sends the size as the first resize message, but the program may read it first.
  return program.pty ? startingAtSize(settings.shellCommand[0]!, program.pty, withEnv) : withEnv;
}

/** Starts one session program in a running pod. */
export async function execProgram(cluster: Cluster, pod: string, settings: PodSettings, program: SessionProgram, timeoutMs: number, log: Logger): Promise<BackendSession> {
  const command = programCommand(settings, program);
  log.debug({ code: 'KUBERNETES_EXEC', pod, tty: program.pty !== undefined }, 'starting program');
  const session = new PodExecSession(program.pty ? { cols: program.pty.cols, rows: program.pty.rows } : undefined, log);
  return session.open(cluster, pod, settings.consoleContainer, command, timeoutMs);
}
