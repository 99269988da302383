import { Writable } from 'node:stream';
import type { ServerChannel } from 'ssh2';
import type { ExitStatus } from '../backends/index.ts';
import { channelOutgoing, channelSocket, forgetSentChunk } from '../ssh2-internals.ts';
import { holdWritesThisTurn } from '../write-batch.ts';

/** Where a contained fault happened, for the log line and the metric label (a bounded set). */
export type FaultStage = 'write' | 'exit' | 'end' | 'close' | 'handler' | 'connection';

/** Told of an ssh2 call that threw: the connection it belongs to is closed, nothing else. */
export type FaultReporter = (stage: FaultStage, error: unknown) => void;

type StreamKind = 'stdout' | 'stderr';

const SINK_HIGH_WATER_MARK = 256 * 1024;

/**
 * Every ssh2 call a session makes on its channel, made safe: once the client or its
 * connection is gone, ssh2's protocol object throws on any write (`Invalid Zlib instance`
 * with compression, `Instance unusable` without), so each call checks the channel's state,
 * catches, and reports the fault instead of letting it reach the event loop.
 *
 * Output is written one chunk at a time, stdout and stderr in turn, each write waiting for
 * ssh2's callback (the client's window took it): ssh2 keeps a single "waiting for window"
 * slot per channel, and two streams waiting at once would leave one of them stuck forever.
 * A chunk the client's window takes whole while nothing waits is written at once instead
 * (ssh2 sends it before returning, so no slot is used): the bulk-transfer fast path, with
 * the connection's socket corked for the rest of the event-loop turn so the packets of
 * several chunks leave in one writev.
 */
export class ChannelGuard {
  private faulted = false;
  private tail: Promise<void> = Promise.resolve();
  /** Writes queued behind `tail`; while there are any, every write queues (order is kept). */
  private queued = 0;
  /** Bytes ssh2 has accepted so far; a flush that stops moving is seen by this not changing. */
  private sentBytes = 0;

  constructor(
    private readonly channel: ServerChannel,
    private readonly connectionGone: AbortSignal | undefined,
    private readonly report: FaultReporter,
  ) {}

  /** Whether the client can still be sent anything on this channel. */
  get open(): boolean {
    return !this.faulted && !this.connectionGone?.aborted && channelOutgoing(this.channel)?.state === 'open';
  }

  get progress(): number {
    return this.sentBytes;
  }

  /** True while output waits for the client to open its window (a slow reader, not a fault). */
  get waitingForWindow(): boolean {
    return this.open && channelOutgoing(this.channel)?.window === 0;
  }

  /** A line for the user's terminal on stderr, queued behind the output already sent. */
  line(text: string): Promise<void> {
    const chunk = Buffer.from(`${text}\r\n`);
    return this.sendIfWindowTakesIt('stderr', chunk) ? Promise.resolve() : this.send('stderr', chunk);
  }

  /** A stream that writes to the channel's stdout or stderr with back-pressure, never throwing. */
  sink(kind: StreamKind): Writable {
    return new Writable({
      // Above a backend's read (64 KiB), so a chunk taken at once never stops its pipe.
      highWaterMark: SINK_HIGH_WATER_MARK,
      write: (chunk: Buffer, _encoding, callback) => {
        if (this.sendIfWindowTakesIt(kind, chunk)) callback();
        else void this.send(kind, chunk).then(() => callback());
      },
    });
  }

  /** Exit status (or signal), then EOF and close; each step only while the channel is open. */
  finish(status: ExitStatus): void {
    this.attempt('exit', () => {
      if ('signal' in status) this.channel.exit(status.signal, status.coreDumped, '');
      else this.channel.exit(status.exitCode);
    });
    this.attempt('end', () => this.channel.end());
  }

  /** Closes the channel without an exit status (a flush that gave up). */
  close(): void {
    this.attempt('close', () => this.channel.close());
  }

  private send(kind: StreamKind, chunk: Buffer): Promise<void> {
    this.queued += 1;
    const next = this.tail.then(() => this.sendNow(kind, chunk)).then(() => void (this.queued -= 1));
    this.tail = next;
    return next;
  }

  /**
   * Writes `chunk` now when nothing is queued and the client's window takes all of it; false
   * (nothing written) otherwise, and the caller queues it. True too when the channel is gone
   * (the chunk is dropped, as the queued path does).
   */
  private sendIfWindowTakesIt(kind: StreamKind, chunk: Buffer): boolean {
    if (this.queued > 0) return false;
    if (!this.open) return true;
    const target = kind === 'stdout' ? this.channel : this.channel.stderr;
    if (!target.writable) return true;
    if ((channelOutgoing(this.channel)?.window ?? 0) < chunk.length || target.writableLength > 0) return false;
    const socket = channelSocket(this.channel);
    if (socket) holdWritesThisTurn(socket);
    try {
      target.write(chunk);
      this.sentBytes += chunk.length;
    } catch (error) {
      this.fault('write', error);
    }
    return true;
  }

  /** Resolves once ssh2 took the chunk, or the channel or connection is gone; never rejects. */
  private sendNow(kind: StreamKind, chunk: Buffer): Promise<void> {
    const target = kind === 'stdout' ? this.channel : this.channel.stderr;
    if (!this.open || !target.writable) return Promise.resolve();
    return new Promise((resolve) => {
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        this.channel.off('close', settle);
        this.connectionGone?.removeEventListener('abort', settle);
        // Nothing of this channel is pending when a write settles here (writes go one at a time).
        forgetSentChunk(this.channel);
        resolve();
      };
      this.channel.once('close', settle);
      this.connectionGone?.addEventListener('abort', settle, { once: true });
      try {
        target.write(chunk, (error?: Error | null) => {
          if (!error) this.sentBytes += chunk.length;
          settle();
        });
      } catch (error) {
        this.fault('write', error);
        settle();
      }
    });
  }

  private attempt(stage: FaultStage, action: () => void): void {
    if (!this.open) return;
    try {
      action();
    } catch (error) {
      this.fault(stage, error);
    }
  }

  private fault(stage: FaultStage, error: unknown): void {
    if (this.faulted) return;
    this.faulted = true;
    this.report(stage, error);
  }
}
