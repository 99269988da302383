import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { chunkCompressor, CompressionBudget, compressChunk, MAX_COMPRESSING_BYTES, sampleEntropy, storedGzip } from './chunk-compression.ts';

test('terminal text is compressed; random bytes are stored, both as gzip that round-trips', async () => {
  const text = Buffer.from('$ ls -l\r\ntotal 0\r\n-rw-r--r-- 1 user user 0 Nov 23 file\r\n'.repeat(500));
  const random = randomBytes(256 * 1024);
  assert.ok(sampleEntropy(text) < 6);
  assert.ok(sampleEntropy(random) > 7.5);
  const small = Buffer.concat(await compressChunk([text.subarray(0, 100), text.subarray(100)]));
  assert.ok(small.length < text.length / 5);
  assert.deepEqual(gunzipSync(small), text);
  const stored = Buffer.concat(await compressChunk([random.subarray(0, 7), random.subarray(7, 70_000), random.subarray(70_000)]));
  assert.ok(stored.length >= random.length);
  assert.deepEqual(gunzipSync(stored), random);
});

test('stored gzip members frame any split of the bytes, the empty chunk included', () => {
  const data = randomBytes(3 * 65_535 + 17);
  for (const cuts of [[], [0], [1, 2, 65_535], [65_534, 65_536, 131_070, 131_071], [data.length]]) {
    const pieces: Buffer[] = [];
    let from = 0;
    for (const cut of [...cuts, data.length]) {
      pieces.push(data.subarray(from, cut));
      from = cut;
    }
    assert.deepEqual(gunzipSync(Buffer.concat(storedGzip(pieces))), data, `cuts ${cuts.join(',')}`);
  }
  assert.equal(gunzipSync(Buffer.concat(storedGzip([]))).length, 0);
  assert.equal(gunzipSync(Buffer.concat(storedGzip([Buffer.alloc(0)]))).length, 0);
});

test('a stream whose chunks are still compressing stores the next one: the recording never waits on deflate', async () => {
  const text = Buffer.from('$ make\r\ncc -O2 -c main.c\r\n'.repeat(4000));
  const compress = chunkCompressor(2 * text.length, new CompressionBudget(Number.POSITIVE_INFINITY));
  const [first, second, third] = [compress([text]), compress([text]), compress([text])];
  const sizes = (await Promise.all([first, second, third])).map((pieces) => Buffer.concat(pieces).length);
  assert.ok(sizes[0]! < text.length / 5 && sizes[1]! < text.length / 5, 'the first two are compressed');
  assert.ok(sizes[2]! >= text.length, 'the third, flushed while two compress, is stored');
  for (const pieces of await Promise.all([first, second, third])) assert.deepEqual(gunzipSync(Buffer.concat(pieces)), text);
  assert.ok(Buffer.concat(await compress([text])).length < text.length / 5, 'once they finished, chunks are compressed again');
});

test("a fast session's compressible output stays compressed while up to 8 MiB of it waits for deflate; the chunk after that is stored", async () => {
  // 1 MiB chunks (the recorder's default size) flushed back to back, as when the threadpool starts late.
  const chunk = Buffer.alloc(1024 * 1024, 'total 48\r\n-rw-r--r-- 1 user user 1207 Dec  7 10:00 notes.txt\r\n');
  assert.equal(MAX_COMPRESSING_BYTES, 8 * chunk.length);
  const compress = chunkCompressor(MAX_COMPRESSING_BYTES, new CompressionBudget(Number.POSITIVE_INFINITY));
  const flushed = Array.from({ length: 9 }, () => compress([chunk]));
  const sizes = (await Promise.all(flushed)).map((pieces) => Buffer.concat(pieces).length);
  assert.ok(
    sizes.slice(0, 8).every((size) => size < chunk.length / 10),
    `the first eight are compressed: ${sizes.join(', ')}`,
  );
  assert.ok(sizes[8]! > chunk.length, 'the ninth, flushed while 8 MiB compress, is stored');
  for (const pieces of await Promise.all(flushed)) assert.deepEqual(gunzipSync(Buffer.concat(pieces)), chunk);
});

test('a chunk larger than the bound is compressed when nothing else is compressing', async () => {
  const big = Buffer.alloc(MAX_COMPRESSING_BYTES + 1024, 'a');
  const stored = Buffer.concat(await chunkCompressor()([big]));
  assert.ok(stored.length < big.length / 100, `compressed: ${stored.length} bytes`);
  assert.deepEqual(gunzipSync(stored), big);
});

test("every stream of the process draws on one compression budget: past it, any stream's next chunk is stored", async () => {
  const chunk = Buffer.alloc(1024 * 1024, '$ tail -f app.log\r\nINFO request served in 3 ms\r\n');
  const shared = new CompressionBudget(3 * chunk.length);
  const [first, second] = [chunkCompressor(MAX_COMPRESSING_BYTES, shared), chunkCompressor(MAX_COMPRESSING_BYTES, shared)];
  const flushed = [first([chunk]), second([chunk]), first([chunk]), second([chunk])];
  const sizes = (await Promise.all(flushed)).map((pieces) => Buffer.concat(pieces).length);
  assert.ok(
    sizes.slice(0, 3).every((size) => size < chunk.length / 10),
    `the first three, within the shared budget, are compressed: ${sizes.join(', ')}`,
  );
  assert.ok(sizes[3]! > chunk.length, "the fourth is stored although its own stream's bound had room");
  for (const pieces of await Promise.all(flushed)) assert.deepEqual(gunzipSync(Buffer.concat(pieces)), chunk);
  assert.ok(Buffer.concat(await second([chunk])).length < chunk.length / 10, 'the budget is given back once they finished');
});
