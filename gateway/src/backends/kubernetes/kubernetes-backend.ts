import { GatewayError, isGatewayError } from '../../errors.ts';
import { secondsSince, type GatewayMetrics, type Logger } from '../../observability/index.ts';
import type { KubernetesSettings } from '../../settings/index.ts';
import type { Backend, BackendConnection, BackendSession, ConnectionRequest, SessionProgram } from '../backend.ts';
import type { Cluster } from './cluster.ts';
import { execProgram } from './pod-exec.ts';
import { writePodFiles } from './pod-files.ts';
import { startPod, type OwnedPod, type PodLifecycleOptions } from './pod-lifecycle.ts';
import { podManifest, podSettings, sessionPodName, type PodOwner, type PodSettings } from './pod-spec.ts';
import { reachPersistentPod } from './persistent-pod.ts';
import { PersistentAttachments } from './persistent-attachments.ts';

export interface KubernetesBackendOptions {
  readonly cluster: Cluster;
  /** This gateway instance; written on every pod so orphans can be traced and reaped. */
  readonly instanceId: string;
  readonly settings: Pick<KubernetesSettings, 'startTimeout' | 'requestTimeout'>;
  readonly log: Logger;
  /** Counts pod starts that happen after login (`session` mode); login-time starts are counted by the connection. */
  readonly metrics?: GatewayMetrics;
}

/**
 * Kubernetes backend: `connection`, `session` and `persistent` modes. Pods are created in the
 * gateway's session namespace only, from the config's spec plus ownership labels; every pod a
 * connection created is deleted when it ends, and the reaper removes what a dead gateway left.
 */
export class KubernetesBackend implements Backend {
  readonly name = 'kubernetes';
  /** Pods this instance is starting or using; the reaper leaves exactly these alone among its own. */
  readonly ownPods = new Set<string>();
  /** Which persistent pods this instance's connections use, as the reapers of every instance see it. */
  readonly attachments: PersistentAttachments;

  constructor(private readonly options: KubernetesBackendOptions) {
    this.attachments = new PersistentAttachments({
      cluster: options.cluster,
      instanceId: options.instanceId,
      requestTimeoutMs: options.settings.requestTimeout,
      log: options.log,
    });
  }

  async openConnection(request: ConnectionRequest): Promise<BackendConnection> {
    const config = request.config.kubernetes;
    if (request.config.backend !== 'kubernetes' || !config) {
      throw new GatewayError('CONFIG_UNSUPPORTED', 'Session refused: the configuration names no Kubernetes pod.');
    }
    const { cluster, instanceId } = this.options;
    const settings = podSettings(config, cluster.namespace, this.options.settings.startTimeout);
    const log = this.options.log.child({ backend: 'kubernetes', mode: settings.mode });
    const lifecycle: PodLifecycleOptions = { cluster, requestTimeoutMs: this.options.settings.requestTimeout, log, ...(request.signal ? { signal: request.signal } : {}) };
    const owner: PodOwner = { instanceId, connectionId: request.identity.connectionId };
    const progress = request.onProgress ?? (() => undefined);
    const context: PodContext = { lifecycle, settings, request, owner, ownPods: this.ownPods, ...(this.options.metrics ? { metrics: this.options.metrics } : {}) };
    switch (settings.mode) {
      case 'connection':
        return new SharedPodConnection(await startSessionPod(context, 1, progress), context);
      case 'session':
        return new PodPerSessionConnection(context);
      case 'persistent': {
        // Counted as attached before the pod is even read, so no reaper can take it as idle meanwhile.
        const attachment = this.attachments.begin(settings.podName!, settings.persistentIdleTimeoutMs);
        const manifest = podManifest(settings, cluster.namespace, settings.podName!, owner, true);
        manifest.metadata!.annotations = { ...manifest.metadata!.annotations, ...attachment.annotations };
        try {
          const name = await reachPersistentPod(lifecycle, settings, manifest, progress);
          await attachment.record();
          await writePodFiles(cluster, name, settings.consoleContainer, request.files, lifecycle.requestTimeoutMs, log);
          // The pod outlives the connection: releasing it ends this connection's programs and its attachment.
          return new SharedPodConnection({ name, release: () => attachment.release() }, context);
        } catch (error) {
          await attachment.release();
          throw error;
        }
      }
    }
  }
}

interface PodContext {
  readonly lifecycle: PodLifecycleOptions;
  readonly settings: PodSettings;
  readonly request: ConnectionRequest;
  readonly owner: PodOwner;
  readonly ownPods: Set<string>;
  readonly metrics?: GatewayMetrics;
}

/**
 * Starts the connection's `sequence`-th pod and writes the webhooks' files into it. The name is
 * registered as this instance's before the create call, so the reaper never takes a starting pod
 * for a stray; on failure the pod is deleted and the name forgotten.
 */
async function startSessionPod(context: PodContext, sequence: number, onProgress: (line: string) => void): Promise<OwnedPod> {
  const { lifecycle, settings, request, owner, ownPods } = context;
  const name = sessionPodName(owner.connectionId, sequence);
  ownPods.add(name);
  try {
    const pod = await startPod(lifecycle, podManifest(settings, lifecycle.cluster.namespace, name, owner), settings.consoleContainer, settings.startTimeoutMs, onProgress);
    const owned: OwnedPod = { name, release: () => pod.release().finally(() => ownPods.delete(name)) };
    await writePodFiles(lifecycle.cluster, name, settings.consoleContainer, request.files, lifecycle.requestTimeoutMs, lifecycle.log).catch(async (error: unknown) => {
      await owned.release();
      throw error;
    });
    return owned;
  } catch (error) {
    ownPods.delete(name);
    throw error;
  }
}

/** The program with the connection's environment; a GatewayError (counted as a backend error) if it did not start. */
async function runProgram(context: PodContext, pod: string, program: SessionProgram): Promise<BackendSession> {
  const { lifecycle, settings } = context;
  try {
    return await execProgram(lifecycle.cluster, pod, settings, program, lifecycle.requestTimeoutMs, lifecycle.log);
  } catch (error) {
    context.metrics?.backendFailed('kubernetes', isGatewayError(error) ? error.code : 'KUBERNETES_EXEC_FAILED');
    throw error;
  }
}

/** Sessions share one pod (`connection` and `persistent` modes). */
class SharedPodConnection implements BackendConnection {
  private closing: Promise<void> | undefined;
  private readonly sessions = new Set<BackendSession>();

  constructor(
    private readonly pod: OwnedPod,
    private readonly context: PodContext,
  ) {}

  async startSession(program: SessionProgram): Promise<BackendSession> {
    if (this.closing) throw new GatewayError('KUBERNETES_EXEC_FAILED', 'The session pod is shutting down.');
    const session = await runProgram(this.context, this.pod.name, program);
    this.sessions.add(session);
    void session.exited.finally(() => this.sessions.delete(session));
    return session;
  }

  /**
   * `shell -c command` in the console container, no tty, no environment: signals and the guest
   * agent (forwarding) run next to the sessions, as the pod's user. Tracked with the sessions so
   * closing the connection ends them too; a persistent pod outlives the connection, its helpers must not.
   */
  async runHelper(command: string): Promise<BackendSession> {
    return this.startSession({ command, env: {} });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const session of this.sessions) session.destroy();
      await this.pod.release();
    })();
    return this.closing;
  }
}

/**
 * `session` mode: every session channel gets a pod of its own, deleted when the session ends.
 * No `runHelper`: no pod is shared by the connection's sessions, so signals and forwarding are refused.
 */
class PodPerSessionConnection implements BackendConnection {
  private closing: Promise<void> | undefined;
  private readonly pods = new Set<OwnedPod>();
  private sequence = 0;

  constructor(private readonly context: PodContext) {}

  async startSession(program: SessionProgram): Promise<BackendSession> {
    if (this.closing) throw new GatewayError('KUBERNETES_EXEC_FAILED', 'The session pod is shutting down.');
    this.sequence += 1;
    const started = performance.now();
    let pod: OwnedPod;
    try {
      pod = await startSessionPod(this.context, this.sequence, program.onProgress ?? (() => undefined));
      this.context.metrics?.backendStart('kubernetes', true, secondsSince(started));
    } catch (error) {
      this.context.metrics?.backendStart('kubernetes', false, secondsSince(started), isGatewayError(error) ? error.code : undefined);
      throw error;
    }
    this.pods.add(pod);
    const release = () => {
      this.pods.delete(pod);
      return pod.release();
    };
    if (this.closing) {
      await release();
      throw new GatewayError('KUBERNETES_EXEC_FAILED', 'The session pod is shutting down.');
    }
    try {
      const session = await runProgram(this.context, pod.name, program);
      void session.exited.finally(release);
      return session;
    } catch (error) {
      await release();
      throw error;
    }
  }

  close(): Promise<void> {
    this.closing ??= Promise.all([...this.pods].map((pod) => pod.release())).then(() => undefined);
    return this.closing;
  }
}
