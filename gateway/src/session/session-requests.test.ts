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

test('env names that are prototype keys (__proto__, constructor, toString) are plain names: allowed only if listed, passed as own entries', { timeout: 15_000 }, async (t) => {
  // JSON.parse makes `__proto__` an own key, as the bytes of a hostile client's request would.
  const env = JSON.parse('{"__proto__":"p","constructor":"c","toString":"t","LANG":"C.UTF-8"}') as Record<string, string>;
  const run = async (security: Record<string, unknown>) => {
    const { backend, programs } = recordingBackend();
    const gateway = await startInProcessGateway(t, { deps: { backend }, config: { ...DOCKER, security } });
    const { client } = await gateway.connect();
    assert.equal((await runCommand(client, 'exit 0', { env })).code, 0);
    const program = programs[0]!;
    assert.equal(Object.getPrototypeOf(program.env), Object.prototype, 'the env object keeps its prototype');
    return { gateway, env: program.env };
  };
  // On an allow list, a prototype key is found only when listed: never through the prototype chain.
  const filtered = await run({ env: { mode: 'filter', allow: ['constructor', 'LANG'] } });
  await filtered.gateway.waitForCode('SECURITY_ENV_REJECTED');
  const refused = filtered.gateway.lines.filter((line) => line.code === 'SECURITY_ENV_REJECTED').map((line) => line.name);
  assert.deepEqual(refused.sort(), ['__proto__', 'toString']);
  assert.deepEqual(Object.entries(filtered.env).sort(), [
    ['LANG', 'C.UTF-8'],
    ['constructor', 'c'],
  ]);
  // Allowed, each is an own entry with the client's value (`__proto__` included, never a prototype change).
  const enabled = await run({ env: { mode: 'enable' } });
  assert.deepEqual(Object.entries(enabled.env).sort(), [
    ['LANG', 'C.UTF-8'],
    ['__proto__', 'p'],
    ['constructor', 'c'],
    ['toString', 't'],
  ]);
});
