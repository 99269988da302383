import type { Duplex, Readable, Writable } from 'node:stream';
import type Docker from 'dockerode';
import type { BackendSession, ExitStatus } from '../backend.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import { ended, programInput, readExitCode } from './docker-session.ts';
import type { DirectStreams } from './stream-directory.ts';
import { demuxDockerStream } from './stream-demux.ts';

/**
 * One `docker exec` whose stdin and stdout are a FIFO pair in the container's stream directory
 * (stream-directory.ts); only stderr comes through the engine's attach stream, and its end is
 * how the gateway learns that the program ended.
 */
export class DirectDockerSession implements BackendSession {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<ExitStatus>;

  constructor(
    exec: Docker.Exec,
    private readonly attach: Duplex,
    private readonly streams: DirectStreams,
    log: Logger,
  ) {
    // The FIFO sockets have their error listeners from their creation (stream-directory.ts).
    attach.on('error', (error: Error) => log.debug({ code: 'DOCKER_STREAM_OUTPUT_FAILED', ...errorFields(error) }, 'attach stream failed'));
    const demuxed = demuxDockerStream(attach);
    demuxed.stdout.resume(); // nothing is attached to it; it only ends
    this.stderr = demuxed.stderr;
    this.stdout = streams.stdout;
    this.stdin = programInput(streams.stdin, true, streams.started);
    // The attach stream ends when the program has: what it wrote to stdout is then read to the end.
    void ended(demuxed.stderr).then(() => streams.programEnded());
    this.exited = Promise.all([ended(this.stdout), ended(demuxed.stderr)]).then(() => readExitCode(exec, log));
  }

  /** Resolves once the program opened its streams (or ended): stdout is the program's alone from then. */
  get started(): Promise<void> {
    return this.streams.started;
  }

  /** Only terminals are resized, and a terminal's program is attached through the engine. */
  async resize(): Promise<void> {}

  destroy(): void {
    this.attach.destroy();
    this.streams.destroy();
  }
}
