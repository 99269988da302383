// It relays every byte of each exec as the gateway does, so it takes the gateway's heap growth:
// without it, the process it runs in falls into the same back-to-back full collections.
import '../../gateway/src/process/heap-tuning.ts';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import Docker from 'dockerode';
import { stringify } from 'yaml';
import { createCertificate, createCertificateAuthority } from '@portcullis/pki';
import { KubeApi, type AdmissionWebhook, type ApiContext, type ApiControls } from './api.ts';
import { INSTANCE_LABEL } from './container-config.ts';
import { EXEC_PROTOCOLS } from './exec.ts';
import { newUid } from './pod-spec.ts';
import { PodRuntime, type RuntimeSettings } from './pod-runtime.ts';
import { refreshQuotaStatus } from './quota.ts';
import { DEFAULT_NODE, type NodeModel } from './scheduler.ts';
import type { KubeObject } from './store.ts';
import { ObjectStore } from './store.ts';

export type { AdmissionDenial, AdmissionWebhook } from './api.ts';
export type { KubeObject } from './store.ts';
export type { NodeModel } from './scheduler.ts';
export { INSTANCE_LABEL, POD_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL, CONTAINER_NAME_LABEL } from './container-config.ts';
export { EXEC_PROTOCOLS } from './exec.ts';

export interface KubeApiServerOptions {
  /** Bearer token clients must send; random when omitted. */
  token?: string;
  /** Docker engine for pods; the default socket when omitted. */
  docker?: Docker;
  /** Namespaces to create at start (besides `default`), by name or with labels. */
  namespaces?: Array<string | { name: string; labels?: Record<string, string> }>;
  /** Docker network for pod containers (default `none`). */
  network?: string;
  /** The node pods are scheduled onto: name, labels (for nodeSelector) and allocatable capacity. */
  node?: { name?: string; labels?: Record<string, string>; capacity?: Partial<NodeModel['capacity']> };
  /** Time a pod spends in ContainerCreating before its containers start (default 0). */
  startDelayMs?: number;
  /** Time from ErrImagePull to ImagePullBackOff (default 1000). */
  imagePullBackOffMs?: number;
  /** Images treated as not pullable even when present locally. Absent images always are. */
  unpullableImages?: string[];
  /** A validating admission webhook that may deny pod creation. */
  admissionWebhook?: AdmissionWebhook;
  /** The user the token authenticates as (named in RBAC denials). */
  user?: string;
  /** `"verb resource"` pairs RBAC denies from the start, e.g. `["create pods/exec"]`. */
  deny?: string[];
  /** Exec subprotocols served, in order of preference (default v5 then v4). */
  execProtocols?: string[];
}

/** Switches that change the server's behaviour while it runs, for failure tests. */
export interface KubeApiServerControls {
  setStartDelay(ms: number): void;
  setUnpullable(image: string, unpullable?: boolean): void;
  setAdmissionWebhook(webhook: AdmissionWebhook | undefined): void;
  /** Denies (or with `false` allows again) a verb on a resource, as RBAC would: `deny("create", "pods/exec")`. */
  deny(verb: string, resource: string, denied?: boolean): void;
  setNodeCapacity(capacity: Partial<NodeModel['capacity']>): void;
  setNodeLabels(labels: Record<string, string>): void;
  setExecProtocols(protocols: string[]): void;
  /** Closes the listener and drops every connection: the API is unreachable. Pods keep running. */
  stopListening(): Promise<void>;
  /** Listens again on the same port. */
  startListening(): Promise<void>;
  /** stopListening then startListening; open watches and execs are cut as by an API server restart. */
  restart(): Promise<void>;
  /** Forgets the watch history, so watches from an older resourceVersion get 410 Expired. */
  compactHistory(): void;
  /** Ends every open watch stream (clients see the server close it, as at a watch timeout). */
  dropWatches(): void;
  /** Delays every request by `ms` before handling it: a slow API server (0 turns it off). */
  setResponseDelay(ms: number): void;
}

export interface KubeApiServer {
  /** `https://127.0.0.1:<port>` */
  url: string;
  token: string;
  /** PEM of the CA that signed the server certificate. */
  caPem: string;
  /** Id on every Docker container of this server (label `INSTANCE_LABEL`). */
  instanceId: string;
  /** Writes a kubeconfig for this server (current context, namespace as given) and returns its path. */
  writeKubeconfig(path: string, options?: { namespace?: string; user?: string; context?: string }): Promise<string>;
  /**
   * Writes an in-cluster service account under `root` (`var/run/secrets/kubernetes.io/serviceaccount/`
   * token, ca.crt, namespace) and returns what `KubeConfig.loadFromCluster(pathPrefix)` needs:
   * the prefix and the KUBERNETES_SERVICE_HOST/PORT environment.
   */
  writeServiceAccount(root: string, options?: { namespace?: string }): Promise<{ pathPrefix: string; env: Record<string, string> }>;
  /** The kubeconfig as YAML text. */
  kubeconfig(options?: { namespace?: string; user?: string; context?: string }): string;
  createNamespace(name: string, labels?: Record<string, string>): KubeObject;
  setNamespaceLabels(name: string, labels: Record<string, string>): KubeObject;
  /** Creates a ResourceQuota with `spec.hard` as given, e.g. `{ pods: '2' }`. */
  createResourceQuota(namespace: string, name: string, hard: Record<string, string>): KubeObject;
  /** Stored pods (all namespaces when omitted). */
  pods(namespace?: string): KubeObject[];
  /** Docker ids of this server's containers, running or not. */
  containerIds(): Promise<string[]>;
  /** The Docker id of a pod's container, once it was created. */
  containerIdOf(namespace: string, pod: string, container?: string): string | undefined;
  /** Each create body as the server received it, newest last. */
  received: ApiContext['received'];
  controls: KubeApiServerControls;
  /** Stops listening, ends watches and execs, and removes every container this server made. */
  close(): Promise<void>;
}

function nowStamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export async function startKubeApiServer(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
  const instanceId = randomBytes(6).toString('hex');
  const token = options.token ?? randomBytes(32).toString('base64url');
  const docker = options.docker ?? new Docker();
  await PodRuntime.reapOrphans(docker).catch(() => 0);
  const ca = await createCertificateAuthority({ commonName: 'kubernetes-ca' });
  const leaf = await createCertificate(ca, {
    commonName: 'kube-apiserver',
    sans: ['127.0.0.1', 'localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
    usage: 'server',
  });

  const store = new ObjectStore();
  const node: NodeModel = {
    name: options.node?.name ?? DEFAULT_NODE.name,
    labels: { ...DEFAULT_NODE.labels, ...(options.node?.name ? { 'kubernetes.io/hostname': options.node.name } : {}), ...(options.node?.labels ?? {}) },
    capacity: { ...DEFAULT_NODE.capacity, ...(options.node?.capacity ?? {}) },
  };
  const unpullable = new Set(options.unpullableImages ?? []);
  const settings: RuntimeSettings = {
    network: options.network ?? 'none',
    node,
    startDelayMs: options.startDelayMs ?? 0,
    imagePullBackOffMs: options.imagePullBackOffMs ?? 1000,
    isUnpullable: (image) => unpullable.has(image),
  };
  const runtime = new PodRuntime(docker, store, instanceId, () => settings);
  const controlsState: ApiControls = {
    user: options.user ?? 'system:serviceaccount:portcullis:portcullis-gateway',
    denied: new Set(options.deny ?? []),
    admissionWebhook: options.admissionWebhook,
    execProtocols: options.execProtocols ?? [...EXEC_PROTOCOLS],
    responseDelayMs: 0,
  };
  const ctx: ApiContext = { store, runtime, docker, token, controls: controlsState, received: [] };
  const api = new KubeApi(ctx);

  // The quota controller: keep status.used of every quota current as pods come and go.
  store.subscribe((event) => {
    if (event.resource === 'pods' && event.object.metadata.namespace) refreshQuotaStatus(store, event.object.metadata.namespace);
  });

  const createNamespace = (name: string, labels: Record<string, string> = {}): KubeObject => {
    const existing = store.get('namespaces', undefined, name);
    if (existing) return existing;
    return store.create('namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, uid: newUid(), resourceVersion: '', creationTimestamp: nowStamp(), labels: { ...labels, 'kubernetes.io/metadata.name': name } },
      spec: { finalizers: ['kubernetes'] },
      status: { phase: 'Active' },
    });
  };
  for (const ns of ['default', 'kube-system', 'kube-public']) createNamespace(ns);
  for (const ns of options.namespaces ?? []) {
    if (typeof ns === 'string') createNamespace(ns);
    else createNamespace(ns.name, ns.labels);
  }

  const sockets = new Set<Socket>();
  const server: Server = createServer({ cert: leaf.certPem, key: leaf.keyPem, ca: ca.certPem });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('request', (req, res) => void api.handle(req, res));
  server.on('upgrade', (req, socket, head) => api.upgrade(req, socket, head));
  // A client that drops mid-handshake is not the server's problem.
  server.on('tlsClientError', () => undefined);

  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}`;
  let listening = true;

  const stopListening = async () => {
    if (!listening) return;
    listening = false;
    api.closeWatches();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const s of sockets) s.destroy();
    await closed;
  };
  const startListening = async () => {
    if (listening) return;
    await listen(port);
    listening = true;
  };

  const kubeconfig = (o: { namespace?: string; user?: string; context?: string } = {}) => {
    const context = o.context ?? 'portcullis-test';
    const user = o.user ?? 'portcullis-gateway';
    return stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'portcullis-test', cluster: { server: url, 'certificate-authority-data': Buffer.from(ca.certPem).toString('base64') } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: context, context: { cluster: 'portcullis-test', user, namespace: o.namespace ?? 'default' } }],
      'current-context': context,
      preferences: {},
    });
  };

  let closed = false;
  return {
    url,
    token,
    caPem: ca.certPem,
    instanceId,
    kubeconfig,
    async writeKubeconfig(path, o = {}) {
      await writeFile(path, kubeconfig(o), { mode: 0o600 });
      return path;
    },
    async writeServiceAccount(root, o = {}) {
      const dir = join(root, 'var/run/secrets/kubernetes.io/serviceaccount');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'token'), token, { mode: 0o600 });
      await writeFile(join(dir, 'ca.crt'), ca.certPem);
      await writeFile(join(dir, 'namespace'), o.namespace ?? 'default');
      return { pathPrefix: root, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port) } };
    },
    createNamespace,
    setNamespaceLabels(name, labels) {
      const updated = store.mutate('namespaces', undefined, name, (n) => {
        n.metadata.labels = { ...labels, 'kubernetes.io/metadata.name': name };
      });
      if (!updated) throw new Error(`namespace ${name} does not exist`);
      return updated;
    },
    createResourceQuota(namespace, name, hard) {
      createNamespace(namespace);
      const quota = store.create('resourcequotas', {
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name, namespace, uid: newUid(), resourceVersion: '', creationTimestamp: nowStamp() },
        spec: { hard: { ...hard } },
        status: { hard: { ...hard }, used: {} },
      });
      refreshQuotaStatus(store, namespace);
      return store.get('resourcequotas', namespace, name) ?? quota;
    },
    pods: (namespace) => store.list('pods', namespace),
    async containerIds() {
      const found = await docker.listContainers({ all: true, filters: { label: [`${INSTANCE_LABEL}=${instanceId}`] } });
      return found.map((c) => c.Id);
    },
    containerIdOf(namespace, podName, container) {
      const pod = store.get('pods', namespace, podName);
      if (!pod) return undefined;
      const name = container ?? (pod.spec as { containers: Array<{ name: string }> }).containers[0]?.name ?? '';
      return runtime.containerId(pod, name);
    },
    received: ctx.received,
    controls: {
      setStartDelay: (ms) => void (settings.startDelayMs = ms),
      setUnpullable: (image, yes = true) => void (yes ? unpullable.add(image) : unpullable.delete(image)),
      setAdmissionWebhook: (webhook) => void (controlsState.admissionWebhook = webhook),
      deny: (verb, resource, denied = true) => void (denied ? controlsState.denied.add(`${verb} ${resource}`) : controlsState.denied.delete(`${verb} ${resource}`)),
      setNodeCapacity: (capacity) => void Object.assign(node.capacity, capacity),
      setNodeLabels: (labels) => void (node.labels = { ...labels }),
      setExecProtocols: (protocols) => void (controlsState.execProtocols = [...protocols]),
      stopListening,
      startListening,
      restart: async () => {
        await stopListening();
        await startListening();
      },
      compactHistory: () => store.compact(),
      dropWatches: () => api.closeWatches(),
      setResponseDelay: (ms) => void (controlsState.responseDelayMs = ms),
    },
    async close() {
      if (closed) return;
      closed = true;
      await stopListening();
      api.close();
      await runtime.close();
    },
  };
}
