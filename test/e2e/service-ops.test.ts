import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rename, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import argon2 from 'argon2';
import { stringify } from 'yaml';
import { createPki } from '@portcullis/pki';
import { httpsJson, type ClientTls } from '../helpers/https-json.ts';
import { startProgram, type RunningProgram } from '../helpers/program.ts';
import { E2E } from '../helpers/deadlines.ts';
import { pollUntilOrLast } from '../helpers/poll-until.ts';

const POLICY_DIR = fileURLToPath(new URL('../../policies', import.meta.url));
const base = { remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301' };
const b64 = (text: string) => Buffer.from(text).toString('base64');

/** Sums every sample of `name` whose labels include all of `labels` (Prometheus text format). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{([^}]*)\})? ([0-9.e+-]+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    if (Object.entries(labels).every(([key, value]) => (match[2] ?? '').includes(`${key}="${value}"`))) total += Number(match[3]);
  }
  return total;
}

/** Port of the ops listener a program announced (`serves` is e.g. "metrics+health"). */
async function opsPort(program: RunningProgram, code: string): Promise<number> {
  const line = await program.waitForCode(code);
  assert.equal(line.serves, 'metrics+health', 'metrics and health share one listener when given one address');
  return Number(line.port);
}

async function getHealth(port: number): Promise<{ status: number; body: { status: string; failing: string[]; warnings?: string[]; checks: Record<string, string> } }> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: res.status, body: (await res.json()) as never };
}

/** Polls /healthz until `done` holds (results are cached two seconds), bounded by a deadline. */
async function healthUntil(port: number, done: (answer: Awaited<ReturnType<typeof getHealth>>) => boolean, timeoutMs = 20_000) {
  return pollUntilOrLast(() => getHealth(port), { what: `/healthz on port ${port} to change`, until: done, timeoutMs, intervalMs: 250 });
}

/** Polls /healthz until it answers `status`. */
const healthBecomes = (port: number, status: number) => healthUntil(port, (answer) => answer.status === status);

describe('the webhook services export request metrics and a probe-ready /healthz on plain HTTP', () => {
  let dir: string;
  let policyDir: string;
  let authserver: RunningProgram;
  let configserver: RunningProgram;
  let authOps: number;
  let configOps: number;
  let client: ClientTls;
  const password = `pw-${Math.random().toString(36).slice(2)}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-service-ops-'));
    await createPki(join(dir, 'certs'));
    policyDir = join(dir, 'policies');
    await cp(POLICY_DIR, policyDir, { recursive: true });
    await writeFile(join(dir, 'users.yaml'), stringify({ users: { demo: { passwordHash: await argon2.hash(password, { type: argon2.argon2id }) } } }));
    const tls = (name: string) => ({ certFile: `certs/${name}.crt`, keyFile: `certs/${name}.key`, clientCaFile: 'certs/ca.crt', allowedClientNames: ['gateway'] });
    const ops = { metrics: { listen: '127.0.0.1:0' }, health: { listen: '127.0.0.1:0' } };
    await writeFile(join(dir, 'authserver.yaml'), stringify({ listen: '127.0.0.1:0', tls: tls('authserver'), usersFile: 'users.yaml', log: { level: 'debug' }, ...ops }));
    await writeFile(join(dir, 'configserver.yaml'), stringify({ listen: '127.0.0.1:0', tls: tls('configserver'), policyDir: 'policies', log: { level: 'debug' }, ...ops }));
    authserver = await startProgram('authserver', ['authserver/src/main.ts', '--config', join(dir, 'authserver.yaml')], 'AUTHSERVER_LISTENING');
    configserver = await startProgram('configserver', ['configserver/src/main.ts', '--config', join(dir, 'configserver.yaml')], 'CONFIGSERVER_LISTENING');
    authOps = await opsPort(authserver, 'AUTHSERVER_OPS_LISTENING');
    configOps = await opsPort(configserver, 'CONFIGSERVER_OPS_LISTENING');
    client = {
      ca: await readFile(join(dir, 'certs', 'ca.crt')),
      cert: await readFile(join(dir, 'certs', 'gateway.crt')),
      key: await readFile(join(dir, 'certs', 'gateway.key')),
    };
  });
  after(async () => {
    await Promise.all([authserver?.stop(), configserver?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const scrape = async (port: number) => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(String(res.headers.get('content-type')), /^text\/plain/);
    return res.text();
  };

  test('authserver: logins and a bad body are counted by route and status, with latencies in seconds', E2E, async () => {
    const before = await scrape(authOps);
    const url = `https://localhost:${authserver.port}`;
    assert.equal((await httpsJson(`${url}/password`, client, { ...base, username: 'demo', passwordBase64: b64(password) })).statusCode, 200);
    assert.equal((await httpsJson(`${url}/password`, client, { ...base, username: 'demo', passwordBase64: b64('wrong') })).statusCode, 200);
    assert.equal((await httpsJson(`${url}/password`, client, { ...base })).statusCode, 400);
    assert.equal((await httpsJson(`${url}/no/such/route`, client, {})).statusCode, 404);
    const after = await scrape(authOps);
    const grew = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    assert.equal(grew('portcullis_webhook_requests_total', { route: '/password', method: 'POST', status: '200' }), 2);
    assert.equal(grew('portcullis_webhook_requests_total', { route: '/password', method: 'POST', status: '400' }), 1);
    assert.equal(grew('portcullis_webhook_requests_total', { route: 'unmatched', status: '404' }), 1, 'an unknown URL is one bounded series');
    assert.equal(grew('portcullis_webhook_request_duration_seconds_count', { route: '/password' }), 3);
    assert.ok(sample(after, 'portcullis_webhook_request_duration_seconds_sum', { route: '/password' }) > 0, 'argon2 takes measurable time');
    assert.doesNotMatch(after, /no\/such\/route/, 'raw URLs never become labels');
    assert.ok(!after.includes(password) && !after.includes(b64(password)), 'no secret in metrics');
    assert.ok(!authserver.output.join('\n').includes(password) && !authserver.output.join('\n').includes(b64(password)), 'no secret in logs');
  });

  test('configserver: config requests are counted by route and status', E2E, async () => {
    const before = await scrape(configOps);
    const url = `https://localhost:${configserver.port}/config`;
    assert.equal((await httpsJson(url, client, { ...base, username: 'alice', authenticatedUsername: 'alice' })).statusCode, 200);
    assert.equal((await httpsJson(url, client, { nonsense: true })).statusCode, 400);
    const after = await scrape(configOps);
    const grew = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    assert.equal(grew('portcullis_webhook_requests_total', { route: '/config', status: '200' }), 1);
    assert.equal(grew('portcullis_webhook_requests_total', { route: '/config', status: '400' }), 1);
    assert.equal(grew('portcullis_webhook_request_duration_seconds_count', { route: '/config' }), 2);
    assert.match(after, /^process_cpu_seconds_total/m, 'process metrics too');
  });

  test('clients refused during the TLS handshake are counted', E2E, async () => {
    const before = sample(await scrape(authOps), 'portcullis_webhook_tls_handshake_failures_total');
    await assert.rejects(httpsJson(`https://localhost:${authserver.port}/password`, { ca: client.ca }, { ...base }), 'no client certificate');
    const after = await pollUntilOrLast(async () => sample(await scrape(authOps), 'portcullis_webhook_tls_handshake_failures_total'), {
      what: 'the handshake failure counted',
      until: (count) => count !== before,
      timeoutMs: 5_000,
      intervalMs: 50,
    });
    assert.equal(after - before, 1);
  });

  test('the ops listener answers a JSON 404 with a code for other paths, and no webhook route', E2E, async () => {
    const res = await fetch(`http://127.0.0.1:${authOps}/password`);
    assert.equal(res.status, 404);
    assert.deepEqual(await res.json(), { code: 'AUTH_ROUTE_NOT_FOUND', message: 'Only /metrics and /healthz are served here.' });
  });

  test('authserver /healthz: a warning naming usersFile, still 200, while the users file cannot be read (the last good users still serve), then no warning again', E2E, async () => {
    const up = await healthBecomes(authOps, 200);
    assert.deepEqual(up.body, { status: 'ok', failing: [], checks: { usersFile: 'ok' } });
    await rename(join(dir, 'users.yaml'), join(dir, 'users.yaml.away'));
    const warned = await healthUntil(authOps, (answer) => answer.body.warnings !== undefined);
    assert.equal(warned.status, 200);
    assert.deepEqual(warned.body.failing, []);
    assert.deepEqual(warned.body.warnings, ['usersFile']);
    assert.match(warned.body.checks.usersFile ?? '', /^warning: the users file does not load \(.*users\.yaml.*\); the last good users still serve$/);
    await rename(join(dir, 'users.yaml.away'), join(dir, 'users.yaml'));
    assert.deepEqual((await healthUntil(authOps, (answer) => answer.body.warnings === undefined)).body, { status: 'ok', failing: [], checks: { usersFile: 'ok' } });
  });

  test('configserver /healthz: a warning naming policy, still 200, while the policy folder does not load (the last good set still serves)', E2E, async () => {
    assert.deepEqual((await healthBecomes(configOps, 200)).body, { status: 'ok', failing: [], checks: { policy: 'ok' } });
    const baseline = join(policyDir, 'baseline.yaml');
    const good = await readFile(baseline, 'utf8');
    await appendFile(baseline, '\n  this is: [not valid\n');
    await configserver.waitForCode('CONFIGSERVER_POLICY_RELOAD_FAILED');
    // A readiness probe on /healthz keeps this replica in service: one bad ConfigMap must not empty the Service.
    const warned = await healthUntil(configOps, (answer) => answer.body.warnings !== undefined);
    assert.equal(warned.status, 200);
    assert.equal(warned.body.status, 'ok');
    assert.deepEqual(warned.body.failing, []);
    assert.deepEqual(warned.body.warnings, ['policy']);
    assert.match(warned.body.checks.policy ?? '', /^warning: the policy folder does not load \(.*baseline\.yaml.*\); the last good set still serves$/);
    const served = await httpsJson(`https://localhost:${configserver.port}/config`, client, { ...base, username: 'alice', authenticatedUsername: 'alice' });
    assert.equal(served.statusCode, 200, 'requests are still answered from the last good set');
    await writeFile(baseline, good);
    assert.deepEqual((await healthUntil(configOps, (answer) => answer.body.warnings === undefined)).body, { status: 'ok', failing: [], checks: { policy: 'ok' } });
  });
});
