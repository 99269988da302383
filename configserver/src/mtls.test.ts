import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createCertificate, createCertificateAuthority, createPki, loadCertificateAuthority, type PkiPaths } from '@portcullis/pki';
import { ConfigResponseSchema } from '@portcullis/wire';
import { buildApp } from './app.ts';
import { readTlsMaterial } from './config.ts';
import { stalledRequest } from '../../test/helpers/stalled-request.ts';
import { HttpLimitsSchema } from '@portcullis/kit';
import { httpsJson } from '../../test/helpers/https-json.ts';
import { repoPolicy } from './testing/policy.ts';

let dir: string;
let pki: PkiPaths;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portcullis-configserver-mtls-'));
  pki = await createPki(join(dir, 'certs'));
});
after(() => rm(dir, { recursive: true, force: true }));

const request = {
  username: 'demo',
  authenticatedUsername: 'demo',
  remoteAddress: '127.0.0.1:40000',
  connectionId: '0123456789abcdef0123456789abcdef',
};

async function start(t: { after: (fn: () => Promise<unknown>) => void }, http?: Record<string, unknown>) {
  const tls = await readTlsMaterial({
    certFile: pki.configserver.cert,
    keyFile: pki.configserver.key,
    clientCaFile: pki.ca.cert,
    allowedClientNames: ['gateway'],
  });
  const app = buildApp({ policy: await repoPolicy(), tls, ...(http ? { http: HttpLimitsSchema.parse(http) } : {}) });
  const counter = { reached: 0 };
  app.addHook('onRequest', async () => {
    counter.reached += 1;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.after(() => app.close());
  return { url: `https://127.0.0.1:${(app.server.address() as AddressInfo).port}/config`, counter };
}

test('the gateway certificate gets a config', async (t) => {
  const { url } = await start(t);
  const tls = { ca: await readFile(pki.ca.cert), cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) };
  const res = await httpsJson(url, tls, request);
  assert.equal(res.statusCode, 200);
  ConfigResponseSchema.parse(res.body);
});

test('no certificate, a foreign CA or an expired certificate never reach a handler', async (t) => {
  const { url, counter } = await start(t);
  const ca = await readFile(pki.ca.cert);
  const foreign = await createCertificate(await createCertificateAuthority(), { commonName: 'gateway', sans: ['gateway'], usage: 'client' });
  const ours = await loadCertificateAuthority(await readFile(pki.ca.cert, 'utf8'), await readFile(pki.ca.key, 'utf8'));
  const day = 24 * 60 * 60 * 1000;
  const expired = await createCertificate(ours, {
    commonName: 'gateway',
    sans: ['gateway'],
    usage: 'client',
    notBefore: new Date(Date.now() - 2 * day),
    notAfter: new Date(Date.now() - day),
  });
  await assert.rejects(httpsJson(url, { ca }, request));
  await assert.rejects(httpsJson(url, { ca, cert: foreign.certPem, key: foreign.keyPem }, request));
  await assert.rejects(httpsJson(url, { ca, cert: expired.certPem, key: expired.keyPem }, request));
  assert.equal(counter.reached, 0);
});

test('a CA-signed client that is not the gateway gets 403 CONFIG_CLIENT_NOT_ALLOWED', async (t) => {
  const { url } = await start(t);
  const ours = await loadCertificateAuthority(await readFile(pki.ca.cert, 'utf8'), await readFile(pki.ca.key, 'utf8'));
  const other = await createCertificate(ours, { commonName: 'intruder', sans: ['intruder'], usage: 'client' });
  const res = await httpsJson(url, { ca: await readFile(pki.ca.cert), cert: other.certPem, key: other.keyPem }, request);
  assert.equal(res.statusCode, 403);
  assert.equal((res.body as { code: string }).code, 'CONFIG_CLIENT_NOT_ALLOWED');
});

test('a request body that stalls after 6 bytes, or dribbles a byte every 300 ms, is cut within requestTimeout; the next request is served', async (t) => {
  assert.equal(HttpLimitsSchema.parse(undefined).requestTimeout, 10_000, 'the default bound is seconds, not minutes');
  const { url } = await start(t, { requestTimeout: '2s' });
  const tls = { ca: await readFile(pki.ca.cert), cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) };
  const [stalled, dribbling] = await Promise.all([stalledRequest(url, tls, { bodyBytes: 6, deadlineMs: 10_000 }), stalledRequest(url, tls, { bodyBytes: 6, dribbleEveryMs: 300, deadlineMs: 10_000 })]);
  for (const cut of [stalled, dribbling]) {
    assert.ok(cut.closedAfterMs >= 1_500 && cut.closedAfterMs < 5_000, `closed after ${Math.round(cut.closedAfterMs)} ms`);
    assert.doesNotMatch(cut.received, /HTTP\/1\.1 200/, 'no handler answered a partial body');
  }
  const res = await httpsJson(url, tls, request);
  assert.equal(res.statusCode, 200);
});
