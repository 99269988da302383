/**
 * What the tests (and the gateway's own tests, if they like) use to talk to the test API
 * server the way a cluster client does: @kubernetes/client-node loaded from a kubeconfig file.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { startKubeApiServer, type KubeApiServer } from './index.ts';

export interface KubeClients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  coordination: k8s.CoordinationV1Api;
  watch: k8s.Watch;
  exec: k8s.Exec;
  kubeconfigPath: string;
  /** Removes the kubeconfig file. */
  dispose(): Promise<void>;
}

export async function kubeClients(server: KubeApiServer, namespace = 'default'): Promise<KubeClients> {
  const dir = await mkdtemp(join(tmpdir(), 'kubeapi-test-'));
  const kubeconfigPath = await server.writeKubeconfig(join(dir, 'kubeconfig'), { namespace });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    watch: new k8s.Watch(kc),
    exec: new k8s.Exec(kc),
    kubeconfigPath,
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** The HTTP code and Status body of a failed client-node call. */
export async function apiFailure(call: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof k8s.ApiException) {
      const raw = (error as k8s.ApiException<unknown>).body;
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw ?? null);
      return { code: error.code, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    }
    throw error;
  }
  throw new Error('expected the API call to fail');
}

/**
 * Watches one pod until `done` says so (or it is deleted, or the deadline passes), returning
 * every state seen. Uses a real watch, as the gateway does.
 */
export async function watchPodUntil(
  clients: KubeClients,
  namespace: string,
  name: string,
  done: (pod: k8s.V1Pod) => boolean,
  deadlineMs = 60_000,
): Promise<{ last: k8s.V1Pod | undefined; seen: Array<{ type: string; pod: k8s.V1Pod }> }> {
  const seen: Array<{ type: string; pod: k8s.V1Pod }> = [];
  let last: k8s.V1Pod | undefined;
  let controller: AbortController | undefined;
  const result = await new Promise<'done' | 'deleted' | 'timeout' | Error>((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), deadlineMs);
    const finish = (r: 'done' | 'deleted' | 'timeout' | Error) => {
      clearTimeout(timer);
      resolve(r);
    };
    clients.watch
      .watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { fieldSelector: `metadata.name=${name}` },
        (type, obj) => {
          const pod = obj as k8s.V1Pod;
          seen.push({ type, pod });
          last = pod;
          if (type === 'DELETED') finish('deleted');
          else if (done(pod)) finish('done');
        },
        (err) => finish(err instanceof Error ? err : new Error(`watch ended before the pod was ready (${String(err)})`)),
      )
      .then(
        (c) => (controller = c),
        (e: Error) => finish(e),
      );
  });
  controller?.abort();
  if (result instanceof Error) throw result;
  if (result === 'timeout') throw new Error(`pod ${namespace}/${name} did not reach the awaited state in ${deadlineMs} ms; last phase ${last?.status?.phase}`);
  return { last, seen };
}

export const isRunning = (pod: k8s.V1Pod) => pod.status?.phase === 'Running';

export interface ExecResult {
  stdout: string;
  stderr: string;
  status: k8s.V1Status;
}

/** Runs a command in a pod through pods/exec and collects its output and status. */
export async function execIn(
  clients: KubeClients,
  namespace: string,
  pod: string,
  command: string[],
  options: { stdin?: string | Readable; tty?: boolean; container?: string; stdout?: PassThrough } = {},
): Promise<ExecResult> {
  const stdout = options.stdout ?? new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const stdin = typeof options.stdin === 'string' ? Readable.from([Buffer.from(options.stdin)]) : options.stdin;
  const status = await new Promise<k8s.V1Status>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${command.join(' ')} gave no status in 60 s`)), 60_000);
    clients.exec
      .exec(namespace, pod, options.container ?? '', command, stdout, options.tty ? null : stderr, stdin ?? null, options.tty ?? false, (s) => {
        clearTimeout(timer);
        resolve(s);
      })
      .then(
        (ws) => {
          ws.on('close', () => setTimeout(() => reject(new Error('exec socket closed without a status')), 1000).unref());
        },
        (e: unknown) => {
          clearTimeout(timer);
          // client-node rejects with the WebSocket's ErrorEvent, e.g. "Unexpected server response: 403".
          reject(e instanceof Error ? e : new Error((e as { message?: string }).message ?? String(e)));
        },
      );
  });
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), status };
}

/** A minimal pod for the session image, with the hardened fields a gateway pod carries. */
export function sessionPod(name: string, overrides: Partial<k8s.V1PodSpec> = {}, labels: Record<string, string> = {}): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'shell',
          image: 'portcullis/session:dev',
          imagePullPolicy: 'IfNotPresent',
          command: ['sleep', 'infinity'],
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          resources: { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: '100m', memory: '64Mi' } },
        },
      ],
      ...overrides,
    },
  };
}

export const SESSION_IMAGE = 'portcullis/session:dev';

/**
 * A test API server with clients for the enclosing `describe`: started before its tests and
 * closed after them. Tests read `suite.server` and `suite.clients`.
 */
export function serverForSuite(namespace: string): { server: KubeApiServer; clients: KubeClients } {
  const suite = {} as { server: KubeApiServer; clients: KubeClients };
  before(async () => {
    suite.server = await startKubeApiServer({ namespaces: [namespace] });
    suite.clients = await kubeClients(suite.server, namespace);
  });
  after(async () => {
    await suite.clients?.dispose();
    await suite.server?.close();
  });
  return suite;
}
