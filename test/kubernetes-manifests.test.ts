import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfig as parseAuthserverConfig } from '../authserver/src/config.ts';
import { parseConfig as parseConfigserverConfig } from '../configserver/src/config.ts';
import { checkPodSecurity } from '../configserver/src/policy/index.ts';
import { GatewayConfigSchema } from '../gateway/src/settings/gateway-config.ts';
import { DEPLOY_DIR, generated, policyFiles } from '../scripts/kubernetes-manifests.ts';

// biome-ignore lint/suspicious/noExplicitAny: the test reads arbitrary JSON answers by path; a wrong path fails its assertion.
type Obj = Record<string, any>;
const FILES = ['portcullis.yaml', 'policy-configmap.yaml', 'session-cluster.yaml'];

async function documents(file: string): Promise<Obj[]> {
  const text = await readFile(`${DEPLOY_DIR}${file}`, 'utf8');
  return parseAllDocuments(text).map((doc) => {
    assert.deepEqual(doc.errors, [], `${file}: YAML errors`);
    return doc.toJS() as Obj;
  });
}

async function all(): Promise<Obj[]> {
  return (await Promise.all(FILES.map(documents))).flat();
}

/** The kubernetes-models class for apiVersion/kind (core group is `v1`). */
async function modelFor(apiVersion: string, kind: string): Promise<(new (data: Obj) => { validate(): void }) | undefined> {
  try {
    const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, new (data: Obj) => { validate(): void }>;
    return mod[kind];
  } catch {
    return undefined;
  }
}

test('the generated files are what scripts/kubernetes-manifests.ts renders from policies/ (same source as `policy render manifests`)', async () => {
  for (const [file, text] of Object.entries(await generated())) {
    assert.equal(await readFile(`${DEPLOY_DIR}${file}`, 'utf8'), text, `${file} is stale: npx tsx scripts/kubernetes-manifests.ts --write`);
  }
  const kustomization = await readFile(`${DEPLOY_DIR}kustomization.yaml`, 'utf8');
  for (const file of FILES) assert.ok(kustomization.includes(`- ${file}`), `kustomization.yaml lists ${file}`);
});

test('every manifest validates against the Kubernetes OpenAPI schemas (kubernetes-models); Kyverno checked for shape', async () => {
  const docs = await all();
  assert.ok(docs.length >= 25, `${docs.length} documents`);
  for (const doc of docs) {
    const where = `${doc.kind}/${doc.metadata?.name}`;
    assert.equal(typeof doc.apiVersion, 'string', `${where}: apiVersion`);
    assert.ok(doc.metadata?.name, `${where}: metadata.name`);
    if (doc.apiVersion === 'kyverno.io/v1') {
      // No published model for Kyverno's CRD here: the fields kubectl would need are checked instead.
      assert.equal(doc.kind, 'ClusterPolicy');
      assert.ok(Array.isArray(doc.spec?.rules) && doc.spec.rules.length > 0, `${where}: rules`);
      continue;
    }
    const Model = await modelFor(doc.apiVersion, doc.kind);
    assert.ok(Model, `${where}: ${doc.apiVersion} ${doc.kind} is a known Kubernetes kind`);
    assert.doesNotThrow(() => new Model(doc).validate(), `${where} is valid`);
  }
});

test('a broken manifest is caught by the same validation (the check is not vacuous)', async () => {
  const [deployment] = (await documents('portcullis.yaml')).filter((doc) => doc.kind === 'Deployment');
  const broken = structuredClone(deployment!);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'https';
  const Model = await modelFor('apps/v1', 'Deployment');
  assert.throws(() => new Model!(broken).validate(), /containerPort must be integer/);
});

test("every pod the manifests run passes Pod Security `restricted` (configserver's checker)", async () => {
  const docs = await all();
  const templates = docs.flatMap((doc) => {
    if (doc.kind === 'Deployment') return [{ name: `Deployment/${doc.metadata.name}`, pod: doc.spec.template }];
    if (doc.kind === 'CronJob') return [{ name: `CronJob/${doc.metadata.name}`, pod: doc.spec.jobTemplate.spec.template }];
    return [];
  });
  assert.deepEqual(templates.map(({ name }) => name).sort(), ['CronJob/portcullis-reaper', 'Deployment/authserver', 'Deployment/configserver', 'Deployment/gateway']);
  for (const { name, pod } of templates) assert.deepEqual(checkPodSecurity(pod, 'restricted'), [], `${name} passes restricted`);
  const namespace = docs.find((doc) => doc.kind === 'Namespace' && doc.metadata.name === 'portcullis');
  assert.equal(namespace?.metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted', 'and admission enforces it');
  // The checker itself refuses what restricted forbids.
  const loose = structuredClone(templates.find(({ name }) => name === 'Deployment/gateway')!.pod);
  loose.spec.containers[0].securityContext.allowPrivilegeEscalation = true;
  assert.notDeepEqual(checkPodSecurity(loose, 'restricted'), []);
});

test('probes use /healthz on the ops port; two gateway replicas sit behind one Service; Services select their pods', async () => {
  const docs = await all();
  const deployments = docs.filter((doc) => doc.kind === 'Deployment');
  for (const deployment of deployments) {
    const container = deployment.spec.template.spec.containers[0];
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/healthz', port: 'ops' }, `${deployment.metadata.name} readiness`);
    assert.ok(container.ports.some((port: Obj) => port.name === 'ops' && port.containerPort === 9100));
    assert.ok(container.livenessProbe, `${deployment.metadata.name} liveness`);
    assert.deepEqual(deployment.spec.selector.matchLabels, { 'app.kubernetes.io/name': deployment.metadata.name });
  }
  const gateway = deployments.find((doc) => doc.metadata.name === 'gateway')!;
  assert.ok(gateway.spec.replicas >= 2, 'several gateway replicas');
  const gatewayServices = docs.filter((doc) => doc.kind === 'Service' && doc.spec.selector?.['app.kubernetes.io/name'] === 'gateway');
  assert.equal(gatewayServices.length, 1, 'one Service in front of them');
  assert.ok(
    gateway.spec.template.spec.volumes.some((volume: Obj) => volume.secret?.secretName === 'portcullis-gateway-hostkeys'),
    'replicas share one host key',
  );
  // The gateway runs as the ServiceAccount the rendered Role is bound to.
  const binding = docs.find((doc) => doc.kind === 'RoleBinding' && doc.metadata.name === 'portcullis-gateway')!;
  assert.deepEqual(binding.subjects[0], { kind: 'ServiceAccount', name: gateway.spec.template.spec.serviceAccountName, namespace: gateway.metadata.namespace });
  // The webhook Services carry the names the gateway dials and the certificates name.
  for (const name of ['authserver', 'configserver']) {
    assert.ok(docs.some((doc) => doc.kind === 'Service' && doc.metadata.name === name && doc.spec.selector['app.kubernetes.io/name'] === name));
  }
});

test('in namespace portcullis only the gateway reaches the webhooks; SSH and the ops port are open', async () => {
  const policies = (await documents('portcullis.yaml')).filter((doc) => doc.kind === 'NetworkPolicy');
  const deny = policies.find((doc) => doc.metadata.name === 'default-deny-ingress');
  assert.deepEqual(deny?.spec, { podSelector: {}, policyTypes: ['Ingress'] }, 'everything else is denied');
  const webhooks = policies.find((doc) => doc.metadata.name === 'webhooks-from-gateway')!;
  assert.deepEqual(webhooks.spec.ingress, [{ from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'gateway' } } }], ports: [{ protocol: 'TCP', port: 8443 }] }]);
  assert.deepEqual(webhooks.spec.podSelector.matchExpressions[0].values, ['authserver', 'configserver']);
});

test("the configs in the ConfigMaps parse with each program's own schema, and the policy ConfigMap is projected whole", async () => {
  const docs = await all();
  const data = (name: string) => docs.find((doc) => doc.kind === 'ConfigMap' && doc.metadata.name === name)!.data as Record<string, string>;
  parseAuthserverConfig(data('portcullis-authserver')['authserver.yaml']!, '/etc/portcullis/authserver.yaml');
  parseConfigserverConfig(data('portcullis-configserver')['configserver.yaml']!, '/etc/portcullis/configserver.yaml');
  const { parse } = await import('yaml');
  const gateway = GatewayConfigSchema.safeParse(parse(data('portcullis-gateway')['gateway.yaml']!));
  assert.ok(gateway.success, gateway.error?.message);
  const configserver = docs.find((doc) => doc.kind === 'Deployment' && doc.metadata.name === 'configserver')!;
  const items = configserver.spec.template.spec.volumes.find((volume: Obj) => volume.name === 'policies').configMap.items;
  assert.deepEqual(items, policyFiles(), 'every policy file is mounted at its path (regenerate and update portcullis.yaml when profiles change)');
  assert.deepEqual(
    Object.keys(data('portcullis-policy')).sort(),
    policyFiles()
      .map(({ key }) => key)
      .sort(),
  );
});

test('deploy/kubernetes/README.md says how to create every Secret the manifests reference', async () => {
  const readme = await readFile(`${DEPLOY_DIR}README.md`, 'utf8');
  const secrets = new Set((await all()).flatMap((doc) => (doc.spec?.template?.spec?.volumes ?? []).flatMap((volume: Obj) => (volume.secret ? [volume.secret.secretName] : []))));
  assert.ok(secrets.size >= 5);
  for (const secret of secrets) assert.ok(readme.includes(secret), `${secret} is explained`);
  assert.match(readme, /kubectl apply --dry-run=client/, 'says why that check is not what the test runs');
});
