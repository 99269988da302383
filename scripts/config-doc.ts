/**
 * docs/config-<program>.md: each program's configuration reference, generated from its zod
 * schema (z.toJSONSchema gives keys, types, defaults, required keys and patterns) and the
 * doc comments beside each key in the schema's source (or a key's .describe() text).
 *   npx tsx scripts/config-doc.ts           print the pages
 *   npx tsx scripts/config-doc.ts --write   rewrite docs/config-*.md
 * test/docs-config.test.ts fails when a page is not what this prints.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { z } from 'zod';
import { DURATION_PATTERN as WIRE_DURATION_PATTERN } from '../wire/src/duration.ts';
import { ConfigSchema as AuthserverConfigSchema } from '../authserver/src/config.ts';
import { ConfigSchema as ConfigserverConfigSchema } from '../configserver/src/config.ts';
import { GatewayConfigSchema } from '../gateway/src/settings/gateway-config.ts';
import { BaselineSchema } from '../configserver/src/policy/schema.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Program {
  readonly name: string;
  readonly summary: string;
  readonly schema: z.ZodType;
  /** Files whose doc comments describe the schema's keys. */
  readonly sources: readonly string[];
  /** A policy file rather than a program's config (no log, metrics or health keys). */
  readonly policy?: boolean;
}

export const PROGRAMS: readonly Program[] = [
  {
    name: 'gateway',
    summary: 'The SSH gateway: `gateway --config gateway.yaml`. Plumbing only; every per-user decision comes from the webhooks.',
    schema: GatewayConfigSchema,
    sources: ['gateway/src/settings/gateway-config.ts', 'gateway/src/settings/duration.ts'],
  },
  {
    name: 'authserver',
    summary: 'The auth webhook: `authserver --config authserver.yaml`.',
    schema: AuthserverConfigSchema,
    sources: ['authserver/src/config.ts', 'kit/src/webhook-config.ts'],
  },
  {
    name: 'configserver',
    summary: 'The config webhook with the policy engine: `configserver --config configserver.yaml`.',
    schema: ConfigserverConfigSchema,
    sources: ['configserver/src/config.ts', 'kit/src/webhook-config.ts'],
  },
  {
    name: 'policy-baseline',
    summary: "The policy set's `baseline.yaml` (see policies/README.md), read by the configserver; wire schemas (`docker.execution`) are documented in wire/.",
    schema: BaselineSchema,
    sources: ['configserver/src/policy/schema.ts'],
    policy: true,
  },
];

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  pattern?: string;
  format?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  maxLength?: number;
  additionalProperties?: boolean | JsonSchema;
}

/** Doc comments of object-literal keys, with the chain of enclosing keys that leads to each. */
function docComments(files: readonly string[]): { chain: string[]; text: string }[] {
  const found: { chain: string[]; text: string }[] = [];
  for (const file of files) {
    const source = ts.createSourceFile(file, readFileSync(`${ROOT}${file}`, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node) => {
      if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name))) {
        const text = ts
          .getJSDocCommentsAndTags(node)
          .filter(ts.isJSDoc)
          .map((doc) => ts.getTextOfJSDocComment(doc.comment) ?? '')
          .join(' ')
          .replace(/\s+/g, ' ')
          .trim();
        if (text) {
          const chain: string[] = [];
          for (let at: ts.Node | undefined = node; at; at = at.parent) {
            if (ts.isPropertyAssignment(at) && (ts.isIdentifier(at.name) || ts.isStringLiteral(at.name))) chain.unshift(at.name.text);
          }
          found.push({ chain, text });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return found;
}

/** The comment whose key chain is the longest suffix of `path`; none when that is ambiguous. */
function commentFor(path: string[], comments: { chain: string[]; text: string }[]): string | undefined {
  const matching = comments.filter(({ chain }) => chain.length <= path.length && chain.every((key, i) => key === path[path.length - chain.length + i]));
  const longest = Math.max(0, ...matching.map(({ chain }) => chain.length));
  const best = new Set(matching.filter(({ chain }) => chain.length === longest).map(({ text }) => text));
  return best.size === 1 ? [...best][0] : undefined;
}

/** The pattern every duration schema's JSON form carries (wire/src/duration.ts). */
const DURATION_PATTERN = WIRE_DURATION_PATTERN.source;

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  if (schema.const !== undefined) return `\`${String(schema.const)}\``;
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return variants.map(typeOf).join(' or ');
  if (schema.type === 'array') return `list of ${schema.items ? typeOf(schema.items) : 'values'}`;
  if (schema.type === 'string' && schema.pattern === DURATION_PATTERN) return 'duration (`500ms`, `30s`, `5m`, `1h`)';
  if (schema.type === 'string' && schema.format === 'uri') return 'URL';
  if (schema.type === 'integer' || schema.type === 'number') {
    const low = schema.exclusiveMinimum !== undefined ? ` > ${schema.exclusiveMinimum}` : schema.minimum !== undefined ? ` ≥ ${schema.minimum}` : '';
    return `${schema.type}${low}`;
  }
  return Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type ?? 'any');
}

function formatDefault(input: JsonSchema, output: JsonSchema | undefined): string {
  if (input.default !== undefined) return `\`${typeof input.default === 'string' ? input.default : JSON.stringify(input.default)}\``;
  // A duration's default is kept in milliseconds after parsing; show it as it is written.
  if (input.pattern === DURATION_PATTERN && typeof output?.default === 'number') {
    const ms = output.default;
    return `\`${ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1_000 === 0 ? `${ms / 1_000}s` : `${ms}ms`}\``;
  }
  // A `host:port` parsed into its parts: show it as written.
  const parsed = output?.default as { host?: unknown; port?: unknown } | undefined;
  if (parsed && typeof parsed === 'object' && typeof parsed.host === 'string' && typeof parsed.port === 'number') return `\`${parsed.host}:${parsed.port}\``;
  return '';
}

function rows(input: JsonSchema, output: JsonSchema | undefined, path: string[], required: boolean, comments: { chain: string[]; text: string }[]): string[] {
  const lines: string[] = [];
  if (path.length > 0) {
    const description = input.description ?? commentFor(path, comments) ?? '';
    const need = required && input.default === undefined ? 'yes' : '';
    const cells = [`\`${path.join('.')}\``, input.properties ? 'section' : typeOf(input), formatDefault(input, output), need, description.replace(/\|/g, '\\|')];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  for (const [key, child] of Object.entries(input.properties ?? {})) {
    lines.push(...rows(child, output?.properties?.[key], [...path, key], (input.required ?? []).includes(key), comments));
  }
  return lines;
}

export function configPage(program: Program): string {
  const input = z.toJSONSchema(program.schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const output = z.toJSONSchema(program.schema, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  const comments = docComments(program.sources);
  return [
    `# ${program.name} configuration`,
    '',
    `<!-- Generated by scripts/config-doc.ts from the zod schema; do not edit. test/docs-config.test.ts checks it. -->`,
    '',
    program.summary,
    'The file is YAML. Unknown keys are errors, and every error names the key path. Relative',
    "paths are read from the config file's folder.",
    '',
    '| key | type | default | required | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows(input, output, [], true, comments),
    '',
  ].join('\n');
}

export function pageFile(program: Program): string {
  return `${ROOT}docs/config-${program.name}.md`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const program of PROGRAMS) {
    if (process.argv.includes('--write')) writeFileSync(pageFile(program), configPage(program));
    else process.stdout.write(`${configPage(program)}\n`);
  }
}
