import { PassThrough, Writable, type Duplex, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { BackendSession, ExitStatus } from '../backend.ts';
import { demuxDockerStream } from './stream-demux.ts';
import { holdWritesThisTurn } from '../../write-batch.ts';
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
    this.stdin = programInput(socket, !tty);
    this.exited = Promise.all([ended(this.stdout), ended(this.stderr)]).then(() => readExitCode(exec, log));
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
}

/**
 * The program's stdin over `socket`. 1 MiB may wait here while the engine (or the program)
 * reads, so packets that arrive meanwhile leave in one writev instead of one write per 32 KiB
 * SSH packet (the top cost in a bulk-upload profile). Ending it half-closes the socket when
 * `endOnFinal` (how `cat` sees EOF), once `endAfter` resolved; a terminal is left open, as sshd does: Docker would tear
 * the pty down and lose input the shell has not read yet (`ssh -tt host <<< 'cmd; exit'`).
 */
export function programInput(socket: Writable, endOnFinal: boolean, endAfter: Promise<void> = Promise.resolve()): Writable {
  return new Writable({
    highWaterMark: 1024 * 1024,
    write: (chunk, _encoding, callback) => {
      if (!socket.writable) return callback();
      // The SSH packets of one turn (an SFTP request is a 32 KiB packet and a small one)
      // reach the reader in one writev: each write wakes it up once.
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
    final: (callback) => {
      if (!endOnFinal) return callback();
      void endAfter.then(() => {
        if (socket.writable) socket.end();
        callback();
      });
    },
  });
}

/** Docker may still report Running for a moment after the stream closes; poll briefly. */
export async function readExitCode(exec: Docker.Exec, log: Logger): Promise<{ exitCode: number }> {
  const deadline = Date.now() + EXIT_CODE_DEADLINE_MS;
  let delay = 5;
  for (;;) {
    try {
      const info = await exec.inspect();
      if (!info.Running && typeof info.ExitCode === 'number') return { exitCode: info.ExitCode };
    } catch (error) {
      log.warn({ code: 'DOCKER_EXIT_CODE_FAILED', ...errorFields(error) }, 'cannot read exit code');
      return { exitCode: 255 };
    }
    if (Date.now() > deadline) {
      log.warn({ code: 'DOCKER_EXIT_CODE_FAILED' }, 'program still running after its output ended');
      return { exitCode: 255 };
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 200);
  }
}

export function ended(stream: Readable): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) return resolve();
    stream.once('end', () => resolve());
    stream.once('close', () => resolve());
  });
}
