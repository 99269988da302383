/**
 * Runs the test Kubernetes API server on its own: `npx tsx test/kube-apiserver/main.ts [--kubeconfig PATH] [--namespace NS]`.
 * Prints the kubeconfig path; Ctrl-C stops it and removes every pod container it started.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startKubeApiServer } from './index.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', default: 'default' },
    'restricted-namespace': { type: 'string', multiple: true, default: [] },
  },
});

const server = await startKubeApiServer({
  namespaces: [values.namespace!, ...values['restricted-namespace']!.map((name) => ({ name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } }))],
});
const path = values.kubeconfig ?? join(await mkdtemp(join(tmpdir(), 'kube-apiserver-')), 'kubeconfig');
await server.writeKubeconfig(path, { namespace: values.namespace! });
process.stdout.write(`${path}\n`);
process.stderr.write(`kube-apiserver (test) listening on ${server.url}, instance ${server.instanceId}\n`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.close();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
