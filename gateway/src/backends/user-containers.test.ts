import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { AppConfig } from '@portcullis/wire';
import { isGatewayError } from '../errors.ts';
import type { Backend, BackendConnection, BackendSession, ConnectionRequest, ExitStatus } from './backend.ts';
import { UserContainerBudget } from './user-containers.ts';

/** A backend that starts nothing; each session exits when the test says. */
function fakeBackend() {
  const exits: ((status: ExitStatus) => void)[] = [];
  const backend: Backend = {
    name: 'fake',
    openConnection: async (): Promise<BackendConnection> => ({
      startSession: async (): Promise<BackendSession> => ({
        stdin: new PassThrough(),
        stdout: new PassThrough(),
        stderr: new PassThrough(),
        exited: new Promise((resolve) => exits.push(resolve)),
        resize: async () => undefined,
        destroy: () => undefined,
      }),
      close: async () => undefined,
    }),
  };
  return { backend, exits };
}

const request = (user: string, mode: 'connection' | 'session' | 'persistent'): ConnectionRequest => ({
  identity: { connectionId: '00000000000000000000000000000000', remoteAddress: '127.0.0.1:1' },
  authenticatedUsername: user,
  config: { backend: 'docker', docker: { execution: { mode } } } as unknown as AppConfig,
  environment: {},
});

const refused = (error: unknown) => isGatewayError(error) && error.code === 'SECURITY_MAX_CONTAINERS_PER_USER';

test('connection mode: a user holds at most the cap of containers; closing one frees a slot; other users are apart', async () => {
  const budget = new UserContainerBudget(fakeBackend().backend, 2);
  const first = await budget.openConnection(request('ann', 'connection'));
  await budget.openConnection(request('ann', 'connection'));
  await assert.rejects(budget.openConnection(request('ann', 'connection')), refused);
  await budget.openConnection(request('bob', 'connection'));
  await first.close();
  await budget.openConnection(request('ann', 'connection'));
});

test('session mode: each session is a container, counted across connections until it exits', async () => {
  const { backend, exits } = fakeBackend();
  const budget = new UserContainerBudget(backend, 3);
  const one = await budget.openConnection(request('ann', 'session'));
  const two = await budget.openConnection(request('ann', 'session'));
  await one.startSession({ command: null, env: {} });
  await one.startSession({ command: null, env: {} });
  await two.startSession({ command: null, env: {} });
  await assert.rejects(two.startSession({ command: null, env: {} }), refused);
  exits[0]!({ exitCode: 0 });
  await new Promise((resolve) => setImmediate(resolve));
  await two.startSession({ command: null, env: {} });
  await two.close();
  await one.startSession({ command: null, env: {} });
});

test('persistent mode starts no container and is not counted', async () => {
  const budget = new UserContainerBudget(fakeBackend().backend, 1);
  for (let i = 0; i < 5; i += 1) await budget.openConnection(request('ann', 'persistent'));
});
