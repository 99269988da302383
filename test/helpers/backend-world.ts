import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { hardenedExecution, worldWithConfig } from './fake-config.ts';
import { listSessionContainers, waitForNoSessionContainers } from './docker.ts';
import { hardenedPod, worldWithPod } from './kubernetes.ts';
import { ensureSessionImage } from './session-image.ts';
import type { World, WorldOptions } from './world.ts';

/** The container backends every SSH feature must work on alike (issue 8): one test body, both worlds. */
export const CONTAINER_BACKENDS = ['docker', 'kubernetes'] as const;
export type ContainerBackend = (typeof CONTAINER_BACKENDS)[number];

export interface BackendWorldOptions {
  /** The config response's `security` section for the first login. */
  readonly security?: Record<string, unknown>;
  /**
   * One container or pod for all logins of the test (persistent mode, created on first use),
   * so what one login writes is there for the next; its home and memory are this big.
   */
  readonly persistent?: { readonly homeMiB: number; readonly memoryMiB: number };
  /** Gateway config sections (e.g. `ssh` keepalive settings). */
  readonly gateway?: Record<string, Record<string, unknown>>;
  /** More users for the authserver beside the demo user (e.g. a bystander of another user's test). */
  readonly extraUsers?: WorldOptions['extraUsers'];
}

export interface BackendWorld {
  readonly backend: ContainerBackend;
  readonly world: World;
  /** Changes the config response's `security` section for the next login. */
  setSecurity(security?: Record<string, unknown>): void;
  /** This test's session containers or pods now. */
  sessions(): Promise<string[]>;
  /** Waits (bounded) until none of this test's session containers or pods is left; returns what is left. */
  waitForNoSessions(): Promise<string[]>;
}

/**
 * The three programs with a config webhook answering the hardened session (container or pod)
 * of `backend`, in connection mode unless `persistent`. What the test created is removed after
 * it; the test itself asserts with waitForNoSessions that nothing was left behind.
 */
export async function backendWorld(t: TestContext, backend: ContainerBackend, options: BackendWorldOptions = {}): Promise<BackendWorld> {
  await ensureSessionImage();
  return backend === 'docker' ? dockerWorld(t, options) : kubernetesWorld(t, options);
}

async function dockerWorld(t: TestContext, options: BackendWorldOptions): Promise<BackendWorld> {
  const base = hardenedExecution();
  let execution = base;
  let containerName: string | undefined;
  if (options.persistent) {
    const host = base.host as { tmpfs: Record<string, string> };
    containerName = `portcullis-persistent-${randomBytes(4).toString('hex')}`;
    execution = {
      ...base,
      mode: 'persistent',
      containerName,
      createMissingContainers: true,
      host: {
        ...host,
        memory: options.persistent.memoryMiB * 1024 * 1024,
        tmpfs: { ...host.tmpfs, '/home/user': `rw,nosuid,nodev,size=${options.persistent.homeMiB}m,uid=1000,gid=1000,mode=0700` },
      },
    };
  }
  const configFor = (security?: Record<string, unknown>) => ({ backend: 'docker', docker: { execution }, ...(security ? { security } : {}) });
  const { world, setConfig } = await worldWithConfig(t, configFor(options.security), {
    ...(options.gateway ? { gateway: options.gateway } : {}),
    ...(options.extraUsers ? { extraUsers: options.extraUsers } : {}),
  });
  if (containerName) {
    // A persistent container outlives its connections by design: the test removes its own.
    const name = containerName;
    t.after(() => new Promise((resolve) => execFile('docker', ['rm', '-f', name], () => resolve(undefined))));
  }
  return {
    backend: 'docker',
    world,
    setSecurity: (security) => setConfig(configFor(security)),
    sessions: () => listSessionContainers(world.instanceId),
    waitForNoSessions: () => waitForNoSessionContainers(world.instanceId),
  };
}

async function kubernetesWorld(t: TestContext, options: BackendWorldOptions): Promise<BackendWorld> {
  let pod = hardenedPod({ mode: 'connection' });
  if (options.persistent) {
    const base = hardenedPod();
    const spec = base.spec as { containers: Array<Record<string, unknown>>; volumes: Array<Record<string, unknown>> };
    const container = spec.containers[0]!;
    const resources = container.resources as { requests: Record<string, string>; limits: Record<string, string> };
    pod = {
      ...base,
      mode: 'persistent',
      podName: `persistent-${randomBytes(4).toString('hex')}`,
      createMissingPods: true,
      spec: {
        ...spec,
        containers: [{ ...container, resources: { ...resources, limits: { ...resources.limits, memory: `${options.persistent.memoryMiB}Mi` } } }],
        volumes: spec.volumes.map((volume) => (volume.name === 'home' ? { name: 'home', emptyDir: { sizeLimit: `${options.persistent!.homeMiB}Mi` } } : volume)),
      },
    };
  }
  // worldWithPod deletes every pod left (a persistent one too) through the API after the gateway stopped.
  const kube = await worldWithPod(t, pod, {
    ...(options.security ? { security: options.security } : {}),
    ...(options.gateway ? { sections: options.gateway } : {}),
    ...(options.extraUsers ? { world: { extraUsers: options.extraUsers } } : {}),
  });
  return {
    backend: 'kubernetes',
    world: kube.world,
    setSecurity: (security) => kube.setSecurity(security),
    sessions: async () => kube.sessionPods(),
    waitForNoSessions: () => kube.waitForNoPods(),
  };
}
