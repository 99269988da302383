import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isGatewayError } from '../errors.ts';
import { ApiPool, poolPromiseMethods } from './api-pool.ts';
import { connectDockerEngine } from './docker/index.ts';

test('the pool runs at most maxConcurrent at once, queues in order, and refuses past the queue', async () => {
  const pool = new ApiPool('test', { maxConcurrent: 2, maxQueued: 2 });
  const order: number[] = [];
  const gates: (() => void)[] = [];
  const task = (id: number) => () => new Promise<number>((resolve) => gates.push(() => resolve(order.push(id))));
  const running = [1, 2, 3, 4].map((id) => pool.run(task(id)));
  const refused = pool.run(task(5));
  await assert.rejects(refused, (error) => isGatewayError(error) && error.code === 'BACKEND_API_BUSY');
  assert.equal(pool.inFlight, 2);
  assert.equal(pool.queued, 2);
  for (let i = 0; i < 4; i += 1) {
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(running);
  assert.deepEqual(order, [1, 2, 3, 4], 'first come, first served');
  assert.equal(pool.inFlight, 0);
});

test('a failing call gives its slot back', async () => {
  const pool = new ApiPool('test', { maxConcurrent: 1, maxQueued: 0 });
  const client = poolPromiseMethods({ fail: async () => Promise.reject(new Error('engine said no')) }, pool);
  await assert.rejects(client.fail(), /engine said no/);
  await assert.rejects(client.fail(), /engine said no/, 'not BACKEND_API_BUSY: the slot was released');
});

test('dockerode through the pool: 200 concurrent engine calls reach a slow engine 4 at a time; past the queue they are refused by code', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-pool-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let open = 0;
  let most = 0;
  const engine = createServer((_request, response) => {
    open += 1;
    most = Math.max(most, open);
    setTimeout(() => {
      open -= 1;
      response.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    }, 20);
  });
  const socketPath = join(dir, 'docker.sock');
  engine.listen(socketPath);
  await once(engine, 'listening');
  t.after(() => new Promise((resolve) => engine.close(resolve)));

  const docker = connectDockerEngine({ socketPath, requestPool: { maxConcurrent: 4, maxQueued: 50 } });
  const results = await Promise.allSettled(Array.from({ length: 200 }, () => docker.ping()));
  const ok = results.filter((result) => result.status === 'fulfilled').length;
  const busy = results.filter((result) => result.status === 'rejected' && isGatewayError(result.reason) && result.reason.code === 'BACKEND_API_BUSY').length;
  assert.equal(most, 4, 'the engine never had more than 4 requests from the gateway at once');
  assert.equal(ok, 54, '4 in flight and 50 queued were served');
  assert.equal(busy, 146, 'the rest were refused at once, by code');
  assert.ok((await docker.ping()).toString().includes('OK'), 'and the pool serves again once drained');
});
