import { errors } from './status.ts';

/**
 * PATCH bodies: JSON Patch (RFC 6902, client-node's default content type), JSON Merge Patch
 * (RFC 7386), and strategic merge patch treated as a merge patch (this server knows no
 * patch strategies: lists are replaced whole, which is right for labels and annotations).
 */
export type PatchType = 'json' | 'merge';

export function patchTypeOf(contentType: string | undefined): PatchType {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json-patch+json') return 'json';
  if (type === 'application/merge-patch+json' || type === 'application/strategic-merge-patch+json') return 'merge';
  throw errors.unsupportedMediaType(type);
}

export function applyPatch(target: unknown, patch: unknown, type: PatchType): unknown {
  return type === 'merge' ? mergePatch(target, patch) : jsonPatch(target, patch);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return structuredClone(patch);
  const result: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? structuredClone(target as Record<string, unknown>) : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete result[k];
    else result[k] = mergePatch(result[k], v);
  }
  return result;
}

function decodePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw errors.badRequest(`invalid JSON pointer: ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

type Container = Record<string, unknown> | unknown[];

function parentOf(doc: unknown, path: string[], op: string): { parent: Container; last: string } {
  let node: unknown = doc;
  for (const part of path.slice(0, -1)) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (node && typeof node === 'object') node = (node as Record<string, unknown>)[part];
    else node = undefined;
    if (node === undefined) throw errors.internal(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
  }
  if (!node || typeof node !== 'object') throw errors.internal(`${op} operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
  return { parent: node as Container, last: path[path.length - 1]! };
}

function getAt(doc: unknown, path: string[]): unknown {
  let node: unknown = doc;
  for (const part of path) {
    if (Array.isArray(node)) node = node[Number(part)];
    else if (node && typeof node === 'object') node = (node as Record<string, unknown>)[part];
    else return undefined;
  }
  return node;
}

function jsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw errors.badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = structuredClone(target);
  for (const raw of patch) {
    const op = raw as { op?: string; path?: string; value?: unknown; from?: string };
    const path = decodePointer(op.path ?? '');
    switch (op.op) {
      case 'add':
      case 'replace': {
        if (path.length === 0) {
          doc = structuredClone(op.value);
          break;
        }
        const { parent, last } = parentOf(doc, path, op.op);
        if (Array.isArray(parent)) {
          const index = last === '-' ? parent.length : Number(last);
          if (op.op === 'add') parent.splice(index, 0, structuredClone(op.value));
          else parent[index] = structuredClone(op.value);
        } else {
          if (op.op === 'replace' && !Object.hasOwn(parent, last)) throw errors.internal(`replace operation does not apply: doc is missing key: /${path.join('/')}: missing value`);
          parent[last] = structuredClone(op.value);
        }
        break;
      }
      case 'remove': {
        const { parent, last } = parentOf(doc, path, 'remove');
        if (Array.isArray(parent)) parent.splice(Number(last), 1);
        else {
          if (!Object.hasOwn(parent, last)) throw errors.internal(`remove operation does not apply: doc is missing path: "/${path.join('/')}": missing value`);
          delete parent[last];
        }
        break;
      }
      case 'test':
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(op.value)) throw errors.internal(`testing value /${path.join('/')} failed: test failed`);
        break;
      case 'copy':
      case 'move': {
        const from = decodePointer(op.from ?? '');
        const value = structuredClone(getAt(doc, from));
        if (op.op === 'move') doc = jsonPatch(doc, [{ op: 'remove', path: op.from }]);
        doc = jsonPatch(doc, [{ op: 'add', path: op.path, value }]);
        break;
      }
      default:
        throw errors.badRequest(`Unexpected kind: ${String(op.op)}`);
    }
  }
  return doc;
}
