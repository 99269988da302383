import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationSchema, DurationSchema, parseDuration } from './duration.ts';

test('a duration with its unit parses to milliseconds; anything else is refused', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  for (const bad of ['10', '1.5s', '-1s', '10 s', '1d', 's', '']) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(DurationSchema.parse('3s'), 3_000);
  assert.equal(DurationSchema.safeParse('3d').success, false);
});

test('a schema takes only its own units, in the unit it is asked for, with its own message', () => {
  const seconds = durationSchema(['s', 'm', 'h'], 'expected "30s", "15m" or "1h"', 1_000);
  assert.equal(seconds.parse('15m'), 900);
  const refused = seconds.safeParse('500ms');
  assert.equal(refused.success, false);
  assert.equal(refused.error?.issues[0]?.message, 'expected "30s", "15m" or "1h"');
});
