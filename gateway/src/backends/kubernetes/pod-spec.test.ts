import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubernetesConfigSchema } from '@portcullis/wire';
import { isGatewayError } from '../../errors.ts';
import { exitStatusOf, programCommand } from './pod-exec.ts';
import { podManifest, podSettings } from './pod-spec.ts';

const config = (pod: Record<string, unknown>, timeouts: Record<string, unknown> = {}) =>
  KubernetesConfigSchema.parse({ pod: { spec: { containers: [{ name: 'shell', image: 'img', command: ['sleep', 'infinity'], securityContext: { runAsNonRoot: true } }] }, ...pod }, timeouts });

test('the pod is the configured one, in the gateway namespace, plus only the ownership labels', () => {
  const settings = podSettings(config({ metadata: { labels: { team: 'a', 'portcullis.io/instance': 'spoofed' }, annotations: { note: 'x' } } }), 'sessions', 60_000);
  const manifest = podManifest(settings, 'sessions', 'portcullis-abc-1', { instanceId: 'i1', connectionId: 'c1' });
  assert.equal(manifest.metadata?.namespace, 'sessions');
  assert.deepEqual(manifest.metadata?.annotations, { note: 'x' });
  assert.deepEqual(manifest.metadata?.labels, {
    team: 'a',
    'containerssh.io/session': 'true',
    'app.kubernetes.io/managed-by': 'portcullis-gateway',
    'portcullis.io/instance': 'i1',
    'portcullis.io/connection': 'c1',
  });
  assert.deepEqual(manifest.spec, settings.spec, 'spec unchanged');
});

test('a pod for another namespace is refused; idleCommand replaces the console command; podStart only shortens', () => {
  assert.throws(
    () => podSettings(config({ metadata: { namespace: 'kube-system' } }), 'sessions', 60_000),
    (error) => isGatewayError(error) && error.code === 'KUBERNETES_CONFIG_ERROR',
  );
  const settings = podSettings(config({ idleCommand: ['/bin/sh', '-c', 'sleep infinity'] }, { podStart: '5s' }), 'sessions', 60_000);
  assert.equal(settings.startTimeoutMs, 5_000);
  assert.equal(podSettings(config({}, { podStart: '10m' }), 'sessions', 60_000).startTimeoutMs, 60_000);
  const manifest = podManifest(settings, 'sessions', 'p', { instanceId: 'i', connectionId: 'c' });
  assert.deepEqual((manifest.spec!.containers[0] as { command?: string[] }).command, ['/bin/sh', '-c', 'sleep infinity']);
});

test('programs: shell, -c command, subsystem; env through env(1); exit codes from the status channel', () => {
  const settings = { shellCommand: ['/bin/bash', '-l'], subsystems: { sftp: '/usr/lib/openssh/sftp-server' } };
  assert.deepEqual(programCommand(settings, { command: null, env: {} }), ['/bin/bash', '-l']);
  assert.deepEqual(programCommand(settings, { command: 'echo hi', env: { TERM: 'xterm' } }), ['/usr/bin/env', 'TERM=xterm', '/bin/bash', '-c', 'echo hi']);
  assert.deepEqual(programCommand(settings, { command: null, subsystem: 'sftp', env: {} }), ['/usr/lib/openssh/sftp-server']);
  assert.throws(() => programCommand(settings, { command: null, subsystem: 'x11', env: {} }), /x11 subsystem is not available/);
  assert.deepEqual(exitStatusOf({ status: 'Success' }), { exitCode: 0 });
  assert.deepEqual(exitStatusOf({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '42' }] } }), { exitCode: 42 });
  assert.deepEqual(exitStatusOf({ status: 'Failure', reason: 'InternalError', message: 'exec: "nope": executable file not found in $PATH' }), { exitCode: 127 });
});
