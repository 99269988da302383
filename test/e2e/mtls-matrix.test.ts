import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { createCertificate, createCertificateAuthority, createPki, loadCertificateAuthority, type CertificateAuthority, type PkiPaths } from '@portcullis/pki';
import { buildApp as buildAuthserver } from '../../authserver/src/app.ts';
import { readTlsMaterial as readAuthTls } from '../../authserver/src/config.ts';
import { hashPassword, parseUsersFile, UserDirectory } from '../../authserver/src/users-file.ts';
import { buildApp as buildConfigserver } from '../../configserver/src/app.ts';
import { readTlsMaterial as readConfigTls } from '../../configserver/src/config.ts';
import { repoPolicy } from '../../configserver/src/testing/policy.ts';
import { WebhookClient, WebhookFailure } from '../../gateway/src/webhooks/webhook-client.ts';
import { startFakeWebhook } from '../helpers/fake-webhook.ts';
import { httpsJson } from '../helpers/https-json.ts';
import { E2E } from '../helpers/deadlines.ts';

/**
 * The mutual-TLS negative matrix: every way a certificate can be wrong, on both sides. The
 * services must refuse each bad client before a handler runs; the gateway must refuse each bad
 * server before a credential leaves it. 100 % refused, and the good pair still works.
 */
const DAY = 24 * 60 * 60 * 1000;

interface Pair {
  certPem: string;
  keyPem: string;
}

let dir: string;
let pki: PkiPaths;
let ours: CertificateAuthority;
let foreign: CertificateAuthority;

let made: Promise<void> | undefined;
/** One PKI for the whole file, made by whichever suite starts first (suites' hooks run in their own order). */
function ready(): Promise<void> {
  made ??= (async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-mtls-matrix-'));
    pki = await createPki(join(dir, 'certs'));
    ours = await loadCertificateAuthority(await readFile(pki.ca.cert, 'utf8'), await readFile(pki.ca.key, 'utf8'));
    foreign = await createCertificateAuthority();
  })();
  return made;
}
process.once('beforeExit', () => void (dir && rm(dir, { recursive: true, force: true })));

/** Bad client certificates: each must be refused by both services. `reaches` is the HTTP answer, if any. */
async function badClients(): Promise<{ name: string; pair?: Pair; refusedWith: 'handshake' | 403 }[]> {
  const client = { commonName: 'gateway', sans: ['gateway'], usage: 'client' as const };
  return [
    { name: 'no certificate', refusedWith: 'handshake' },
    { name: 'wrong CA', pair: await createCertificate(foreign, client), refusedWith: 'handshake' },
    { name: 'expired', pair: await createCertificate(ours, { ...client, notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) }), refusedWith: 'handshake' },
    { name: 'not yet valid', pair: await createCertificate(ours, { ...client, notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) }), refusedWith: 'handshake' },
    { name: 'a server certificate used as a client one', pair: await createCertificate(ours, { ...client, usage: 'server' }), refusedWith: 'handshake' },
    { name: 'wrong identity (our CA, not an allowed client name)', pair: await createCertificate(ours, { ...client, commonName: 'intruder', sans: ['intruder'] }), refusedWith: 403 },
  ];
}

async function listen(app: FastifyInstance): Promise<{ port: number; reached: { count: number } }> {
  const reached = { count: 0 };
  // Registered after the client-name pin, so it counts only requests that got past every check.
  app.addHook('onRequest', async () => {
    reached.count += 1;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  return { port: (app.server.address() as AddressInfo).port, reached };
}

const services = {
  authserver: {
    path: '/password',
    body: { username: 'demo', passwordBase64: Buffer.from('pw').toString('base64'), remoteAddress: '127.0.0.1:1', connectionId: '0123456789abcdef0123456789abcdef' },
    notAllowedCode: 'AUTH_CLIENT_NOT_ALLOWED',
    start: async () => {
      const tls = await readAuthTls({ certFile: pki.authserver.cert, keyFile: pki.authserver.key, clientCaFile: pki.ca.cert, allowedClientNames: ['gateway'] });
      const users = await UserDirectory.create(parseUsersFile(`users: { demo: { passwordHash: "${await hashPassword('pw')}" } }`));
      return buildAuthserver({ users, tls });
    },
  },
  configserver: {
    path: '/config',
    body: { username: 'demo', authenticatedUsername: 'demo', remoteAddress: '127.0.0.1:1', connectionId: '0123456789abcdef0123456789abcdef' },
    notAllowedCode: 'CONFIG_CLIENT_NOT_ALLOWED',
    start: async () => {
      const tls = await readConfigTls({ certFile: pki.configserver.cert, keyFile: pki.configserver.key, clientCaFile: pki.ca.cert, allowedClientNames: ['gateway'] });
      return buildConfigserver({ policy: await repoPolicy(), tls });
    },
  },
};

for (const [name, service] of Object.entries(services)) {
  describe(`${name} refuses every bad client certificate before any handler runs`, () => {
    let app: FastifyInstance;
    let port: number;
    let reached: { count: number };
    before(async () => {
      await ready();
      app = await service.start();
      ({ port, reached } = await listen(app));
    });
    after(() => app.close());

    test('the gateway certificate is served (control)', E2E, async () => {
      const ca = await readFile(pki.ca.cert);
      const res = await httpsJson(`https://localhost:${port}${service.path}`, { ca, cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) }, service.body);
      assert.equal(res.statusCode, 200);
      assert.equal(reached.count, 1);
      reached.count = 0;
    });

    test('no certificate, wrong CA, expired, not yet valid, wrong purpose, wrong identity: 100 % refused', E2E, async (t) => {
      const ca = await readFile(pki.ca.cert);
      const cases = await badClients();
      let refused = 0;
      for (const bad of cases) {
        const tls = bad.pair ? { ca, cert: bad.pair.certPem, key: bad.pair.keyPem } : { ca };
        const outcome = await httpsJson(`https://localhost:${port}${service.path}`, tls, service.body).then(
          (answer) => ({ answer }),
          (error: Error) => ({ error }),
        );
        if (bad.refusedWith === 'handshake') {
          assert.ok('error' in outcome, `${bad.name}: the TLS handshake fails`);
        } else {
          assert.ok('answer' in outcome, `${bad.name}: an HTTP refusal`);
          assert.equal(outcome.answer.statusCode, 403, bad.name);
          assert.equal((outcome.answer.body as { code: string }).code, service.notAllowedCode);
        }
        refused += 1;
      }
      assert.equal(reached.count, 0, 'no bad client reached a handler');
      t.diagnostic(`${refused}/${cases.length} refused`);
    });
  });
}

describe("the gateway's webhook client refuses every bad server certificate before sending anything", () => {
  before(ready);
  const serverCases = async (): Promise<{ name: string; pair: Pair }[]> => {
    const server = { commonName: 'localhost', sans: ['localhost', '127.0.0.1'], usage: 'server' as const };
    return [
      { name: 'wrong hostname', pair: await createCertificate(ours, { ...server, commonName: 'elsewhere.example', sans: ['elsewhere.example'] }) },
      { name: 'wrong CA', pair: await createCertificate(foreign, server) },
      { name: 'expired', pair: await createCertificate(ours, { ...server, notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) }) },
      { name: 'not yet valid', pair: await createCertificate(ours, { ...server, notBefore: new Date(Date.now() + DAY), notAfter: new Date(Date.now() + 2 * DAY) }) },
      { name: 'a client certificate used as a server one', pair: await createCertificate(ours, { ...server, usage: 'client' }) },
    ];
  };

  async function fakeServer(pair: Pair | 'trusted') {
    let cert = pki.authserver.cert;
    let key = pki.authserver.key;
    if (pair !== 'trusted') {
      cert = join(dir, `server-${Math.random().toString(36).slice(2)}.crt`);
      key = `${cert}.key`;
      await writeFile(cert, pair.certPem);
      await writeFile(key, pair.keyPem, { mode: 0o600 });
    }
    const asked = { count: 0 };
    const fake = await startFakeWebhook({ cert, key, ca: pki.ca.cert }, (_req, res) => {
      asked.count += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ success: true }));
    });
    const client = new WebhookClient({ url: fake.url(''), timeout: 5_000, caFile: pki.ca.cert, certFile: pki.gateway.cert, keyFile: pki.gateway.key });
    return { fake, client, asked };
  }

  test('a trusted server is asked (control)', E2E, async () => {
    const { fake, client, asked } = await fakeServer('trusted');
    try {
      assert.deepEqual(await client.post('/password', { x: 1 }, z.object({ success: z.boolean() })), { success: true });
      await client.reachable();
      assert.equal(asked.count, 1);
    } finally {
      client.close();
      await fake.close();
    }
  });

  test('wrong hostname, wrong CA, expired, not yet valid, wrong purpose: 100 % refused, nothing sent, /healthz probe fails too', E2E, async (t) => {
    const cases = await serverCases();
    let refused = 0;
    for (const { name, pair } of cases) {
      const { fake, client, asked } = await fakeServer(pair);
      try {
        await assert.rejects(client.post('/password', { password: 'never-sent' }, z.object({ success: z.boolean() })), (error: unknown) => {
          assert.ok(error instanceof WebhookFailure, name);
          assert.equal(error.reason, 'unreachable', `${name}: counted as unreachable (fail closed)`);
          return true;
        });
        await assert.rejects(client.reachable(), WebhookFailure, `${name}: the health probe agrees`);
        assert.equal(asked.count, 0, `${name}: the request never reached the server`);
        refused += 1;
      } finally {
        client.close();
        await fake.close();
      }
    }
    assert.equal(refused, cases.length);
    t.diagnostic(`${refused}/${cases.length} refused`);
  });
});
