import type { StreamWriter } from './recording-store.ts';

export interface ChunkedStreamOptions {
  readonly writer: StreamWriter;
  /** Turns buffered pieces into one self-contained chunk (a gzip member, asciicast lines), as pieces. */
  readonly encode: (pieces: Buffer[]) => Promise<Buffer[]>;
  /** Raw bytes that open the first chunk as they are (the binary log's header). */
  readonly preamble?: Buffer;
  readonly flushIntervalMs: number;
  readonly maxChunkBytes: number;
  /** Told once when the store fails; the stream then drops everything. */
  readonly onFailure: (error: unknown) => void;
  /**
   * Back-pressure: once this many bytes wait for the store, `onPressure(true)` asks the
   * producers to pause; `onPressure(false)` comes when a quarter of it is left (or the stream
   * failed, so holding the session back would keep nothing). Unset: no back-pressure.
   */
  readonly highWaterBytes?: number;
  readonly onPressure?: (pressed: boolean) => void;
  /** Under pressure, a store that stores nothing for this long counts as failed. */
  readonly stallTimeoutMs?: number;
}

/**
 * The last resort beyond back-pressure: past this many waiting bytes (producers that ignore
 * pause), new content is dropped and the loss reported like a failed write, never hidden.
 */
const MAX_BACKLOG_BYTES = 64 * 1024 * 1024;
const DEFAULT_STALL_TIMEOUT_MS = 60_000;

/**
 * Buffers one recorded stream and hands it to the store in chunks: when the buffer reaches
 * maxChunkBytes and at least every flushIntervalMs, so a crash loses at most that interval.
 */
export class ChunkedStream {
  private pieces: Buffer[] = [];
  private buffered = 0;
  private backlog = 0;
  private preamble: Buffer | undefined;
  private chain: Promise<void> = Promise.resolve();
  private failed = false;
  private closed = false;
  private readonly timer: NodeJS.Timeout;
  private pressed = false;
  private markFailed: () => void = () => undefined;
  /** Resolves when the stream fails, so no one waits on a write that never answers. */
  private readonly failure = new Promise<void>((resolve) => (this.markFailed = resolve));
  private stallTimer: NodeJS.Timeout | undefined;
  /** Bytes dropped because the store fell behind. */
  dropped = 0;

  constructor(private readonly options: ChunkedStreamOptions) {
    this.preamble = options.preamble;
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  get broken(): boolean {
    return this.failed;
  }

  /** Bytes added but not yet stored (buffered, being encoded, or being written). */
  get pending(): number {
    return this.backlog + this.buffered;
  }

  /** Re-evaluates back-pressure after the waiting bytes changed. */
  private pressure() {
    const high = this.options.highWaterBytes;
    if (high === undefined) return;
    if (!this.pressed && !this.failed && this.pending >= high) {
      this.pressed = true;
      this.watchStall();
      this.options.onPressure?.(true);
      // Whatever is buffered goes to the store now: producers wait for it to drain.
      if (this.buffered > 0) void this.flush();
    } else if (this.pressed && (this.failed || this.pending <= high / 4)) {
      this.pressed = false;
      clearTimeout(this.stallTimer);
      this.options.onPressure?.(false);
    }
  }

  /** While producers wait, a store that stores nothing is failed rather than waited on forever. */
  private watchStall() {
    clearTimeout(this.stallTimer);
    const ms = this.options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.stallTimer = setTimeout(() => this.fail(new Error(`the recording storage stored nothing for ${Math.round(ms / 1000)} s`)), ms);
    this.stallTimer.unref();
  }

  add(piece: Buffer): void {
    if (this.failed || this.closed) return;
    if (this.backlog + this.buffered > MAX_BACKLOG_BYTES) {
      // Producers did not pause: losing recording is reported like a failed write, never hidden.
      if (this.dropped === 0) this.options.onFailure(new Error('the recording storage fell behind by 64 MiB; content is being dropped'));
      this.dropped += piece.length;
      return;
    }
    this.pieces.push(piece);
    this.buffered += piece.length;
    if (this.buffered >= this.options.maxChunkBytes) this.flush();
    else if (!this.pressed) this.pressure();
  }

  /** Starts writing what is buffered; resolves when everything so far is stored. */
  flush(): Promise<void> {
    // A failed stream may have a write that never answers (a stalled store): nothing to wait for.
    if (this.failed) return Promise.resolve();
    if (this.pieces.length === 0 && !this.preamble) return this.chain;
    const pieces = this.pieces;
    const size = this.buffered;
    const preamble = this.preamble;
    this.pieces = [];
    this.buffered = 0;
    this.preamble = undefined;
    this.backlog += size;
    const encoded = pieces.length > 0 ? this.options.encode(pieces) : Promise.resolve([]);
    this.chain = this.chain.then(async () => {
      try {
        if (this.failed) return;
        const body = await encoded;
        await this.options.writer.append(preamble ? [preamble, ...body] : body);
        if (this.pressed) this.watchStall();
      } catch (error) {
        this.fail(error);
      } finally {
        this.backlog -= size;
        this.pressure();
      }
    });
    this.pressure();
    return this.chain;
  }

  private fail(error: unknown) {
    if (this.failed) return;
    this.failed = true;
    this.pieces = [];
    this.buffered = 0;
    this.markFailed();
    this.options.writer.abandon?.();
    this.options.onFailure(error);
    this.pressure();
  }

  /** Flushes and seals the stream. */
  async close(): Promise<void> {
    if (this.closed) return Promise.race([this.chain, this.failure]);
    this.closed = true;
    clearInterval(this.timer);
    await Promise.race([this.flush(), this.failure]);
    clearTimeout(this.stallTimer);
    if (this.failed) return;
    try {
      await this.options.writer.close();
    } catch (error) {
      this.fail(error);
    }
  }
}
