import { PassThrough, Writable } from 'node:stream';
import type { ClientChannel } from 'ssh2';
import type { BackendSession, ExitStatus } from '../backend.ts';
import { errorFields, type Logger } from '../../observability/index.ts';

/** A session channel on the upstream server, relayed byte for byte. */
export class ProxySession implements BackendSession {
  readonly stdin: Writable;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly exited: Promise<ExitStatus>;

  constructor(
    private readonly channel: ClientChannel,
    log: Logger,
  ) {
    let status: ExitStatus = { exitCode: 255 };
    channel.on('exit', (code: number | null, signal?: string, coreDumped?: boolean) => {
      // ssh2's client names signals `SIGTERM`; the protocol and our ExitStatus say `TERM`.
      status = code === null && signal ? { signal: signal.replace(/^SIG/, ''), coreDumped: Boolean(coreDumped) } : { exitCode: code ?? 255 };
      log.debug({ code: signal ? 'SSHPROXY_EXIT_SIGNAL' : 'SSHPROXY_EXIT_STATUS', ...status }, 'upstream program ended');
    });
    channel.pipe(this.stdout);
    channel.stderr.pipe(this.stderr);
    channel.on('error', (error: Error) => log.debug({ code: 'SSHPROXY_STDOUT_ERROR', ...errorFields(error) }, 'upstream channel failed'));
    this.stdin = new Writable({
      // A write the upstream channel fails is dropped like one after its end (the channel's
      // error handler logs it): an error here would be an unhandled 'error' of the piping channel.
      write: (chunk, _encoding, callback) => (channel.writable ? channel.write(chunk, () => callback()) : callback()),
      // The client's EOF becomes the upstream program's EOF.
      final: (callback) => {
        if (channel.writable) channel.end();
        callback();
      },
    });
    const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
    const drained = (stream: PassThrough) => new Promise<void>((resolve) => (stream.readableEnded ? resolve() : stream.once('end', () => resolve())));
    this.exited = closed
      .then(() => {
        this.stdout.end();
        this.stderr.end();
        return Promise.all([drained(this.stdout), drained(this.stderr)]);
      })
      .then(() => status);
  }

  async resize(cols: number, rows: number): Promise<void> {
    this.channel.setWindow(rows, cols, 0, 0);
  }

  signal(name: string): void {
    this.channel.signal(name);
  }

  destroy(): void {
    this.channel.close();
  }
}
