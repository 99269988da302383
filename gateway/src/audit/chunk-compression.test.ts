import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { compressChunk, sampleEntropy } from './chunk-compression.ts';

test('terminal text is compressed; random bytes are stored, both as gzip that round-trips', async () => {
  const text = Buffer.from('$ ls -l\r\ntotal 0\r\n-rw-r--r-- 1 user user 0 Nov 23 file\r\n'.repeat(500));
  const random = randomBytes(256 * 1024);
  assert.ok(sampleEntropy(text) < 6);
  assert.ok(sampleEntropy(random) > 7.5);
  const small = await compressChunk(text);
  assert.ok(small.length < text.length / 5);
  assert.deepEqual(gunzipSync(small), text);
  const stored = await compressChunk(random);
  assert.ok(stored.length >= random.length);
  assert.deepEqual(gunzipSync(stored), random);
});
