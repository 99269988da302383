import type { ServerResponse } from 'node:http';
import type { ResourceDef } from './resources.ts';
import type { FieldMatcher, Matcher } from './selectors.ts';
import { errors } from './status.ts';
import type { KubeObject, ObjectStore, StoredEvent } from './store.ts';
import { apiVersionOf } from './resources.ts';

export interface WatchRequest {
  def: ResourceDef;
  namespace: string | undefined;
  labels: Matcher;
  fields: FieldMatcher;
  /** `resourceVersion` as sent: '' or '0' start with synthetic ADDED events of the current state. */
  resourceVersion: string;
  timeoutSeconds: number | undefined;
  allowWatchBookmarks: boolean;
}

/** A real API server sends bookmarks about once a minute; sooner here keeps idle watches alive. */
const BOOKMARK_INTERVAL_MS = 10_000;

/**
 * Streams watch events as newline-delimited JSON (`{"type":..,"object":..}`), honouring
 * selectors the way the watch cache does: an object that stops matching is sent as DELETED,
 * one that starts matching as ADDED. Returns a function that ends the watch.
 */
export function serveWatch(store: ObjectStore, w: WatchRequest, res: ServerResponse): () => void {
  const matches = (o: KubeObject | undefined): boolean =>
    o !== undefined && (w.namespace === undefined || o.metadata.namespace === w.namespace) && w.labels(o.metadata.labels ?? {}) && w.fields(w.def.fields(o));

  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  const send = (type: string, object: unknown) => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const translate = (e: StoredEvent) => {
    if (e.resource !== w.def.resource) return;
    if (e.type === 'MODIFIED') {
      const was = matches(e.previous);
      const is = matches(e.object);
      if (was && is) send('MODIFIED', e.object);
      else if (!was && is) send('ADDED', e.object);
      else if (was && !is) send('DELETED', e.object);
    } else if (matches(e.object)) send(e.type, e.object);
  };

  // Replay and subscribe in one tick so no event falls between them.
  if (w.resourceVersion === '' || w.resourceVersion === '0') {
    for (const o of store.list(w.def.resource, w.namespace)) if (matches(o)) send('ADDED', o);
  } else {
    const rv = Number(w.resourceVersion);
    const past = Number.isInteger(rv) ? store.eventsSince(w.def.resource, rv) : undefined;
    if (!Number.isInteger(rv)) {
      send('ERROR', errors.badRequest(`invalid resource version: ${w.resourceVersion}`).status);
      res.end();
      return () => undefined;
    }
    if (!past) {
      send('ERROR', errors.gone(`too old resource version: ${rv} (${store.oldestResourceVersion()})`).status);
      res.end();
      return () => undefined;
    }
    for (const e of past) translate(e);
  }
  const unsubscribe = store.subscribe(translate);
  const timers: NodeJS.Timeout[] = [];
  if (w.allowWatchBookmarks) {
    timers.push(
      setInterval(
        () =>
          send('BOOKMARK', {
            kind: w.def.kind,
            apiVersion: apiVersionOf(w.def),
            metadata: { resourceVersion: store.currentResourceVersion(), annotations: { 'k8s.io/initial-events-end': 'true' } },
          }),
        BOOKMARK_INTERVAL_MS,
      ),
    );
  }
  const stop = () => {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    if (!res.writableEnded) res.end();
  };
  if (w.timeoutSeconds !== undefined && w.timeoutSeconds > 0) timers.push(setTimeout(stop, w.timeoutSeconds * 1000));
  res.on('close', stop);
  return stop;
}
