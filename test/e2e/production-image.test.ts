/**
 * The application image is the compiled build: each program's dist/ and the production
 * dependencies, nothing that only builds or tests (tsx, typescript, @types, dev packages, sources).
 * Everything is checked inside one container, started as the image starts programs: read-only
 * root, no /tmp, no network.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { parse } from 'yaml';
import { z } from 'zod';
import { E2E } from '../helpers/deadlines.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE = process.env.PORTCULLIS_APP_IMAGE ?? 'portcullis/portcullis:dev';

/** Every program the image starts, with the usage it prints when started without arguments. */
const PROGRAMS = [
  { file: 'gateway/dist/main.js', args: [], usage: /^usage: gateway --config/m },
  { file: 'authserver/dist/main.js', args: [], usage: /^\s+authserver \[serve\] --config FILE/m },
  { file: 'configserver/dist/main.js', args: [], usage: /^usage: configserver \[serve\] --config FILE/m },
  { file: 'pki/dist/main.js', args: [], usage: /^usage: pki <command>/m },
  { file: 'cli/dist/portcullis.js', args: ['audit', '--help'], usage: /^usage: portcullis audit <command>/m },
  { file: 'cli/dist/portcullis.js', args: ['users', '--help'], usage: /^usage: portcullis users <command>/m },
  { file: 'cli/dist/portcullis.js', args: ['policy', '--help'], usage: /^usage: policy <command>/m },
] as const;

const Inspection = z.object({
  present: z.array(z.string()),
  sources: z.array(z.string()),
  compiled: z.array(z.string()),
  runs: z.array(z.object({ status: z.number().nullable(), stdout: z.string(), stderr: z.string() })),
});
type Inspection = z.infer<typeof Inspection>;

/** Runs in the container (CommonJS, node only): which of the paths exist, .ts files outside node_modules, each program's output. */
const INSPECT = `
const fs = require('node:fs'), path = require('node:path'), { spawnSync } = require('node:child_process');
const input = JSON.parse(process.env.INSPECT);
const present = input.paths.filter((p) => fs.existsSync(path.join('/app', p)));
const sources = [];
const walk = (dir) => { for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
  const p = path.join(dir, e.name);
  if (e.isDirectory()) { if (e.name !== 'node_modules') walk(p); } else if (/\\.[cm]?ts$/.test(e.name)) sources.push(p);
} };
walk('/app');
const compiled = input.workspaces.flatMap((ws) => fs.readdirSync(path.join('/app', ws, 'dist'), { recursive: true })
  .map((f) => path.join(ws, 'dist', String(f))).filter((f) => fs.statSync(path.join('/app', f)).isFile()));
const runs = input.programs.map(([file, args]) => {
  const r = spawnSync('node', [file, ...args], { cwd: '/app', encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
});
process.stdout.write(JSON.stringify({ present, sources, compiled, runs }));
`;

/** Lockfile entries npm marks dev-only: `npm ci --omit=dev` leaves them out. */
async function devOnlyPackages(): Promise<string[]> {
  const lock = z.object({ packages: z.record(z.string(), z.object({ dev: z.boolean().optional() })) }).parse(JSON.parse(await readFile(`${ROOT}package-lock.json`, 'utf8')));
  return Object.entries(lock.packages)
    .filter(([key, entry]) => entry.dev === true && key.includes('node_modules/'))
    .map(([key]) => key);
}

const WORKSPACES = ['wire', 'pki', 'authserver', 'configserver', 'gateway'];

/** What the current sources compile to: one dist/…/x.js per src/…/x.ts that is not a test. */
async function expectedCompiled(): Promise<string[]> {
  const files = ['cli/dist/portcullis.js'];
  for (const ws of WORKSPACES) {
    for (const f of await readdir(`${ROOT}${ws}/src`, { recursive: true })) {
      if (f.endsWith('.ts') && !f.endsWith('.test.ts')) files.push(`${ws}/dist/${f.replace(/\.ts$/, '.js')}`);
    }
  }
  return files.sort();
}

/** The program files docker-compose.yml and the Kubernetes manifests start (`…/dist/….js`). */
async function startedFiles(): Promise<string[]> {
  const texts = [await readFile(`${ROOT}docker-compose.yml`, 'utf8'), await readFile(`${ROOT}deploy/kubernetes/portcullis.yaml`, 'utf8')];
  const files = new Set<string>();
  for (const text of texts) {
    // Only the parsed values (command, entrypoint, args), not the comments.
    for (const doc of text.split(/^---$/m)) {
      for (const match of JSON.stringify(parse(doc) ?? null).matchAll(/[\w-]+\/(?:src|dist)\/[\w/.-]+\.[jt]s/g)) files.add(match[0]);
    }
  }
  return [...files];
}

describe('the production image runs the compiled build', () => {
  let devOnly: string[];
  let started: string[];
  let inspection: Inspection;
  const REQUIRED = ['node_modules/ssh2', 'node_modules/fastify', 'node_modules/@portcullis/wire', 'wire/dist/index.js', 'cli/portcullis'];
  const DEV_TOOLS = ['node_modules/tsx', 'node_modules/typescript', 'node_modules/@types', 'node_modules/esbuild', 'node_modules/.bin/tsx'];

  before(async () => {
    devOnly = await devOnlyPackages();
    started = await startedFiles();
    const input = JSON.stringify({
      paths: [...DEV_TOOLS, ...devOnly, ...started, ...REQUIRED],
      programs: PROGRAMS.map((p) => [p.file, p.args]),
      workspaces: [...WORKSPACES, 'cli'],
    });
    const { stdout } = await run('docker', ['run', '--rm', '--read-only', '--network', 'none', '-e', `INSPECT=${input}`, '--entrypoint', 'node', IMAGE, '-e', INSPECT], {
      timeout: 120_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    inspection = Inspection.parse(JSON.parse(stdout));
  });

  test('holds no tsx, typescript, @types or other dev-only package, and no TypeScript sources', () => {
    assert.ok(devOnly.length > 20, `the lockfile names dev-only packages (${devOnly.length})`);
    const leaked = [...DEV_TOOLS, ...devOnly].filter((p) => inspection.present.includes(p));
    assert.deepEqual(leaked, [], 'dev-only packages in the image');
    assert.deepEqual(inspection.sources, [], 'TypeScript files outside node_modules');
    for (const p of REQUIRED) assert.ok(inspection.present.includes(p), `${p} is in the image`);
  });

  test('each program starts from dist/ with plain node on a read-only root without /tmp and prints its usage', () => {
    PROGRAMS.forEach((program, i) => {
      const result = inspection.runs[i]!;
      const output = `${result.stdout}${result.stderr}`;
      assert.match(output, program.usage, `${program.file} ${program.args.join(' ')}: ${output}`);
      assert.doesNotMatch(output, /\n\s+at |ERR_|Cannot find/, `${program.file} fails to load: ${output}`);
      assert.ok(result.status === 0 || result.status === 2, `${program.file} exit status ${result.status}`);
    });
  });

  test('its compiled files are those of the current sources, one for each, nothing left from deleted ones', E2E, async () => {
    assert.deepEqual([...inspection.compiled].sort(), await expectedCompiled());
  });

  test('docker-compose.yml and the Kubernetes manifests start files the image has, all under dist/', () => {
    assert.ok(started.length >= 4, `programs started: ${started.join(', ')}`);
    for (const file of started) {
      assert.match(file, /\/dist\/.+\.js$/, `${file} is a compiled file`);
      assert.ok(inspection.present.includes(file), `${file} is in the image`);
    }
  });
});
