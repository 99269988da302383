import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { completeAuthorizationCodeFlow, completeDeviceFlow, launchChromium } from '../helpers/browser.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { runSshKeyboardInteractive } from '../helpers/keyboard-interactive.ts';
import { startLiveSsh } from '../helpers/live-ssh.ts';
import { startOidcProvider, type TestOidcProvider } from '../helpers/oidc-provider.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

const PERSON = { login: 'alice', password: 'Provider-Pass-e2e-31' } as const;

describe('OIDC device flow: ssh waits while a person logs in at the provider in Chromium', () => {
  let provider: TestOidcProvider;
  let browser: Browser;
  const worlds: World[] = [];
  before(async () => {
    provider = await startOidcProvider({
      ...PERSON,
      sub: 'subject-e2e-1',
      claims: { preferred_username: 'alice', email: 'alice@example.org', groups: ['developers'] },
    });
    browser = await launchChromium();
  });
  after(async () => {
    for (const world of worlds) await world.stop();
    await browser?.close();
    await provider?.stop();
    for (const world of worlds) assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const oidcWorld = async (extraScopes: string[], flow: Record<string, unknown> = {}) => {
    const world = await startWorld({
      authserver: {
        oidc: {
          issuer: provider.issuer,
          clientId: provider.clientId,
          clientSecret: provider.clientSecret,
          usernameClaim: 'preferred_username',
          extraScopes,
          enforceScopes: true,
          exposeAccessToken: { environment: 'OIDC_TOKEN', file: '/home/user/.oidc-token' },
          allowInsecureHttp: true,
          pollWindow: '2s',
          ...flow,
        },
      },
      gateway: { auth: { keyboardInteractive: true }, ssh: { loginGraceTime: '180s' } },
      // The last step exchanges the code and fetches userinfo: room for a loaded machine.
      webhookTimeout: '15s',
    });
    worlds.push(world);
    return world;
  };

  /** ssh starts, shows the URL and code; the person completes the flow in the browser while ssh waits. */
  const loginThroughBrowser = async (world: World, command: string, decision: 'allow' | 'deny' = 'allow') => {
    const ssh = await startLiveSsh({ port: world.sshPort, username: 'alice', command });
    const [, uri, code] = await ssh.waitForStderr(/open (http\S+)\s+and enter the code (\S+)/);
    const page = await completeDeviceFlow(browser, uri!, code!, { ...PERSON, decision });
    return { result: await ssh.done, code: code!, page };
  };

  test('the person logs in and consents; the session gets the access token as a variable and a 0600 file', E2E, async () => {
    const world = await oidcWorld(['profile', 'email', 'groups']);
    const { result, code, page } = await loginThroughBrowser(
      world,
      'echo "token-length=${#OIDC_TOKEN}"; echo "token=$OIDC_TOKEN"; stat -c "mode=%a" ~/.oidc-token; test "$(cat ~/.oidc-token)" = "$OIDC_TOKEN" && echo same-token',
    );
    const decisions = () => world.authserver.output.filter((line) => /OIDC|KEYBOARD_INTERACTIVE_(ACCEPTED|REJECTED)/.test(line)).join('\n');
    assert.equal(result.code, 0, `${result.stderr}\n${decisions()}\n${world.gateway.output.filter((l) => /AUTH|KEYBOARD/.test(l)).join('\n')}`);
    assert.match(page, /success|signed in|complete/i, "the browser shows the provider's success page");
    assert.match(result.stdout, /^token-length=[1-9]\d+$/m);
    assert.match(result.stdout, /^mode=600$/m);
    assert.match(result.stdout, /^same-token$/m);
    const authenticated = await world.authserver.waitForCode('AUTHSERVER_OIDC_AUTHENTICATED');
    assert.equal(authenticated.authenticatedUsername, 'alice');
    assert.deepEqual([...(authenticated.scopes as string[])].sort(), ['email', 'groups', 'openid', 'profile']);
    const token = /^token=(\S+)$/m.exec(result.stdout)?.[1] ?? '';
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      const text = program.output.join('\n');
      assert.ok(!text.includes(token), `${program.name} logged the access token`);
      assert.ok(!text.includes(PERSON.password), `${program.name} logged the provider password`);
      assert.ok(!text.includes(code), `${program.name} logged the user code`);
    }
  });

  test('a scope the provider does not grant is refused (enforceScopes), and ssh says permission denied', E2E, async () => {
    const world = await oidcWorld(['profile', 'groups', 'admin']);
    const { result } = await loginThroughBrowser(world, 'true');
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied/);
    const refused = await world.authserver.waitForCode('AUTHSERVER_OIDC_REFUSED');
    assert.equal(refused.reason, 'scope-not-granted');
    assert.deepEqual(refused.missingScopes, ['admin']);
  });

  test('authorization code flow: ssh shows the address, the person logs in, then pastes the code at the prompt', E2E, async () => {
    const world = await oidcWorld(['profile'], { deviceFlow: false, authorizationCodeFlow: true, redirectURI: provider.redirectUri });
    const ssh = await startLiveSsh({ port: world.sshPort, username: 'alice', command: 'echo "token-length=${#OIDC_TOKEN}"' });
    const [, url] = await ssh.waitForStderr(/(http\S+\/auth\?\S+)/);
    const code = await completeAuthorizationCodeFlow(browser, url!, PERSON);
    await ssh.answerNextPrompt(code);
    const result = await ssh.done;
    const decisions = world.authserver.output.filter((line) => /OIDC|KEYBOARD_INTERACTIVE_(ACCEPTED|REJECTED)|THROTTLE|BLOCK/.test(line)).join('\n');
    assert.equal(result.code, 0, `${result.stderr}\n${decisions}`);
    assert.match(result.stdout, /^token-length=[1-9]\d+$/m);
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      assert.ok(!program.output.join('\n').includes(code), `${program.name} logged the authorization code`);
    }
  });

  test('a provider that does not answer: ssh is refused at once with a line naming the problem, not a hang', E2E, async () => {
    const world = await oidcWorld([], { issuer: 'http://127.0.0.1:9/' });
    const result = await runSshKeyboardInteractive({ port: world.sshPort, username: 'alice', answers: [], command: 'true' });
    assert.equal(result.code, 255);
    assert.match(result.stderr, /authentication service answered with an error.*AUTH_BACKEND_ERROR|AUTH_BACKEND_ERROR.*authentication service answered with an error/s);
    await world.authserver.waitForCode('AUTHSERVER_OIDC_UNAVAILABLE');
  });
});
