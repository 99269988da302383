import type Docker from 'dockerode';
import { hostname } from 'node:os';
import { containerCreateOptions, ContainerConfigError, INSTANCE_LABEL, OWNER_HOST_LABEL, OWNER_PID_LABEL, POD_UID_LABEL } from './container-config.ts';
import { recordPodEvent } from './events.ts';
import type { Pod } from './pod-spec.ts';
import { unschedulableReason, type NodeModel } from './scheduler.ts';
import type { KubeObject, ObjectStore } from './store.ts';

/** What the runtime reads each time it needs it, so tests can change it while the server runs. */
export interface RuntimeSettings {
  network: string;
  node: NodeModel;
  /** Extra time a pod spends in ContainerCreating before its containers start. */
  startDelayMs: number;
  /** Time from ErrImagePull to ImagePullBackOff. */
  imagePullBackOffMs: number;
  /** Images to treat as unpullable even when present locally. */
  isUnpullable: (image: string) => boolean;
}

interface RunningContainer {
  name: string;
  id: string;
  container: Docker.Container;
}

interface PodState {
  uid: string;
  namespace: string;
  name: string;
  cancelled: boolean;
  /** Set once the pod is bound to the node, so a second scheduling pass never starts it twice. */
  bound: boolean;
  containers: Map<string, RunningContainer>;
  timers: Set<NodeJS.Timeout>;
}

const RESTART_BACKOFF_MS = [1_000, 2_000, 5_000, 10_000];

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function isTerminal(pod: KubeObject): boolean {
  const phase = (pod.status as { phase?: string } | undefined)?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

function condition(type: string, status: 'True' | 'False', reason?: string, message?: string): Record<string, unknown> {
  const c: Record<string, unknown> = { type, status, lastProbeTime: null, lastTransitionTime: now() };
  if (reason) c.reason = reason;
  if (message) c.message = message;
  return c;
}

/** Replaces the condition of the same type, keeping its transition time when the status is unchanged. */
function setCondition(status: Record<string, unknown>, next: Record<string, unknown>): void {
  const list = (status.conditions as Array<Record<string, unknown>> | undefined) ?? [];
  const old = list.find((c) => c.type === next.type);
  if (old && old.status === next.status) next.lastTransitionTime = old.lastTransitionTime;
  const order = ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'];
  status.conditions = [...list.filter((c) => c.type !== next.type), next].sort((a, b) => order.indexOf(String(a.type)) - order.indexOf(String(b.type)));
}

/**
 * Plays scheduler and kubelet for the pods in the store: schedules each onto the one node,
 * runs its containers with Docker and keeps `status` as a kubelet reports it.
 */
export class PodRuntime {
  private readonly pods = new Map<string, PodState>();
  private readonly unscheduled = new Set<string>();
  private readonly pending = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly docker: Docker,
    private readonly store: ObjectStore,
    private readonly instanceId: string,
    private readonly settings: () => RuntimeSettings,
  ) {}

  /** Starts the life of a newly stored pod; returns at once. */
  admit(pod: Pod): void {
    const state: PodState = {
      uid: pod.metadata.uid,
      namespace: pod.metadata.namespace ?? 'default',
      name: pod.metadata.name,
      cancelled: false,
      bound: false,
      containers: new Map(),
      timers: new Set(),
    };
    this.pods.set(state.uid, state);
    this.track(this.schedule(state));
  }

  /** The Docker id of a running container of a pod, for exec. */
  containerId(pod: KubeObject, containerName: string): string | undefined {
    return this.pods.get(pod.metadata.uid)?.containers.get(containerName)?.id;
  }

  /**
   * Stops and removes the pod's containers (SIGTERM, SIGKILL after `graceSeconds`), then
   * removes the pod from the store. A pod that is not on the node goes at once.
   */
  async delete(pod: KubeObject, graceSeconds: number): Promise<void> {
    const state = this.pods.get(pod.metadata.uid);
    if (state) {
      state.cancelled = true;
      for (const t of state.timers) clearTimeout(t);
      if (state.containers.size > 0) {
        for (const c of state.containers.values()) {
          recordPodEvent(this.store, pod, 'Normal', 'Killing', `Stopping container ${c.name}`, this.kubelet(), `spec.containers{${c.name}}`);
        }
      }
    }
    this.unscheduled.delete(pod.metadata.uid);
    await this.removeContainers(pod.metadata.uid, graceSeconds);
    this.pods.delete(pod.metadata.uid);
    const current = this.store.get('pods', pod.metadata.namespace, pod.metadata.name);
    if (current && current.metadata.uid === pod.metadata.uid) this.store.remove('pods', pod.metadata.namespace, pod.metadata.name);
    this.retryUnscheduled();
  }

  /** Runs `work` in the background, kept so close() can wait for it. */
  track(work: Promise<unknown>): void {
    const p = work.catch(() => undefined).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** Stops everything and removes every container of this server instance. */
  async close(): Promise<void> {
    this.closed = true;
    for (const state of this.pods.values()) {
      state.cancelled = true;
      for (const t of state.timers) clearTimeout(t);
    }
    // Remove first, so graceful stops in flight end now; then sweep what a start in flight made.
    await this.removeAll();
    await Promise.allSettled([...this.pending]);
    await this.removeAll();
  }

  /**
   * Removes pod containers of test servers whose process on this host has died (a test run
   * killed before its close()); containers of live processes are left alone.
   */
  static async reapOrphans(docker: Docker): Promise<number> {
    const found = await docker.listContainers({ all: true, filters: { label: [OWNER_PID_LABEL, `${OWNER_HOST_LABEL}=${hostname()}`] } });
    const dead = found.filter((c) => {
      const pid = Number(c.Labels[OWNER_PID_LABEL]);
      if (!Number.isInteger(pid) || pid <= 0) return false;
      try {
        process.kill(pid, 0);
        return false;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code === 'ESRCH';
      }
    });
    await Promise.allSettled(dead.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })));
    return dead.length;
  }

  private async removeAll(): Promise<void> {
    const left = await this.docker.listContainers({ all: true, filters: { label: [`${INSTANCE_LABEL}=${this.instanceId}`] } });
    await Promise.allSettled(left.map((c) => this.docker.getContainer(c.Id).remove({ force: true, v: true })));
  }

  private kubelet() {
    return { component: 'kubelet' as const, host: this.settings().node.name };
  }

  private async removeContainers(uid: string, graceSeconds: number): Promise<void> {
    const found = await this.docker.listContainers({
      all: true,
      filters: { label: [`${INSTANCE_LABEL}=${this.instanceId}`, `${POD_UID_LABEL}=${uid}`] },
    });
    await Promise.allSettled(
      found.map(async (info) => {
        const container = this.docker.getContainer(info.Id);
        if (graceSeconds > 0 && info.State === 'running') await container.stop({ t: graceSeconds }).catch(() => undefined);
        await container.remove({ force: true, v: true });
      }),
    );
  }

  /** Updates the stored pod if it is still the same pod (same uid). */
  private update(state: PodState, change: (pod: Pod) => void): Pod | undefined {
    if (this.closed) return undefined;
    const current = this.store.get('pods', state.namespace, state.name);
    if (!current || current.metadata.uid !== state.uid || current.metadata.deletionTimestamp) return undefined;
    return this.store.mutate('pods', state.namespace, state.name, (o) => change(o as Pod)) as Pod | undefined;
  }

  private current(state: PodState): Pod | undefined {
    const current = this.store.get('pods', state.namespace, state.name);
    return current && current.metadata.uid === state.uid ? (current as Pod) : undefined;
  }

  private delay(state: PodState, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        state.timers.delete(t);
        resolve();
      }, ms);
      state.timers.add(t);
    });
  }

  private retryUnscheduled(): void {
    for (const uid of [...this.unscheduled]) {
      const state = this.pods.get(uid);
      if (state && !state.cancelled) this.track(this.schedule(state));
    }
  }

  private async schedule(state: PodState): Promise<void> {
    const pod = this.current(state);
    if (!pod || state.cancelled || state.bound) return;
    const node = this.settings().node;
    if (pod.spec.nodeName) {
      // Bound by the client: only our node exists, so any other name never starts (as on a cluster).
      if (pod.spec.nodeName !== node.name) return;
    } else {
      const placed = this.store.list('pods').filter((p) => (p.spec as Pod['spec']).nodeName && !isTerminal(p) && p.metadata.uid !== state.uid) as Pod[];
      const reason = unschedulableReason(pod, node, placed);
      if (reason) {
        const wasUnscheduled = this.unscheduled.has(state.uid);
        this.unscheduled.add(state.uid);
        this.update(state, (p) => setCondition(p.status, condition('PodScheduled', 'False', 'Unschedulable', reason)));
        if (!wasUnscheduled) recordPodEvent(this.store, pod, 'Warning', 'FailedScheduling', reason, { component: 'default-scheduler' });
        return;
      }
      this.unscheduled.delete(state.uid);
      this.update(state, (p) => {
        p.spec.nodeName = node.name;
        setCondition(p.status, condition('PodScheduled', 'True'));
      });
      recordPodEvent(this.store, pod, 'Normal', 'Scheduled', `Successfully assigned ${state.namespace}/${state.name} to ${node.name}`, {
        component: 'default-scheduler',
      });
    }
    state.bound = true;
    await this.startOnNode(state);
  }

  private waitingStatuses(pod: Pod, reason: string, message?: string): Array<Record<string, unknown>> {
    return pod.spec.containers.map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      ready: false,
      started: false,
      restartCount: 0,
      state: { waiting: message ? { reason, message } : { reason } },
      lastState: {},
    }));
  }

  private setContainerState(state: PodState, name: string, fields: Record<string, unknown>): void {
    this.update(state, (p) => {
      const statuses = (p.status.containerStatuses as Array<Record<string, unknown>> | undefined) ?? [];
      const s = statuses.find((x) => x.name === name);
      if (s) Object.assign(s, fields);
    });
  }

  private async startOnNode(state: PodState): Promise<void> {
    const settings = this.settings();
    this.update(state, (p) => {
      p.status.hostIP = '127.0.0.1';
      p.status.hostIPs = [{ ip: '127.0.0.1' }];
      p.status.startTime = now();
      setCondition(p.status, condition('PodScheduled', 'True'));
      setCondition(p.status, condition('PodReadyToStartContainers', 'True'));
      setCondition(p.status, condition('Initialized', 'True'));
      setCondition(p.status, condition('Ready', 'False', 'ContainersNotReady', `containers with unready status: [${p.spec.containers.map((c) => c.name).join(' ')}]`));
      setCondition(p.status, condition('ContainersReady', 'False', 'ContainersNotReady', `containers with unready status: [${p.spec.containers.map((c) => c.name).join(' ')}]`));
      p.status.containerStatuses = this.waitingStatuses(p, 'ContainerCreating');
    });
    if (settings.startDelayMs > 0) await this.delay(state, settings.startDelayMs);
    const pod = this.current(state);
    if (!pod || state.cancelled) return;

    const images = new Map<string, Docker.ImageInspectInfo>();
    for (const c of pod.spec.containers) {
      const field = `spec.containers{${c.name}}`;
      const image = this.settings().isUnpullable(c.image)
        ? undefined
        : await this.docker
            .getImage(c.image)
            .inspect()
            .catch(() => undefined);
      if (state.cancelled) return;
      if (!image) {
        // Only an absent image makes the kubelet try a pull (which never succeeds here).
        recordPodEvent(this.store, pod, 'Normal', 'Pulling', `Pulling image "${c.image}"`, this.kubelet(), field);
        await this.imagePullFails(state, pod, c.name, c.image);
        return;
      }
      images.set(c.name, image);
      recordPodEvent(this.store, pod, 'Normal', 'Pulled', `Container image "${c.image}" already present on machine`, this.kubelet(), field);
    }

    for (const c of pod.spec.containers) {
      const field = `spec.containers{${c.name}}`;
      const image = images.get(c.name)!;
      let options: Docker.ContainerCreateOptions;
      try {
        options = containerCreateOptions(pod, c, {
          instanceId: this.instanceId,
          network: settings.network,
          nodeName: settings.node.name,
          imageUser: image.Config?.User ?? '',
        });
      } catch (error) {
        const message = error instanceof ContainerConfigError ? error.message : String(error);
        this.setContainerState(state, c.name, { state: { waiting: { reason: 'CreateContainerConfigError', message } } });
        recordPodEvent(this.store, pod, 'Warning', 'Failed', `Error: ${message}`, this.kubelet(), field);
        return;
      }
      let container: Docker.Container;
      try {
        container = await this.docker.createContainer(options);
      } catch (error) {
        const message = (error as Error).message;
        this.setContainerState(state, c.name, { state: { waiting: { reason: 'CreateContainerError', message } } });
        recordPodEvent(this.store, pod, 'Warning', 'Failed', `Error: ${message}`, this.kubelet(), field);
        return;
      }
      state.containers.set(c.name, { name: c.name, id: container.id, container });
      if (state.cancelled) {
        await container.remove({ force: true }).catch(() => undefined);
        return;
      }
      recordPodEvent(this.store, pod, 'Normal', 'Created', `Created container: ${c.name}`, this.kubelet(), field);
      try {
        await container.start();
      } catch (error) {
        const message = (error as Error).message;
        this.setContainerState(state, c.name, {
          containerID: `docker://${container.id}`,
          state: { waiting: { reason: 'RunContainerError', message } },
        });
        recordPodEvent(this.store, pod, 'Warning', 'Failed', `Error: ${message}`, this.kubelet(), field);
        return;
      }
      if (state.cancelled) return;
      recordPodEvent(this.store, pod, 'Normal', 'Started', `Started container ${c.name}`, this.kubelet(), field);
      const info = await container.inspect().catch(() => undefined);
      this.setContainerState(state, c.name, {
        containerID: `docker://${container.id}`,
        imageID: `docker-pullable://${image.Id}`,
        ready: true,
        started: true,
        state: { running: { startedAt: info?.State.StartedAt?.replace(/\.\d+Z$/, 'Z') ?? now() } },
      });
      // Not tracked: it ends only when the container does, which close() itself brings about.
      this.watchExit(state, c.name, container, 0).catch(() => undefined);
    }
    this.update(state, (p) => {
      const statuses = (p.status.containerStatuses as Array<{ ready?: boolean }> | undefined) ?? [];
      if (statuses.every((s) => s.ready)) {
        p.status.phase = 'Running';
        setCondition(p.status, condition('Ready', 'True'));
        setCondition(p.status, condition('ContainersReady', 'True'));
      }
    });
  }

  private async imagePullFails(state: PodState, pod: Pod, name: string, image: string): Promise<void> {
    const field = `spec.containers{${name}}`;
    const message = `Failed to pull image "${image}": rpc error: code = NotFound desc = failed to pull and unpack image "${image}": image not present on the node and this test API server never pulls`;
    this.setContainerState(state, name, { state: { waiting: { reason: 'ErrImagePull', message } } });
    recordPodEvent(this.store, pod, 'Warning', 'Failed', message, this.kubelet(), field);
    recordPodEvent(this.store, pod, 'Warning', 'Failed', 'Error: ErrImagePull', this.kubelet(), field);
    await this.delay(state, this.settings().imagePullBackOffMs);
    if (state.cancelled) return;
    const backOff = `Back-off pulling image "${image}"`;
    this.setContainerState(state, name, { state: { waiting: { reason: 'ImagePullBackOff', message: backOff } } });
    recordPodEvent(this.store, pod, 'Normal', 'BackOff', backOff, this.kubelet(), field);
    recordPodEvent(this.store, pod, 'Warning', 'Failed', 'Error: ImagePullBackOff', this.kubelet(), field);
  }

  private async watchExit(state: PodState, name: string, container: Docker.Container, restarts: number): Promise<void> {
    await container.wait().catch(() => undefined);
    if (state.cancelled || this.closed) return;
    const info = await container.inspect().catch(() => undefined);
    if (!info || state.cancelled) return;
    const exitCode = info.State.ExitCode;
    const terminated: Record<string, unknown> = {
      exitCode,
      reason: info.State.OOMKilled ? 'OOMKilled' : exitCode === 0 ? 'Completed' : 'Error',
      startedAt: info.State.StartedAt.replace(/\.\d+Z$/, 'Z'),
      finishedAt: info.State.FinishedAt.replace(/\.\d+Z$/, 'Z'),
      containerID: `docker://${container.id}`,
    };
    const pod = this.current(state);
    if (!pod) return;
    const policy = pod.spec.restartPolicy ?? 'Always';
    const restart = policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (!restart) {
      this.setContainerState(state, name, { ready: false, started: false, state: { terminated } });
      this.update(state, (p) => {
        const statuses = (p.status.containerStatuses as Array<{ state?: { terminated?: { exitCode: number } } }>) ?? [];
        if (statuses.every((s) => s.state?.terminated)) {
          p.status.phase = statuses.every((s) => s.state?.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
          setCondition(p.status, condition('PodReadyToStartContainers', 'False'));
          setCondition(p.status, condition('Ready', 'False', 'PodCompleted'));
          setCondition(p.status, condition('ContainersReady', 'False', 'PodCompleted'));
        } else {
          setCondition(p.status, condition('Ready', 'False', 'ContainersNotReady', `containers with unready status: [${name}]`));
          setCondition(p.status, condition('ContainersReady', 'False', 'ContainersNotReady', `containers with unready status: [${name}]`));
        }
      });
      if (isTerminal(this.current(state) ?? pod)) this.retryUnscheduled();
      return;
    }
    const backoff = RESTART_BACKOFF_MS[Math.min(restarts, RESTART_BACKOFF_MS.length - 1)]!;
    this.setContainerState(state, name, {
      ready: false,
      started: false,
      restartCount: restarts + 1,
      lastState: { terminated },
      state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off ${backoff / 1000}s restarting failed container=${name} pod=${state.name}_${state.namespace}(${state.uid})` } },
    });
    this.update(state, (p) => {
      setCondition(p.status, condition('Ready', 'False', 'ContainersNotReady', `containers with unready status: [${name}]`));
      setCondition(p.status, condition('ContainersReady', 'False', 'ContainersNotReady', `containers with unready status: [${name}]`));
    });
    recordPodEvent(this.store, pod, 'Warning', 'BackOff', 'Back-off restarting failed container', this.kubelet(), `spec.containers{${name}}`);
    await this.delay(state, backoff);
    if (state.cancelled) return;
    try {
      await container.start();
    } catch {
      return;
    }
    const restarted = await container.inspect().catch(() => undefined);
    this.setContainerState(state, name, {
      ready: true,
      started: true,
      state: { running: { startedAt: restarted?.State.StartedAt.replace(/\.\d+Z$/, 'Z') ?? now() } },
    });
    this.update(state, (p) => {
      const statuses = (p.status.containerStatuses as Array<{ ready?: boolean }> | undefined) ?? [];
      if (statuses.every((s) => s.ready)) {
        p.status.phase = 'Running';
        setCondition(p.status, condition('Ready', 'True'));
        setCondition(p.status, condition('ContainersReady', 'True'));
      }
    });
    await this.watchExit(state, name, container, restarts + 1);
  }
}
