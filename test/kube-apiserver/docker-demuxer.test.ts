import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { DockerDemuxer } from './exec.ts';

function dockerFrame(stream: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

test('Docker frames split at every byte boundary come out as the same stdout and stderr bytes, one piece per read and stream', () => {
  const parts = [
    [1, randomBytes(300)],
    [2, Buffer.from('warning\n')],
    [1, randomBytes(5)],
    [1, Buffer.alloc(0)],
    [0, Buffer.from('stdin echo is not output')],
    [2, randomBytes(70_000)],
  ] as const;
  const wire = Buffer.concat(parts.map(([stream, payload]) => dockerFrame(stream, payload)));
  const expected = (stream: number) => Buffer.concat(parts.filter(([s]) => s === stream).map(([, payload]) => payload));
  for (const size of [1, 3, 7, 8, 9, 64, 4096, wire.length]) {
    const demuxer = new DockerDemuxer();
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    for (let offset = 0; offset < wire.length; offset += size) {
      const out = demuxer.push(wire.subarray(offset, offset + size));
      if (out.stdout) stdout.push(out.stdout);
      if (out.stderr) stderr.push(out.stderr);
      assert.ok(!out.stdout || out.stdout.length > 0, 'no empty pieces');
    }
    assert.deepEqual(Buffer.concat(stdout), expected(1), `stdout, reads of ${size} bytes`);
    assert.deepEqual(Buffer.concat(stderr), expected(2), `stderr, reads of ${size} bytes`);
    if (size === wire.length) assert.equal(stdout.length, 1, 'one read: one stdout piece for all its frames');
  }
});
