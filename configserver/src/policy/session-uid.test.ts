import { test } from 'node:test';
import assert from 'node:assert/strict';
import { repoPolicy } from '../testing/policy.ts';
import { parseProfileSource, sortProfiles, type Policy } from './load.ts';
import { renderConfig } from './index.ts';
import { sessionUid } from './session-uid.ts';

const request = (username: string) => ({ username, authenticatedUsername: username, remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301' });
const range = { min: 100_000, max: 2_000_000_000 };

test('each user gets a uid of their own in the range, the same every time', () => {
  const names = Array.from({ length: 2000 }, (_, i) => `user${i}`);
  const uids = names.map((name) => sessionUid(name, range));
  for (const uid of uids) assert.ok(uid >= range.min && uid <= range.max, String(uid));
  assert.equal(new Set(uids).size, names.length, 'no two of 2000 users share a uid in this range');
  assert.deepEqual(
    names.map((name) => sessionUid(name, range)),
    uids,
    'stable',
  );
  assert.equal(sessionUid('alice', { min: 5000, max: 5000 + 1 }) >= 5000, true);
});

test('the Docker answer runs each user under their uid, with the home tmpfs theirs and private', async () => {
  const policy = await repoPolicy();
  for (const name of ['alice', 'bob']) {
    const uid = sessionUid(name, policy.baseline.sessionUids!);
    const { execution } = renderConfig(request(name), policy).config.docker!;
    assert.equal(execution.container.user, `${uid}:${uid}`);
    assert.equal(execution.host.tmpfs?.['/home/user'], `rw,nosuid,nodev,size=64m,uid=${uid},gid=${uid},mode=0700`);
    assert.equal(execution.host.tmpfs?.['/tmp'], 'rw,nosuid,nodev,size=64m,mode=1777');
  }
  assert.notEqual(renderConfig(request('alice'), policy).config.docker!.execution.container.user, renderConfig(request('bob'), policy).config.docker!.execution.container.user);
});

test('the pod runs each user under their uid (runAsUser, runAsGroup, fsGroup)', async () => {
  const shipped = await repoPolicy();
  const policy: Policy = { ...shipped, baseline: { ...shipped.baseline, backend: 'kubernetes' } };
  const uid = sessionUid('alice', policy.baseline.sessionUids!);
  const spec = renderConfig(request('alice'), policy).config.kubernetes!.pod.spec as unknown as { securityContext: Record<string, unknown> };
  assert.deepEqual([spec.securityContext.runAsUser, spec.securityContext.runAsGroup, spec.securityContext.fsGroup, spec.securityContext.runAsNonRoot], [uid, uid, uid, true]);
});

test('a uid a profile pins stays; without sessionUids every user keeps the baseline uid', async () => {
  const shipped = await repoPolicy();
  const pinned = parseProfileSource('match: { users: [carol] }\noverlay: { docker: { user: "4242:4242" } }', 'pin.yaml').profile!;
  const policy: Policy = { ...shipped, profiles: sortProfiles([...(shipped.profiles ?? []), pinned]) };
  assert.equal(renderConfig(request('carol'), policy).config.docker!.execution.container.user, '4242:4242');
  const { sessionUids: _dropped, ...fixed } = shipped.baseline;
  assert.equal(renderConfig(request('alice'), { ...shipped, baseline: fixed }).config.docker!.execution.container.user, '1000:1000');
});
