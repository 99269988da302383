import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { backendWorld } from '../helpers/backend-world.ts';
import { pollUntil } from '../helpers/poll-until.ts';
import { openSharedConnection, runSsh } from '../helpers/ssh-client.ts';
import type { World } from '../helpers/world.ts';

// docker.streamDirectory (the compose default, and every test world's): a program without a
// terminal reads and writes two FIFOs in its container's stream directory; the engine no longer
// relays those bytes. What the user sees must not change, and nothing may stay behind.

const ssh = (world: World, command: string, stdin?: Buffer | string, tty = false) =>
  runSsh({ port: world.sshPort, username: world.username, password: world.password, command, tty, timeoutMs: 60_000, ...(stdin !== undefined ? { stdin } : {}) });

const streamRoot = (world: World) => join(world.dir, 'streams');

test('docker stream directory: stdin and stdout are the FIFOs, stderr and the exit status come as before, the user cannot touch the directory', { timeout: 240_000 }, async (t) => {
  const { world, waitForNoSessions } = await backendWorld(t, 'docker');

  // The program's own view of its streams: the FIFO pair, not the engine's pipes.
  const fds = await ssh(world, 'readlink /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2');
  assert.equal(fds.code, 0, fds.stderr);
  const [stdin, stdout, stderr] = fds.stdout.trim().split('\n');
  assert.match(stdin!, /^\/run\/portcullis\/streams\/[0-9a-f]{16}\.in$/);
  assert.match(stdout!, /^\/run\/portcullis\/streams\/[0-9a-f]{16}\.out$/);
  assert.match(stderr!, /^pipe:/, 'stderr still comes through the engine');
  // A terminal stays on the engine's attach stream (resize, job control).
  const terminal = await ssh(world, 'readlink /proc/self/fd/0', undefined, true);
  assert.match(terminal.stdout, /^\/dev\/pts\//m);

  // Every byte both ways, stderr apart, the exit status last.
  const payload = randomBytes(8 * 1024 * 1024);
  const digest = createHash('sha256').update(payload).digest('hex');
  const roundTrip = await ssh(world, 'sha256sum; echo to-stderr >&2; exit 7', payload);
  assert.equal(roundTrip.code, 7);
  assert.equal(roundTrip.stdout.split(' ')[0], digest);
  assert.match(roundTrip.stderr, /^to-stderr$/m);

  // A program that never reads its stdin still ends, with its status, while the client sends.
  const ignoring = await ssh(world, 'exit 3', randomBytes(4 * 1024 * 1024));
  assert.equal(ignoring.code, 3);

  // A command the shell cannot find: the shell's own message and status, as through sshd.
  const missing = await ssh(world, 'no-such-program-here');
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /no-such-program-here/);

  // The directory is mounted read-only and cannot be listed: the user adds nothing, sees no other pair.
  const probe = await ssh(world, 'touch /run/portcullis/streams/x 2>&1; ls /run/portcullis/streams 2>&1; true');
  assert.match(probe.stdout, /Read-only file system/);
  assert.match(probe.stdout, /Permission denied/);

  // When the connections are gone, so are the containers and their stream directories.
  assert.deepEqual(await waitForNoSessions(), []);
  await pollUntil(async () => (await readdir(streamRoot(world))).length === 0, { timeoutMs: 10_000, what: 'the stream directories are removed' });
});

test('docker stream directory: a program whose FIFOs cannot be made is refused by name; the connection and the gateway go on', { timeout: 120_000 }, async (t) => {
  const { world, waitForNoSessions } = await backendWorld(t, 'docker');
  const shared = await openSharedConnection({ port: world.sshPort, username: world.username, password: world.password });
  t.after(() => shared.close());
  assert.equal((await shared.run('true')).code, 0);
  // The container's directory disappears under the connection (an operator's cleanup): its next
  // program is refused with a line that names the problem, never a hang.
  const [directory] = await readdir(streamRoot(world));
  assert.ok(directory, 'the connection has a stream directory');
  await rm(join(streamRoot(world), directory), { recursive: true, force: true });
  const refused = await shared.run('echo should-not-run');
  assert.notEqual(refused.code, 0);
  assert.doesNotMatch(refused.stdout, /should-not-run/);
  assert.match(refused.stderr, /Could not start the program in your session container\. \(DOCKER_STREAM_DIRECTORY_FAILED\)/);
  // Another connection gets a container and a directory of its own.
  const other = await ssh(world, 'echo fine');
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /^fine$/m);
  assert.equal(world.gateway.process.exitCode, null, 'the gateway runs on');
  await shared.close();
  assert.deepEqual(await waitForNoSessions(), []);
});

test('docker stream directory off (the config default): programs are attached through the engine', { timeout: 120_000 }, async (t) => {
  const { world, waitForNoSessions } = await backendWorld(t, 'docker', { gateway: { docker: { streamDirectory: null } } });
  const fds = await ssh(world, 'readlink /proc/self/fd/0 /proc/self/fd/1');
  assert.equal(fds.code, 0, fds.stderr);
  for (const line of fds.stdout.trim().split('\n')) assert.match(line, /^pipe:/);
  const payload = randomBytes(2 * 1024 * 1024);
  const roundTrip = await ssh(world, 'sha256sum', payload);
  assert.equal(roundTrip.stdout.split(' ')[0], createHash('sha256').update(payload).digest('hex'));
  assert.deepEqual(await waitForNoSessions(), []);
});

test('docker stream directory, persistent container: its directory lives with the container, across connections', { timeout: 120_000 }, async (t) => {
  const { world } = await backendWorld(t, 'docker', { persistent: { homeMiB: 16, memoryMiB: 128 } });
  const payload = randomBytes(1024 * 1024);
  for (let connection = 0; connection < 2; connection++) {
    const fds = await ssh(world, 'readlink /proc/self/fd/1; sha256sum', payload);
    assert.equal(fds.code, 0, fds.stderr);
    const [stdout, sum] = fds.stdout.trim().split('\n');
    assert.match(stdout!, /^\/run\/portcullis\/streams\/[0-9a-f]{16}\.out$/);
    assert.equal(sum!.split(' ')[0], createHash('sha256').update(payload).digest('hex'));
  }
  assert.equal((await readdir(streamRoot(world))).length, 1, "one directory, the persistent container's");
});
