import { PassThrough, Writable, type Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import type { BackendSession, ExitStatus, SessionProgram } from '../backend.ts';
import { ensureRunning } from './container-lifecycle.ts';
import { demuxDockerStream } from './stream-demux.ts';
import { holdWritesThisTurn } from '../../write-batch.ts';
import { startingAtSize } from '../terminal-size.ts';
import type { Logger } from '../../observability/index.ts';
import { errorFields } from '../../observability/index.ts';

/** How long to wait for Docker to report the exit code once the output has ended. */
const EXIT_CODE_DEADLINE_MS = 10_000;

/** One `docker exec` attached over a hijacked connection. */
export class DockerSession implements BackendSession {
  readonly stdin: Writable;
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  readonly exited: Promise<ExitStatus>;

  constructor(
    private readonly exec: Docker.Exec,
    private readonly socket: Duplex,
    tty: boolean,
    private readonly log: Logger,
  ) {
    // The engine may drop the attach connection at any time; that ends the session, not the gateway.
    socket.on('error', (error: Error) => {
      this.log.debug({ code: 'DOCKER_STREAM_OUTPUT_FAILED', ...errorFields(error) }, 'attach stream failed');
      this.stdout.end();
      this.stderr.end();
    });
    if (tty) {
      this.stdout = new PassThrough();
      this.stderr = new PassThrough();
      socket.pipe(this.stdout);
      this.stderr.end();
    } else {
      ({ stdout: this.stdout, stderr: this.stderr } = demuxDockerStream(socket));
    }
    this.stdin = new Writable({
      // 1 MiB may wait here while the engine reads, so packets that arrive meanwhile
      // leave in one write: one syscall for the gateway and one read for the engine
      // instead of one per 32 KiB SSH packet (the top cost in a bulk-upload profile).
      highWaterMark: 1024 * 1024,
      write: (chunk, _encoding, callback) => {
        if (!socket.writable) return callback();
        // The SSH packets of one turn (an SFTP request is a 32 KiB packet and a small one)
        // reach the engine in one writev: each write wakes the engine up once.
        holdWritesThisTurn(socket);
        // A write the socket fails (the program or the client went, the stream was destroyed)
        // is dropped like one after the end: an error here would reach the piping channel as
        // an unhandled 'error' event. The socket's own error handler logs its failure.
        socket.write(chunk, () => callback());
      },
      // Corked, the socket hands the chunks to one writev as they are: no copy into one buffer.
      writev: (chunks, callback) => {
        if (!socket.writable) return callback();
        socket.cork();
        for (const [index, { chunk }] of chunks.entries()) socket.write(chunk, index === chunks.length - 1 ? () => callback() : undefined);
        socket.uncork();
      },
      // Half-close: Docker then closes the program's stdin, which is how `cat` sees EOF.
      // A terminal is left open, as sshd does: Docker would tear the pty down and lose
      // input the shell has not read yet (`ssh -tt host <<< 'cmd; exit'`).
      final: (callback) => {
        if (!tty && socket.writable) socket.end();
        callback();
      },
    });
    this.exited = Promise.all([ended(this.stdout), ended(this.stderr)]).then(() => this.readExitCode());
  }

  async resize(cols: number, rows: number): Promise<void> {
    try {
      await this.exec.resize({ w: cols, h: rows });
    } catch (error) {
      this.log.debug({ code: 'DOCKER_EXEC_RESIZE_FAILED', ...errorFields(error) }, 'resize failed');
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Docker may still report Running for a moment after the stream closes; poll briefly. */
  private async readExitCode(): Promise<{ exitCode: number }> {
    const deadline = Date.now() + EXIT_CODE_DEADLINE_MS;
    let delay = 5;
    for (;;) {
      try {
        const info = await this.exec.inspect();
        if (!info.Running && typeof info.ExitCode === 'number') return { exitCode: info.ExitCode };
      } catch (error) {
        this.log.warn({ code: 'DOCKER_EXIT_CODE_FAILED', ...errorFields(error) }, 'cannot read exit code');
        return { exitCode: 255 };
      }
      if (Date.now() > deadline) {
        this.log.warn({ code: 'DOCKER_EXIT_CODE_FAILED' }, 'program still running after its output ended');
        return { exitCode: 255 };
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 200);
    }
  }
}

function ended(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve();
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
  });
}

/** Starts one program in a running container with `docker exec`, attached both ways. */
export async function execProgram(container: Docker.Container, execution: DockerExecution, program: SessionProgram, log: Logger): Promise<BackendSession> {
  const shell = execution.shellCommand;
  let cmd = program.command === null ? shell : [shell[0]!, '-c', program.command];
  if (program.subsystem !== undefined) {
    // The name is the client's: an own entry only, never `constructor` from the prototype.
    const binary = Object.hasOwn(execution.subsystems, program.subsystem) ? execution.subsystems[program.subsystem] : undefined;
    if (typeof binary !== 'string' || binary === '') {
      throw new GatewayError('DOCKER_SUBSYSTEM_NOT_SUPPORTED', `The ${program.subsystem} subsystem is not available in your session.`);
    }
    cmd = [binary];
  }
  const tty = program.pty !== undefined;
  // ConsoleSize is [rows, cols] from Engine API 1.42; older engines ignore it, and the shell sets it.
  const consoleSize: [number, number] | undefined = program.pty ? [program.pty.rows, program.pty.cols] : undefined;
  if (program.pty) cmd = startingAtSize(shell[0]!, program.pty, cmd);
  try {
    const exec = await container.exec({
      Cmd: cmd,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
      Env: Object.entries(program.env).map(([name, value]) => `${name}=${value}`),
      ...(consoleSize ? { ConsoleSize: consoleSize } : {}),
    });
    const socket = (await exec.start({ hijack: true, stdin: true, Tty: tty, ...(consoleSize ? { ConsoleSize: consoleSize } : {}) })) as Duplex;
    return new DockerSession(exec, socket, tty, log);
  } catch (cause) {
    // 409: the container is not running. Its program may have ended just after the start was
    // checked (an idle command that exits at once): then that, not the exec, is what failed.
    if ((cause as { statusCode?: number }).statusCode === 409) {
      await ensureRunning(container).catch((error: unknown) => {
        if (error instanceof GatewayError) throw error;
      });
    }
    throw new GatewayError('DOCKER_EXEC_CREATE_FAILED', 'Could not start the program in your session container.', { cause });
  }
}
