import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as k8s from '@kubernetes/client-node';
import { apiFailure, serverForSuite } from './client.ts';
import { discoveryDocument } from './discovery.ts';
import { findResource, RESOURCES } from './resources.ts';

const NS = 'apps-here';

type ResourceList = { groupVersion: string; resources: Array<{ name: string; kind: string; namespaced: boolean; verbs: string[] }> };

describe('test kube-apiserver: discovery', () => {
  const suite = serverForSuite(NS);

  it('lists exactly the resources the suite.server routes, in each group and version', () => {
    const core = discoveryDocument('/api') as { versions: string[] };
    const groups = discoveryDocument('/apis/') as { groups: Array<{ name: string; versions: Array<{ groupVersion: string }>; preferredVersion: { groupVersion: string } }> };
    const groupVersions = [...core.versions, ...groups.groups.flatMap((g) => g.versions.map((v) => v.groupVersion))];
    const listed = groupVersions.flatMap((gv) => {
      const list = discoveryDocument(gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`) as ResourceList;
      assert.equal(list.groupVersion, gv);
      return list.resources.filter((r) => !r.name.includes('/')).map((r) => ({ gv, ...r }));
    });
    for (const r of listed) {
      const [group, version] = r.gv.includes('/') ? r.gv.split('/') : ['', r.gv];
      const def = findResource(group!, version!, r.name);
      assert.ok(def, `${r.gv} ${r.name} is routed`);
      assert.equal(def.kind, r.kind);
      assert.equal(def.namespaced, r.namespaced);
    }
    assert.equal(listed.length, RESOURCES.length, 'every routed resource is listed');
    for (const g of groups.groups) assert.deepEqual(discoveryDocument(`/apis/${g.name}`), { kind: 'APIGroup', apiVersion: 'v1', ...g });
    assert.equal(discoveryDocument('/apis/example.com'), undefined);
    assert.equal(discoveryDocument('/apis/apps/v2'), undefined);
  });

  it('lets a discovery-driven client (KubernetesObjectApi) create, read, list and delete a Deployment and a Kyverno ClusterPolicy', async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(suite.clients.kc);
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS, labels: { app: 'web' } },
      spec: { selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx' }] } } },
    };
    const policy = { apiVersion: 'kyverno.io/v1', kind: 'ClusterPolicy', metadata: { name: 'require-labels' }, spec: { rules: [] } };
    for (const spec of [deployment, policy]) {
      const created = await objects.create(spec);
      assert.equal(created.metadata?.name, spec.metadata.name);
      const read = await objects.read({ apiVersion: spec.apiVersion, kind: spec.kind, metadata: spec.metadata });
      // client-node hands back its model classes: compare as JSON, as they went over the wire.
      assert.deepEqual(JSON.parse(JSON.stringify(read)).spec, spec.spec, `${spec.kind} comes back as written`);
    }
    const listed = await objects.list('apps/v1', 'Deployment', NS);
    assert.deepEqual(
      listed.items.map((d) => d.metadata?.name),
      ['web'],
    );
    assert.deepEqual(
      suite.server.received.map((r) => r.resource),
      ['deployments', 'clusterpolicies'],
    );

    await objects.delete(deployment);
    await objects.delete(policy);
    const gone = await apiFailure(objects.read(deployment));
    assert.equal(gone.code, 404);
    assert.equal(gone.body.message, 'deployments.apps "web" not found');
  });
});
