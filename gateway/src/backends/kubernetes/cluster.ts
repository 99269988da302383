import { CoordinationV1Api, CoreV1Api, Exec, KubeConfig, Watch } from '@kubernetes/client-node';
import type { KubernetesSettings } from '../../settings/index.ts';

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

/**
 * Reads the cluster credentials: a kubeconfig (its current context, or `context`), or the
 * in-cluster service account. The token file is given to client-node as a `tokenFile` auth
 * provider, which re-reads it every minute, so a projected token that rotates keeps working.
 */
export function connectCluster(settings: KubernetesSettings): Cluster {
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
  return {
    config,
    core: config.makeApiClient(CoreV1Api),
    coordination: config.makeApiClient(CoordinationV1Api),
    exec: new Exec(config),
    watch: new Watch(config),
    namespace: settings.namespace,
  };
}
