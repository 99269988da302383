import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigResponseSchema } from '@portcullis/wire';
import { isGatewayError } from '../errors.ts';
import { supportedConfig } from './supported-config.ts';

const docker = { backend: 'docker', docker: { execution: { container: { image: 'portcullis/session:dev' } } } };
const wire = (config: unknown) => ConfigResponseSchema.parse({ config }).config;
const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    assert.ok(isGatewayError(error));
    return `${error.code}: ${error.userMessage}`;
  }
  assert.fail('not refused');
};

test('a docker config is narrowed to what the backend runs', () => {
  assert.equal(supportedConfig(wire(docker), {}).backend, 'docker');
});

test('what the gateway cannot honour is refused by name, never ignored', () => {
  assert.match(refusal(() => supportedConfig(wire({}), {})), /^CONFIG_UNSUPPORTED: .*names no backend/);
  const pod = { spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }] } };
  assert.match(
    refusal(() => supportedConfig(wire({ backend: 'kubernetes', kubernetes: { pod, connection: { host: 'https://elsewhere' } } }), {})),
    /^CONFIG_UNSUPPORTED: .*cluster credentials/,
  );
  assert.match(refusal(() => supportedConfig(wire({ backend: 'kubernetes' }), {})), /^CONFIG_BACKEND_ERROR/);
  for (const section of ['security', 'audit']) {
    assert.match(refusal(() => supportedConfig(wire({ ...docker, [section]: { x: 1 } }), {})), new RegExp(`^CONFIG_UNSUPPORTED: .*"${section}"`));
  }
  const proxy = { backend: 'sshproxy', sshproxy: { server: 'h', username: 'u', password: 'p', allowedHostKeyFingerprints: [`SHA256:${'A'.repeat(43)}`] } };
  assert.match(refusal(() => supportedConfig(wire(proxy), { files: { '/f': { value: 'eA==', sensitive: false } } })), /^CONFIG_UNSUPPORTED: .*files/);
  assert.match(refusal(() => supportedConfig(wire({ backend: 'docker' }), {})), /^CONFIG_BACKEND_ERROR/);
});

test('a kubernetes config is narrowed to the pod the backend creates', () => {
  const pod = { spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }] }, mode: 'session' };
  const config = supportedConfig(wire({ backend: 'kubernetes', kubernetes: { pod, timeouts: { podStart: '30s' } } }), {});
  assert.equal(config.backend, 'kubernetes');
  assert.equal(config.kubernetes?.pod.mode, 'session');
  assert.equal(config.kubernetes?.timeouts?.podStart, '30s');
});

test('an empty unsupported section asks for nothing and passes', () => {
  assert.equal(supportedConfig(wire({ ...docker, security: {} }), {}).backend, 'docker');
});
