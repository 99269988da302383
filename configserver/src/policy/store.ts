import { watch, type FSWatcher } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import { LogCode } from '../errors.ts';
import { formatDiagnostic, PolicyError, type Policy } from './load.ts';
import { loadPolicy } from './lint.ts';

/** Changes often come in bursts (an editor writes a temp file, then renames it). */
const DEBOUNCE_MS = 150;

/**
 * The policy set in service, reloaded when its folder changes. A new set is linted before use;
 * a broken one leaves the last good set serving and is logged (CONFIGSERVER_POLICY_RELOAD_FAILED)
 * and counted (`reloadFailures`).
 */
export class PolicyStore {
  private policy: Policy;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  reloads = 0;
  reloadFailures = 0;
  /** Why the folder's current content does not load (the last good set still serves); undefined when it does. */
  lastReloadError: string | undefined;

  constructor(
    policy: Policy,
    private readonly log: FastifyBaseLogger,
  ) {
    this.policy = policy;
  }

  current(): Policy {
    return this.policy;
  }

  /** Starts watching the folder the set came from (no-op for sets built in memory). */
  watch(): void {
    const dir = this.policy.dir;
    if (!dir || this.watcher) return;
    this.watcher = watch(dir, { recursive: true }, () => this.schedule());
    this.watcher.unref();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.running.then(async () => {
        await this.reload();
      });
    }, DEBOUNCE_MS);
    this.timer.unref();
  }

  /** Reads the folder again; true when the new set is in service. */
  async reload(): Promise<boolean> {
    const dir = this.policy.dir;
    if (!dir) return false;
    try {
      const next = await loadPolicy(dir);
      this.policy = next;
      this.reloads++;
      this.lastReloadError = undefined;
      this.log.info({ code: LogCode.POLICY_RELOADED, dir, profiles: next.profiles?.length ?? 0, reloads: this.reloads }, 'policy reloaded');
      return true;
    } catch (err) {
      this.reloadFailures++;
      const errors = err instanceof PolicyError && err.diagnostics.length > 0 ? err.diagnostics.map(formatDiagnostic) : [(err as Error).message];
      this.lastReloadError = errors[0];
      this.log.error({ code: LogCode.POLICY_RELOAD_FAILED, dir, errors, failures: this.reloadFailures }, 'policy reload failed; the last good policy set stays in service');
      return false;
    }
  }

  close(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}

/**
 * The store's /healthz check: a folder that does not load while the last good set serves is a
 * warning, never unhealthy — a readiness probe would otherwise take every replica out of
 * service on one bad ConfigMap, refusing every login instead of serving the last good policy.
 */
export function policyHealthCheck(store: Pick<PolicyStore, 'lastReloadError'>): { name: string; check(): Promise<{ warning: string } | undefined> } {
  return {
    name: 'policy',
    check: async () => (store.lastReloadError ? { warning: `the policy folder does not load (${store.lastReloadError}); the last good set still serves` } : undefined),
  };
}
