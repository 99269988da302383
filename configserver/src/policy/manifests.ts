import { stringify } from 'yaml';
import type { Policy } from './load.ts';
import { MANAGED_BY_LABEL, SESSION_LABEL } from './labels.ts';
import { parseDuration } from '@portcullis/kit';

/** The reaper's kubectl image. Pin it by digest in production (`image@sha256:…`): set it with `--reaper-image`. */
export const REAPER_IMAGE = 'registry.k8s.io/kubectl:v1.32.4';

type Obj = Record<string, unknown>;

/**
 * The cluster-side objects of the seed article, from the same policy source as the sessions:
 * namespace with Pod Security Admission labels, the gateway's ServiceAccount, a Role with exactly
 * the verbs the gateway uses, RoleBinding, ResourceQuota, default-deny NetworkPolicy plus DNS and
 * each profile's declared egress, the Kyverno ClusterPolicy, and the orphan reaper.
 */
export function renderManifests(policy: Policy, options: { reaperImage?: string } = {}): Obj[] {
  const k8s = policy.baseline.kubernetes ?? {
    namespace: 'portcullis-sessions',
    gateway: { namespace: 'portcullis', serviceAccount: 'portcullis-gateway' },
    quota: { pods: '50', 'limits.cpu': '40', 'limits.memory': '40Gi' },
    maxSessionAge: '24h',
  };
  const ns = k8s.namespace;
  const labels = { [MANAGED_BY_LABEL]: 'portcullis' };
  const sessionSelector = { matchLabels: { [SESSION_LABEL]: 'true' } };
  const docs: Obj[] = [];
  docs.push({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: ns,
      labels: {
        ...labels,
        // Pod Security Admission enforces `restricted` on every pod, whoever creates it.
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/audit': 'restricted',
        'pod-security.kubernetes.io/warn': 'restricted',
      },
    },
  });
  docs.push({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: k8s.gateway.serviceAccount, namespace: k8s.gateway.namespace, labels },
    // The gateway mounts a projected token explicitly in its Deployment; nothing gets one by default.
    automountServiceAccountToken: false,
  });
  docs.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'portcullis-gateway', namespace: ns, labels },
    rules: [
      // Start, find, watch and remove session pods; nothing else in the namespace.
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'delete', 'get', 'list', 'watch'] },
      // Persistent pods only: a merge patch of the pod's annotations records which gateway
      // instances have sessions attached and when the last one left, so every instance's reaper
      // keeps a pod in use and deletes one idle past its timeout. The API server lets a pod update
      // change metadata but not the spec, so this cannot alter what a session runs.
      { apiGroups: [''], resources: ['pods'], verbs: ['patch'] },
      // Run the user's shell and commands inside a session pod.
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] },
      // Heartbeat: each gateway instance renews a Lease so the reaper can tell live sessions from
      // orphans of a crashed instance (create on first start, update to renew its own, list to see
      // peers, delete its own on shutdown and a dead peer's once that peer's pods are reaped, so
      // Leases do not pile up). Leases hold no secrets and decide nothing but who reaps what.
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create', 'list', 'update', 'delete'] },
    ],
  });
  docs.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: 'portcullis-gateway', namespace: ns, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'portcullis-gateway' },
    subjects: [{ kind: 'ServiceAccount', name: k8s.gateway.serviceAccount, namespace: k8s.gateway.namespace }],
  });
  docs.push({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'portcullis-sessions', namespace: ns, labels }, spec: { hard: k8s.quota } });
  docs.push({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'default-deny', namespace: ns, labels },
    // Selects every pod: no ingress, no egress unless a policy below allows it.
    spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
  });
  docs.push({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'allow-dns', namespace: ns, labels },
    spec: {
      podSelector: sessionSelector,
      policyTypes: ['Egress'],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
          ports: [
            { protocol: 'UDP', port: 53 },
            { protocol: 'TCP', port: 53 },
          ],
        },
      ],
    },
  });
  for (const profile of policy.profiles ?? []) {
    const egress = profile.spec.overlay.egress ?? [];
    if (egress.length === 0 || profile.spec.deny) continue;
    docs.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: `egress-${profile.name}`, namespace: ns, labels },
      spec: {
        // The engine labels the pods of users this profile matched.
        podSelector: { matchLabels: { [SESSION_LABEL]: 'true', [`portcullis.io/egress-${profile.name}`]: 'true' } },
        policyTypes: ['Egress'],
        egress: egress.map((rule) => ({
          to: [{ ipBlock: { cidr: rule.cidr } }],
          ...(rule.ports ? { ports: rule.ports.map((port) => ({ protocol: port.protocol, port: port.port })) } : {}),
        })),
      },
    });
  }
  docs.push({
    apiVersion: 'kyverno.io/v1',
    kind: 'ClusterPolicy',
    metadata: {
      name: 'portcullis-session-pods',
      labels,
      annotations: { 'policies.kyverno.io/description': 'Session pods must be the hardened pod the Portcullis policy engine renders.' },
    },
    spec: {
      validationFailureAction: 'Enforce',
      background: true,
      rules: [
        {
          name: 'hardened-session-pod',
          match: { any: [{ resources: { kinds: ['Pod'], namespaces: [ns] } }] },
          validate: {
            message: `Session pods in ${ns} must be hardened: no token, no host namespaces, non-root, no privilege escalation, read-only root, drop ALL, CPU and memory limits.`,
            pattern: {
              metadata: { labels: { [SESSION_LABEL]: 'true', [MANAGED_BY_LABEL]: '?*' } },
              spec: {
                automountServiceAccountToken: false,
                enableServiceLinks: false,
                '=(hostNetwork)': false,
                '=(hostPID)': false,
                '=(hostIPC)': false,
                '=(initContainers)': 'null',
                '=(ephemeralContainers)': 'null',
                '=(volumes)': [{ 'X(hostPath)': 'null' }],
                securityContext: { runAsNonRoot: true, runAsUser: '>0', runAsGroup: '>0', fsGroup: '>0', seccompProfile: { type: 'RuntimeDefault | Localhost' } },
                containers: [
                  {
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      '=(privileged)': false,
                      capabilities: { drop: ['ALL'], 'X(add)': 'null' },
                    },
                    resources: { limits: { cpu: '?*', memory: '?*' }, requests: { cpu: '?*', memory: '?*' } },
                  },
                ],
              },
            },
          },
        },
      ],
    },
  });
  // The reaper: its own account, allowed only to list and delete session pods.
  const reaper = 'portcullis-reaper';
  docs.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: reaper, namespace: ns, labels }, automountServiceAccountToken: false });
  docs.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: reaper, namespace: ns, labels },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'delete'] }],
  });
  docs.push({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name: reaper, namespace: ns, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: reaper },
    subjects: [{ kind: 'ServiceAccount', name: reaper, namespace: ns }],
  });
  const maxAgeSeconds = durationSeconds(k8s.maxSessionAge);
  docs.push({
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: reaper, namespace: ns, labels },
    spec: {
      schedule: '*/10 * * * *',
      concurrencyPolicy: 'Forbid',
      jobTemplate: {
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: 300,
          template: {
            metadata: { labels },
            spec: {
              serviceAccountName: reaper,
              // The reaper needs API access; the token is mounted for it alone, read-only.
              automountServiceAccountToken: true,
              restartPolicy: 'Never',
              securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
              containers: [
                {
                  name: 'reaper',
                  image: options.reaperImage ?? REAPER_IMAGE,
                  command: [
                    '/bin/sh',
                    '-c',
                    // Deletes session pods older than maxSessionAge (orphans of a crashed gateway).
                    `now=$(date +%s); kubectl get pods -n ${ns} -l ${SESSION_LABEL}=true -o jsonpath='{range .items[*]}{.metadata.name} {.metadata.creationTimestamp}{"\\n"}{end}' | while read -r name created; do [ -n "$name" ] || continue; age=$(( now - $(date -d "$created" +%s) )); if [ "$age" -gt ${maxAgeSeconds} ]; then kubectl delete pod -n ${ns} "$name" --wait=false; fi; done`,
                  ],
                  securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
                  resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
                },
              ],
            },
          },
        },
      },
    },
  });
  return docs;
}

function durationSeconds(duration: string): number {
  const ms = parseDuration(duration);
  return ms === undefined ? 86_400 : Math.ceil(ms / 1000);
}

export function manifestsYaml(policy: Policy, options: { reaperImage?: string } = {}): string {
  return renderManifests(policy, options)
    .map((doc) => stringify(doc, { lineWidth: 0 }))
    .join('---\n');
}
