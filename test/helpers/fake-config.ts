import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { DockerExecution } from '@portcullis/wire';
import { startFakeWebhook } from './fake-webhook.ts';
import { startWorld, type GatewayRedirect, type World, type WorldOptions } from './world.ts';

/** The hardened container the tests start from; each test changes what it is about. */
export function hardenedExecution(overrides: Partial<DockerExecution> = {}): Record<string, unknown> {
  return {
    mode: 'connection',
    imagePullPolicy: 'IfNotPresent',
    container: { image: 'portcullis/session:dev', user: '1000:1000', workingDir: '/home/user', env: ['HOME=/home/user'] },
    host: {
      readonlyRootfs: true,
      capDrop: ['ALL'],
      securityOpt: ['no-new-privileges:true'],
      pidsLimit: 128,
      memory: 256 * 1024 * 1024,
      nanoCpus: 500_000_000,
      tmpfs: { '/tmp': 'rw,nosuid,nodev,size=16m,mode=1777', '/home/user': 'rw,nosuid,nodev,size=16m,uid=1000,gid=1000,mode=0700' },
      networkMode: 'none',
    },
    shellCommand: ['/bin/bash'],
    ...overrides,
  };
}

/** A config answer, or a function called once per config request for its answer (e.g. to vary it by call). */
export type ConfigAnswer = Record<string, unknown> | (() => Record<string, unknown>);

/**
 * A world whose config webhook is a small ContainerSSH-style server of the test's own,
 * answering `config` (which may change between logins through the returned setter).
 */
export async function worldWithConfig(
  t: TestContext,
  config: ConfigAnswer,
  options: Omit<WorldOptions, 'beforeGateway'> & {
    /** Like WorldOptions.beforeGateway, for anything else the test must start first. */
    readonly beforeGatewayStarts?: (certsDir: string) => Promise<Pick<GatewayRedirect, 'gateway'>>;
    /** Other top-level fields of every answer beside `config` (e.g. `files`, `environment`). */
    readonly answer?: Record<string, unknown>;
  } = {},
): Promise<{ world: World; setConfig: (next: ConfigAnswer) => void }> {
  let current = config;
  let fake: Awaited<ReturnType<typeof startFakeWebhook>> | undefined;
  const world = await startWorld({
    ...options,
    beforeGateway: async (certsDir) => {
      fake = await startFakeWebhook({ cert: join(certsDir, 'configserver.crt'), key: join(certsDir, 'configserver.key'), ca: join(certsDir, 'ca.crt') }, (req, res) => {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ...options.answer, config: typeof current === 'function' ? current() : current }));
        });
      });
      const extra = (await options.beforeGatewayStarts?.(certsDir)) ?? {};
      return { ...extra, configserverUrl: fake.url('/config') };
    },
  });
  t.after(async () => {
    await world.stop();
    await fake?.close();
  });
  return { world, setConfig: (next) => (current = next) };
}

/** worldWithConfig for the Docker backend with the given execution settings. */
export async function worldWithExecution(
  t: TestContext,
  execution: Record<string, unknown>,
  options: Parameters<typeof worldWithConfig>[2] = {},
): Promise<{ world: World; setExecution: (next: Record<string, unknown>) => void }> {
  const dockerConfig = (next: Record<string, unknown>) => ({ backend: 'docker', docker: { execution: next } });
  const { world, setConfig } = await worldWithConfig(t, dockerConfig(execution), options);
  return { world, setExecution: (next) => setConfig(dockerConfig(next)) };
}
