import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import argon2 from 'argon2';
import { sessionUid } from '../../configserver/src/policy/session-uid.ts';
import { repoPolicy } from '../../configserver/src/testing/policy.ts';
import { waitForNoSessionContainers } from '../helpers/docker.ts';
import { ensureSessionImage } from '../helpers/session-image.ts';
import { runOpensshTool } from '../helpers/openssh-tools.ts';
import { runSsh } from '../helpers/ssh-client.ts';
import { startWorld, type World } from '../helpers/world.ts';
import { E2E_SLOW } from '../helpers/deadlines.ts';

describe('sessions kept apart in the kernel: a uid per user, a private home', () => {
  let world: World;
  const otherPassword = 'another-users-password';
  before(async () => {
    // The home's mode comes from the session image this tree builds (images/session/Dockerfile).
    await ensureSessionImage();
    world = await startWorld({ extraUsers: { bob: { passwordHash: await argon2.hash(otherPassword, { type: argon2.argon2id }) } } });
  });
  after(async () => {
    await world.stop();
    assert.deepEqual(await waitForNoSessionContainers(world.instanceId), [], 'no session container is left');
  });

  const probe = async (username: string, password: string) => {
    const result = await runSsh({ port: world.sshPort, username, password, command: 'id -u; id -g; stat -c "%a %u" ~; touch ~/mine && echo home-writable' });
    assert.equal(result.code, 0, result.stderr);
    const [uid = '', gid, home, writable] = result.stdout.trim().split('\n');
    return { uid: Number(uid), gid: Number(gid), home, writable };
  };

  test('two users run under different uids, each the same at every login, in a 0700 home of their own', E2E_SLOW, async () => {
    const first = await probe(world.username, world.password);
    const again = await probe(world.username, world.password);
    const other = await probe('bob', otherPassword);
    const range = (await repoPolicy()).baseline.sessionUids!;
    assert.equal(first.uid, sessionUid(world.username, range), 'the policy engine derived it from the user name');
    assert.equal(other.uid, sessionUid('bob', range));
    assert.notEqual(first.uid, other.uid, 'per-uid kernel limits are per user');
    assert.equal(again.uid, first.uid, 'stable across logins');
    assert.notEqual(first.uid, 1000);
    for (const session of [first, again, other]) {
      assert.equal(session.gid, session.uid, 'a group of one');
      assert.equal(session.home, `700 ${session.uid}`, 'the home is private to its owner, as the policy says');
      assert.equal(session.writable, 'home-writable');
    }
  });

  test('under its own uid a session still has a name: whoami answers and SFTP, which refuses an unnamed uid, works', E2E_SLOW, async () => {
    const named = await runSsh({ port: world.sshPort, username: world.username, password: world.password, command: 'whoami; echo "$HOME"' });
    assert.equal(named.code, 0, named.stderr);
    assert.equal(named.stdout, 'user\n/home/user\n');
    const sftp = await runOpensshTool(world, 'sftp', [`${world.username}@127.0.0.1`], { stdin: 'pwd\n' });
    assert.equal(sftp.code, 0, sftp.stderr);
    assert.match(sftp.stdout, /Remote working directory: \/home\/user/);
  });
});
