import assert from 'node:assert/strict';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createPki } from '@portcullis/pki';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

interface Outcome {
  readonly status?: number;
  readonly error?: string;
}

/** One POST as an arbitrary webhook client would send it. */
function post(port: number, path: string, tls: { ca: Buffer; cert?: Buffer; key?: Buffer }): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', servername: 'localhost', port, path, method: 'POST', ...tls, headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', (error) => resolve({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.end('{}');
  });
}

describe('both webhook services refuse clients without a valid certificate', () => {
  let world: World;
  let foreignDir: string;
  before(async () => {
    world = await startWorld();
    foreignDir = await mkdtemp(join(tmpdir(), 'portcullis-foreign-ca-'));
    await createPki(foreignDir);
  });
  after(async () => {
    await world.stop();
    await rm(foreignDir, { recursive: true, force: true });
  });

  for (const service of ['authserver', 'configserver'] as const) {
    const path = service === 'authserver' ? '/password' : '/config';

    test(`${service}: the gateway's certificate is let in`, E2E, async () => {
      const certs = join(world.dir, 'certs');
      const outcome = await post(world[service].port, path, {
        ca: await readFile(join(certs, 'ca.crt')),
        cert: await readFile(join(certs, 'gateway.crt')),
        key: await readFile(join(certs, 'gateway.key')),
      });
      assert.equal(outcome.status, 400, 'reaches the handler, which refuses the empty body');
    });

    test(`${service}: no client certificate fails the TLS handshake`, E2E, async () => {
      const outcome = await post(world[service].port, path, { ca: await readFile(join(world.dir, 'certs', 'ca.crt')) });
      assert.equal(outcome.status, undefined, 'no HTTP answer at all');
      assert.ok(outcome.error, 'the connection failed');
    });

    test(`${service}: a certificate from another CA fails the TLS handshake`, E2E, async () => {
      const outcome = await post(world[service].port, path, {
        ca: await readFile(join(world.dir, 'certs', 'ca.crt')),
        cert: await readFile(join(foreignDir, 'gateway.crt')),
        key: await readFile(join(foreignDir, 'gateway.key')),
      });
      assert.equal(outcome.status, undefined, 'no HTTP answer at all');
      assert.ok(outcome.error, 'the connection failed');
    });
  }
});
