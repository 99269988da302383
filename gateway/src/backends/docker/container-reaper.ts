import type Docker from 'dockerode';
import { errorFields, type Logger } from '../../observability/index.ts';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_PERSISTENT, MANAGED_BY } from './container-spec.ts';
import { removeQuietly } from './container-lifecycle.ts';
import type { StreamDirectory } from './stream-directory.ts';

export interface ReaperOptions {
  readonly instanceId: string;
  readonly intervalMs: number;
  /** Age after which a container that is not running counts as abandoned. */
  readonly reapAfterMs: number;
  readonly log: Logger;
  /** Its directories whose container is gone are removed on the same pass. */
  readonly streams?: StreamDirectory;
}

/**
 * Removes what no gateway owns any more. A session container stops by itself when its
 * gateway dies (the owner tie in container-lifecycle.ts), so what is left to sweep is
 * stopped or never-started containers: those of dead instances and of failed starts.
 * Any instance sweeps for all. Persistent containers are never touched.
 */
export class ContainerReaper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;

  constructor(
    private readonly docker: Docker,
    private readonly options: ReaperOptions,
  ) {}

  start(): void {
    void this.sweep();
    this.timer = setInterval(() => void this.sweep(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One pass; resolves with how many containers it removed. Never throws. */
  sweep(): Promise<number> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<number> {
    const { log, reapAfterMs } = this.options;
    let removed = 0;
    try {
      const containers = await this.docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_MANAGED_BY}=${MANAGED_BY}`] },
      });
      const now = Date.now();
      for (const summary of containers) {
        if (summary.Labels[LABEL_PERSISTENT] === 'true' || summary.State === 'running') continue;
        if (now - summary.Created * 1000 < reapAfterMs) continue;
        await removeQuietly(this.docker.getContainer(summary.Id), log);
        removed += 1;
        log.info({ code: 'DOCKER_CONTAINER_REAPED', owner: summary.Labels[LABEL_INSTANCE], state: summary.State }, 'abandoned container removed');
      }
      // A removed container's name is gone from this list: its directory goes with it.
      const names = new Set(containers.flatMap((summary) => summary.Names.map((name) => name.replace(/^\//, ''))));
      await this.options.streams?.sweep(names, reapAfterMs);
    } catch (error) {
      log.warn({ code: 'DOCKER_REAPER_FAILED', ...errorFields(error) }, 'reaper pass failed');
    }
    return removed;
  }
}
