import type { StreamWriter } from './recording-store.ts';

export interface ChunkedStreamOptions {
  readonly writer: StreamWriter;
  /** Turns buffered pieces into one self-contained chunk (a gzip member, asciicast lines). */
  readonly encode: (pieces: Buffer[]) => Promise<Buffer>;
  /** Raw bytes that open the first chunk as they are (the binary log's header). */
  readonly preamble?: Buffer;
  readonly flushIntervalMs: number;
  readonly maxChunkBytes: number;
  /** Told once when the store fails; the stream then drops everything. */
  readonly onFailure: (error: unknown) => void;
}

/** Beyond this many bytes waiting for a slow store, new content is dropped (and the loss reported). */
const MAX_BACKLOG_BYTES = 64 * 1024 * 1024;

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

  add(piece: Buffer): void {
    if (this.failed || this.closed) return;
    if (this.backlog + this.buffered > MAX_BACKLOG_BYTES) {
      // The store cannot keep up: losing recording is reported like a failed write, never hidden.
      if (this.dropped === 0) this.options.onFailure(new Error('the recording storage fell behind by 64 MiB; content is being dropped'));
      this.dropped += piece.length;
      return;
    }
    this.pieces.push(piece);
    this.buffered += piece.length;
    if (this.buffered >= this.options.maxChunkBytes) this.flush();
  }

  /** Starts writing what is buffered; resolves when everything so far is stored. */
  flush(): Promise<void> {
    if (this.failed) return this.chain;
    if (this.pieces.length === 0 && !this.preamble) return this.chain;
    const pieces = this.pieces;
    const size = this.buffered;
    const preamble = this.preamble;
    this.pieces = [];
    this.buffered = 0;
    this.preamble = undefined;
    this.backlog += size;
    const encoded = pieces.length > 0 ? this.options.encode(pieces) : Promise.resolve(Buffer.alloc(0));
    this.chain = this.chain.then(async () => {
      if (this.failed) return;
      try {
        const body = await encoded;
        await this.options.writer.append(preamble ? Buffer.concat([preamble, body]) : body);
      } catch (error) {
        this.fail(error);
      } finally {
        this.backlog -= size;
      }
    });
    return this.chain;
  }

  private fail(error: unknown) {
    if (this.failed) return;
    this.failed = true;
    this.pieces = [];
    this.options.onFailure(error);
  }

  /** Flushes and seals the stream. */
  async close(): Promise<void> {
    if (this.closed) return this.chain;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
    if (this.failed) return;
    try {
      await this.options.writer.close();
    } catch (error) {
      this.fail(error);
    }
  }
}
