import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResizeCoalescer } from './resize-coalescer.ts';
import { SignalGate } from './signal-gate.ts';

test('signals: one delivery at a time, same-name signals merged, a flood refused beyond the burst', async () => {
  let inFlight = 0;
  let most = 0;
  const delivered: string[] = [];
  const gate = new SignalGate(async (name) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    delivered.push(name);
    inFlight -= 1;
    return true;
  });
  const names = ['USR1', 'USR2', 'ALRM', 'PIPE', 'HUP', 'INT'];
  const verdicts = Array.from({ length: 300 }, (_, i) => gate.fromClient(names[i % names.length]!));
  assert.ok(verdicts.includes('rate-limited'), 'a flood is refused');
  assert.equal(await gate.fromGateway('TERM'), true, "the gateway's own signal is never refused");
  assert.equal(most, 1, 'one delivery at a time');
  assert.ok(delivered.length <= 11, `${delivered.length} deliveries for 300 requests`);
  assert.equal(delivered.at(-1), 'TERM');
});

test('resizes: one backend call at a time, in order, and the latest size wins', async () => {
  const applied: string[] = [];
  let inFlight = 0;
  let most = 0;
  const resizes = new ResizeCoalescer(async ({ cols, rows }) => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await new Promise((resolve) => setTimeout(resolve, 2));
    applied.push(`${cols}x${rows}`);
    inFlight -= 1;
  });
  for (let i = 0; i < 1_000; i += 1) resizes.request({ cols: i, rows: i });
  resizes.request({ cols: 120, rows: 40 });
  const end = Date.now() + 5_000;
  while (applied.at(-1) !== '120x40') {
    assert.ok(Date.now() < end);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(most, 1);
  assert.deepEqual(applied, ['0x0', '120x40'], 'the first call, then only the latest');
});
