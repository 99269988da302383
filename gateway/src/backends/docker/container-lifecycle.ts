import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { ContainerCreateOptions } from 'dockerode';
import { GatewayError } from '../../errors.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import { engineError } from './engine-errors.ts';

/** A container this connection owns: removed when released, or by the engine if the gateway dies. */
export interface OwnedContainer {
  readonly container: Docker.Container;
  /** Removes the container; "already gone" is success. Never throws. */
  release(): Promise<void>;
}

/**
 * Creates and starts a container tied to this gateway process. The container's idle
 * program reads stdin, which the gateway holds open through an attach connection with
 * `StdinOnce`: if the gateway dies (even `kill -9`), the engine closes that stdin, the idle
 * program ends and the container stops and is removed (AutoRemove). That attach is the
 * instance's heartbeat; the reaper removes what a failed start left behind.
 */
export async function startOwnedContainer(docker: Docker, spec: ContainerCreateOptions, log: Logger): Promise<OwnedContainer> {
  let container: Docker.Container | undefined;
  let tie: Duplex | undefined;
  const release = async () => {
    tie?.destroy();
    if (container) await removeQuietly(container, log);
  };
  try {
    container = await docker.createContainer({
      ...spec,
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      // Once stopped, by the gateway or because the gateway died, the engine removes it.
      HostConfig: { ...spec.HostConfig, AutoRemove: true },
    });
    tie = (await container.attach({ stream: true, hijack: true, stdin: true, stdout: true, stderr: true })) as Duplex;
    // The idle program prints nothing that matters; keep the stream flowing so it never blocks.
    tie.on('data', () => undefined);
    tie.on('error', (error: Error) => log.debug({ code: 'DOCKER_CONTAINER_ATTACH_FAILED', ...errorFields(error) }, 'owner tie failed'));
    await container.start();
    await ensureRunning(container);
    return { container, release };
  } catch (error) {
    await release();
    throw error instanceof GatewayError ? error : engineError(error, 'creating the container');
  }
}

/** A program that exits at once (wrong idle command, missing shell) is a failed start, not a session. */
export async function ensureRunning(container: Docker.Container): Promise<void> {
  let why: string;
  try {
    const info = await container.inspect();
    if (info.State.Running) return;
    why = `container exited with ${info.State.ExitCode}: ${info.State.Error || 'no error text'}`;
  } catch (error) {
    // An auto-removed container that exited at once is already gone.
    if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    why = 'container exited and was removed before it could be inspected';
  }
  throw new GatewayError('DOCKER_CONTAINER_EXITED', 'Could not start your session: its container stopped as soon as it started.', {
    cause: new Error(why),
  });
}

/** Force-removes a container; "already gone" counts as success. Never throws. */
export async function removeQuietly(container: Docker.Container, log: Logger): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
    log.debug({ code: 'DOCKER_CONTAINER_REMOVE_SUCCESSFUL' }, 'container removed');
  } catch (error) {
    const status = (error as { statusCode?: number }).statusCode;
    // 404: gone already; 409: the engine is removing it right now.
    if (status === 404 || status === 409) return;
    log.error({ code: 'DOCKER_CONTAINER_REMOVE_FAILED', ...errorFields(error) }, 'container not removed');
  }
}
