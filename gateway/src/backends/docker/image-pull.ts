import type Docker from 'dockerode';
import type { DockerExecution } from '@portcullis/wire';
import { GatewayError } from '../../errors.ts';
import type { Logger } from '../../observability/index.ts';
import { engineError } from './engine-errors.ts';

/** At most one progress line this often, so a slow pull shows life without flooding the terminal. */
const PROGRESS_INTERVAL_MS = 1_000;

interface PullEvent {
  readonly status?: string;
  readonly id?: string;
  readonly progress?: string;
}

/**
 * Applies the pull policy. `IfNotPresent` never pulls an image that is present locally,
 * whatever its tag (the ContainerSSH 0.6 fix), so `:latest` works with no registry.
 * While pulling, `onProgress` gets short lines for the user's terminal.
 */
export async function ensureImage(docker: Docker, image: string, policy: DockerExecution['imagePullPolicy'], log: Logger, onProgress: (line: string) => void = () => undefined): Promise<void> {
  if (policy !== 'Always' && (await isPresent(docker, image))) return;
  if (policy === 'Never') {
    throw new GatewayError('DOCKER_IMAGE_MISSING', 'Could not start your session: its image is not on this server and may not be downloaded.', {
      cause: new Error(`image ${image} is not present and imagePullPolicy is Never`),
    });
  }
  log.info({ code: 'DOCKER_IMAGE_PULL', image }, 'pulling image');
  onProgress(`Downloading your session image ${image} ...`);
  let lastLine = 0; // the first event shows at once
  try {
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(
        stream,
        (error) => (error ? reject(error) : resolve()),
        (event: PullEvent) => {
          if (Date.now() - lastLine < PROGRESS_INTERVAL_MS || !event.status) return;
          lastLine = Date.now();
          onProgress(`  ${[event.id, event.status, event.progress].filter(Boolean).join(' ')}`.slice(0, 200));
        },
      );
    });
  } catch (cause) {
    throw new GatewayError('DOCKER_IMAGE_PULL_FAILED', 'Could not start your session: its image could not be downloaded.', { cause });
  }
  onProgress('Session image ready.');
}

async function isPresent(docker: Docker, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return false;
    throw engineError(error, 'looking up the image');
  }
}
