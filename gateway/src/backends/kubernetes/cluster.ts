import { CoordinationV1Api, CoreV1Api, Exec, KubeConfig, Watch } from '@kubernetes/client-node';
import type { KubernetesSettings } from '../../settings/index.ts';
import { ApiPool, poolPromiseMethods } from '../api-pool.ts';

/** Where the in-cluster service account's token and CA are mounted. */
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The client-node objects the backend uses, made once per gateway from its own settings. */
export interface Cluster {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly coordination: CoordinationV1Api;
  readonly exec: Exec;
  readonly watch: Watch;
  /** The one namespace session pods live in. */
  readonly namespace: string;
}

/** The gateway's kubernetes settings; without the request limits (a test's cleanup client) calls are not pooled. */
export type ClusterSettings = Omit<KubernetesSettings, 'maxConcurrentRequests' | 'maxQueuedRequests'> & Partial<Pick<KubernetesSettings, 'maxConcurrentRequests' | 'maxQueuedRequests'>>;

/**
 * Reads the cluster credentials: a kubeconfig (its current context, or `context`), or the
 * in-cluster service account. The token file is given to client-node as a `tokenFile` auth
 * provider, which re-reads it every minute, so a projected token that rotates keeps working.
 */
export function connectCluster(settings: ClusterSettings): Cluster {
  const config = new KubeConfig();
  if (settings.inCluster) {
    const host = process.env.KUBERNETES_SERVICE_HOST;
    const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
    const server = settings.server ?? (host ? `https://${host.includes(':') ? `[${host}]` : host}:${port}` : undefined);
    if (!server) throw new Error('inCluster: set kubernetes.server, or run where KUBERNETES_SERVICE_HOST is set');
    config.loadFromClusterAndUser(
      { name: 'in-cluster', server, caFile: settings.caFile ?? `${SERVICE_ACCOUNT_DIR}/ca.crt`, skipTLSVerify: false },
      { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: settings.tokenFile ?? `${SERVICE_ACCOUNT_DIR}/token` } } },
    );
  } else {
    config.loadFromFile(settings.kubeconfig!);
    if (settings.context) config.setCurrentContext(settings.context);
    if (!config.getCurrentCluster()) throw new Error(`the kubeconfig has no cluster for context ${config.getCurrentContext() || '(none)'}`);
  }
  // One bound for every API request this process makes (an exec or a watch holds its slot until open).
  const pool = settings.maxConcurrentRequests !== undefined ? new ApiPool('kubernetes', { maxConcurrent: settings.maxConcurrentRequests, maxQueued: settings.maxQueuedRequests ?? 0 }) : undefined;
  const pooled = <T extends object>(client: T): T => (pool ? poolPromiseMethods(client, pool) : client);
  return {
    config,
    core: pooled(config.makeApiClient(CoreV1Api)),
    coordination: pooled(config.makeApiClient(CoordinationV1Api)),
    exec: pooled(new Exec(config)),
    watch: pooled(new Watch(config)),
    namespace: settings.namespace,
  };
}
