import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import type Docker from 'dockerode';
import { WebSocketServer } from 'ws';
import { runExec } from './exec.ts';
import { applyPatch, patchTypeOf } from './patch.ts';
import { decodePod, defaultPod, generateName, newUid, validateNamespaceName, validateObjectName, validatePod, type Pod } from './pod-spec.ts';
import type { PodRuntime } from './pod-runtime.ts';
import { checkPodSecurity } from './pod-security.ts';
import { parseQuantity, QUANTITY_ERROR } from './quantity.ts';
import { checkPodQuota } from './quota.ts';
import { discoveryDocument } from './discovery.ts';
import { apiVersionOf, findResource, RESOURCES, type ResourceDef } from './resources.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { schemaFieldErrors } from './model-validation.ts';
import { ApiError, errors, fieldError, success, type FieldError, type Status } from './status.ts';
import type { KubeObject, ObjectStore } from './store.ts';
import { serveWatch } from './watch.ts';

/** A validating admission webhook's answer: a denial message, or a full denial. */
export type AdmissionDenial = string | { message: string; code?: number; reason?: string };

export interface AdmissionWebhook {
  /** The webhook's name as its configuration names it, e.g. `deny-pods.example.com`. */
  name: string;
  /** Returns a denial, or undefined to allow the pod. */
  review: (pod: KubeObject, namespace: string) => AdmissionDenial | undefined;
}

/** Per-request state the tests may change while the server runs. */
export interface ApiControls {
  /** The user the bearer token authenticates as, named in RBAC denials. */
  user: string;
  /** `"verb resource"` pairs RBAC denies, e.g. `"create pods/exec"`. */
  denied: Set<string>;
  admissionWebhook: AdmissionWebhook | undefined;
  /** Subprotocols offered for exec, in order of preference. */
  execProtocols: string[];
  /** Time every request (and exec upgrade) waits before it is handled: a slow API server. */
  responseDelayMs: number;
}

export interface ApiContext {
  store: ObjectStore;
  runtime: PodRuntime;
  docker: Docker;
  token: string;
  controls: ApiControls;
  /** Each create body as received, newest last (bounded), so tests can assert what the server got. */
  received: Array<{ resource: string; namespace: string | undefined; body: unknown }>;
}

interface Route {
  def: ResourceDef;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
  watchPath: boolean;
}

const MAX_BODY_BYTES = 3 * 1024 * 1024;
const RECEIVED_LIMIT = 1000;

function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, status: Status): void {
  json(res, status.code, status);
}

function readBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(failureFromMessage(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(errors.badRequest(`error decoding from json: ${(error as Error).message}`));
      }
    });
    req.on('error', reject);
  });
}

function failureFromMessage(code: number, reason: string, message: string): ApiError {
  return new ApiError({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}

/** Parses `/api/v1/...` and `/apis/<group>/<version>/...` into a resource route. */
export function parseRoute(pathname: string): Route | undefined {
  const parts = pathname
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 2) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else return undefined;
  let watchPath = false;
  if (rest[0] === 'watch') {
    watchPath = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  let resource: string | undefined;
  let name: string | undefined;
  let subresource: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3 && !(rest.length === 3 && ['status', 'finalize'].includes(rest[2]!))) {
    namespace = rest[1];
    [resource, name, subresource] = rest.slice(2);
    if (rest.length > 5) return undefined;
  } else {
    [resource, name, subresource] = rest;
    if (rest.length > 3) return undefined;
  }
  if (!resource) return undefined;
  const def = findResource(group, version, resource);
  if (!def) return undefined;
  if (!def.namespaced && namespace !== undefined) return undefined;
  return { def, namespace, name, subresource, watchPath };
}

function resourceName(def: ResourceDef) {
  return { group: def.group, resource: def.resource };
}

function stripForList(o: KubeObject): Omit<KubeObject, 'apiVersion' | 'kind'> {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

function verbOf(method: string, route: Route, watch: boolean): string {
  switch (method) {
    case 'GET':
      if (watch) return 'watch';
      return route.name === undefined ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return route.name === undefined ? 'deletecollection' : 'delete';
    default:
      return method.toLowerCase();
  }
}

function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

function queryFlag(query: URLSearchParams, key: string): boolean {
  const v = query.get(key);
  return v === 'true' || v === '1';
}

/** The HTTP side of the server: authentication, RBAC simulation, routing and each verb. */
export class KubeApi {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => this.ctx.controls.execProtocols.find((p) => offered.has(p)) ?? false,
  });
  private readonly watches = new Set<() => void>();

  constructor(private readonly ctx: ApiContext) {}

  /** Ends every open watch (their clients see the stream close, as on an API server restart). */
  closeWatches(): void {
    for (const stop of [...this.watches]) stop();
  }

  close(): void {
    this.closeWatches();
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }

  private authenticated(req: IncomingMessage): boolean {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match) return false;
    const given = Buffer.from(match[1]!.trim());
    const expected = Buffer.from(this.ctx.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private authorize(verb: string, route: Route): void {
    const resource = route.subresource ? `${route.def.resource}/${route.subresource}` : route.def.resource;
    if (!this.ctx.controls.denied.has(`${verb} ${resource}`)) return;
    const scope = route.namespace !== undefined ? `in the namespace "${route.namespace}"` : 'at the cluster scope';
    throw errors.forbidden(resourceName(route.def), route.name, `User "${this.ctx.controls.user}" cannot ${verb} resource "${resource}" in API group "${route.def.group}" ${scope}`);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const delay = this.ctx.controls.responseDelayMs;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      if (!this.authenticated(req)) throw errors.unauthorized();
      const url = new URL(req.url ?? '/', 'https://kube-apiserver');
      if (this.discovery(url.pathname, res)) return;
      const route = parseRoute(url.pathname);
      if (!route) throw errors.pathNotFound();
      const method = req.method ?? 'GET';
      const watch = route.watchPath || queryFlag(url.searchParams, 'watch');
      this.authorize(verbOf(method, route, watch), route);
      if (route.subresource !== undefined) return await this.subresource(req, res, route, url);
      if (method === 'GET' && watch) return this.watch(res, route, url.searchParams);
      if (method === 'GET' && route.name === undefined) return json(res, 200, this.list(route, url.searchParams));
      if (method === 'GET') return json(res, 200, this.get(route));
      if (method === 'POST' && route.name === undefined) {
        const created = await this.create(route, await readBody(req), url.searchParams);
        return json(res, 201, created);
      }
      if (method === 'PUT' && route.name !== undefined) return json(res, 200, this.replace(route, await readBody(req), url.searchParams));
      if (method === 'PATCH' && route.name !== undefined) {
        const type = patchTypeOf(req.headers['content-type']);
        return json(res, 200, this.patch(route, await readBody(req), type, url.searchParams));
      }
      if (method === 'DELETE' && route.name !== undefined) {
        const [code, body] = this.delete(route, route.name, await readBody(req), url.searchParams);
        return json(res, code, body);
      }
      if (method === 'DELETE') return json(res, 200, this.deleteCollection(route, await readBody(req), url.searchParams));
      throw errors.methodNotAllowed();
    } catch (error) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof ApiError) return sendStatus(res, error.status);
      sendStatus(res, errors.internal((error as Error).message).status);
    }
  }

  private discovery(pathname: string, res: ServerResponse): boolean {
    const path = pathname.replace(/\/+$/, '') || '/';
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return true;
    }
    const document = discoveryDocument(path);
    if (document === undefined) return false;
    json(res, 200, document);
    return true;
  }

  private list(route: Route, query: URLSearchParams): Record<string, unknown> {
    const labels = parseLabelSelector(query.get('labelSelector') ?? undefined);
    const fieldKeys = Object.keys(route.def.fields({ apiVersion: '', kind: '', metadata: { name: '', namespace: '', uid: '', resourceVersion: '', creationTimestamp: '' } }));
    const fields = parseFieldSelector(query.get('fieldSelector') ?? undefined, fieldKeys);
    let items = this.ctx.store.list(route.def.resource, route.namespace).filter((o) => labels(o.metadata.labels ?? {}) && fields(route.def.fields(o)));
    const metadata: Record<string, unknown> = { resourceVersion: this.ctx.store.currentResourceVersion() };
    // Pagination: the continue token names the last key served; items are in key order.
    const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const token = query.get('continue');
    if (token) {
      let after: string;
      try {
        after = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { start: string }).start;
        if (typeof after !== 'string') throw new Error('no start');
      } catch {
        throw errors.badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
      }
      items = items.filter((o) => keyOf(o) > after);
    }
    const limit = Number(query.get('limit') ?? '0');
    if (Number.isInteger(limit) && limit > 0 && items.length > limit) {
      const page = items.slice(0, limit);
      metadata.continue = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: Number(metadata.resourceVersion), start: keyOf(page[page.length - 1]!) })).toString('base64url');
      metadata.remainingItemCount = items.length - limit;
      items = page;
    }
    return { kind: `${route.def.kind}List`, apiVersion: apiVersionOf(route.def), metadata, items: items.map(stripForList) };
  }

  private get(route: Route): KubeObject {
    const o = this.ctx.store.get(route.def.resource, route.namespace, route.name!);
    if (!o) throw errors.notFound(resourceName(route.def), route.name!);
    return o;
  }

  private watch(res: ServerResponse, route: Route, query: URLSearchParams): void {
    const labels = parseLabelSelector(query.get('labelSelector') ?? undefined);
    const fieldKeys = Object.keys(route.def.fields({ apiVersion: '', kind: '', metadata: { name: '', namespace: '', uid: '', resourceVersion: '', creationTimestamp: '' } }));
    const byField = parseFieldSelector(query.get('fieldSelector') ?? undefined, fieldKeys);
    const name = route.name;
    const fields = name === undefined ? byField : (f: Record<string, string>) => f['metadata.name'] === name && byField(f);
    const timeout = query.get('timeoutSeconds');
    const stop = serveWatch(
      this.ctx.store,
      {
        def: route.def,
        namespace: route.namespace,
        labels,
        fields,
        resourceVersion: query.get('resourceVersion') ?? '',
        timeoutSeconds: timeout === null ? undefined : Number(timeout),
        allowWatchBookmarks: queryFlag(query, 'allowWatchBookmarks'),
      },
      res,
    );
    this.watches.add(stop);
    res.on('close', () => this.watches.delete(stop));
  }

  private requireNamespace(route: Route, name: string): void {
    if (!route.def.namespaced || route.namespace === undefined) return;
    const ns = this.ctx.store.get('namespaces', undefined, route.namespace);
    if (!ns) throw errors.notFound({ group: '', resource: 'namespaces' }, route.namespace);
    if ((ns.status as { phase?: string } | undefined)?.phase === 'Terminating')
      throw errors.forbidden(resourceName(route.def), name, `unable to create new content in namespace ${route.namespace} because it is being terminated`);
  }

  private decode(route: Route, body: unknown): KubeObject {
    if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body))
      throw errors.badRequest(`${route.def.kind} in version "${route.def.version}" cannot be handled as a ${route.def.kind}: Object 'Kind' is missing in '${JSON.stringify(body ?? '')}'`);
    const object = route.def.resource === 'pods' ? decodePod(body) : (structuredClone(body) as KubeObject);
    if (object.kind !== undefined && object.kind !== route.def.kind)
      throw errors.badRequest(`${route.def.kind} in version "${route.def.version}" cannot be handled as a ${route.def.kind}: the kind "${object.kind}" does not match`);
    object.kind = route.def.kind;
    object.apiVersion = apiVersionOf(route.def);
    object.metadata = { ...((object.metadata as object | undefined) ?? {}) } as KubeObject['metadata'];
    return object;
  }

  /** Kubernetes' own schema first (kubernetes-models), then the checks its validation code adds. */
  private validate(def: ResourceDef, o: KubeObject): FieldError[] {
    const all = [...schemaFieldErrors(def.resource, o), ...this.validateSemantics(def, o)];
    // A missing field both find is reported once, as the API server does.
    return all.filter((error, index) => all.findIndex((other) => other.field === error.field && other.reason === error.reason) === index);
  }

  private validateSemantics(def: ResourceDef, o: KubeObject): FieldError[] {
    switch (def.resource) {
      case 'pods':
        return validatePod(o);
      case 'namespaces':
        return validateNamespaceName(o.metadata.name);
      case 'resourcequotas': {
        const hard = (o.spec as { hard?: Record<string, unknown> } | undefined)?.hard ?? {};
        return Object.entries(hard)
          .filter(([, v]) => parseQuantity(v) === undefined)
          .map(([k, v]) => fieldError.invalid(`spec.hard[${k}]`, v, QUANTITY_ERROR));
      }
      case 'leases': {
        const d = (o.spec as { leaseDurationSeconds?: number } | undefined)?.leaseDurationSeconds;
        return d !== undefined && d <= 0 ? [fieldError.invalid('spec.leaseDurationSeconds', d, 'must be greater than 0')] : [];
      }
      default:
        return [];
    }
  }

  private admitPod(pod: KubeObject, namespace: string): void {
    const name = pod.metadata.name;
    const ns = this.ctx.store.get('namespaces', undefined, namespace);
    const labels = ns?.metadata.labels ?? {};
    const enforce = labels['pod-security.kubernetes.io/enforce'];
    if (enforce === 'baseline' || enforce === 'restricted') {
      const version = labels['pod-security.kubernetes.io/enforce-version'] ?? 'latest';
      const violations = checkPodSecurity(enforce, pod);
      if (violations.length > 0) throw errors.forbidden({ group: '', resource: 'pods' }, name, `violates PodSecurity "${enforce}:${version}": ${violations.join(', ')}`);
    }
    const webhook = this.ctx.controls.admissionWebhook;
    const denial = webhook?.review(structuredClone(pod), namespace);
    if (webhook && denial !== undefined) {
      const d = typeof denial === 'string' ? { message: denial } : denial;
      const code = d.code !== undefined && d.code >= 400 ? d.code : 403;
      const reason = d.reason ?? (code === 403 ? 'Forbidden' : undefined);
      const status: Status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `admission webhook "${webhook.name}" denied the request: ${d.message}`,
        code,
      };
      if (reason) status.reason = reason;
      throw new ApiError(status);
    }
    const quota = checkPodQuota(this.ctx.store, namespace, name);
    if (quota) throw quota;
  }

  private async create(route: Route, body: unknown, query: URLSearchParams): Promise<KubeObject> {
    const { def } = route;
    const o = this.decode(route, body);
    if (def.namespaced) {
      if (o.metadata.namespace !== undefined && o.metadata.namespace !== '' && o.metadata.namespace !== route.namespace)
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      o.metadata.namespace = route.namespace!;
    } else delete o.metadata.namespace;
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = generateName(o.metadata.generateName);
    if (!o.metadata.name) throw errors.invalid(def.kind, def.group, '', [{ ...fieldError.required('metadata.name'), message: 'Required value: name or generateName is required' }]);
    this.ctx.received.push({ resource: def.resource, namespace: route.namespace, body: structuredClone(body) });
    if (this.ctx.received.length > RECEIVED_LIMIT) this.ctx.received.splice(0, this.ctx.received.length - RECEIVED_LIMIT);
    const nameErrors = def.resource === 'namespaces' ? [] : validateObjectName(o.metadata.name);
    const invalid = [...nameErrors, ...this.validate(def, o)];
    if (invalid.length > 0) throw errors.invalid(def.kind, def.group, o.metadata.name, invalid);
    this.requireNamespace(route, o.metadata.name);

    o.metadata.uid = newUid();
    o.metadata.creationTimestamp = now();
    o.metadata.resourceVersion = '';
    delete o.metadata.deletionTimestamp;
    if (def.resource === 'pods') {
      defaultPod(o);
      this.admitPod(o, route.namespace!);
    } else if (def.resource === 'namespaces') {
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
      o.spec = { finalizers: ['kubernetes'] };
      o.status = { phase: 'Active' };
    } else if (def.resource === 'resourcequotas') {
      const hard = (o.spec as { hard?: Record<string, string> } | undefined)?.hard ?? {};
      o.status = { hard: { ...hard }, used: {} };
    }
    if (this.ctx.store.get(def.resource, route.namespace, o.metadata.name)) throw errors.alreadyExists(resourceName(def), o.metadata.name);
    if (query.get('dryRun') === 'All') return o;
    const stored = this.ctx.store.create(def.resource, o);
    if (def.resource === 'pods') this.ctx.runtime.admit(stored as Pod);
    return stored;
  }

  /** Shared by PUT and PATCH: checks the new object against the stored one and stores it. */
  private store(route: Route, current: KubeObject, next: KubeObject, query: URLSearchParams): KubeObject {
    const { def } = route;
    const name = route.name!;
    if (next.metadata?.name !== undefined && next.metadata.name !== name) throw errors.badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
    if (def.namespaced && next.metadata?.namespace !== undefined && next.metadata.namespace !== route.namespace)
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    if (next.metadata?.resourceVersion && next.metadata.resourceVersion !== current.metadata.resourceVersion) throw errors.conflict(resourceName(def), name);
    if (next.metadata?.uid && next.metadata.uid !== current.metadata.uid) throw errors.conflict(resourceName(def), name);
    const merged: KubeObject = {
      ...next,
      apiVersion: apiVersionOf(def),
      kind: def.kind,
      metadata: {
        ...next.metadata,
        name,
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        resourceVersion: current.metadata.resourceVersion,
      },
    };
    if (def.namespaced) merged.metadata.namespace = route.namespace!;
    if (current.metadata.deletionTimestamp) {
      merged.metadata.deletionTimestamp = current.metadata.deletionTimestamp;
      if (current.metadata.deletionGracePeriodSeconds !== undefined) merged.metadata.deletionGracePeriodSeconds = current.metadata.deletionGracePeriodSeconds;
    }
    if (def.resource === 'pods' || def.resource === 'namespaces' || def.resource === 'resourcequotas') merged.status = current.status;
    if (def.resource === 'namespaces') merged.metadata.labels = { ...(merged.metadata.labels ?? {}), 'kubernetes.io/metadata.name': name };
    if (def.resource === 'pods' && JSON.stringify(merged.spec) !== JSON.stringify(current.spec)) {
      throw errors.invalid(def.kind, def.group, name, [
        fieldError.forbidden(
          'spec',
          'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
        ),
      ]);
    }
    const invalid = this.validate(def, merged);
    if (invalid.length > 0) throw errors.invalid(def.kind, def.group, name, invalid);
    if (query.get('dryRun') === 'All') return merged;
    const stored = this.ctx.store.update(def.resource, merged);
    if (!stored) throw errors.notFound(resourceName(def), name);
    return stored;
  }

  private replace(route: Route, body: unknown, query: URLSearchParams): KubeObject {
    const current = this.get(route);
    return this.store(route, current, this.decode(route, body), query);
  }

  private patch(route: Route, body: unknown, type: 'json' | 'merge', query: URLSearchParams): KubeObject {
    const current = this.get(route);
    const patched = applyPatch(current, body, type);
    if (!patched || typeof patched !== 'object' || Array.isArray(patched)) throw errors.badRequest('the patch did not produce an object');
    const next = patched as KubeObject;
    // A patch that does not name a resourceVersion is not a precondition.
    if (next.metadata?.resourceVersion === current.metadata.resourceVersion) next.metadata.resourceVersion = '';
    return this.store(route, current, next, query);
  }

  private deleteOptions(body: unknown, query: URLSearchParams): { grace: number | undefined; uid?: string; resourceVersion?: string; dryRun: boolean } {
    const b = (body && typeof body === 'object' ? body : {}) as {
      gracePeriodSeconds?: number;
      preconditions?: { uid?: string; resourceVersion?: string };
      dryRun?: string[];
    };
    const q = query.get('gracePeriodSeconds');
    const grace = q !== null ? Number(q) : b.gracePeriodSeconds;
    const out: { grace: number | undefined; uid?: string; resourceVersion?: string; dryRun: boolean } = {
      grace: grace !== undefined && Number.isFinite(grace) ? Math.max(0, Math.floor(grace)) : undefined,
      dryRun: query.get('dryRun') === 'All' || (b.dryRun ?? []).includes('All'),
    };
    if (b.preconditions?.uid) out.uid = b.preconditions.uid;
    if (b.preconditions?.resourceVersion) out.resourceVersion = b.preconditions.resourceVersion;
    return out;
  }

  private delete(route: Route, name: string, body: unknown, query: URLSearchParams): [number, unknown] {
    const { def } = route;
    const current = this.ctx.store.get(def.resource, route.namespace, name);
    if (!current) throw errors.notFound(resourceName(def), name);
    const options = this.deleteOptions(body, query);
    if (options.uid && options.uid !== current.metadata.uid)
      throw failureFromMessage(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${def.group ? `${def.resource}.${def.group}` : def.resource} "${name}": Precondition failed: UID in precondition: ${options.uid}, UID in object meta: ${current.metadata.uid}`,
      );
    if (options.resourceVersion && options.resourceVersion !== current.metadata.resourceVersion)
      throw failureFromMessage(
        409,
        'Conflict',
        `Operation cannot be fulfilled on ${def.group ? `${def.resource}.${def.group}` : def.resource} "${name}": Precondition failed: ResourceVersion in precondition: ${options.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`,
      );
    if (options.dryRun) return [200, def.returnsDeletedObject ? current : success(resourceName(def), name, current.metadata.uid)];
    if (def.resource === 'pods') return [200, this.deletePod(current, options.grace)];
    if (def.resource === 'namespaces') return [200, this.deleteNamespace(current)];
    const removed = this.ctx.store.remove(def.resource, route.namespace, name);
    return [200, def.returnsDeletedObject ? removed : success(resourceName(def), name, current.metadata.uid)];
  }

  /**
   * Graceful deletion as the pod registry does it: a pod on the node gets deletionTimestamp
   * and stays until its containers are stopped; an unscheduled or finished pod, or
   * gracePeriodSeconds=0, is removed at once (its containers are then removed in the background).
   */
  deletePod(pod: KubeObject, requestedGrace: number | undefined): KubeObject {
    const spec = pod.spec as Pod['spec'];
    const phase = (pod.status as { phase?: string } | undefined)?.phase;
    let grace = requestedGrace ?? spec.terminationGracePeriodSeconds ?? 30;
    if (!spec.nodeName || phase === 'Succeeded' || phase === 'Failed') grace = 0;
    if (pod.metadata.deletionTimestamp && grace !== 0) return pod;
    if (grace === 0) {
      const removed = this.ctx.store.remove('pods', pod.metadata.namespace, pod.metadata.name) ?? pod;
      this.ctx.runtime.track(this.ctx.runtime.delete(pod, 0));
      return removed;
    }
    const marked =
      this.ctx.store.mutate('pods', pod.metadata.namespace, pod.metadata.name, (p) => {
        p.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
        p.metadata.deletionGracePeriodSeconds = grace;
      }) ?? pod;
    this.ctx.runtime.track(this.ctx.runtime.delete(marked, grace));
    return marked;
  }

  private deleteNamespace(ns: KubeObject): KubeObject {
    const name = ns.metadata.name;
    const marked =
      this.ctx.store.mutate('namespaces', undefined, name, (n) => {
        n.metadata.deletionTimestamp ??= now();
        n.status = { phase: 'Terminating' };
      }) ?? ns;
    const pods = this.ctx.store.list('pods', name);
    const work = Promise.allSettled(pods.map((p) => this.ctx.runtime.delete(p, 0))).then(() => {
      for (const def of RESOURCES.filter((r) => r.namespaced)) {
        for (const o of this.ctx.store.list(def.resource, name)) this.ctx.store.remove(def.resource, name, o.metadata.name);
      }
      this.ctx.store.remove('namespaces', undefined, name);
    });
    this.ctx.runtime.track(work);
    return marked;
  }

  private deleteCollection(route: Route, body: unknown, query: URLSearchParams): Record<string, unknown> {
    const listed = this.list(route, query) as { items: KubeObject[] };
    const options = this.deleteOptions(body, query);
    const items = listed.items.map((item) => {
      const full = this.ctx.store.get(route.def.resource, route.namespace, item.metadata.name);
      if (!full || options.dryRun) return item;
      if (route.def.resource === 'pods') return stripForList(this.deletePod(full, options.grace));
      return stripForList(this.ctx.store.remove(route.def.resource, route.namespace, item.metadata.name) ?? full);
    });
    return { kind: `${route.def.kind}List`, apiVersion: apiVersionOf(route.def), metadata: { resourceVersion: this.ctx.store.currentResourceVersion() }, items };
  }

  private async subresource(req: IncomingMessage, res: ServerResponse, route: Route, url: URL): Promise<void> {
    if (route.def.resource === 'pods' && route.subresource === 'status' && req.method === 'GET') return json(res, 200, this.get(route));
    if (route.def.resource === 'pods' && route.subresource === 'exec') {
      this.get(route);
      throw errors.badRequest('Upgrade request required');
    }
    if (route.def.resource === 'pods' && route.subresource === 'log' && req.method === 'GET') return this.log(res, route, url.searchParams);
    if ((route.def.resource === 'namespaces' || route.def.resource === 'resourcequotas') && route.subresource === 'status' && req.method === 'GET') return json(res, 200, this.get(route));
    throw errors.pathNotFound();
  }

  private async log(res: ServerResponse, route: Route, query: URLSearchParams): Promise<void> {
    const pod = this.get(route) as Pod;
    const containerName = query.get('container') ?? pod.spec.containers[0]?.name ?? '';
    if (!pod.spec.containers.some((c) => c.name === containerName)) throw errors.badRequest(`container ${containerName} is not valid for pod ${pod.metadata.name}`);
    const id = this.ctx.runtime.containerId(pod, containerName);
    if (!id) throw errors.badRequest(`container "${containerName}" in pod "${pod.metadata.name}" is waiting to start: ContainerCreating`);
    const buffer = (await this.ctx.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    // Demultiplex Docker's 8-byte framed log stream into plain text (the API serves it as text/plain).
    const parts: Buffer[] = [];
    for (let offset = 0; offset + 8 <= buffer.length; ) {
      const size = buffer.readUInt32BE(offset + 4);
      parts.push(buffer.subarray(offset + 8, offset + 8 + size));
      offset += 8 + size;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(Buffer.concat(parts));
  }

  /** pods/exec: everything is checked before the upgrade, so a refusal is an HTTP Status as on a cluster. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // After 'upgrade' the HTTP server no longer watches the socket: a reset must not crash the process.
    socket.on('error', () => socket.destroy());
    const delay = this.ctx.controls.responseDelayMs;
    if (delay > 0) {
      setTimeout(() => this.upgradeNow(req, socket, head), delay);
      return;
    }
    this.upgradeNow(req, socket, head);
  }

  private upgradeNow(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: Status) => {
      const text = JSON.stringify(status);
      socket.end(`HTTP/1.1 ${status.code} ${status.reason ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`);
    };
    try {
      if (!this.authenticated(req)) throw errors.unauthorized();
      const url = new URL(req.url ?? '/', 'https://kube-apiserver');
      const route = parseRoute(url.pathname);
      if (route?.def.resource !== 'pods' || route.subresource !== 'exec' || route.name === undefined) throw errors.pathNotFound();
      this.authorize('create', route);
      const pod = this.get(route) as Pod;
      const q = url.searchParams;
      const command = q.getAll('command');
      const containers = pod.spec.containers.map((c) => c.name);
      let container = q.get('container') ?? '';
      if (!container) {
        if (containers.length !== 1) throw errors.badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${containers.join(' ')}]`);
        container = containers[0]!;
      }
      if (!containers.includes(container)) throw errors.badRequest(`container ${container} is not valid for pod ${pod.metadata.name}`);
      const phase = (pod.status as { phase?: string }).phase;
      if (phase === 'Succeeded' || phase === 'Failed') throw errors.badRequest(`cannot exec into a container in a completed pod; current phase is ${phase}`);
      if (command.length === 0) throw errors.badRequest('you must specify at least 1 command');
      const stdin = queryFlag(q, 'stdin');
      const stdout = queryFlag(q, 'stdout');
      const stderr = queryFlag(q, 'stderr');
      const tty = queryFlag(q, 'tty');
      if (!stdin && !stdout && !stderr) throw errors.badRequest('you must specify at least one of stdin, stdout, stderr');
      if (!pod.spec.nodeName) throw errors.badRequest(`pod ${pod.metadata.name} does not have a host assigned`);
      const id = this.ctx.runtime.containerId(pod, container);
      const statuses = (pod.status as { containerStatuses?: Array<{ name: string; state?: Record<string, unknown> }> }).containerStatuses ?? [];
      const running = statuses.find((s) => s.name === container)?.state?.running !== undefined;
      if (!id || !running) throw failureFromMessage(500, 'InternalError', `unable to upgrade connection: container not found ("${container}")`);
      const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
      if (!offered.some((p) => this.ctx.controls.execProtocols.includes(p)))
        throw errors.badRequest(`unable to upgrade connection: no supported subprotocol offered; supported: ${this.ctx.controls.execProtocols.join(', ')}`);
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        void runExec(this.ctx.docker, ws, ws.protocol, { containerId: id, command, stdin, stdout, stderr, tty });
      });
    } catch (error) {
      refuse(error instanceof ApiError ? error.status : errors.internal((error as Error).message).status);
    }
  }
}
