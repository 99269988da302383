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
  assert.match(
    refusal(() => supportedConfig(wire({}), {})),
    /^CONFIG_UNSUPPORTED: .*names no backend/,
  );
  const pod = { spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }] } };
  assert.match(
    refusal(() => supportedConfig(wire({ backend: 'kubernetes', kubernetes: { pod, connection: { host: 'https://elsewhere' } } }), {})),
    /^CONFIG_UNSUPPORTED: .*cluster credentials/,
  );
  assert.match(
    refusal(() => supportedConfig(wire({ backend: 'kubernetes' }), {})),
    /^CONFIG_BACKEND_ERROR/,
  );
  const proxy = { backend: 'sshproxy', sshproxy: { server: 'h', username: 'u', password: 'p', allowedHostKeyFingerprints: [`SHA256:${'A'.repeat(43)}`] } };
  assert.match(
    refusal(() => supportedConfig(wire(proxy), { files: { '/f': { value: 'eA==', sensitive: false } } })),
    /^CONFIG_UNSUPPORTED: .*files/,
  );
  assert.match(
    refusal(() => supportedConfig(wire({ backend: 'docker' }), {})),
    /^CONFIG_BACKEND_ERROR/,
  );
});

test('an audit section reaches the gateway with its defaults filled in', () => {
  const config = supportedConfig(wire({ ...docker, audit: { recording: 'required', storage: 's3' } }), {});
  assert.equal(config.audit?.recording, 'required');
  assert.equal(config.audit?.intercept.passwords, false);
});

test('a kubernetes config is narrowed to the pod the backend creates', () => {
  const pod = { spec: { containers: [{ name: 'shell', image: 'portcullis/session:dev' }] }, mode: 'session' };
  const config = supportedConfig(wire({ backend: 'kubernetes', kubernetes: { pod, timeouts: { podStart: '30s' } } }), {});
  assert.equal(config.backend, 'kubernetes');
  assert.equal(config.kubernetes?.pod.mode, 'session');
  assert.equal(config.kubernetes?.timeouts?.podStart, '30s');
});

test('an empty security section asks for nothing and passes', () => {
  assert.equal(supportedConfig(wire({ ...docker, security: {} }), {}).backend, 'docker');
});

test('a security section passes through to the gateway, and an unknown key in it is invalid', () => {
  const security = { defaultMode: 'disable', env: { mode: 'filter', allow: ['LANG'] }, session: { idleTimeout: '5m' } };
  assert.deepEqual(supportedConfig(wire({ ...docker, security }), {}).security, security);
  assert.throws(() => wire({ ...docker, security: { x: 1 } }));
});
