import { promisify } from 'node:util';
import { gzip, constants } from 'node:zlib';

const gzipAsync = promisify(gzip);
const SAMPLE_BYTES = 4096;
/** Above this many bits per byte a sample is taken as already compressed (random, encrypted, archives). */
const INCOMPRESSIBLE_BITS = 7.5;

/** Shannon entropy of a sample, in bits per byte. */
export function sampleEntropy(data: Buffer): number {
  const sample = data.subarray(0, SAMPLE_BYTES);
  if (sample.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (const byte of sample) counts[byte]! += 1;
  let bits = 0;
  for (const count of counts) {
    if (count === 0) continue;
    const p = count / sample.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * One gzip member for a chunk of the binary log. Deflate at its fastest level still runs at
 * only tens of MiB/s on incompressible bytes (a `cat` of a random or compressed file), enough
 * to halve a session's throughput; such chunks are stored (level 0, still gzip) instead.
 */
export function compressChunk(data: Buffer): Promise<Buffer> {
  const level = sampleEntropy(data) > INCOMPRESSIBLE_BITS ? constants.Z_NO_COMPRESSION : constants.Z_BEST_SPEED;
  return gzipAsync(data, { level });
}
