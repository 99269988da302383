import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from './config.ts';

const minimal = `
tls: { certFile: certs/c.crt, keyFile: certs/c.key, clientCaFile: certs/ca.crt, allowedClientNames: [gateway] }
policyDir: ../policies
`;

test('relative paths resolve against the config file folder; defaults apply', () => {
  const config = parseConfig(minimal, '/srv/portcullis/configserver.yaml');
  assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8444 });
  assert.equal(config.policyDir, '/srv/policies');
  assert.equal(config.tls.certFile, '/srv/portcullis/certs/c.crt');
  assert.deepEqual(config.tls.allowedClientNames, ['gateway']);
});

test('errors name the file and the option path', () => {
  assert.throws(() => parseConfig('tls: { certFile: a, keyFile: b, clientCaFile: c }', '/c.yaml'), /\/c\.yaml: policyDir: /);
  assert.throws(() => parseConfig(`${minimal}\ntls2: {}`, '/c.yaml'), /Unrecognized key/);
  assert.throws(() => parseConfig(`listen: "host"\n${minimal}`, '/c.yaml'), /listen: expected "host:port"/);
});
