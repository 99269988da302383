import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { SESSION_MARKER_VARIABLE, newSessionMarker, signalScript, statusAfterSignals } from './process-signal.ts';

test('the signal script signals the marked program, not its marked children nor unmarked processes', async () => {
  const marker = newSessionMarker();
  const program = execFile('sh', ['-c', 'sleep 30 & wait'], { env: { ...process.env, [SESSION_MARKER_VARIABLE]: marker } });
  const ended = new Promise<NodeJS.Signals | null>((resolve) => program.on('exit', (_code, signal) => resolve(signal)));
  const bystander = execFile('sleep', ['30']);
  try {
    await new Promise((resolve) => setTimeout(resolve, 200));
    await promisify(execFile)('sh', ['-c', signalScript(marker, 'TERM')]);
    assert.equal(await ended, 'SIGTERM');
    assert.equal(bystander.exitCode, null, 'an unmarked process is untouched');
  } finally {
    program.kill('SIGKILL');
    bystander.kill('SIGKILL');
  }
  await assert.rejects(promisify(execFile)('sh', ['-c', signalScript(newSessionMarker(), 'TERM')]), 'nothing to signal is a failure');
});

test('the script refuses names that are not signal names', () => {
  assert.throws(() => signalScript('abc', 'INT; rm -rf /'));
  assert.throws(() => signalScript('not-hex', 'INT'));
});

test('a 128+N exit after the gateway delivered N is reported as that signal', () => {
  assert.deepEqual(statusAfterSignals({ exitCode: 130 }, new Set(['INT'])), { signal: 'INT', coreDumped: false });
  assert.deepEqual(statusAfterSignals({ exitCode: 130 }, new Set()), { exitCode: 130 });
  assert.deepEqual(statusAfterSignals({ exitCode: 143 }, new Set(['INT'])), { exitCode: 143 });
  assert.deepEqual(statusAfterSignals({ exitCode: 0 }, new Set(['INT'])), { exitCode: 0 });
});
