/**
 * The object store: one global resourceVersion counter (as etcd's revision), the current
 * objects per resource, and a bounded event history so a watch can resume from a
 * resourceVersion a list returned (client-node's ListWatch and informers do exactly that).
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  generateName?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  generation?: number;
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  resource: string;
  type: EventType;
  object: KubeObject;
  /** The object before a MODIFIED event, so selector watches can turn it into ADDED/DELETED. */
  previous?: KubeObject;
  rv: number;
}

type Listener = (event: StoredEvent) => void;

const HISTORY_LIMIT = 10_000;

function key(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class ObjectStore {
  private rv = 1000;
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private history: StoredEvent[] = [];
  /** The oldest resourceVersion a watch may resume from. */
  private compactedRv = 1000;
  private readonly listeners = new Set<Listener>();

  currentResourceVersion(): string {
    return String(this.rv);
  }

  private bucket(resource: string): Map<string, KubeObject> {
    let b = this.objects.get(resource);
    if (!b) {
      b = new Map();
      this.objects.set(resource, b);
    }
    return b;
  }

  get(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.bucket(resource).get(key(namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  list(resource: string, namespace?: string): KubeObject[] {
    const all = [...this.bucket(resource).values()];
    return all
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .sort((a, b) => {
        // Code-unit order, as etcd's byte order of keys, so `continue` tokens compare the same way.
        const ka = key(a.metadata.namespace, a.metadata.name);
        const kb = key(b.metadata.namespace, b.metadata.name);
        return ka < kb ? -1 : ka > kb ? 1 : 0;
      })
      .map((o) => structuredClone(o));
  }

  /** Stores a new object; the caller has checked it does not exist. Returns the stored copy. */
  create(resource: string, object: KubeObject): KubeObject {
    const stored = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.rv);
    this.bucket(resource).set(key(stored.metadata.namespace, stored.metadata.name), stored);
    this.emit({ resource, type: 'ADDED', object: stored, rv: this.rv });
    return structuredClone(stored);
  }

  /** Replaces an existing object with a new resourceVersion; undefined when it is gone. */
  update(resource: string, object: KubeObject): KubeObject | undefined {
    const k = key(object.metadata.namespace, object.metadata.name);
    const previous = this.bucket(resource).get(k);
    if (!previous) return undefined;
    const stored = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.rv);
    this.bucket(resource).set(k, stored);
    this.emit({ resource, type: 'MODIFIED', object: stored, previous, rv: this.rv });
    return structuredClone(stored);
  }

  /** Applies `change` to the current object (read-modify-write in one tick, so no update is lost). */
  mutate(resource: string, namespace: string | undefined, name: string, change: (o: KubeObject) => void): KubeObject | undefined {
    const current = this.get(resource, namespace, name);
    if (!current) return undefined;
    const before = JSON.stringify(current);
    change(current);
    if (JSON.stringify(current) === before) return current;
    return this.update(resource, current);
  }

  remove(resource: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const k = key(namespace, name);
    const previous = this.bucket(resource).get(k);
    if (!previous) return undefined;
    this.bucket(resource).delete(k);
    const object = structuredClone(previous);
    object.metadata.resourceVersion = String(++this.rv);
    this.emit({ resource, type: 'DELETED', object, rv: this.rv });
    return structuredClone(object);
  }

  /**
   * Events of `resource` after `rv`, or undefined when history before it was compacted
   * (the watch then answers 410 Expired).
   */
  eventsSince(resource: string, rv: number): StoredEvent[] | undefined {
    if (rv < this.compactedRv) return undefined;
    return this.history.filter((e) => e.resource === resource && e.rv > rv);
  }

  oldestResourceVersion(): number {
    return this.compactedRv;
  }

  /** Forgets all history, as etcd compaction does; a watch from an older version then gets 410. */
  compact(): void {
    this.history = [];
    this.compactedRv = this.rv;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StoredEvent): void {
    this.history.push(event);
    if (this.history.length > HISTORY_LIMIT) {
      const dropped = this.history.splice(0, this.history.length - HISTORY_LIMIT);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const listener of [...this.listeners]) listener(event);
  }
}
