import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StartupGate } from './startup-gate.ts';

test('below start every connection is admitted; at full every one is refused', () => {
  const gate = new StartupGate({ start: 3, rate: 30, full: 5, perSource: 100 }, () => 0.999);
  const admitted = Array.from({ length: 5 }, (_, i) => gate.admit(`10.0.0.${i}/32`));
  assert.ok(
    admitted.every((admission) => admission.admitted),
    'random 0.999 never drops below 100 %',
  );
  assert.deepEqual(gate.admit('10.0.0.9/32'), { admitted: false, reason: 'full' });
});

test('between start and full the drop chance rises from rate to 100 percent (OpenSSH start:rate:full)', () => {
  // random() = 0.5 → dropped when the drop percent is above 50.
  const gate = new StartupGate({ start: 2, rate: 30, full: 6, perSource: 100 }, () => 0.5);
  const results = Array.from({ length: 6 }, (_, i) => gate.admit(`10.0.0.${i}/32`));
  // total 0,1: below start; 2: 30 %, 3: 47.5 %: admitted; 4: 65 %: dropped, and stays dropped.
  assert.deepEqual(
    results.map((admission) => (admission.admitted ? 'in' : admission.reason)),
    ['in', 'in', 'in', 'in', 'early-drop', 'early-drop'],
  );
});

test('one source block holds at most perSource slots; released slots return', () => {
  const gate = new StartupGate({ start: 100, rate: 30, full: 100, perSource: 2 });
  const first = gate.admit('127.0.0.2/32');
  const second = gate.admit('127.0.0.2/32');
  assert.deepEqual(gate.admit('127.0.0.2/32'), { admitted: false, reason: 'per-source' });
  assert.ok(gate.admit('127.0.0.1/32').admitted, 'another source is not affected');
  assert.ok(first.admitted && second.admitted);
  first.release();
  first.release();
  assert.equal(gate.unauthenticated, 2, 'a double release gives back one slot only');
  assert.ok(gate.admit('127.0.0.2/32').admitted);
});
