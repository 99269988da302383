import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Socket } from 'node:net';
import { AuthResponseSchema } from '@portcullis/wire';
import { createPki } from '@portcullis/pki';
import { startFakeWebhook } from '../../../test/helpers/fake-webhook.ts';
import { AuthWebhook } from './index.ts';
import { isGatewayError } from '../errors.ts';
import { WebhookClient, WebhookFailure } from './webhook-client.ts';

const identity = { connectionId: '0123456789abcdef0123456789abcdef', remoteAddress: '127.0.0.1:50000' };

/** A real mTLS webhook server on 127.0.0.1 whose every answer `handler` decides, and a client for it. */
async function webhookWorld(t: TestContext, handler: (req: IncomingMessage, res: ServerResponse) => void, limits: { timeout: number; maxConcurrent: number; maxQueued: number; queueTimeout: number }) {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-webhook-client-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await createPki(dir);
  const server = await startFakeWebhook({ cert: pki.authserver.cert, key: pki.authserver.key, ca: pki.ca.cert }, handler);
  t.after(() => server.close());
  const client = new WebhookClient({ url: server.url(''), caFile: pki.ca.cert, certFile: pki.gateway.cert, keyFile: pki.gateway.key, ...limits });
  t.after(() => client.close());
  return client;
}

const accept = (res: ServerResponse) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ success: true, authenticatedUsername: 'demo' }));
};

test("a login's wait in the gateway's queue does not count against the webhook's timeout", async (t) => {
  // A server that answers one call at a time, each after 60 % of the timeout (as a CPU-bound
  // password check does). Sent at once, the second call would be answered after 120 % of the
  // timeout and refused; queued in the gateway, its timeout starts when it is sent.
  const timeout = 2_500;
  let serverFree = Promise.resolve();
  let open = 0;
  let mostOpen = 0;
  const client = await webhookWorld(
    t,
    (_req, res) => {
      mostOpen = Math.max(mostOpen, ++open);
      serverFree = serverFree.then(() => new Promise<void>((resolve) => setTimeout(() => (open--, accept(res), resolve()), timeout * 0.6)));
    },
    { timeout, maxConcurrent: 1, maxQueued: 10, queueTimeout: 30_000 },
  );
  const auth = new AuthWebhook(client);
  const decisions = await Promise.all([0, 1].map(() => auth.password(identity, 'demo', Buffer.from('secret'))));
  assert.deepEqual(
    decisions.map((decision) => decision.accepted),
    [true, true],
  );
  assert.equal(mostOpen, 1, 'the server never had more than maxConcurrent calls at once');
});

test('a full queue refuses a login at once, and a login that waited queueTimeout is refused; both say why under their own code', async (t) => {
  const held: ServerResponse[] = [];
  let asked = 0;
  const client = await webhookWorld(
    t,
    (_req, res) => {
      asked += 1;
      held.push(res);
    },
    { timeout: 60_000, maxConcurrent: 1, maxQueued: 1, queueTimeout: 300 },
  );
  const auth = new AuthWebhook(client);
  const login = () => auth.password(identity, 'demo', Buffer.from('secret'));
  const inFlight = login();
  const waiting = login();
  const refusedNow = login();
  await assert.rejects(refusedNow, (error) => {
    assert.ok(isGatewayError(error));
    assert.equal(error.code, 'WEBHOOK_QUEUE_FULL');
    assert.equal(error.toUserLine(), 'portcullis: Login refused: the authentication service has too many logins waiting; try again shortly. (WEBHOOK_QUEUE_FULL)');
    return true;
  });
  await assert.rejects(waiting, (error) => {
    assert.ok(isGatewayError(error));
    assert.equal(error.code, 'WEBHOOK_QUEUE_TIMEOUT');
    assert.equal(error.toUserLine(), 'portcullis: Login refused: the authentication service is busy: the login waited too long for its turn; try again shortly. (WEBHOOK_QUEUE_TIMEOUT)');
    return true;
  });
  assert.equal(asked, 1, 'refused logins never reached the server');
  accept(held[0]!);
  assert.equal((await inFlight).accepted, true, 'the login in flight is unaffected');
  assert.deepEqual(client.load, { inFlight: 0, queued: 0 });
});

test('a kept-alive socket the server dropped is retried once on a new socket; a new socket that fails is not retried', async (t) => {
  const served = new WeakSet<Socket>();
  let requests = 0;
  let refuseAll = false;
  const client = await webhookWorld(
    t,
    (req, res) => {
      requests += 1;
      // The server side of an idle keep-alive close racing the next request: dropped unread.
      if (refuseAll || served.has(req.socket)) return req.socket.destroy();
      served.add(req.socket);
      accept(res);
    },
    { timeout: 5_000, maxConcurrent: 1, maxQueued: 10, queueTimeout: 30_000 },
  );
  const ask = () => client.post('password', { username: 'demo' }, AuthResponseSchema);
  assert.equal((await ask()).success, true);
  assert.equal((await ask()).success, true, 'the call dropped on the reused socket succeeded on a new one');
  assert.equal(requests, 3);
  refuseAll = true;
  await client.post('password', {}, AuthResponseSchema).then(
    () => assert.fail('a dropped call on a new socket fails'),
    (error: unknown) => assert.ok(error instanceof WebhookFailure && error.reason === 'unreachable'),
  );
  assert.equal(requests, 5, 'the call on the reused socket was sent once more, the one on the new socket was not');
});
