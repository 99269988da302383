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
    namespaced: false,
    returnsDeletedObject: true,
    fields: (o) => ({ ...metaFields(o), 'status.phase': nested(o, 'status', 'phase') }),
  },
  {
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
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
    namespaced: true,
    returnsDeletedObject: false,
    fields: metaFields,
  },
  {
    group: '',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
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
];

export function findResource(group: string, version: string, resource: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

export function apiVersionOf(def: ResourceDef): string {
  return def.group ? `${def.group}/${def.version}` : def.version;
}
