/**
 * `kubectl apply --dry-run=client` of deploy/kubernetes/ with the real kubectl, against the
 * test Kubernetes API server (test/kube-apiserver/) over TLS with its CA and a bearer token,
 * as an operator would run it against a fresh cluster (with Kyverno installed).
 *
 * Client dry run still needs the API server: kubectl maps every apiVersion/kind through the
 * server's discovery documents and GETs each object to decide between create and patch. So
 * this proves each manifest names a kind the cluster serves, in the right scope, and that
 * kubectl parses and accepts every file, both file by file (`-f`) and as the README applies
 * them (`-k`, kubectl's built-in kustomize).
 *
 * `--validate=false`: kubectl's schema validation needs the server's OpenAPI document
 * (`/openapi/v2` or `/openapi/v3`), the full Kubernetes schema, which cannot be had offline
 * here and which the test server therefore does not serve. Schema validation of every object
 * is done by test/kubernetes-manifests.test.ts with kubernetes-models (generated from that
 * same OpenAPI schema), along with Pod Security `restricted` and each program's config schema.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test, type TestContext } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { DEPLOY_DIR } from '../scripts/kubernetes-manifests.ts';
import { startKubeApiServer } from './kube-apiserver/index.ts';
import { runKubectl } from './helpers/kubectl.ts';

type Manifest = { apiVersion: string; kind: string; metadata: { name: string } };

/** kubectl's input for kustomize, not an object for the API server; `-k` covers it. */
const KUSTOMIZATION = 'kustomization.yaml';

/** Every YAML file under deploy/kubernetes/, at any depth, except the kustomization. */
async function manifestFiles(dir = DEPLOY_DIR): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await manifestFiles(path)));
    else if (/\.ya?ml$/.test(entry.name) && entry.name !== KUSTOMIZATION) out.push(path);
  }
  return out.sort();
}

async function manifests(file: string): Promise<Manifest[]> {
  return parseAllDocuments(await readFile(file, 'utf8'))
    .map((doc) => doc.toJS() as Manifest | null)
    .filter((doc): doc is Manifest => doc !== null);
}

/** How kubectl names an object in its output: `deployment.apps/gateway`, `configmap/x`. */
function kubectlName(m: Manifest): string {
  const group = m.apiVersion.includes('/') ? m.apiVersion.split('/')[0] : '';
  return `${m.kind.toLowerCase()}${group ? `.${group}` : ''}/${m.metadata.name}`;
}

/**
 * The objects kubectl reported as created without sending them. kubectl 1.20 (Debian's
 * kubernetes-client) up to 1.33 print `<kind>.<group>/<name> created (dry run)`; older
 * releases said `(client dry run)` for the same.
 */
function createdInDryRun(stdout: string): { created: string[]; other: string[] } {
  const created: string[] = [];
  const other: string[] = [];
  for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) {
    const match = /^(\S+) created \((?:client )?dry run\)$/.exec(line.trim());
    if (match) created.push(match[1]!);
    else other.push(line);
  }
  return { created: created.sort(), other };
}

/** kubectl's stderr, less warnings (e.g. a deprecation notice from a newer kubectl). */
function errorsIn(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() !== '' && !/^warning[: ]/i.test(l.trim()));
}

/** A fresh test cluster (only the namespaces every cluster has) and a kubeconfig for it. */
async function freshCluster(t: TestContext) {
  const kube = await startKubeApiServer({});
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-kubectl-test-'));
  t.after(async () => {
    await kube.close();
    await rm(dir, { recursive: true, force: true });
  });
  const kubeconfig = await kube.writeKubeconfig(join(dir, 'kubeconfig'), { namespace: 'default' });
  return { kube, dir, kubeconfig };
}

test('kubectl apply --dry-run=client accepts every manifest in deploy/kubernetes/, file by file and as the kustomization', async (t) => {
  const { kube, kubeconfig } = await freshCluster(t);
  const files = await manifestFiles();
  // Any new file under deploy/kubernetes/ is checked too, and must be in the kustomization
  // (both runs below must report the same objects).
  for (const known of ['policy-configmap.yaml', 'portcullis.yaml', 'session-cluster.yaml']) assert.ok(files.map((f) => relative(DEPLOY_DIR, f)).includes(known), `${known} is checked`);
  const expected = (await Promise.all(files.map(manifests))).flat().map(kubectlName).sort();
  assert.ok(expected.length >= 25, `${expected.length} objects`);
  // Every group the manifests use, so a kind that silently dropped out would show here.
  assert.deepEqual([...new Set(expected.map((name) => name.split('/')[0]!.split('.').slice(1).join('.')))].sort(), [
    '',
    'apps',
    'batch',
    'kyverno.io',
    'networking.k8s.io',
    'policy',
    'rbac.authorization.k8s.io',
  ]);

  const perFile = await runKubectl(kubeconfig, ['apply', '--dry-run=client', '--validate=false', ...files.flatMap((f) => ['-f', f])]);
  const fileReport = `exit ${perFile.code}\nstdout:\n${perFile.stdout}\nstderr:\n${perFile.stderr}`;
  assert.equal(perFile.code, 0, fileReport);
  assert.deepEqual(errorsIn(perFile.stderr), [], fileReport);
  const fromFiles = createdInDryRun(perFile.stdout);
  assert.deepEqual(fromFiles.other, [], `every line says "created (dry run)"\n${fileReport}`);
  assert.deepEqual(fromFiles.created, expected, fileReport);

  const kustomized = await runKubectl(kubeconfig, ['apply', '--dry-run=client', '--validate=false', '-k', DEPLOY_DIR]);
  const kustomizeReport = `exit ${kustomized.code}\nstdout:\n${kustomized.stdout}\nstderr:\n${kustomized.stderr}`;
  assert.equal(kustomized.code, 0, kustomizeReport);
  assert.deepEqual(errorsIn(kustomized.stderr), [], kustomizeReport);
  const fromKustomize = createdInDryRun(kustomized.stdout);
  assert.deepEqual(fromKustomize.other, [], kustomizeReport);
  assert.deepEqual(fromKustomize.created, expected, 'the kustomization applies exactly the files');

  // A client dry run sends nothing to create: the server received no object.
  assert.deepEqual(kube.received, []);
});

test('kubectl apply --dry-run=client fails on a manifest whose kind or apiVersion the cluster does not serve, naming it', async (t) => {
  const { dir, kubeconfig } = await freshCluster(t);
  const docs = await manifests(join(DEPLOY_DIR, 'portcullis.yaml'));
  const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'gateway');
  assert.ok(deployment, 'portcullis.yaml has the gateway Deployment');

  const cases = [
    { what: 'misspelt kind', change: { kind: 'Deploymnt' }, message: 'no matches for kind "Deploymnt" in version "apps/v1"' },
    { what: 'unserved apiVersion', change: { apiVersion: 'apps/v1beta9' }, message: 'no matches for kind "Deployment" in version "apps/v1beta9"' },
  ];
  for (const { what, change, message } of cases) {
    const file = join(dir, `broken-${Object.keys(change)[0]}.yaml`);
    await writeFile(file, stringify({ ...deployment, ...change }));
    const result = await runKubectl(kubeconfig, ['apply', '--dry-run=client', '--validate=false', '-f', file]);
    const report = `${what}: exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
    assert.notEqual(result.code, 0, report);
    assert.ok(result.stderr.includes(message), report);
    assert.equal(createdInDryRun(result.stdout).created.length, 0, report);
  }
});
