import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createCertificate, createCertificateAuthority, createPki, type PkiPaths } from '@portcullis/pki';
import { buildApp } from './app.ts';
import { readTlsMaterial } from './config.ts';
import { stalledRequest } from '../../test/helpers/stalled-request.ts';
import { HttpLimitsSchema } from '@portcullis/kit';
import { httpsJson, type ClientTls } from '../../test/helpers/https-json.ts';
import { hashPassword, parseUsersFile, UserDirectory } from './users-file.ts';

let dir: string;
let pki: PkiPaths;
let users: UserDirectory;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-authserver-mtls-'));
  pki = await createPki(join(dir, 'certs'));
  users = await UserDirectory.create(parseUsersFile(`users: { demo: { passwordHash: "${await hashPassword('pw')}" } }`));
});
after(() => rm(dir, { recursive: true, force: true }));

/** A real HTTPS server on 127.0.0.1:0 counting every request that reaches Fastify. */
async function start(t: { after: (fn: () => Promise<unknown>) => void }, allowedClientNames?: string[], http?: Record<string, unknown>) {
  const tls = await readTlsMaterial({
    certFile: pki.authserver.cert,
    keyFile: pki.authserver.key,
    clientCaFile: pki.ca.cert,
    ...(allowedClientNames ? { allowedClientNames } : {}),
  });
  const app = buildApp({ users, tls, ...(http ? { http: HttpLimitsSchema.parse(http) } : {}) });
  const counter = { reached: 0 };
  app.addHook('onRequest', async () => {
    counter.reached += 1;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  return { url: `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`, counter };
}

async function gatewayTls(): Promise<ClientTls> {
  return { ca: await readFile(pki.ca.cert), cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) };
}

const request = {
  username: 'demo',
  remoteAddress: '127.0.0.1:40000',
  connectionId: '0123456789abcdef0123456789abcdef',
  passwordBase64: Buffer.from('pw').toString('base64'),
};

test('the gateway certificate gets answers', async (t) => {
  const { url, counter } = await start(t, ['gateway']);
  const tls = await gatewayTls();
  assert.deepEqual(await httpsJson(`${url}/healthz`, tls), { statusCode: 200, body: { status: 'ok' } });
  assert.deepEqual(await httpsJson(`${url}/password`, tls, request), {
    statusCode: 200,
    body: { success: true, authenticatedUsername: 'demo' },
  });
  assert.equal(counter.reached, 2);
});

test('no client certificate: the TLS handshake fails and no handler runs', async (t) => {
  const { url, counter } = await start(t);
  await assert.rejects(httpsJson(`${url}/password`, { ca: await readFile(pki.ca.cert) }, request));
  assert.equal(counter.reached, 0);
});

test('a certificate from another CA: the TLS handshake fails and no handler runs', async (t) => {
  const { url, counter } = await start(t);
  const foreignCa = await createCertificateAuthority({ commonName: 'Foreign CA' });
  const foreign = await createCertificate(foreignCa, { commonName: 'gateway', sans: ['gateway'], usage: 'client' });
  await assert.rejects(httpsJson(`${url}/password`, { ca: await readFile(pki.ca.cert), cert: foreign.certPem, key: foreign.keyPem }, request));
  assert.equal(counter.reached, 0);
});

test('a CA-signed client outside allowedClientNames gets 403', async (t) => {
  const { url } = await start(t, ['someone-else']);
  assert.deepEqual(await httpsJson(`${url}/password`, await gatewayTls(), request), {
    statusCode: 403,
    body: { code: 'AUTH_CLIENT_NOT_ALLOWED', message: 'This client certificate may not call the auth service.' },
  });
});

test('a request body that stalls after 6 bytes, or dribbles a byte every 300 ms, is cut within requestTimeout; the next request is served', async (t) => {
  assert.equal(HttpLimitsSchema.parse(undefined).requestTimeout, 10_000, 'the default bound is seconds, not minutes');
  const { url } = await start(t, ['gateway'], { requestTimeout: '2s' });
  const tls = { ca: await readFile(pki.ca.cert), cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) };
  const [stalled, dribbling] = await Promise.all([
    stalledRequest(`${url}/password`, tls, { bodyBytes: 6, deadlineMs: 10_000 }),
    stalledRequest(`${url}/password`, tls, { bodyBytes: 6, dribbleEveryMs: 300, deadlineMs: 10_000 }),
  ]);
  for (const cut of [stalled, dribbling]) {
    assert.ok(cut.closedAfterMs >= 1_500 && cut.closedAfterMs < 5_000, `closed after ${Math.round(cut.closedAfterMs)} ms`);
    assert.doesNotMatch(cut.received, /HTTP\/1\.1 200/, 'no handler answered a partial body');
  }
  const res = await httpsJson(`${url}/password`, tls, request);
  assert.equal(res.statusCode, 200);
});
