import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { startFakeGithub, type FakeGithub } from '../helpers/fake-github.ts';
import { startLiveSsh } from '../helpers/live-ssh.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E } from '../helpers/deadlines.ts';

describe('GitHub device flow: ssh shows the code, the person authorizes on GitHub, the session gets GITHUB_TOKEN', () => {
  let github: FakeGithub;
  let world: World;
  before(async () => {
    github = await startFakeGithub({
      octocat: { id: 583231, name: 'The Octocat', twoFactor: true, orgs: { acme: ['platform'] } },
      outsider: { id: 3, twoFactor: true },
    });
    world = await startWorld({
      authserver: {
        github: {
          clientId: github.clientId,
          url: github.url,
          apiUrl: github.apiUrl,
          requireOrgMembership: 'acme',
          requireTeamMembership: ['platform'],
          exposeAccessToken: { environment: 'GITHUB_TOKEN' },
          pollWindow: '2s',
        },
      },
      gateway: { auth: { keyboardInteractive: true }, ssh: { loginGraceTime: '120s' } },
      webhookTimeout: '15s',
    });
  });
  after(async () => {
    await world?.stop();
    await github?.stop();
    if (world) assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const login = async (username: string, person: string, command: string) => {
    const ssh = await startLiveSsh({ port: world.sshPort, username, command });
    const [, uri, code] = await ssh.waitForStderr(/open (\S+)\s+and enter the code (\S+)/);
    assert.equal(uri, `${github.url}/login/device`);
    github.approve(code!, person);
    return ssh.done;
  };

  test('a member of the organisation and team lands in the session with the token', E2E, async () => {
    const result = await login('octocat', 'octocat', 'echo "token=$GITHUB_TOKEN"');
    assert.equal(result.code, 0, result.stderr);
    const token = github.issuedTokens.at(-1)!;
    assert.equal(result.stdout, `token=${token}\n`);
    const line = await world.authserver.waitForCode('AUTHSERVER_GITHUB_AUTHENTICATED');
    assert.deepEqual(line.teams, ['platform']);
    for (const program of [world.authserver, world.configserver, world.gateway]) {
      assert.ok(!program.output.join('\n').includes(token), `${program.name} logged the GitHub token`);
    }
  });

  test('someone outside the organisation is refused', E2E, async () => {
    const result = await login('outsider', 'outsider', 'true');
    assert.equal(result.code, 255);
    assert.match(result.stderr, /Permission denied/);
    const line = await world.authserver.waitForCode('AUTHSERVER_GITHUB_REFUSED');
    assert.equal(line.reason, 'not-org-member');
  });
});
