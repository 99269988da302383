import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { startFakeGithub, type FakeGithub } from '../../../../test/helpers/fake-github.ts';
import { buildApp } from '../../app.ts';
import { createLogger } from '../../logger.ts';
import { parseUsersFile, UserDirectory } from '../../users-file.ts';
import { GithubConfigSchema } from './config.ts';
import { githubFlow } from './github-flow.ts';

const base = { remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301', submethods: '' };

describe("GitHub device flow over keyboard-interactive against a server speaking GitHub's documented endpoints", () => {
  let github: FakeGithub;
  let users: UserDirectory;
  before(async () => {
    github = await startFakeGithub({
      octocat: { id: 583231, name: 'The Octocat', email: 'octocat@example.org', company: 'GitHub', twoFactor: true, orgs: { acme: ['platform', 'web'] } },
      member: { id: 2, twoFactor: true, orgs: { acme: ['web'] } },
      outsider: { id: 3, twoFactor: true },
      nofactor: { id: 4, twoFactor: false, orgs: { acme: ['platform'] } },
    });
    users = await UserDirectory.create(parseUsersFile('users:\n  octocat:\n    metadata: { team: research }\n'));
  });
  after(async () => github?.stop());

  const app = (t: { after: (fn: () => Promise<unknown>) => void }, logs: string[], overrides: Record<string, unknown> = {}): FastifyInstance => {
    const config = GithubConfigSchema.parse({
      clientId: github.clientId,
      url: github.url,
      apiUrl: github.apiUrl,
      requireOrgMembership: 'acme',
      requireTeamMembership: ['platform'],
      require2FA: true,
      exposeAccessToken: { environment: 'GITHUB_TOKEN' },
      pollWindow: '300ms',
      ...overrides,
    });
    const logger = createLogger('debug', new Writable({ write: (chunk, _enc, done) => (logs.push(String(chunk)), done()) }));
    const instance = buildApp({ users, logger, keyboardInteractiveFlows: [githubFlow(config, users, logger)] });
    t.after(() => instance.close());
    return instance;
  };

  /** Round 0 shows the code; the person acts on github.com; the rounds go on until a decision (bounded). */
  const login = async (instance: FastifyInstance, username: string, person: (userCode: string) => void) => {
    const call = async (body: Record<string, unknown>) => {
      const res = await instance.inject({ method: 'POST', url: '/keyboard-interactive', payload: { ...base, username, ...body } });
      assert.equal(res.statusCode, 200, res.body);
      // biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers by path; a wrong path fails its assertion.
      return res.json() as Record<string, any>;
    };
    const first = await call({ round: 0, answers: [] });
    const [, uri, userCode] = /open (\S+)\s+and enter the code (\S+)/.exec(first.challenge.instruction) ?? [];
    assert.equal(uri, `${github.url}/login/device`);
    person(userCode!);
    let answer = first;
    for (let round = 1; round <= 100 && answer.success === undefined; round++) answer = await call({ round, answers: [], state: first.state });
    return answer;
  };

  test('an org and team member with 2FA logs in: GitHub metadata, teams, and the token as GITHUB_TOKEN', async (t) => {
    const logs: string[] = [];
    const answer = await login(app(t, logs), 'octocat', (code) => github.approve(code, 'octocat'));
    assert.equal(answer.success, true);
    assert.equal(answer.authenticatedUsername, 'octocat');
    const token = github.issuedTokens.at(-1)!;
    assert.deepEqual(answer.environment, { GITHUB_TOKEN: { value: token, sensitive: true } });
    assert.deepEqual(answer.metadata.github_username, { value: 'octocat', sensitive: false });
    assert.deepEqual(answer.metadata.identity, { value: 'github:octocat', sensitive: false });
    assert.deepEqual(answer.metadata.github_teams, { value: 'platform', sensitive: false });
    assert.deepEqual(answer.metadata.github_org, { value: 'acme', sensitive: false });
    assert.deepEqual(answer.metadata.team, { value: 'research', sensitive: false });
    assert.deepEqual(answer.metadata.oauth2_access_token, { value: token, sensitive: true });
    assert.ok(!logs.join('').includes(token), 'the token is never logged');
  });

  for (const [name, username, person, reason] of [
    ['not in the organisation', 'outsider', 'outsider', 'not-org-member'],
    ['in the organisation but none of the teams', 'member', 'member', 'not-team-member'],
    ['without two-factor authentication', 'nofactor', 'nofactor', '2fa-not-enabled'],
    ['logging in under another SSH username', 'root', 'octocat', 'username-mismatch'],
  ] as const) {
    test(`refused: ${name}`, async (t) => {
      const logs: string[] = [];
      const answer = await login(app(t, logs), username, (code) => github.approve(code, person));
      assert.deepEqual(answer, { success: false });
      assert.match(logs.join(''), new RegExp(`AUTHSERVER_GITHUB_REFUSED[^\\n]*"reason":"${reason}"`));
    });
  }

  test('refused: the person cancels at github.com', async (t) => {
    const logs: string[] = [];
    const answer = await login(app(t, logs), 'octocat', (code) => github.deny(code));
    assert.deepEqual(answer, { success: false });
    assert.match(logs.join(''), /"reason":"denied"/);
  });

  test('refused: a scope asked for but not granted, with enforceScopes', async (t) => {
    const logs: string[] = [];
    const instance = app(t, logs, { extraScopes: ['repo'], enforceScopes: true });
    const answer = await login(instance, 'octocat', (code) => github.approve(code, 'octocat', ['read:org']));
    assert.deepEqual(answer, { success: false });
    assert.match(logs.join(''), /scope-not-granted[^\n]*repo/);
  });

  test('GitHub unreachable is "unavailable" (503), never a refusal', async (t) => {
    const instance = app(t, [], { url: 'http://127.0.0.1:9' });
    const res = await instance.inject({ method: 'POST', url: '/keyboard-interactive', payload: { ...base, username: 'octocat', round: 0, answers: [] } });
    assert.equal(res.statusCode, 503);
    assert.equal((res.json() as { code: string }).code, 'AUTH_GITHUB_UNAVAILABLE');
  });
});
