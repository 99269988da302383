import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import Docker from 'dockerode';
import { startKubeApiServer, type KubeApiServer, type KubeApiServerOptions } from '../kube-apiserver/index.ts';
import { connectCluster } from '../../gateway/src/backends/kubernetes/index.ts';
import { worldWithConfig } from './fake-config.ts';
import type { World, WorldOptions } from './world.ts';
import { pollUntilOrLast } from './poll-until.ts';

/** The namespace session pods go to in these tests, labelled for Pod Security `restricted` as the rendered manifests do. */
export const SESSION_NAMESPACE = 'portcullis-sessions';

/** The hardened session pod the tests start from (the shipped baseline's pod, smaller); each test changes what it is about. */
export function hardenedPod(overrides: Record<string, unknown> = {}, container: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    metadata: { labels: { 'app.kubernetes.io/managed-by': 'portcullis', 'containerssh.io/session': 'true' } },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy: 'Never',
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'shell',
          image: 'portcullis/session:dev',
          imagePullPolicy: 'IfNotPresent',
          command: ['/bin/sh', '-c', 'read -r _ || true'],
          stdin: true,
          env: [{ name: 'HOME', value: '/home/user' }],
          securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } },
          resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '500m', memory: '256Mi' } },
          volumeMounts: [
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'home', mountPath: '/home/user' },
          ],
          ...container,
        },
      ],
      volumes: [
        { name: 'tmp', emptyDir: { sizeLimit: '16Mi' } },
        { name: 'home', emptyDir: { sizeLimit: '16Mi' } },
      ],
    },
    shellCommand: ['/bin/bash'],
    ...overrides,
  };
}

export interface KubeWorld {
  readonly world: World;
  readonly kube: KubeApiServer;
  /** Changes the pod config the fake config webhook answers for the next login. */
  setPod(pod: Record<string, unknown>, timeouts?: Record<string, unknown>): void;
  /** Changes the config response's `security` section for the next login (`undefined`: none). */
  setSecurity(security: Record<string, unknown> | undefined): void;
  /** Names of this test's session pods in the session namespace (only this server's, so only this test's). */
  sessionPods(): string[];
  /** Waits (bounded) until no session pod is left; returns what is left at the deadline. */
  waitForNoPods(deadlineMs?: number): Promise<string[]>;
}

export interface KubeWorldOptions {
  readonly server?: KubeApiServerOptions;
  /** Merged over the gateway's `kubernetes` settings (e.g. shorter heartbeats). */
  readonly gateway?: Record<string, unknown>;
  readonly world?: Omit<WorldOptions, 'beforeGateway' | 'gateway'>;
  /** Other gateway config sections (e.g. `metrics`). */
  readonly sections?: Record<string, Record<string, unknown>>;
  readonly timeouts?: Record<string, unknown>;
  /** `inCluster`: the gateway uses a service-account token file and CA (as in a pod) instead of a kubeconfig. */
  readonly credentials?: 'kubeconfig' | 'inCluster';
  /** The config response's `security` section (forwarding, signals…), for every login. */
  readonly security?: Record<string, unknown>;
  /** The config response's `audit` section, for every login (default: nothing recorded). */
  readonly audit?: Record<string, unknown>;
  /** Other top-level fields of every config answer (e.g. `files`). */
  readonly answer?: Record<string, unknown>;
}

/**
 * A test Kubernetes API server of the test's own, the three programs, and a config webhook
 * answering `backend: kubernetes` with `pod`. The gateway reaches the API server exactly as a
 * cluster: a kubeconfig with the server's CA and a bearer token, over TLS.
 */
export async function worldWithPod(t: TestContext, pod: Record<string, unknown> | (() => Record<string, unknown>), options: KubeWorldOptions = {}): Promise<KubeWorld> {
  const kube = await startKubeApiServer({
    namespaces: [{ name: SESSION_NAMESPACE, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'pod-security.kubernetes.io/enforce-version': 'latest' } }],
    ...options.server,
  });
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-kube-'));
  const closeKube = async () => {
    // Pods still running (persistent ones, or a test that failed half-way) go first, through the
    // API: the test server's close waits for its running pods' containers to exit.
    const { core } = connectCluster({
      kubeconfig,
      namespace: SESSION_NAMESPACE,
      inCluster: false,
      startTimeout: 60_000,
      requestTimeout: 10_000,
      heartbeatInterval: 5_000,
      heartbeatTimeout: 20_000,
      reapInterval: 5_000,
    });
    for (const pod of kube.pods()) {
      await core.deleteNamespacedPod({ name: String(pod.metadata.name), namespace: String(pod.metadata.namespace), gracePeriodSeconds: 0 }).catch(() => undefined);
    }
    // Bounded: the test server's close can wait forever on a pod it stopped half-way (a start
    // delay, an unschedulable pod); then its containers are removed here, by its own label.
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([kube.close().then(() => true), new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 15_000)))]);
    clearTimeout(timer);
    if (!closed) {
      const docker = new Docker();
      for (const id of await kube.containerIds())
        await docker
          .getContainer(id)
          .remove({ force: true, v: true })
          .catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const kubeconfig = await kube.writeKubeconfig(join(dir, 'kubeconfig'), { namespace: SESSION_NAMESPACE });
  let clusterSettings: Record<string, unknown> = { kubeconfig };
  if (options.credentials === 'inCluster') {
    const { pathPrefix } = await kube.writeServiceAccount(join(dir, 'root'), { namespace: SESSION_NAMESPACE });
    const account = join(pathPrefix, 'var/run/secrets/kubernetes.io/serviceaccount');
    clusterSettings = { inCluster: true, server: kube.url, tokenFile: join(account, 'token'), caFile: join(account, 'ca.crt') };
  }
  let security = options.security;
  let currentPod = pod;
  let currentTimeouts = options.timeouts;
  const configFor = (next: Record<string, unknown>, timeouts = options.timeouts) => ({
    backend: 'kubernetes',
    kubernetes: { pod: next, ...(timeouts ? { timeouts } : {}) },
    ...(security ? { security } : {}),
    ...(options.audit ? { audit: options.audit } : {}),
  });
  let started: Awaited<ReturnType<typeof worldWithConfig>>;
  try {
    // A function `pod` is asked again on every config request (e.g. one login in ten gets another image).
    started = await worldWithConfig(t, typeof pod === 'function' ? () => configFor(pod()) : configFor(pod), {
      gatewayStartTimeoutMs: 90_000,
      ...options.world,
      ...(options.answer ? { answer: options.answer } : {}),
      gateway: {
        ...options.sections,
        kubernetes: {
          ...clusterSettings,
          namespace: SESSION_NAMESPACE,
          startTimeout: '60s',
          heartbeatInterval: '1s',
          heartbeatTimeout: '4s',
          reapInterval: '1s',
          ...options.gateway,
        },
      },
    });
  } catch (error) {
    await closeKube();
    throw error;
  }
  const { world, setConfig } = started;
  // After hooks run in order: the gateway (registered by worldWithConfig) stops first.
  t.after(closeKube);
  const sessionPods = () =>
    kube
      .pods(SESSION_NAMESPACE)
      .filter((item) => !(item.metadata as { deletionTimestamp?: string }).deletionTimestamp)
      .map((item) => String(item.metadata.name));
  return {
    world,
    kube,
    setPod: (next, timeouts) => {
      currentPod = next;
      currentTimeouts = timeouts;
      setConfig(configFor(next, timeouts));
    },
    setSecurity: (next) => {
      security = next;
      const pod = currentPod;
      setConfig(typeof pod === 'function' ? () => configFor(pod(), currentTimeouts) : configFor(pod, currentTimeouts));
    },
    sessionPods,
    waitForNoPods: async (deadlineMs = 30_000) => {
      // Terminating pods too: they still count against the namespace's quota.
      return pollUntilOrLast(() => kube.pods(SESSION_NAMESPACE).map((item) => String(item.metadata.name)), {
        what: 'no session pod left',
        until: (left) => left.length === 0,
        timeoutMs: deadlineMs,
      });
    },
  };
}
