import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { startingAtSize } from './terminal-size.ts';

test('the program runs with its own arguments intact, however they are quoted', () => {
  const [shell, ...args] = startingAtSize('/bin/sh', { cols: 100, rows: 30 }, ['/bin/sh', '-c', 'printf "%s|" "$@"', 'x', 'a b', '$HOME', "it's"]);
  assert.equal(execFileSync(shell!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), "a b|$HOME|it's|");
});

test('the size goes in as numbers only', () => {
  const line = startingAtSize('/bin/sh', { cols: 80.7, rows: 24 }, ['true']);
  assert.deepEqual(line.slice(4, 6), ['24', '80']);
});
