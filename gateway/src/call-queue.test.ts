import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallQueue, CallQueueRefusal } from './call-queue.ts';

const refusedFor = (reason: 'full' | 'wait') => (error: unknown) => error instanceof CallQueueRefusal && error.reason === reason;

test('at most maxConcurrent hold a slot; the rest are served first come, first served; past maxQueued a call is refused at once', async () => {
  const queue = new CallQueue({ maxConcurrent: 2, maxQueued: 2, maxWaitMs: 60_000 });
  const first = await queue.acquire();
  const second = await queue.acquire();
  const order: string[] = [];
  const third = queue.acquire().then((release) => (order.push('third'), release));
  const fourth = queue.acquire().then((release) => (order.push('fourth'), release));
  await assert.rejects(queue.acquire(), refusedFor('full'));
  assert.deepEqual({ inFlight: queue.inFlight, queued: queue.queued }, { inFlight: 2, queued: 2 }, 'the refused call holds nothing');
  first();
  first(); // a second release of the same slot frees nothing more
  (await third)();
  second();
  (await fourth)();
  assert.deepEqual(order, ['third', 'fourth']);
  assert.deepEqual({ inFlight: queue.inFlight, queued: queue.queued }, { inFlight: 0, queued: 0 });
});

test('a call that waits maxWaitMs is refused and leaves the queue; the freed slot goes to the next live waiter', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const queue = new CallQueue({ maxConcurrent: 1, maxQueued: 10, maxWaitMs: 1_000 });
  const holder = await queue.acquire();
  const early = queue.acquire();
  t.mock.timers.tick(600);
  const late = queue.acquire();
  t.mock.timers.tick(400);
  await assert.rejects(early, refusedFor('wait'));
  assert.equal(queue.queued, 1, 'only the later call still waits');
  holder();
  const release = await late;
  assert.equal(queue.inFlight, 1, 'the slot went to the live waiter, not to the one that gave up');
  t.mock.timers.tick(5_000);
  release();
  assert.deepEqual({ inFlight: queue.inFlight, queued: queue.queued }, { inFlight: 0, queued: 0 });
});
