import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { test } from 'node:test';

const run = promisify(execFile);
const MODULE = fileURLToPath(new URL('./drop-privileges.ts', import.meta.url));

// Dropping privileges needs root; CI and the test bootstrap run as root.
test('started as root, the process ends as runAs with only the socket group added', { skip: process.getuid?.() !== 0 && 'needs root' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-drop-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const socket = join(dir, 'docker.sock'); // any file: only its group is read
  await writeFile(socket, '');
  await chown(socket, 0, 4242);
  const script = `
    const { dropPrivileges } = await import(${JSON.stringify(MODULE)});
    const dropped = dropPrivileges('65534:65534', ${JSON.stringify(socket)});
    console.log(JSON.stringify({ dropped, uid: process.getuid(), euid: process.geteuid(), gid: process.getgid(), groups: process.getgroups() }));`;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
  const seen = JSON.parse(stdout) as { uid: number; euid: number; gid: number; groups: number[] };
  assert.equal(seen.uid, 65534);
  assert.equal(seen.euid, 65534);
  assert.equal(seen.gid, 65534);
  assert.deepEqual(
    seen.groups.filter((group) => group !== 65534),
    [4242],
  );
});

test('without runAs nothing changes', async () => {
  const { dropPrivileges } = await import('./drop-privileges.ts');
  assert.equal(dropPrivileges(undefined, '/var/run/docker.sock'), undefined);
});
