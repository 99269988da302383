import type Docker from 'dockerode';
import type { ContainerCreateOptions } from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../observability/index.ts';
import { LABEL_MANAGED_BY, LABEL_PERSISTENT, MANAGED_BY } from './container-spec.ts';
import { ensureRunning, removeQuietly } from './container-lifecycle.ts';
import { engineError } from './engine-errors.ts';
import type { ContainerStreams, StreamDirectory } from './stream-directory.ts';

/**
 * Finds the persistent container the config names, starting it if it stopped, or creates
 * it when `createMissingContainers` allows. A container of that name that Portcullis did
 * not create is never touched: the name alone must not hand a user someone else's box.
 */
export async function reachPersistentContainer(
  docker: Docker,
  execution: DockerExecution,
  spec: ContainerCreateOptions,
  log: Logger,
  directory?: StreamDirectory,
): Promise<{ container: Docker.Container; streams?: ContainerStreams }> {
  const name = execution.containerName!;
  const container = docker.getContainer(name);
  let info: Docker.ContainerInspectInfo | undefined;
  try {
    info = await container.inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode !== 404) throw engineError(error, 'looking up the persistent container');
  }
  if (info) {
    if (info.Config.Labels?.[LABEL_MANAGED_BY] !== MANAGED_BY || info.Config.Labels?.[LABEL_PERSISTENT] !== 'true') {
      throw new GatewayError('DOCKER_PERSISTENT_CONTAINER_FOREIGN', 'Could not start your session: its container exists but is not managed by Portcullis.');
    }
    // Its stream directory is made again if it went (a reboot empties /run) before the engine
    // needs it to start the container. A container made without one keeps the attach stream.
    const streams = directory ? await directory.existing(info.Mounts ?? []) : undefined;
    if (!info.State.Running) await startExisting(container);
    return streams ? { container, streams } : { container };
  }
  if (!execution.createMissingContainers) {
    throw new GatewayError('DOCKER_PERSISTENT_CONTAINER_MISSING', 'Could not start your session: your persistent container does not exist.', {
      cause: new Error(`no container named ${name} and createMissingContainers is false`),
    });
  }
  let created: Docker.Container | undefined;
  const streams = directory ? await directory.forContainer(name, true) : undefined;
  try {
    // Stdin open and never attached: the idle program waits forever, whoever's gateway comes and goes.
    created = await docker.createContainer({
      ...spec,
      name,
      OpenStdin: true,
      StdinOnce: false,
      Labels: { ...spec.Labels, [LABEL_PERSISTENT]: 'true' },
      ...(streams ? { HostConfig: { ...spec.HostConfig, Mounts: [...(spec.HostConfig?.Mounts ?? []), streams.mount] } } : {}),
    });
    await created.start();
    await ensureRunning(created);
    log.info({ code: 'DOCKER_PERSISTENT_CONTAINER_CREATED', containerName: name }, 'persistent container created');
    return streams ? { container: created, streams } : { container: created };
  } catch (error) {
    // Another gateway won the race: its container, made as this one would have been.
    if ((error as { statusCode?: number }).statusCode === 409) return reachPersistentContainer(docker, execution, spec, log, directory);
    if (created) await removeQuietly(created, log);
    throw error instanceof GatewayError ? error : engineError(error, 'creating the persistent container');
  }
}

async function startExisting(container: Docker.Container): Promise<void> {
  try {
    await container.start();
  } catch (error) {
    // 304: it was started meanwhile.
    if ((error as { statusCode?: number }).statusCode !== 304) throw engineError(error, 'starting the persistent container');
  }
  await ensureRunning(container);
}
