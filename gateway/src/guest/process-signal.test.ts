import assert from 'node:assert/strict';
import { test } from 'node:test';
import { signalNumber, signalScript } from './process-signal.ts';

test('signal names that are prototype keys (constructor, __proto__, toString) are no signal; real names are', () => {
  for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    assert.equal(signalNumber(name), undefined, name);
    assert.throws(() => signalScript('abc', name), name);
  }
  assert.equal(signalNumber('TERM'), 15);
  assert.equal(signalNumber('KILL'), 9);
});
