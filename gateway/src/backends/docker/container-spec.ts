import type { ContainerCreateOptions } from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';

/** Labels on everything the gateway creates, so any instance can find and reap it. */
export const LABEL_SESSION = 'containerssh.io/session';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_INSTANCE = 'portcullis.io/instance';
export const LABEL_CONNECTION = 'portcullis.io/connection';
/** Persistent containers outlive connections and gateways; the reaper leaves them alone. */
export const LABEL_PERSISTENT = 'portcullis.io/persistent';
export const MANAGED_BY = 'portcullis-gateway';

export interface ContainerOwner {
  readonly instanceId: string;
  readonly connectionId: string;
}

/**
 * Turns the config webhook's camelCase execution settings into the Docker Engine API's
 * create body. The gateway adds only its ownership labels; every security field comes
 * from the config, unchanged.
 */
export function containerCreateOptions(execution: DockerExecution, owner: ContainerOwner): ContainerCreateOptions {
  const { container, host } = execution;
  // Only the policy's static environment: webhook values (some sensitive) reach each program
  // through its exec instead, so `docker inspect` of the container never shows them.
  const env = [...(container.env ?? [])];
  return {
    name: `portcullis-${owner.connectionId}`,
    Image: container.image,
    Cmd: execution.idleCommand,
    Env: env,
    Tty: false,
    OpenStdin: false,
    ...(container.user !== undefined ? { User: container.user } : {}),
    ...(container.workingDir !== undefined ? { WorkingDir: container.workingDir } : {}),
    ...(container.hostname !== undefined ? { Hostname: container.hostname } : {}),
    Labels: {
      ...container.labels,
      [LABEL_SESSION]: 'true',
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_INSTANCE]: owner.instanceId,
      [LABEL_CONNECTION]: owner.connectionId,
    },
    HostConfig: {
      ...(host.readonlyRootfs !== undefined ? { ReadonlyRootfs: host.readonlyRootfs } : {}),
      ...(host.capDrop !== undefined ? { CapDrop: host.capDrop } : {}),
      ...(host.securityOpt !== undefined ? { SecurityOpt: host.securityOpt } : {}),
      ...(host.pidsLimit !== undefined ? { PidsLimit: host.pidsLimit } : {}),
      ...(host.memory !== undefined ? { Memory: host.memory } : {}),
      ...(host.memorySwap !== undefined ? { MemorySwap: host.memorySwap } : {}),
      ...(host.nanoCpus !== undefined ? { NanoCpus: host.nanoCpus } : {}),
      ...(host.tmpfs !== undefined ? { Tmpfs: host.tmpfs } : {}),
      ...(host.networkMode !== undefined ? { NetworkMode: host.networkMode } : {}),
      ...(host.ipcMode !== undefined ? { IpcMode: host.ipcMode } : {}),
      ...(host.cgroupnsMode !== undefined ? { CgroupnsMode: host.cgroupnsMode } : {}),
      // The container lives exactly as long as its owner; it is never restarted.
      RestartPolicy: { Name: 'no' },
    },
  };
}
