import assert from 'node:assert/strict';
import { test } from 'node:test';
import type Docker from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import { createLogger } from '../../observability/index.ts';
import { execProgram } from './exec-program.ts';

const execution = { shellCommand: ['/bin/sh'], subsystems: {} } as unknown as DockerExecution;
const program = { command: 'true', env: {} };

/** An engine error as dockerode reports it. */
const engineError = (statusCode: number, message: string) => Object.assign(new Error(message), { statusCode });

/** A container whose exec fails with `execError` and whose inspect answers `inspect`. */
function container(execError: Error, inspect: () => Promise<unknown>): Docker.Container {
  return { exec: async () => Promise.reject(execError), inspect } as unknown as Docker.Container;
}

const codeOf = async (promise: Promise<unknown>) =>
  promise.then(
    () => 'started',
    (error: unknown) => (error instanceof GatewayError ? error.code : String(error)),
  );

test('an exec that fails because the container just stopped names the container, however the engine says it', async () => {
  const gone = () => Promise.reject(engineError(404, 'no such container'));
  const exited = () => Promise.resolve({ State: { Running: false, ExitCode: 1, Error: '' } });
  for (const [execError, inspect] of [
    [engineError(409, 'container is not running'), exited],
    [engineError(404, 'No such container'), gone],
    [engineError(500, 'cannot exec in a stopped container'), exited],
    [new Error('socket hang up'), gone],
  ] as const) {
    assert.equal(await codeOf(execProgram(container(execError, inspect), execution, program, createLogger('silent'))), 'DOCKER_CONTAINER_EXITED', execError.message);
  }
});

test('an exec that fails in a running container is the exec failure; so is one whose container cannot be inspected', async () => {
  const running = () => Promise.resolve({ State: { Running: true } });
  const engineDown = () => Promise.reject(new Error('connect ECONNREFUSED /var/run/docker.sock'));
  assert.equal(await codeOf(execProgram(container(engineError(500, 'OCI runtime exec failed'), running), execution, program, createLogger('silent'))), 'DOCKER_EXEC_CREATE_FAILED');
  assert.equal(await codeOf(execProgram(container(engineError(500, 'OCI runtime exec failed'), engineDown), execution, program, createLogger('silent'))), 'DOCKER_EXEC_CREATE_FAILED');
});
