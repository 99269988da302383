import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { completeAuthorizationCodeFlow, completeDeviceFlow, launchChromium, type ProviderLogin } from '../../../../test/helpers/browser.ts';
import { startOidcProvider, type TestOidcProvider } from '../../../../test/helpers/oidc-provider.ts';
import { buildApp } from '../../app.ts';
import { createLogger } from '../../logger.ts';
import { parseUsersFile, UserDirectory } from '../../users-file.ts';
import { OidcConfigSchema } from './config.ts';
import { oidcFlow } from './oidc-flow.ts';

const PERSON = { login: 'alice', password: 'Provider-Pass-9d2' } as const;
const base = { remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301', submethods: '' };

describe('OIDC over keyboard-interactive against a real provider, completed in headless Chromium', () => {
  let provider: TestOidcProvider;
  let browser: Browser;
  let users: UserDirectory;
  before(async () => {
    provider = await startOidcProvider({
      ...PERSON,
      sub: 'subject-4711',
      claims: { preferred_username: 'alice', name: 'Alice Example', email: 'alice@example.org', email_verified: true, groups: ['developers', 'ops'] },
    });
    browser = await launchChromium();
    users = await UserDirectory.create(parseUsersFile('users:\n  alice:\n    metadata: { team: research }\n'));
  });
  after(async () => {
    await browser?.close();
    await provider?.stop();
  });

  const app = (t: { after: (fn: () => Promise<unknown>) => void }, logs: string[], overrides: Record<string, unknown> = {}): FastifyInstance => {
    const config = OidcConfigSchema.parse({
      issuer: provider.issuer,
      clientId: provider.clientId,
      clientSecret: provider.clientSecret,
      usernameClaim: 'preferred_username',
      extraScopes: ['profile', 'email', 'groups'],
      enforceScopes: true,
      exposeAccessToken: { environment: 'OIDC_TOKEN', file: '/home/user/.oidc-token' },
      allowInsecureHttp: true,
      pollWindow: '500ms',
      redirectURI: provider.redirectUri,
      ...overrides,
    });
    const logger = createLogger('debug', new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) }));
    const instance = buildApp({ users, logger, keyboardInteractiveFlows: [oidcFlow(config, users, logger)] });
    t.after(() => instance.close());
    return instance;
  };

  // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers by path; a wrong path fails its assertion.
  type Answer = { challenge?: { instruction: string; prompts: { prompt: string; echo: boolean }[] }; state?: string; success?: boolean } & Record<string, any>;
  const call = async (instance: FastifyInstance, body: Record<string, unknown>): Promise<Answer> => {
    const res = await instance.inject({ method: 'POST', url: '/keyboard-interactive', payload: { ...base, username: 'alice', ...body } });
    assert.equal(res.statusCode, 200, res.body);
    return res.json() as Answer;
  };

  /** Round 0, then the person in the browser while the rounds go on (bounded), as the gateway would call. */
  const deviceLogin = async (instance: FastifyInstance, person: ProviderLogin) => {
    const first = await call(instance, { round: 0, answers: [] });
    const instruction = first.challenge?.instruction ?? '';
    const uri = /open (http\S+)/.exec(instruction)?.[1];
    const code = /enter the code (\S+)/.exec(instruction)?.[1];
    assert.ok(uri && code, `the first step shows a URL and a code: ${instruction}`);
    assert.deepEqual(first.challenge?.prompts, []);
    const browsing = completeDeviceFlow(browser, uri, code, person);
    let answer = first;
    for (let round = 1; round <= 200 && answer.success === undefined; round++) {
      answer = await call(instance, { round, answers: [], state: first.state });
    }
    await browsing;
    return { answer, code };
  };

  test('device flow: success with claims and groups in metadata, and the access token exposed as configured', async (t) => {
    const logs: string[] = [];
    const { answer, code } = await deviceLogin(app(t, logs), PERSON);
    assert.equal(answer.success, true);
    assert.equal(answer.authenticatedUsername, 'alice');
    const metadata = answer.metadata as Record<string, { value: string; sensitive: boolean }>;
    assert.deepEqual(metadata.oidc_groups, { value: 'developers,ops', sensitive: false });
    assert.deepEqual(metadata.oidc_email, { value: 'alice@example.org', sensitive: false });
    assert.deepEqual(metadata.oidc_sub, { value: 'subject-4711', sensitive: false });
    assert.deepEqual(metadata.identity, { value: `oidc:${provider.issuer}#subject-4711`, sensitive: false });
    assert.deepEqual(metadata.team, { value: 'research', sensitive: false }, 'users-file metadata merged');
    const token = metadata.oauth2_access_token!;
    assert.equal(token.sensitive, true);
    assert.ok(token.value.length > 20);
    assert.deepEqual(answer.environment, { OIDC_TOKEN: { value: token.value, sensitive: true } });
    assert.deepEqual(answer.files, { '/home/user/.oidc-token': { value: Buffer.from(token.value).toString('base64'), sensitive: true, mode: '0600' } });
    const text = logs.join('');
    assert.match(text, /AUTHSERVER_OIDC_AUTHENTICATED/);
    assert.ok(!text.includes(token.value), 'the access token is never logged');
    assert.ok(!text.includes(code), 'the user code is never logged');
  });

  test('device flow: a requested scope the provider does not grant is refused with enforceScopes', async (t) => {
    const logs: string[] = [];
    const { answer } = await deviceLogin(app(t, logs, { extraScopes: ['groups', 'admin'] }), PERSON);
    assert.deepEqual(answer, { success: false });
    assert.match(logs.join(''), /AUTHSERVER_OIDC_REFUSED[^\n]*scope-not-granted[^\n]*admin/);
  });

  test('device flow: the person denying consent is refused', async (t) => {
    const logs: string[] = [];
    const { answer } = await deviceLogin(app(t, logs), { ...PERSON, decision: 'deny' });
    assert.deepEqual(answer, { success: false });
    assert.match(logs.join(''), /"reason":"denied"/);
  });

  test('device flow: enforceUsername refuses another SSH username', async (t) => {
    const logs: string[] = [];
    const instance = app(t, logs);
    const first = await call(instance, { round: 0, answers: [], username: 'bob' });
    const uri = /open (http\S+)/.exec(first.challenge!.instruction)![1]!;
    const code = /enter the code (\S+)/.exec(first.challenge!.instruction)![1]!;
    const browsing = completeDeviceFlow(browser, uri, code, PERSON);
    let answer = first;
    for (let round = 1; round <= 200 && answer.success === undefined; round++) {
      answer = await call(instance, { round, answers: [], state: first.state, username: 'bob' });
    }
    await browsing;
    assert.deepEqual(answer, { success: false });
    assert.match(logs.join(''), /username-mismatch/);
  });

  test('authorization code flow: the URL to open, then the code pasted back at a prompt', async (t) => {
    const logs: string[] = [];
    const instance = app(t, logs, { deviceFlow: false, authorizationCodeFlow: true });
    const first = await call(instance, { round: 0, answers: [] });
    assert.deepEqual(first.challenge?.prompts, [{ prompt: 'Code: ', echo: true }]);
    const url = /(http\S+\/auth\?\S+)/.exec(first.challenge!.instruction)?.[1];
    assert.ok(url, first.challenge!.instruction);
    const code = await completeAuthorizationCodeFlow(browser, url, PERSON);
    const answer = await call(instance, { round: 1, answers: [code], state: first.state });
    assert.equal(answer.success, true);
    assert.equal(answer.authenticatedUsername, 'alice');
    assert.ok(!logs.join('').includes(code), 'the code is never logged');
  });

  test('authorization code flow: a wrong code is refused', async (t) => {
    const instance = app(t, [], { deviceFlow: false, authorizationCodeFlow: true });
    const first = await call(instance, { round: 0, answers: [] });
    const answer = await call(instance, { round: 1, answers: ['not-a-real-code'], state: first.state });
    assert.deepEqual(answer, { success: false });
  });

  test('an issuer that does not answer is "unavailable" (503), never a refusal', async (t) => {
    const instance = app(t, [], { issuer: 'http://127.0.0.1:9/' });
    const res = await instance.inject({ method: 'POST', url: '/keyboard-interactive', payload: { ...base, username: 'alice', round: 0, answers: [] } });
    assert.equal(res.statusCode, 503);
    assert.equal((res.json() as { code: string }).code, 'AUTH_OIDC_UNAVAILABLE');
  });
});
