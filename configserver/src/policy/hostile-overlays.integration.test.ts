/**
 * Every known-bad overlay in policies/tests/bad-overlays, loaded the two ways a running service
 * meets a policy: at start (the set is refused) and on hot reload into a configserver that is
 * answering (the last good set keeps serving the hardened session, unchanged). Budget: ~25 s.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { parse } from 'yaml';
import { createPki } from '@portcullis/pki';
import { buildApp } from '../app.ts';
import { REPO_POLICY_DIR } from '../testing/policy.ts';
import { BAD_OVERLAYS_DIR, ruleOfBadOverlay } from './fixtures.ts';
import { loadPolicy, PolicyError } from './index.ts';
import { PolicyStore } from './store.ts';

const BAD = join(REPO_POLICY_DIR, 'tests', BAD_OVERLAYS_DIR);
const MAIN = join(import.meta.dirname, '..', 'main.ts');
/** Every bad overlay matches this user, so on reload it would change exactly this user's answer. */
const mallory = { username: 'mallory', authenticatedUsername: 'mallory', remoteAddress: '192.0.2.66:40000', connectionId: 'c0ffee' };

/** A writable copy of the shipped policy set. */
async function policyCopy(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-hostile-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await cp(join(REPO_POLICY_DIR, 'baseline.yaml'), join(dir, 'baseline.yaml'));
  await cp(join(REPO_POLICY_DIR, 'profiles'), join(dir, 'profiles'), { recursive: true });
  return dir;
}

test('each hostile overlay is refused at start and on reload; /config keeps serving the hardened session', async (t) => {
  const files = (await readdir(BAD)).filter((file) => file.endsWith('.yaml')).sort();
  // The corpus from 101 on: at least 60 hostile overlays that reach each backend's rendering
  // (raw docker: fields reach the container only, raw pod: fields the pod only, the rest both).
  const corpus = files.filter((file) => Number(file.slice(0, 3)) >= 101);
  const keys = await Promise.all(corpus.map(async (file) => Object.keys((parse(await readFile(join(BAD, file), 'utf8')) as { overlay: object }).overlay)));
  const docker = keys.filter((overlay) => !overlay.includes('pod')).length;
  const kubernetes = keys.filter((overlay) => !overlay.includes('docker')).length;
  assert.ok(docker >= 60 && kubernetes >= 60, `hostile overlays reaching Docker: ${docker}, Kubernetes: ${kubernetes}`);
  const dir = await policyCopy(t);
  const store = new PolicyStore(await loadPolicy(dir), pino({ level: 'silent' }));
  const app = buildApp({ policy: store.current(), store });
  t.after(() => app.close());
  const ask = async () => {
    const res = await app.inject({ method: 'POST', url: '/config', payload: mallory });
    assert.equal(res.statusCode, 200);
    return res.json() as unknown;
  };
  const hardened = await ask();

  for (const file of files) {
    const rule = ruleOfBadOverlay(file);
    const target = join(dir, 'profiles', file);
    await cp(join(BAD, file), target);
    // At start: the set does not load, and the finding names this file, a line in its overlay and the rule.
    await assert.rejects(loadPolicy(dir), (err: unknown) => {
      assert.ok(err instanceof PolicyError, `${file}: ${String(err)}`);
      const hit = err.diagnostics.find((d) => d.rule === rule && d.file === target);
      assert.ok(hit, `${file}: expected ${rule}, got ${err.diagnostics.map((d) => `${d.rule}@${d.file}:${d.line}`).join(', ')}`);
      assert.ok(hit.line >= 4, `${file}: points into the overlay (line ${hit.line})`);
      return true;
    });
    // On reload: refused, the reason kept for health, and the last good set still answers.
    assert.equal(await store.reload(), false, `${file} must not reload`);
    assert.match(store.lastReloadError ?? '', new RegExp(`${file.replace('.', '\\.')}:\\d+:\\d+: `));
    assert.deepEqual(await ask(), hardened, `${file}: /config changed`);
    await rm(target);
  }
  // And the clean set reloads again, so the refusals above were the overlays', not the folder's.
  assert.equal(await store.reload(), true);
  assert.equal(store.lastReloadError, undefined);
});

test('a configserver process refuses to start on a hostile overlay: exit 1, CONFIGSERVER_POLICY_INVALID naming file, line and rule', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-hostile-start-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await createPki(join(dir, 'certs'));
  await mkdir(join(dir, 'policies'));
  await cp(join(REPO_POLICY_DIR, 'baseline.yaml'), join(dir, 'policies', 'baseline.yaml'));
  await cp(join(REPO_POLICY_DIR, 'profiles'), join(dir, 'policies', 'profiles'), { recursive: true });
  // The first row of the gaps: Docker seccomp switched off by an inline JSON profile.
  await cp(join(BAD, '101-seccomp-required.yaml'), join(dir, 'policies', 'profiles', 'zz-hostile.yaml'));
  await writeFile(join(dir, 'c.yaml'), 'tls: { certFile: certs/configserver.crt, keyFile: certs/configserver.key, clientCaFile: certs/ca.crt }\npolicyDir: policies\n');
  await assert.rejects(promisify(execFile)(process.execPath, ['--import', 'tsx', MAIN, '--config', join(dir, 'c.yaml')], { timeout: 30_000 }), (err: { code?: number; stdout?: string }) => {
    assert.equal(err.code, 1);
    const entry = JSON.parse(String(err.stdout).trim().split('\n').at(-1)!) as { code?: string; msg?: string };
    assert.equal(entry.code, 'CONFIGSERVER_POLICY_INVALID');
    assert.match(String(entry.msg), /zz-hostile\.yaml: docker\.execution\.host\.securityOpt\[1\]: seccomp=.*\(line 7, column \d+; rule seccomp-required;/);
    return true;
  });
});
