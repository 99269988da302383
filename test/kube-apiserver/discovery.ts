/**
 * The discovery documents a client reads before it touches a resource: `/version`, the core
 * group (`/api`, `/api/v1`) and the named groups (`/apis`, `/apis/<group>/<version>`), built
 * from RESOURCES so that what discovery lists is exactly what the server routes. kubectl maps
 * each manifest's apiVersion and kind through these (its RESTMapper); client-node's
 * `KubernetesObjectApi` does the same.
 *
 * Only the legacy JSON forms are served. A client that asks for aggregated discovery
 * (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`) also accepts
 * `application/json` and falls back to them, as against a server older than 1.26.
 * No OpenAPI document is served (`/openapi/v2`, `/openapi/v3` answer 404): see README.md.
 */
import { apiVersionOf, RESOURCES, type ResourceDef } from './resources.ts';

/** The version this server claims; the kubectl dispatcher picks the kubectl matching its minor. */
export const SERVER_VERSION = {
  major: '1',
  minor: '33',
  gitVersion: 'v1.33.0-portcullis-test',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.24.0',
  compiler: 'gc',
  platform: 'linux/amd64',
} as const;

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

interface ApiResource {
  name: string;
  singularName: string;
  namespaced: boolean;
  kind: string;
  verbs: string[];
  shortNames?: string[];
}

function apiResources(def: ResourceDef): ApiResource[] {
  const main: ApiResource = { name: def.resource, singularName: def.kind.toLowerCase(), namespaced: def.namespaced, kind: def.kind, verbs: VERBS };
  if (def.shortNames && def.shortNames.length > 0) main.shortNames = [...def.shortNames];
  if (def.resource !== 'pods') return [main];
  return [
    main,
    { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
    { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
    { name: 'pods/status', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
  ];
}

/** The named groups in the order they were declared, each with its versions. */
function groups(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const def of RESOURCES) {
    if (!def.group) continue;
    const versions = out.get(def.group) ?? [];
    if (!versions.includes(def.version)) versions.push(def.version);
    out.set(def.group, versions);
  }
  return out;
}

function groupVersion(group: string, version: string) {
  return { groupVersion: `${group}/${version}`, version };
}

/**
 * The discovery document at `pathname` (trailing slashes ignored), or undefined when the path
 * is not a discovery path (a resource path, or a group/version this server does not serve).
 */
export function discoveryDocument(pathname: string): unknown {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/version') return SERVER_VERSION;
  if (path === '/api') {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
  }
  if (path === '/apis') {
    return {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [...groups()].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => groupVersion(name, v)),
        preferredVersion: groupVersion(name, versions[0]!),
      })),
    };
  }
  const group = /^\/apis\/([^/]+)$/.exec(path);
  if (group) {
    const versions = groups().get(group[1]!);
    if (!versions) return undefined;
    return {
      kind: 'APIGroup',
      apiVersion: 'v1',
      name: group[1],
      versions: versions.map((v) => groupVersion(group[1]!, v)),
      preferredVersion: groupVersion(group[1]!, versions[0]!),
    };
  }
  const list = /^\/(?:api\/([^/]+)|apis\/([^/]+)\/([^/]+))$/.exec(path);
  if (list) {
    const [groupName, version] = list[1] !== undefined ? ['', list[1]] : [list[2]!, list[3]!];
    const defs = RESOURCES.filter((r) => r.group === groupName && r.version === version);
    if (defs.length === 0) return undefined;
    return {
      kind: 'APIResourceList',
      apiVersion: 'v1',
      groupVersion: apiVersionOf(defs[0]!),
      resources: defs.flatMap(apiResources),
    };
  }
  return undefined;
}
