import type { KubeObject } from './store.ts';

/** The resources this server serves, with what list/watch field selectors may name. */
export interface ResourceDef {
  group: string;
  version: string;
  /** Plural, as in the URL. */
  resource: string;
  kind: string;
  namespaced: boolean;
  /** DELETE answers with the object (pods, namespaces) rather than a Status. */
  returnsDeletedObject: boolean;
  fields: (o: KubeObject) => Record<string, string>;
  /** Short names discovery advertises (`kubectl get cm`). */
  shortNames?: readonly string[];
}

function metaFields(o: KubeObject): Record<string, string> {
  const f: Record<string, string> = { 'metadata.name': o.metadata.name };
  if (o.metadata.namespace !== undefined) f['metadata.namespace'] = o.metadata.namespace;
  return f;
}

function nested(o: unknown, ...path: string[]): string {
  let v: unknown = o;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

export const RESOURCES: readonly ResourceDef[] = [
  {
    group: '',
    version: 'v1',
    resource: 'namespaces',
    kind: 'Namespace',
    shortNames: ['ns'],
    namespaced: false,
    returnsDeletedObject: true,
    fields: (o) => ({ ...metaFields(o), 'status.phase': nested(o, 'status', 'phase') }),
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
    shortNames: ['po'],
    namespaced: true,
    returnsDeletedObject: true,
    fields: (o) => ({
      ...metaFields(o),
      'spec.nodeName': nested(o, 'spec', 'nodeName'),
      'spec.restartPolicy': nested(o, 'spec', 'restartPolicy'),
      'spec.schedulerName': nested(o, 'spec', 'schedulerName'),
      'spec.serviceAccountName': nested(o, 'spec', 'serviceAccountName'),
      'spec.hostNetwork': nested(o, 'spec', 'hostNetwork') || 'false',
      'status.phase': nested(o, 'status', 'phase'),
      'status.podIP': nested(o, 'status', 'podIP'),
      'status.nominatedNodeName': nested(o, 'status', 'nominatedNodeName'),
    }),
  },
  {
    group: '',
    version: 'v1',
    resource: 'resourcequotas',
    kind: 'ResourceQuota',
    shortNames: ['quota'],
    namespaced: true,
    returnsDeletedObject: false,
    fields: metaFields,
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
    shortNames: ['ev'],
    namespaced: true,
    returnsDeletedObject: false,
    fields: (o) => ({
      ...metaFields(o),
      'involvedObject.kind': nested(o, 'involvedObject', 'kind'),
      'involvedObject.name': nested(o, 'involvedObject', 'name'),
      'involvedObject.namespace': nested(o, 'involvedObject', 'namespace'),
      'involvedObject.uid': nested(o, 'involvedObject', 'uid'),
      reason: nested(o, 'reason'),
      type: nested(o, 'type'),
    }),
  },
  {
    group: 'coordination.k8s.io',
    version: 'v1',
    resource: 'leases',
    kind: 'Lease',
    namespaced: true,
    returnsDeletedObject: false,
    fields: metaFields,
  },
  ...storedOnly(),
];

/**
 * Kinds a deployment applies (deploy/kubernetes/) that this server keeps and serves as written,
 * with every verb, but that nothing acts on: no controller, no defaulting, no Service IPs. They
 * make discovery and `kubectl apply` see the groups a cluster has. `kyverno.io/v1` is served as
 * on a cluster where Kyverno's CRDs are installed.
 */
function storedOnly(): ResourceDef[] {
  const kinds: Array<[group: string, resource: string, kind: string, namespaced: boolean, shortNames: string[]]> = [
    ['', 'configmaps', 'ConfigMap', true, ['cm']],
    ['', 'secrets', 'Secret', true, []],
    ['', 'services', 'Service', true, ['svc']],
    ['', 'serviceaccounts', 'ServiceAccount', true, ['sa']],
    ['apps', 'deployments', 'Deployment', true, ['deploy']],
    ['batch', 'cronjobs', 'CronJob', true, ['cj']],
    ['networking.k8s.io', 'networkpolicies', 'NetworkPolicy', true, ['netpol']],
    ['policy', 'poddisruptionbudgets', 'PodDisruptionBudget', true, ['pdb']],
    ['rbac.authorization.k8s.io', 'roles', 'Role', true, []],
    ['rbac.authorization.k8s.io', 'rolebindings', 'RoleBinding', true, []],
    ['rbac.authorization.k8s.io', 'clusterroles', 'ClusterRole', false, []],
    ['rbac.authorization.k8s.io', 'clusterrolebindings', 'ClusterRoleBinding', false, []],
    ['kyverno.io', 'clusterpolicies', 'ClusterPolicy', false, ['cpol']],
  ];
  return kinds.map(([group, resource, kind, namespaced, shortNames]) => ({
    group,
    version: 'v1',
    resource,
    kind,
    namespaced,
    returnsDeletedObject: false,
    fields: metaFields,
    shortNames,
  }));
}

export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function apiVersionOf(def: ResourceDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}
