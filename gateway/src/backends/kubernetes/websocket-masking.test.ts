import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';

interface Masking {
  mask(source: Buffer, mask: Buffer, output: Buffer, offset: number, length: number): void;
}

test('exec frames to the Kubernetes API are masked by bufferutil, not byte by byte in JavaScript', () => {
  // Every byte a user sends to a pod crosses a client WebSocket, which must mask it. ws masks in
  // a JavaScript loop unless bufferutil loads: measured, that loop made `sftp put` on Kubernetes
  // cost the gateway 12 CPU s per GiB instead of 3.4 (bench/README.md).
  const fromClientNode = createRequire(createRequire(import.meta.url).resolve('@kubernetes/client-node'));
  const wsRequire = createRequire(fromClientNode.resolve('ws'));
  const native = wsRequire('bufferutil') as Masking;
  const { mask } = wsRequire('./lib/buffer-util.js') as Masking;
  const original = native.mask;
  let nativeCalls = 0;
  native.mask = (...args) => {
    nativeCalls += 1;
    original(...args);
  };
  try {
    const source = Buffer.alloc(64, 0xff);
    const output = Buffer.alloc(64);
    mask(source, Buffer.from([1, 2, 3, 4]), output, 0, source.length);
    assert.equal(nativeCalls, 1, "the ws that client-node uses called bufferutil's mask");
    assert.deepEqual([...output.subarray(0, 4)], [0xfe, 0xfd, 0xfc, 0xfb]);
  } finally {
    native.mask = original;
  }
});
