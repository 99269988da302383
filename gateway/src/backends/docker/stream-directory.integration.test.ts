import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { createLogger } from '../../observability/index.ts';
import { programInput } from './docker-session.ts';
import { CONTAINER_STREAM_PATH, ContainerStreams, type DirectStreams, StreamDirectory, prepareStreamRoot } from './stream-directory.ts';

const log = createLogger('silent');

async function tempRoot(t: TestContext): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'portcullis-streams-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  return root;
}

/** Runs the wrapped command on this host, as the container would: the container path becomes the host one. */
function runWrapped(streams: DirectStreams, hostDir: string, command: string[]) {
  const [shell, ...args] = streams.wrap('/bin/sh', command);
  const index = args.findIndex((arg) => arg.startsWith(CONTAINER_STREAM_PATH));
  args[index] = args[index]!.replace(CONTAINER_STREAM_PATH, hostDir);
  const program = spawn(shell!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  program.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return {
    exited: once(program, 'close').then(([code]) => {
      streams.programEnded();
      return { code: code as number, stderr };
    }),
  };
}

function readAll(streams: DirectStreams): Promise<string> {
  let text = '';
  streams.stdout.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  return once(streams.stdout, 'end').then(() => text);
}

test('a program reads its stdin from the pair and writes its stdout to it; the start marker never reaches the reader', { timeout: 20_000 }, async (t) => {
  const streams = await new StreamDirectory(await tempRoot(t), log).forContainer('portcullis-a');
  const pair = await streams.open();
  const program = runWrapped(pair, streams.hostPath, ['tr', 'a-z', 'A-Z']);
  await pair.started;
  const output = readAll(pair);
  pair.stdin.end('hello through a fifo\n');
  assert.deepEqual(await program.exited, { code: 0, stderr: '' });
  assert.equal(await output, 'HELLO THROUGH A FIFO\n');
});

test('a client that sends EOF before the program opened its stdin: the program still sees the end and exits', { timeout: 20_000 }, async (t) => {
  const streams = await new StreamDirectory(await tempRoot(t), log).forContainer('portcullis-b');
  const pair = await streams.open();
  // Ended before the program runs: stdin must stay open until the program opened it, or its open blocks for good.
  const input = programInput(pair.stdin, true, pair.started);
  input.end();
  const program = runWrapped(pair, streams.hostPath, ['wc', '-c']);
  await pair.started;
  const output = readAll(pair);
  assert.deepEqual(await program.exited, { code: 0, stderr: '' });
  assert.equal((await output).trim(), '0');
});

test("a program whose streams cannot be opened ends with the shell's message; the reader ends too", async (t) => {
  const streams = await new StreamDirectory(await tempRoot(t), log).forContainer('portcullis-c');
  const pair = await streams.open();
  await rm(streams.hostPath, { recursive: true, force: true });
  const program = runWrapped(pair, streams.hostPath, ['true']);
  const output = readAll(pair);
  const { code, stderr } = await program.exited;
  assert.notEqual(code, 0);
  assert.match(stderr, /\.in/);
  await pair.started;
  assert.equal(await output, '');
});

test('directories: 0711 per container, removed with their FIFOs; the sweep takes only old ones without a container', { timeout: 20_000 }, async (t) => {
  const root = await tempRoot(t);
  const directory = new StreamDirectory(root, log);
  const streams = await directory.forContainer('portcullis-live');
  assert.equal((await stat(streams.hostPath)).mode & 0o777, 0o711);
  assert.deepEqual(streams.mount, { Type: 'bind', Source: streams.hostPath, Target: CONTAINER_STREAM_PATH, ReadOnly: true });
  (await streams.open()).destroy();
  await directory.forContainer('portcullis-young');
  const old = await directory.forContainer('portcullis-orphan');
  const longAgo = new Date(Date.now() - 3_600_000);
  await utimes(old.hostPath, longAgo, longAgo);
  await utimes(streams.hostPath, longAgo, longAgo);
  assert.equal(await directory.sweep(new Set(['portcullis-live']), 60_000), 1);
  assert.deepEqual((await readdir(root)).sort(), ['portcullis-live', 'portcullis-young']);
  await streams.remove();
  assert.deepEqual(await readdir(root), ['portcullis-young']);
  // A directory the engine still mounts is found again from the container's mounts; a foreign path is not.
  const found = await directory.existing([{ Source: join(root, 'portcullis-young'), Destination: CONTAINER_STREAM_PATH }]);
  assert.equal(found?.hostPath, join(root, 'portcullis-young'));
  assert.equal(await directory.existing([{ Source: '/etc', Destination: CONTAINER_STREAM_PATH }]), undefined);
  assert.equal(await directory.existing([{ Source: join(root, 'x'), Destination: '/data' }]), undefined);
});

test('the root is made 0700; a file where it should be is refused', { timeout: 20_000 }, async (t) => {
  const base = await tempRoot(t);
  const root = join(base, 'streams');
  await mkdir(root, { mode: 0o755 });
  await prepareStreamRoot(root);
  assert.equal((await stat(root)).mode & 0o777, 0o700);
  await writeFile(join(base, 'file'), '');
  await assert.rejects(prepareStreamRoot(join(base, 'file')));
});

test('only POSIX shells wrap a program; any other keeps the engine stream', () => {
  for (const shell of ['/bin/sh', '/bin/bash', '/usr/bin/dash', '/bin/ash', '/bin/zsh', '/bin/ksh']) assert.equal(ContainerStreams.canWrap(shell), true, shell);
  for (const shell of ['/usr/bin/fish', '/bin/busybox', '/usr/bin/nu', '/bin/csh', '']) assert.equal(ContainerStreams.canWrap(shell), false, shell);
});
