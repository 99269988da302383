import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createCertificate, createCertificateAuthority, createPki, ensurePki, loadCertificateAuthority, type IssuedCertificate, type PkiPaths } from './index.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

async function tempPki(t: { after: (fn: () => Promise<void>) => void }, extraSans?: string[]): Promise<PkiPaths> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return createPki(join(dir, 'certs'), extraSans ? { extraSans } : {});
}

async function cert(file: string): Promise<X509Certificate> {
  return new X509Certificate(await readFile(file));
}

test('certificates chain to the CA and carry the right names and usages', async (t) => {
  const paths = await tempPki(t, ['portcullis.example', '10.0.0.7']);
  const ca = await cert(paths.ca.cert);
  assert.equal(ca.ca, true);
  assert.ok(ca.verify(ca.publicKey), 'CA is self-signed');

  for (const name of ['authserver', 'configserver'] as const) {
    const server = await cert(paths[name].cert);
    assert.ok(server.verify(ca.publicKey), `${name} is signed by the CA`);
    assert.ok(server.checkIssued(ca));
    assert.equal(server.ca, false);
    assert.deepEqual(server.keyUsage, [SERVER_AUTH]);
    assert.equal(server.subjectAltName, `DNS:${name}, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:portcullis.example, IP Address:10.0.0.7`);
    assert.ok(server.checkHost(name));
    assert.ok(server.checkIP('127.0.0.1'));
  }

  const gateway = await cert(paths.gateway.cert);
  assert.ok(gateway.verify(ca.publicKey));
  assert.match(gateway.subject, /^CN=gateway$/m);
  assert.equal(gateway.subjectAltName, 'DNS:gateway');
  assert.deepEqual(gateway.keyUsage, [CLIENT_AUTH]);
});

test('keys are 0600 and the folder 0700', async (t) => {
  const paths = await tempPki(t);
  assert.equal((await stat(paths.dir)).mode & 0o777, 0o700);
  for (const pair of [paths.ca, paths.authserver, paths.configserver, paths.gateway]) {
    assert.equal((await stat(pair.key)).mode & 0o777, 0o600, pair.key);
  }
});

test('a second run leaves existing files alone', async (t) => {
  const paths = await tempPki(t);
  const before = await readFile(paths.gateway.cert, 'utf8');
  const again = await ensurePki(paths.dir);
  assert.equal(again.created, false);
  assert.deepEqual(again.paths, paths);
  assert.equal(await readFile(paths.gateway.cert, 'utf8'), before);
});

test('a CA read back from disk issues certificates that chain to it', async (t) => {
  const paths = await tempPki(t);
  const ca = await loadCertificateAuthority(await readFile(paths.ca.cert, 'utf8'), await readFile(paths.ca.key, 'utf8'));
  const issued = await createCertificate(ca, { commonName: 'other', sans: ['other'], usage: 'client' });
  assert.ok(new X509Certificate(issued.certPem).verify((await cert(paths.ca.cert)).publicKey));
});

/** A TLS server that, like the services, demands a client certificate from our CA. */
async function mtlsServer(t: { after: (fn: () => Promise<void>) => void }, paths: PkiPaths) {
  const accepted: string[] = [];
  const refused: string[] = [];
  const server: Server = createServer(
    {
      cert: await readFile(paths.authserver.cert),
      key: await readFile(paths.authserver.key),
      ca: await readFile(paths.ca.cert),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      accepted.push(String(socket.getPeerCertificate().subject?.CN));
      socket.end('ok');
    },
  );
  server.on('tlsClientError', (err) => refused.push(err.message));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, accepted, refused };
}

/**
 * Resolves with what the server sent, or rejects with the TLS error. With TLS 1.3 the client
 * finishes its side of the handshake before the server checks its certificate, so a refusal
 * shows up as an alert on the first read, not as a failed connect.
 */
async function talk(port: number, caFile: string, client: IssuedCertificate | undefined): Promise<string> {
  const socket = connect({
    host: '127.0.0.1',
    port,
    servername: 'authserver',
    ca: await readFile(caFile),
    ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
  });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    data += chunk;
  });
  try {
    await once(socket, 'end');
  } finally {
    socket.destroy();
  }
  if (data !== 'ok') throw new Error(`connection closed without a greeting (got ${JSON.stringify(data)})`);
  return data;
}

async function readPair(pair: { cert: string; key: string }): Promise<IssuedCertificate> {
  return { certPem: await readFile(pair.cert, 'utf8'), keyPem: await readFile(pair.key, 'utf8') };
}

test('a TLS server requiring client certificates accepts the gateway and refuses others', async (t) => {
  const paths = await tempPki(t);
  const { port, accepted, refused } = await mtlsServer(t, paths);

  assert.equal(await talk(port, paths.ca.cert, await readPair(paths.gateway)), 'ok');
  assert.deepEqual(accepted, ['gateway']);

  const foreignCa = await createCertificateAuthority({ commonName: 'Foreign CA' });
  const foreign = await createCertificate(foreignCa, { commonName: 'gateway', sans: ['gateway'], usage: 'client' });
  await assert.rejects(talk(port, paths.ca.cert, foreign), /certificate|alert|ECONNRESET|without a greeting/i);

  const ca = await loadCertificateAuthority(await readFile(paths.ca.cert, 'utf8'), await readFile(paths.ca.key, 'utf8'));
  const day = 24 * 60 * 60 * 1000;
  const expired = await createCertificate(ca, {
    commonName: 'gateway',
    sans: ['gateway'],
    usage: 'client',
    notBefore: new Date(Date.now() - 2 * day),
    notAfter: new Date(Date.now() - day),
  });
  await assert.rejects(talk(port, paths.ca.cert, expired), /certificate|alert|ECONNRESET|without a greeting/i);

  await assert.rejects(talk(port, paths.ca.cert, undefined), /certificate|alert|ECONNRESET|without a greeting/i);
  assert.deepEqual(accepted, ['gateway'], 'no refused client reached the connection handler');
  // OpenSSL reports a bad-CA or expired client cert to the server as a hang-up under TLS 1.3,
  // so count refusals rather than match their text.
  assert.equal(refused.length, 3);
});

test('the CLI prints what it did', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-pki-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = (args: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'main.ts'), ...args]);
  const certs = join(dir, 'certs');
  assert.match((await run(['init', '--dir', certs, '--san', 'gw.example'])).stdout, /^pki: created .*\n$/);
  assert.match((await run(['init', '--dir', certs])).stdout, /already present, nothing changed\n$/);
  await assert.rejects(run(['init']), (err: { code?: number; stderr?: string }) => err.code === 2 && /usage/.test(err.stderr ?? ''));
});

test('exported bundles hold the CA certificate and one program pair each, never the CA key', async (t) => {
  const { mkdtemp, readdir, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { createPki, exportProgramBundles } = await import('./index.ts');
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-export-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const paths = await createPki(join(dir, 'pki'));
  await exportProgramBundles(paths, join(dir, 'out'), ['authserver', 'configserver', 'gateway']);
  for (const program of ['authserver', 'configserver', 'gateway']) {
    assert.deepEqual((await readdir(join(dir, 'out', program))).sort(), ['ca.crt', `${program}.crt`, `${program}.key`].sort());
  }
});
