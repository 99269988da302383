import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { text } from 'node:stream/consumers';
import { test } from 'node:test';
import { demuxDockerStream } from './stream-demux.ts';

function frame(type: number, payload: string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

test('frames split at any byte boundary reach the right stream in order', async () => {
  const wire = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, 'world'), frame(2, '!')]);
  for (const step of [1, 3, 7, 8, 9, wire.length]) {
    const source = new PassThrough();
    const { stdout, stderr } = demuxDockerStream(source);
    const out = text(stdout);
    const err = text(stderr);
    for (let at = 0; at < wire.length; at += step) source.write(wire.subarray(at, at + step));
    source.end();
    assert.equal(await out, 'hello world', `step ${step}`);
    assert.equal(await err, 'oops!', `step ${step}`);
  }
});
