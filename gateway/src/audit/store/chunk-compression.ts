import { promisify } from 'node:util';
import { gzip, constants, crc32 } from 'node:zlib';

const gzipAsync = promisify(gzip);
const SAMPLE_BYTES = 4096;
/** Above this many bits per byte a sample is taken as already compressed (random, encrypted, archives). */
const INCOMPRESSIBLE_BITS = 7.5;
/** Deflate's stored blocks hold at most this many bytes (RFC 1951 §3.2.4). */
const MAX_STORED_BLOCK = 65_535;
/** zlib hands its output over in pieces of this size: few enough callbacks for what compresses well. */
const OUTPUT_CHUNK_BYTES = 256 * 1024;

/** Shannon entropy of the first bytes of a chunk, in bits per byte. */
export function sampleEntropy(data: Buffer | readonly Buffer[]): number {
  const counts = new Uint32Array(256);
  let seen = 0;
  for (const piece of Buffer.isBuffer(data) ? [data] : data) {
    const sample = piece.subarray(0, SAMPLE_BYTES - seen);
    for (const byte of sample) counts[byte]! += 1;
    seen += sample.length;
    if (seen >= SAMPLE_BYTES) break;
  }
  if (seen === 0) return 0;
  let bits = 0;
  for (const count of counts) {
    if (count === 0) continue;
    const p = count / seen;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * One gzip member for a chunk of the binary log, as pieces to write in order. Deflate at its
 * fastest level still runs at only tens of MiB/s on incompressible bytes (a `cat` of a random
 * or compressed file), enough to halve a session's throughput; such chunks are stored
 * instead, framed here around the session's own buffers: no copy, only a CRC-32.
 */
export function compressChunk(pieces: readonly Buffer[]): Promise<Buffer[]> {
  return chunkCompressor(Number.POSITIVE_INFINITY, new CompressionBudget(Number.POSITIVE_INFINITY))(pieces);
}

/**
 * Bytes of one stream that may be compressing at once before the next chunk is stored instead.
 * Eight 1 MiB chunks: on a busy machine the threadpool's deflate can start some milliseconds
 * late while the session goes on (scheduling, not a slow deflate), and a bound of two chunks
 * stored about a tenth of a fast session's compressible output raw (a recording 30 times its
 * compressed size). Half the recording's back-pressure mark (16 MiB), so compression in flight
 * alone never pauses the session.
 */
export const MAX_COMPRESSING_BYTES = 8 * 1024 * 1024;

/**
 * Bytes every recording of the process may have compressing at once. The threadpool's few
 * threads gain nothing from a longer queue, while each queued chunk holds deflate's state and
 * an output buffer (about 0.5 MiB): this keeps that under 16 MiB however many sessions send
 * output at once (four streams at full speed fit).
 */
export const MAX_COMPRESSING_BYTES_PER_PROCESS = 32 * 1024 * 1024;

/** Bytes being compressed against a limit; a chunk always fits when nothing is in flight. */
export class CompressionBudget {
  private inFlight = 0;

  constructor(private readonly limit: number) {}

  take(size: number): boolean {
    if (this.inFlight > 0 && this.inFlight + size > this.limit) return false;
    this.inFlight += size;
    return true;
  }

  give(size: number): void {
    this.inFlight -= size;
  }
}

const processBudget = new CompressionBudget(MAX_COMPRESSING_BYTES_PER_PROCESS);

/**
 * compressChunk for one recorded stream, never a brake on the session: deflate runs on the
 * threadpool, and while MAX_COMPRESSING_BYTES of this stream (or `shared`'s limit across every
 * stream) are still being compressed, the machine is not keeping up and the next chunk is
 * stored uncompressed instead of queueing. The log stays gzip either way; only its size varies.
 */
export function chunkCompressor(maxCompressingBytes = MAX_COMPRESSING_BYTES, shared = processBudget): (pieces: readonly Buffer[]) => Promise<Buffer[]> {
  const own = new CompressionBudget(maxCompressingBytes);
  return async (pieces) => {
    const size = pieces.reduce((sum, piece) => sum + piece.length, 0);
    if (sampleEntropy(pieces) > INCOMPRESSIBLE_BITS || !own.take(size)) return storedGzip(pieces);
    if (!shared.take(size)) {
      own.give(size);
      return storedGzip(pieces);
    }
    try {
      return [await gzipAsync(Buffer.concat(pieces, size), { level: constants.Z_BEST_SPEED, chunkSize: OUTPUT_CHUNK_BYTES })];
    } finally {
      own.give(size);
      shared.give(size);
    }
  };
}

/** A gzip member (RFC 1952) whose deflate data is stored blocks (RFC 1951 §3.2.4) over `pieces`. */
export function storedGzip(pieces: readonly Buffer[]): Buffer[] {
  // ID1 ID2, CM deflate, no flags, no mtime, XFL 0, OS unix.
  const out: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3])];
  let total = 0;
  let crc = 0;
  for (const piece of pieces) {
    total += piece.length;
    crc = crc32(piece, crc);
  }
  const blockHeader = (length: number, final: boolean) => {
    const header = Buffer.alloc(5);
    header[0] = final ? 1 : 0;
    header.writeUInt16LE(length, 1);
    header.writeUInt16LE(~length & 0xffff, 3);
    return header;
  };
  let left = total;
  let index = 0;
  let offset = 0;
  do {
    const length = Math.min(MAX_STORED_BLOCK, left);
    left -= length;
    out.push(blockHeader(length, left === 0));
    let need = length;
    while (need > 0) {
      const piece = pieces[index]!;
      const take = Math.min(need, piece.length - offset);
      out.push(offset === 0 && take === piece.length ? piece : piece.subarray(offset, offset + take));
      need -= take;
      offset += take;
      if (offset === piece.length) {
        index += 1;
        offset = 0;
      }
    }
    // Skip empty pieces so the next block starts on data.
    while (index < pieces.length && pieces[index]!.length === 0) index += 1;
  } while (left > 0);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE(total % 0x1_0000_0000, 4);
  out.push(trailer);
  return out;
}
