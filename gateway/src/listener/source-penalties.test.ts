import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourcePenalties, type PenaltySettings } from './source-penalties.ts';

const SETTINGS: PenaltySettings = { authfail: 5_000, noauth: 1_000, graceExceeded: 10_000, min: 15_000, max: 60_000, maxDelay: 1_000, maxSources: 3 };

test('failed logins first slow a source, then refuse it until the penalty runs out', () => {
  let now = 0;
  const penalties = new SourcePenalties(SETTINGS, () => now);
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 0 });
  penalties.penalize('a', 'authfail');
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 1_000 }, 'slowed, not refused');
  penalties.penalize('a', 'authfail');
  penalties.penalize('a', 'authfail');
  assert.deepEqual(penalties.check('a'), { refused: true, retryAfterMs: 15_000 });
  assert.deepEqual(penalties.check('b'), { refused: false, delayMs: 0 }, 'other sources are untouched');
  now = 14_999;
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 1 });
  now = 15_000;
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 0 });
});

test('penalties add up to max at most', () => {
  const penalties = new SourcePenalties(SETTINGS, () => 0);
  for (let i = 0; i < 20; i += 1) penalties.penalize('a', 'grace-exceeded');
  assert.deepEqual(penalties.check('a'), { refused: true, retryAfterMs: 60_000 });
});

test('the table is bounded: the source penalised longest ago is forgotten first', () => {
  const penalties = new SourcePenalties(SETTINGS, () => 0);
  for (const source of ['a', 'b', 'c', 'd']) penalties.penalize(source, 'grace-exceeded');
  assert.equal(penalties.size, 3);
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 0 });
  assert.equal(penalties.check('d').refused, false, 'one grace expiry (10 s) is below min');
});
