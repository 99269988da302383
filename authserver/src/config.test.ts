import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from './config.ts';

const minimal = `
tls: { certFile: certs/a.crt, keyFile: /abs/a.key, clientCaFile: ../ca.crt }
usersFile: users.yaml
`;

test('relative paths resolve against the config file folder; defaults apply', () => {
  const config = parseConfig(minimal, '/etc/portcullis/authserver.yaml');
  assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8443 });
  assert.equal(config.tls.certFile, '/etc/portcullis/certs/a.crt');
  assert.equal(config.tls.keyFile, '/abs/a.key');
  assert.equal(config.tls.clientCaFile, '/etc/ca.crt');
  assert.equal(config.usersFile, '/etc/portcullis/users.yaml');
  assert.equal(config.log.level, 'info');
});

test('listen accepts host:port, [v6]:port and port 0', () => {
  assert.deepEqual(parseConfig(`listen: "0.0.0.0:0"\n${minimal}`, '/c.yaml').listen, { host: '0.0.0.0', port: 0 });
  assert.deepEqual(parseConfig(`listen: "[::1]:9443"\n${minimal}`, '/c.yaml').listen, { host: '::1', port: 9443 });
});

test('errors name the file and the option path', () => {
  assert.throws(() => parseConfig(`listen: "8443"\n${minimal}`, '/c.yaml'), /\/c\.yaml: listen: expected "host:port"/);
  assert.throws(() => parseConfig(`listen: "a:70000"\n${minimal}`, '/c.yaml'), /listen: expected/);
  assert.throws(() => parseConfig('usersFile: u.yaml\ntls: { certFile: a, keyFile: b }', '/c.yaml'), /\/c\.yaml: tls\.clientCaFile: /);
  assert.throws(() => parseConfig(`${minimal}\nlog: { level: loud }`, '/c.yaml'), /log\.level: /);
  assert.throws(() => parseConfig(`${minimal}\nlisten2: x`, '/c.yaml'), /Unrecognized key.*listen2/);
});

test('kerberos, oidc and github sections: defaults, relative krb5.conf, and errors naming the option path', () => {
  const config = parseConfig(
    `${minimal}
kerberos: { configPath: krb5.conf, realm: EXAMPLE.ORG }
oidc: { issuer: "https://idp.example.org", clientId: portcullis }
github: { clientId: Iv1.abc, requireOrgMembership: acme }
`,
    '/etc/portcullis/authserver.yaml',
  );
  assert.equal(config.kerberos?.configPath, '/etc/portcullis/krb5.conf');
  assert.equal(config.kerberos?.enforceUsername, true);
  assert.equal(config.kerberos?.credentialCachePath, '/tmp/krb5cc');
  assert.equal(config.kerberos?.timeout, 10_000);
  assert.equal(config.oidc?.deviceFlow, true);
  assert.equal(config.oidc?.usernameClaim, 'sub');
  assert.equal(config.oidc?.pollWindow, 3_000);
  assert.equal(config.github?.apiUrl, 'https://api.github.com');
  assert.throws(() => parseConfig(`${minimal}\nkerberos: { realm: "bad realm" }`, '/c.yaml'), /kerberos\.realm: /);
  assert.throws(() => parseConfig(`${minimal}\nkerberos: { realm: EX.ORG, credentialCachePath: ../x }`, '/c.yaml'), /kerberos\.credentialCachePath: /);
  assert.throws(
    () => parseConfig(`${minimal}\noidc: { issuer: "https://i.example", clientId: c, deviceFlow: false, authorizationCodeFlow: true }`, '/c.yaml'),
    /authorizationCodeFlow needs redirectURI/,
  );
  assert.throws(() => parseConfig(`${minimal}\ngithub: { clientId: c, requireTeamMembership: [ops] }`, '/c.yaml'), /requireTeamMembership needs requireOrgMembership/);
  assert.throws(() => parseConfig(`${minimal}\noidc: { issuer: "https://i.example", clientId: c, exposeAccessToken: { environment: "1BAD" } }`, '/c.yaml'), /oidc\.exposeAccessToken\.environment: /);
});
