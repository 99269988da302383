import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SourcePenalties, type PenaltySettings } from './source-penalties.ts';

const SETTINGS: PenaltySettings = { authfail: 5_000, noauth: 1_000, graceExceeded: 10_000, min: 15_000, max: 60_000, maxDelay: 1_000, maxSources: 3 };

test('failed logins first slow a source, then refuse its passwords (never its connections) until the penalty runs out', () => {
  let now = 0;
  const penalties = new SourcePenalties(SETTINGS, () => now);
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 0, passwordsRefusedMs: 0 });
  penalties.penalize('a', 'authfail');
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 1_000, passwordsRefusedMs: 0 }, 'slowed, passwords still heard');
  penalties.penalize('a', 'authfail');
  penalties.penalize('a', 'authfail');
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 1_000, passwordsRefusedMs: 15_000 }, 'served (a key may log in), passwords refused');
  assert.deepEqual(penalties.check('b'), { refused: false, delayMs: 0, passwordsRefusedMs: 0 }, 'other sources are untouched');
  now = 14_999;
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 1, passwordsRefusedMs: 0 });
  now = 15_000;
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 0, passwordsRefusedMs: 0 });
});

test('leaving without trying or stalling the login first slows a source, then refuses it until the penalty runs out', () => {
  let now = 0;
  const penalties = new SourcePenalties(SETTINGS, () => now);
  penalties.penalize('a', 'grace-exceeded');
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 1_000, passwordsRefusedMs: 0 });
  for (let i = 0; i < 5; i += 1) penalties.penalize('a', 'noauth');
  assert.deepEqual(penalties.check('a'), { refused: true, retryAfterMs: 15_000 });
  now = 15_000;
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 0, passwordsRefusedMs: 0 });
});

test('penalties add up to max at most, each kind apart', () => {
  const penalties = new SourcePenalties(SETTINGS, () => 0);
  for (let i = 0; i < 20; i += 1) penalties.penalize('a', 'grace-exceeded');
  assert.deepEqual(penalties.check('a'), { refused: true, retryAfterMs: 60_000 });
  for (let i = 0; i < 20; i += 1) penalties.penalize('b', 'authfail');
  assert.deepEqual(penalties.check('b'), { refused: false, delayMs: 1_000, passwordsRefusedMs: 60_000 });
});

test('the table is bounded: the source penalised longest ago is forgotten first', () => {
  const penalties = new SourcePenalties(SETTINGS, () => 0);
  for (const source of ['a', 'b', 'c', 'd']) penalties.penalize(source, 'grace-exceeded');
  assert.equal(penalties.size, 3);
  assert.deepEqual(penalties.check('a'), { refused: false, delayMs: 0, passwordsRefusedMs: 0 });
  assert.equal(penalties.check('d').refused, false, 'one grace expiry (10 s) is below min');
});

test('a wall-clock step neither lifts a penalty nor stretches it past max: the default clock is monotonic', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.now() });
  const penalties = new SourcePenalties(SETTINGS);
  for (let i = 0; i < 2; i += 1) penalties.penalize('a', 'grace-exceeded');
  t.mock.timers.setTime(Date.now() + 3_600_000);
  const forward = penalties.check('a');
  assert.equal(forward.refused, true, 'an hour forward on the wall clock: still refused');
  t.mock.timers.setTime(Date.now() - 7_200_000);
  const back = penalties.check('a');
  assert.ok(back.refused && back.retryAfterMs <= 20_000, `an hour back: refused for what was earned, not an hour more (${JSON.stringify(back)})`);
});
