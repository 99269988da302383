import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { startKdc, type TestKdc } from '../../../../test/helpers/kdc.ts';
import { freePort } from '../../../../test/helpers/ports.ts';
import { buildApp } from '../../app.ts';
import { createLogger } from '../../logger.ts';
import { parseUsersFile, UserDirectory } from '../../users-file.ts';
import { KerberosConfigSchema } from './config.ts';
import { KerberosPasswordCheck } from './kerberos-password.ts';
import { principalOf } from './principal.ts';

const run = promisify(execFile);
const PASSWORD = 'Correct-Horse-7';
const base = { remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301' };
const b64 = (text: string) => Buffer.from(text).toString('base64');

test('principalOf: short names take the realm, full principals keep theirs, options and junk are no principal', () => {
  assert.deepEqual(principalOf('alice', 'EX.ORG'), { principal: 'alice@EX.ORG', identity: 'alice' });
  assert.deepEqual(principalOf('alice@EX.ORG', 'EX.ORG'), { principal: 'alice@EX.ORG', identity: 'alice' });
  assert.deepEqual(principalOf('alice@OTHER.ORG', 'EX.ORG'), { principal: 'alice@OTHER.ORG', identity: 'alice@OTHER.ORG' });
  assert.deepEqual(principalOf('alice/admin', 'EX.ORG'), { principal: 'alice/admin@EX.ORG', identity: 'alice/admin' });
  for (const bad of ['-V', '--help', 'a b', 'a@b@c', 'a\\@b', '', 'a/b/c', 'x@-R']) assert.equal(principalOf(bad, 'EX.ORG'), undefined, bad);
});

describe('Kerberos passwords against a real KDC', () => {
  let kdc: TestKdc;
  let users: UserDirectory;
  before(async () => {
    kdc = await startKdc();
    await kdc.addPrincipal('alice', PASSWORD);
    users = await UserDirectory.create(parseUsersFile('users:\n  alice:\n    metadata: { team: research }\n'));
  });
  after(async () => kdc.stop());

  const app = (t: { after: (fn: () => Promise<unknown>) => void }, logLines: string[], overrides: Record<string, unknown> = {}): FastifyInstance => {
    const config = KerberosConfigSchema.parse({ configPath: kdc.krb5Conf, realm: kdc.realm, ...overrides });
    const logger = createLogger('debug', new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) }));
    const instance = buildApp({ users, logger, kerberos: new KerberosPasswordCheck(config) });
    t.after(() => instance.close());
    return instance;
  };
  const login = async (instance: FastifyInstance, username: string, password: string) => {
    const res = await instance.inject({ method: 'POST', url: '/password', payload: { ...base, username, passwordBase64: b64(password) } });
    // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers by path; a wrong path fails its assertion.
    return { status: res.statusCode, body: res.json() as Record<string, any> };
  };

  test('the right password yields the ticket as a sensitive file, KRB5CCNAME, and metadata merged with the users file', async (t) => {
    const logs: string[] = [];
    const res = await login(app(t, logs), 'alice', PASSWORD);
    assert.equal(res.status, 200);
    assert.equal(res.body.success, true);
    assert.equal(res.body.authenticatedUsername, 'alice');
    assert.deepEqual(res.body.environment, { KRB5CCNAME: { value: 'FILE:/tmp/krb5cc', sensitive: false } });
    assert.deepEqual(res.body.metadata, {
      team: { value: 'research', sensitive: false },
      identity: { value: `kerberos:alice@${kdc.realm}`, sensitive: false },
      kerberos_principal: { value: `alice@${kdc.realm}`, sensitive: false },
    });
    const file = res.body.files['/tmp/krb5cc'];
    assert.equal(file.sensitive, true);
    assert.equal(file.mode, '0600');
    // The bytes are a real credential cache: klist reads the principal and the TGT from it.
    const dir = await mkdtemp(join(tmpdir(), 'krb5-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'cc'), Buffer.from(file.value, 'base64'), { mode: 0o600 });
    const { stdout } = await run('klist', ['-c', `FILE:${join(dir, 'cc')}`], { env: { ...process.env, KRB5_CONFIG: kdc.krb5Conf } });
    assert.match(stdout, new RegExp(`Default principal: alice@${kdc.realm}`));
    assert.match(stdout, new RegExp(`krbtgt/${kdc.realm}@${kdc.realm}`));
    const text = logs.join('');
    assert.match(text, /AUTHSERVER_KERBEROS_ACCEPTED/);
    assert.ok(!text.includes(PASSWORD) && !text.includes(b64(PASSWORD)), 'the password is never logged');
    assert.ok(!text.includes(file.value.slice(0, 40)), 'the ticket is never logged');
  });

  test('a wrong password, an unknown principal and a password with a line break are refused', async (t) => {
    const logs: string[] = [];
    const instance = app(t, logs);
    for (const [username, password] of [
      ['alice', 'Wrong-Horse-7'],
      ['mallory', PASSWORD],
      ['alice', `${PASSWORD}\nmore`],
      ['-V', PASSWORD],
    ] as const) {
      const res = await login(instance, username, password);
      assert.equal(res.status, 200, username);
      assert.deepEqual(res.body, { success: false }, username);
    }
    const text = logs.join('');
    assert.match(text, /AUTHSERVER_KERBEROS_REJECTED/);
    assert.match(text, /Password incorrect/);
    assert.ok(!text.includes('Wrong-Horse-7') && !text.includes(PASSWORD), 'no password is logged');
  });

  test('enforceUsername true refuses a principal under another SSH username; false lets it in under its own name', async (t) => {
    const logs: string[] = [];
    const strict = await login(app(t, logs), `alice@${kdc.realm}`, PASSWORD);
    assert.deepEqual(strict.body, { success: false });
    assert.match(logs.join(''), /AUTHSERVER_KERBEROS_USERNAME_DOES_NOT_MATCH/);
    const loose = await login(app(t, [], { enforceUsername: false }), `alice@${kdc.realm}`, PASSWORD);
    assert.equal(loose.body.success, true);
    assert.equal(loose.body.authenticatedUsername, 'alice');
  });

  test('a KDC that does not answer is "unavailable" (503), never a refusal', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'krb5-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const conf = join(dir, 'krb5.conf');
    await writeFile(conf, `[libdefaults]\n default_realm = ${kdc.realm}\n udp_preference_limit = 1\n[realms]\n ${kdc.realm} = {\n  kdc = 127.0.0.1:${await freePort()}\n }\n`);
    const logs: string[] = [];
    const res = await login(app(t, logs, { configPath: conf, timeout: '20s' }), 'alice', PASSWORD);
    assert.equal(res.status, 503);
    assert.deepEqual(res.body, { code: 'AUTH_KERBEROS_UNAVAILABLE', message: 'The Kerberos service cannot be reached; try again later.' });
    assert.match(logs.join(''), /AUTHSERVER_KERBEROS_UNAVAILABLE/);
  });
});
