import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Backend, SessionProgram } from '../backends/index.ts';
import { noopBackendWith, runCommand, startInProcessGateway } from '../../../test/helpers/in-process-gateway.ts';

const DOCKER = { backend: 'docker', docker: { execution: { container: { image: 'portcullis/session:dev' } } } };

/** The no-op backend, keeping each program it was asked to start. */
function recordingBackend(): { backend: Backend; programs: SessionProgram[] } {
  const programs: SessionProgram[] = [];
  const backend = noopBackendWith((connection) => ({
    startSession: (program) => {
      programs.push(program);
      return connection.startSession(program);
    },
  }));
  return { backend, programs };
}

test('env requests go through the policy: a denied name never reaches the program, an allowed one does', { timeout: 15_000 }, async (t) => {
  const { backend, programs } = recordingBackend();
  const gateway = await startInProcessGateway(t, { deps: { backend }, config: { ...DOCKER, security: { env: { mode: 'filter', allow: ['LANG'], deny: ['LD_PRELOAD'] } } } });
  const { client } = await gateway.connect();
  assert.equal((await runCommand(client, 'exit 0', { env: { LANG: 'C.UTF-8', LD_PRELOAD: '/tmp/evil.so' } })).code, 0);
  const line = await gateway.waitForCode('SECURITY_ENV_REJECTED');
  assert.equal(line.name, 'LD_PRELOAD');
  assert.equal(programs.length, 1);
  assert.equal(programs[0]?.env.LANG, 'C.UTF-8');
  assert.equal(programs[0]?.env.LD_PRELOAD, undefined);
});

test('a pty the policy disables is refused; the program then starts without one', { timeout: 15_000 }, async (t) => {
  const { backend, programs } = recordingBackend();
  const gateway = await startInProcessGateway(t, { deps: { backend }, config: { ...DOCKER, security: { tty: { mode: 'disable' } } } });
  const { client } = await gateway.connect();
  // ssh2's client gives up the exec when its pty is refused, as OpenSSH's -t does not: the refusal is what is checked.
  await runCommand(client, 'exit 0', { pty: true }).catch(() => undefined);
  await gateway.waitForCode('SECURITY_TTY_REJECTED');
  assert.ok(programs.every((program) => program.pty === undefined));
  assert.equal((await runCommand(client, 'exit 5')).code, 5);
});

test('a pty and its window size reach the program, with TERM', { timeout: 15_000 }, async (t) => {
  const { backend, programs } = recordingBackend();
  const gateway = await startInProcessGateway(t, { deps: { backend } });
  const { client } = await gateway.connect();
  const result = await runCommand(client, 'cat', { pty: { term: 'vt220', cols: 120, rows: 40 }, input: 'typed\n' });
  assert.equal(result.code, 0);
  assert.match(result.stdout, /typed/);
  assert.deepEqual(programs[0]?.pty, { term: 'vt220', cols: 120, rows: 40 });
  assert.equal(programs[0]?.env.TERM, 'vt220');
});
