import assert from 'node:assert/strict';
import { Duplex, PassThrough } from 'node:stream';
import { test } from 'node:test';
import type Docker from 'dockerode';
import { createLogger } from '../../observability/index.ts';
import { DockerSession } from './docker-session.ts';

test('a write the attach socket fails is dropped: the channel piped into stdin sees no error, nothing escapes', { timeout: 10_000 }, async (t) => {
  const escaped: unknown[] = [];
  const onEscape = (error: unknown) => escaped.push(error);
  process.on('uncaughtException', onEscape);
  t.after(() => process.off('uncaughtException', onEscape));
  // The engine's end of the attach connection went away while input was on its way (a client
  // killed mid-upload, the session hung up): the pending write fails.
  const socket = new Duplex({
    read: () => undefined,
    write: (_chunk, _encoding, callback) => setImmediate(() => callback(new Error('write EPIPE'))),
  });
  const exec = { inspect: async () => ({ Running: false, ExitCode: 0 }), resize: async () => undefined } as unknown as Docker.Exec;
  const session = new DockerSession(exec, socket, true, createLogger('silent'));
  session.stdout.resume();
  session.stderr.resume();
  const channel = new PassThrough();
  channel.pipe(session.stdin);
  channel.write(Buffer.alloc(64 * 1024));
  channel.write(Buffer.alloc(64 * 1024));
  assert.deepEqual(await session.exited, { exitCode: 0 }, 'the session ends with its exit status');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(escaped, [], 'no error escaped to the process');
  assert.equal(session.stdin.errored, null, 'the input stream did not error');
});
