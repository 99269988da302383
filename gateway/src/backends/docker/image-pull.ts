import type Docker from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../observability/index.ts';

/**
 * Applies the pull policy. `IfNotPresent` never pulls an image that is present locally,
 * whatever its tag (the ContainerSSH 0.6 fix), so `:latest` works with no registry.
 */
export async function ensureImage(
  docker: Docker,
  image: string,
  policy: DockerExecution['imagePullPolicy'],
  log: Logger,
): Promise<void> {
  if (policy !== 'Always' && (await isPresent(docker, image))) return;
  if (policy === 'Never') {
    throw new GatewayError('DOCKER_IMAGE_MISSING', 'Your session image is not available on this server.');
  }
  log.info({ code: 'DOCKER_IMAGE_PULL', image }, 'pulling image');
  try {
    const progress = await docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(progress, (error) => (error ? reject(error) : resolve()));
    });
  } catch (cause) {
    throw new GatewayError('DOCKER_IMAGE_PULL_FAILED', 'Could not download your session image.', { cause });
  }
}

async function isPresent(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw new GatewayError('DOCKER_CONTAINER_CREATE_FAILED', 'The container engine is not reachable.', { cause: error });
  }
}
