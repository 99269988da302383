import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { cp, mkdtemp, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import argon2 from 'argon2';
import { stringify } from 'yaml';
import { createPki } from '@portcullis/pki';
import { httpsJson } from '../helpers/https-json.ts';
import { freePort } from '../helpers/ports.ts';
import { E2E } from '../helpers/deadlines.ts';
import { trackProcess } from '../helpers/leftovers.ts';
import { pollUntil } from '../helpers/poll-until.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const POLICY_DIR = fileURLToPath(new URL('../../policies', import.meta.url));
const base = { remoteAddress: '192.0.2.10:51234', connectionId: '3f2504e04f8911d39a0c0305e82c3301' };

/** A parsed RFC 5424 message as the receiver got it. */
interface SyslogMessage {
  pri: number;
  appName: string;
  procId: string;
  msgId: string;
  json: Record<string, unknown>;
  raw: string;
}

const RFC5424 = /^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) - (.*)$/s;

function parseSyslog(raw: string): SyslogMessage {
  const match = RFC5424.exec(raw);
  assert.ok(match, `an RFC 5424 message: ${raw}`);
  assert.ok(!Number.isNaN(Date.parse(match[2]!)), 'TIMESTAMP is an RFC 3339 date');
  return { pri: Number(match[1]), appName: match[4]!, procId: match[5]!, msgId: match[6]!, json: JSON.parse(match[7]!) as Record<string, unknown>, raw };
}

/** RFC 6587 octet-counted frames out of a byte stream. */
function octetFrames(onMessage: (raw: string) => void) {
  let buffer = Buffer.alloc(0);
  return (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      const space = buffer.indexOf(0x20);
      if (space < 0) return;
      const length = Number(buffer.subarray(0, space).toString());
      if (buffer.length < space + 1 + length) return;
      onMessage(buffer.subarray(space + 1, space + 1 + length).toString());
      buffer = buffer.subarray(space + 1 + length);
    }
  };
}

/** A syslog receiver on 127.0.0.1 (UDP or TCP) or a Unix stream socket. */
async function startReceiver(kind: 'udp' | 'tcp' | 'unix', socketPath?: string) {
  const messages: SyslogMessage[] = [];
  const raw: string[] = [];
  const onMessage = (text: string) => {
    raw.push(text);
    messages.push(parseSyslog(text));
  };
  let address: string;
  let close: () => Promise<void>;
  if (kind === 'udp') {
    const socket = createSocket('udp4');
    socket.on('message', (data) => onMessage(data.toString()));
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    address = `udp://127.0.0.1:${socket.address().port}`;
    close = () => new Promise((resolve) => socket.close(() => resolve()));
  } else {
    const server: Server = createServer((connection) => connection.on('data', octetFrames(onMessage)));
    if (kind === 'tcp') server.listen(0, '127.0.0.1');
    else server.listen(socketPath);
    await once(server, 'listening');
    const info = server.address();
    address = kind === 'tcp' && typeof info === 'object' && info ? `tcp://127.0.0.1:${info.port}` : `unix://${socketPath}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  }
  const waitFor = async (code: string, timeoutMs = 30_000) => {
    await pollUntil(() => messages.map((message) => message.msgId), { what: `syslog message ${code}`, until: () => messages.some((message) => message.json.code === code), timeoutMs });
    return messages.find((message) => message.json.code === code)!;
  };
  return { address, messages, raw, waitFor, close };
}

/** A program started with its config; stdout and stderr are kept to show they stay quiet. */
function spawnProgram(entry: string, config: string): { child: ChildProcess; stdout: string[]; stop: () => Promise<void> } {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  trackProcess(child);
  const stdout: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => stdout.push(chunk.toString()));
  const exited = once(child, 'exit');
  return {
    child,
    stdout,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitUntilAccepting(port: number, timeoutMs = 30_000): Promise<void> {
  await pollUntil(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      }),
    { what: `a listener on port ${port}`, timeoutMs },
  );
}

async function fileLines(file: string, predicate: (line: Record<string, unknown>) => boolean, timeoutMs = 30_000) {
  return pollUntil(
    async () =>
      (await readFile(file, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    { what: `a matching line in ${file}`, until: (lines) => lines.some(predicate), timeoutMs },
  );
}

describe('log destinations: syslog over UDP, TCP and a Unix socket, and a file, with the level honoured', () => {
  let dir: string;
  const cleanups: (() => Promise<void>)[] = [];
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const tls = (name: string) => ({ certFile: `certs/${name}.crt`, keyFile: `certs/${name}.key`, clientCaFile: 'certs/ca.crt' });
  let client: { ca: Buffer; cert: Buffer; key: Buffer };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portcullis-logs-'));
    await createPki(join(dir, 'certs'));
    await writeFile(join(dir, 'users.yaml'), stringify({ users: { demo: { passwordHash: await argon2.hash(password, { type: argon2.argon2id }) } } }));
    client = {
      ca: await readFile(join(dir, 'certs', 'ca.crt')),
      cert: await readFile(join(dir, 'certs', 'gateway.crt')),
      key: await readFile(join(dir, 'certs', 'gateway.key')),
    };
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  test('authserver to syslog over UDP: RFC 5424 with the code as MSGID, nothing on stdout, no password anywhere', E2E, async () => {
    const receiver = await startReceiver('udp');
    cleanups.push(receiver.close);
    const config = join(dir, 'auth-udp.yaml');
    await writeFile(
      config,
      stringify({
        listen: '127.0.0.1:0',
        tls: tls('authserver'),
        usersFile: 'users.yaml',
        log: { level: 'debug', destination: 'syslog', syslog: { destination: receiver.address, facility: 'auth' } },
      }),
    );
    const program = spawnProgram('authserver/src/main.ts', config);
    cleanups.push(program.stop);
    const listening = await receiver.waitFor('AUTHSERVER_LISTENING');
    assert.equal(listening.pri, 4 * 8 + 6, 'facility auth, severity info');
    assert.equal(listening.appName, 'portcullis-authserver');
    assert.equal(listening.procId, String(program.child.pid));
    assert.equal(listening.msgId, 'AUTHSERVER_LISTENING');
    const url = `https://localhost:${Number(listening.json.port)}/password`;
    const good = await httpsJson(url, client, { ...base, username: 'demo', passwordBase64: Buffer.from(password).toString('base64') });
    assert.equal((good.body as { success: boolean }).success, true);
    await httpsJson(url, client, { ...base, username: 'demo', passwordBase64: Buffer.from(`${password}x`).toString('base64') });
    await receiver.waitFor('AUTHSERVER_PASSWORD_REJECTED');
    const all = receiver.raw.join('\n');
    assert.ok(!all.includes(password) && !all.includes(Buffer.from(password).toString('base64')), 'no password reaches syslog');
    assert.equal(program.stdout.join(''), '', 'nothing on stdout when logging to syslog');
  });

  test('configserver to syslog over TCP (octet counting); level warn drops info but keeps a failed policy reload', E2E, async () => {
    const receiver = await startReceiver('tcp');
    cleanups.push(receiver.close);
    const policyDir = join(dir, 'policies');
    await cp(POLICY_DIR, policyDir, { recursive: true });
    const config = join(dir, 'config-tcp.yaml');
    // No info line says which port it took, so give it one and wait until it accepts.
    const port = await freePort();
    await writeFile(
      config,
      stringify({ listen: `127.0.0.1:${port}`, tls: tls('configserver'), policyDir: 'policies', log: { level: 'warn', destination: 'syslog', syslog: { destination: receiver.address, tag: 'cfg' } } }),
    );
    const program = spawnProgram('configserver/src/main.ts', config);
    cleanups.push(program.stop);
    await waitUntilAccepting(port);
    // The folder watch starts once listening; a broken edit is retried a few times in case it came first.
    let failed: SyslogMessage | undefined;
    for (let attempt = 0; attempt < 5 && !failed; attempt += 1) {
      await appendFile(join(policyDir, 'baseline.yaml'), '\n  broken: [\n');
      failed = await receiver.waitFor('CONFIGSERVER_POLICY_RELOAD_FAILED', 3_000).catch(() => undefined);
    }
    assert.ok(failed, `the failed reload reached syslog; got ${receiver.raw.join('\n')}; stdout ${program.stdout.join('')}`);
    assert.equal(failed.pri, 16 * 8 + 3, 'facility local0 (default), severity error');
    assert.equal(failed.appName, 'cfg');
    assert.equal(failed.msgId, '-', "a code longer than RFC 5424's 32-character MSGID is not cut");
    assert.ok(!receiver.messages.some((message) => message.json.code === 'CONFIGSERVER_LISTENING'), 'info lines are below level warn');
  });

  test('authserver to a Unix stream socket', E2E, async () => {
    const receiver = await startReceiver('unix', join(dir, 'syslog.sock'));
    cleanups.push(receiver.close);
    const config = join(dir, 'auth-unix.yaml');
    await writeFile(
      config,
      stringify({ listen: '127.0.0.1:0', tls: tls('authserver'), usersFile: 'users.yaml', log: { level: 'info', destination: 'syslog', syslog: { destination: receiver.address } } }),
    );
    const program = spawnProgram('authserver/src/main.ts', config);
    cleanups.push(program.stop);
    const listening = await receiver.waitFor('AUTHSERVER_LISTENING');
    assert.equal(listening.pri, 16 * 8 + 6);
  });

  test('gateway to a file: JSON lines with codes, the file created with its folder', E2E, async () => {
    const logFile = join(dir, 'logs', 'nested', 'gateway.log');
    const config = join(dir, 'gateway.yaml');
    const webhook = { url: 'https://localhost:1', caFile: 'certs/ca.crt', certFile: 'certs/gateway.crt', keyFile: 'certs/gateway.key' };
    await writeFile(
      config,
      stringify({
        ssh: { listen: '127.0.0.1:0', hostKeyDir: 'hostkeys' },
        auth: webhook,
        configserver: { ...webhook, url: 'https://localhost:1/config' },
        log: { level: 'info', destination: 'file', file: 'logs/nested/gateway.log' },
      }),
    );
    const program = spawnProgram('gateway/src/main.ts', config);
    cleanups.push(program.stop);
    const lines = await fileLines(logFile, (line) => line.code === 'SSH_AVAILABLE');
    assert.ok(
      lines.every((line) => typeof line.code === 'string'),
      'every line has a code',
    );
    assert.ok(!lines.some((line) => line.level === 'debug'), 'level info');
    assert.equal(program.stdout.join(''), '', 'nothing on stdout when logging to a file');
  });

  test('a missing log.file is a config error naming the option', E2E, async () => {
    const config = join(dir, 'auth-bad.yaml');
    await writeFile(config, stringify({ listen: '127.0.0.1:0', tls: tls('authserver'), usersFile: 'users.yaml', log: { destination: 'file' } }));
    const program = spawnProgram('authserver/src/main.ts', config);
    const [code] = (await once(program.child, 'exit')) as [number];
    assert.equal(code, 1);
    assert.match(program.stdout.join(''), /AUTHSERVER_CONFIG_INVALID.*log\.file: log\.destination \\"file\\" needs log\.file/);
  });
});
