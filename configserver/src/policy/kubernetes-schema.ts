/**
 * The Kubernetes OpenAPI schema of a Pod, for two questions the engine asks of raw `pod:` overlays
 * and of rendered pods: is every field one Kubernetes knows (a misspelt `priviledged` is an error,
 * never a field the API server would silently drop), and does every value have its schema's type.
 *
 * Field names come from @kubernetes/client-node's models (generated from the Kubernetes OpenAPI
 * document; the OpenAPI schemas set no `additionalProperties: false`, so a validator alone accepts
 * any unknown key). Types, enums and required fields come from kubernetes-models' validators,
 * generated from the same document.
 */
import { Pod } from 'kubernetes-models/v1/Pod';
import { formatPath, type Segment } from './path.ts';

interface Attribute {
  readonly baseName: string;
  readonly type: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };

/** Model name → field name → field type, for every model a Pod reaches. */
const models = new Map<string, Map<string, string>>();

const MODEL_TYPE = /^(?:Array<)?([A-Z][A-Za-z0-9]+)>?$/;

async function load(type: string): Promise<void> {
  if (models.has(type)) return;
  const module = (await import(`@kubernetes/client-node/dist/gen/models/${type}.js`)) as Record<string, Model>;
  const fields = new Map(module[type]!.getAttributeTypeMap().map((attribute) => [attribute.baseName, attribute.type]));
  models.set(type, fields);
  const nested = new Set<string>();
  for (const fieldType of fields.values()) {
    const match = MODEL_TYPE.exec(fieldType);
    if (match && match[1] !== 'Date' && match[1] !== 'IntOrString') nested.add(match[1]!);
  }
  await Promise.all([...nested].map(load));
}

// About 130 small modules, once per process (~0.1 s), so every check after it is synchronous.
await load('V1Pod');

export type KubernetesModel = 'V1Pod' | 'V1PodSpec' | 'V1Container' | 'V1ObjectMeta';

export interface UnknownField {
  /** Segments relative to the value checked. */
  readonly path: Segment[];
  /** The model the field is missing from (`V1SecurityContext`). */
  readonly model: string;
}

/** Every key under `value` that the Kubernetes schema of `model` does not have. */
export function unknownFields(value: unknown, model: KubernetesModel | string, path: Segment[] = []): UnknownField[] {
  const fields = models.get(model);
  if (!fields || value === null || typeof value !== 'object' || Array.isArray(value)) return [];
  const found: UnknownField[] = [];
  for (const [key, item] of Object.entries(value)) {
    const type = fields.get(key);
    if (type === undefined) {
      found.push({ path: [...path, key], model });
      continue;
    }
    const match = MODEL_TYPE.exec(type);
    if (!match || !models.has(match[1]!)) continue;
    if (type.startsWith('Array<')) {
      if (Array.isArray(item))
        item.forEach((entry, index) => {
          found.push(...unknownFields(entry, match[1]!, [...path, key, index]));
        });
    } else found.push(...unknownFields(item, match[1]!, [...path, key]));
  }
  return found;
}

/** `V1SecurityContext` → `SecurityContext`, as the Kubernetes API reference names it. */
export const modelName = (model: string) => model.replace(/^V1/, '');

export interface SchemaError {
  readonly path: string;
  readonly message: string;
}

/**
 * A pod's values against Kubernetes' OpenAPI schema (types, enums, required fields), as
 * kubernetes-models reports them. Unknown fields are `unknownFields`' job.
 */
export function podSchemaErrors(pod: unknown): SchemaError[] {
  try {
    new Pod({ ...(pod as object) } as ConstructorParameters<typeof Pod>[0]).validate();
    return [];
  } catch (err) {
    const errors = (err as { errors?: { instancePath?: string; message?: string }[] }).errors ?? [];
    if (errors.length === 0) return [{ path: '', message: (err as Error).message }];
    return errors.map((error) => ({
      path: formatPath(
        (error.instancePath ?? '')
          .split('/')
          .slice(1)
          .map((part) => (/^\d+$/.test(part) ? Number(part) : part.replace(/~1/g, '/').replace(/~0/g, '~'))),
      ),
      message: error.message ?? 'does not match the Kubernetes schema',
    }));
  }
}
