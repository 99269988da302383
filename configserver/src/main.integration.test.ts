import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { createPki } from '@portcullis/pki';
import { ConfigResponseSchema } from '@portcullis/wire';
import { httpsJson } from '../../test/helpers/https-json.ts';
import { REPO_POLICY_DIR } from './testing/policy.ts';

const MAIN = join(import.meta.dirname, 'main.ts');

async function tempDir(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-configserver-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('serve logs one CONFIGSERVER_LISTENING line with the port and answers over mTLS', async (t) => {
  const dir = await tempDir(t);
  const pki = await createPki(join(dir, 'certs'));
  await writeFile(
    join(dir, 'configserver.yaml'),
    `listen: "127.0.0.1:0"
tls: { certFile: certs/configserver.crt, keyFile: certs/configserver.key, clientCaFile: certs/ca.crt }
policyDir: ${JSON.stringify(REPO_POLICY_DIR)}
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--config', join(dir, 'configserver.yaml')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });
  let listening: Record<string, unknown> | undefined;
  for await (const line of createInterface({ input: child.stdout })) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.code === 'CONFIGSERVER_LISTENING') {
      listening = entry;
      break;
    }
  }
  assert.ok(listening);
  assert.equal(typeof listening.port, 'number');
  assert.equal(listening.address, '127.0.0.1');
  const tls = { ca: await readFile(pki.ca.cert), cert: await readFile(pki.gateway.cert), key: await readFile(pki.gateway.key) };
  const res = await httpsJson(`https://127.0.0.1:${String(listening.port)}/config`, tls, {
    username: 'demo',
    authenticatedUsername: 'demo',
    remoteAddress: '127.0.0.1:1',
    connectionId: 'c1',
  });
  assert.equal(res.statusCode, 200);
  ConfigResponseSchema.parse(res.body);
});

test('a broken baseline exits 1 with CONFIGSERVER_POLICY_INVALID naming file and field', async (t) => {
  const dir = await tempDir(t);
  await createPki(join(dir, 'certs'));
  await mkdir(join(dir, 'policies'));
  await writeFile(join(dir, 'policies', 'baseline.yaml'), 'docker: { execution: { container: { image: x, user: root } } }\n');
  await writeFile(join(dir, 'c.yaml'), 'tls: { certFile: certs/configserver.crt, keyFile: certs/configserver.key, clientCaFile: certs/ca.crt }\npolicyDir: policies\n');
  await assert.rejects(promisify(execFile)(process.execPath, ['--import', 'tsx', MAIN, '--config', join(dir, 'c.yaml')]), (err: { code?: number; stdout?: string }) => {
    const entry = JSON.parse(String(err.stdout).trim()) as Record<string, unknown>;
    return err.code === 1 && entry.code === 'CONFIGSERVER_POLICY_INVALID' && /baseline\.yaml: docker\.execution\.container\.user: /.test(String(entry.msg));
  });
});
