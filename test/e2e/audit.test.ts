import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { decodeBinaryLog } from '../../gateway/src/audit/format/binary-log.ts';
import { MESSAGE_TYPES } from '../../gateway/src/audit/format/message-types.ts';
import { asciinemaCat, auditCli, folderBytes, recordingFolders } from '../helpers/audit.ts';
import { hardenedExecution, worldWithConfig } from '../helpers/fake-config.ts';
import { opensshInvocation, runSsh } from '../helpers/ssh-client.ts';
import { E2E } from '../helpers/deadlines.ts';

async function auditDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-recordings-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const recordedConfig = (audit: Record<string, unknown>, execution: Record<string, unknown> = hardenedExecution()) => ({ backend: 'docker', docker: { execution }, audit });

test('a recorded ssh session plays back in asciinema cat, its binary log decodes in order, and one flipped byte fails verify', E2E, async (t) => {
  const dir = await auditDir(t);
  const { world } = await worldWithConfig(t, recordedConfig({ recording: 'required', storage: 'file' }), { gateway: { audit: { directory: dir, flushInterval: '1s' } } });
  const result = await runSsh({ port: world.sshPort, username: world.username, password: world.password, tty: true, command: 'echo "recorded-$((6*7))"; exit 3', extraArgs: ['-R', '0:127.0.0.1:9'] });
  assert.equal(result.code, 3, result.stderr);
  assert.match(result.stdout, /recorded-42/);
  await world.gateway.waitForCode('AUDIT_RECORDING_STORED');

  const [id] = await recordingFolders(dir);
  assert.ok(id, 'one recording folder');
  const folder = join(dir, id);
  assert.match(await asciinemaCat(join(folder, 'channel-0.cast')), /recorded-42/);

  const { messages } = decodeBinaryLog(await readFile(join(folder, 'audit.cslog')));
  const order = (type: number, predicate: (payload: Record<string, unknown>) => boolean = () => true) => messages.findIndex((message) => message.type === type && predicate(message.payload ?? {}));
  const steps = [
    order(MESSAGE_TYPES.connect),
    order(MESSAGE_TYPES.authPasswordSuccessful, (payload) => payload.username === world.username),
    // As ContainerSSH records it: the SSH username of the accepted login.
    order(MESSAGE_TYPES.handshakeSuccessful, (payload) => payload.username === world.username),
    order(MESSAGE_TYPES.newChannel, (payload) => payload.channelType === 'session'),
    order(MESSAGE_TYPES.channelRequestPty),
    order(MESSAGE_TYPES.channelRequestExec, (payload) => String(payload.program).includes('recorded-')),
    order(
      MESSAGE_TYPES.io,
      (payload) =>
        payload.stream === 1 &&
        Buffer.from(payload.data as Uint8Array)
          .toString()
          .includes('recorded-42'),
    ),
    order(MESSAGE_TYPES.exit, (payload) => payload.exitStatus === 3),
    order(MESSAGE_TYPES.close),
    order(MESSAGE_TYPES.disconnect),
  ];
  assert.ok(
    steps.every((index) => index >= 0),
    `every event is there: ${steps.join(',')}`,
  );
  assert.ok(order(MESSAGE_TYPES.globalRequestUnknown, (payload) => payload.requestType === 'tcpip-forward') >= 0, 'the refused -R request is recorded');
  assert.deepEqual(
    steps,
    [...steps].sort((a, b) => a - b),
    'in the order they happened',
  );
  const auth = messages[steps[1]!]!;
  assert.equal(Buffer.from(auth.payload!.password as Uint8Array).length, 0, 'the password is not recorded');
  assert.ok(!messages.some((message) => Buffer.from(JSON.stringify(message.payload, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).includes(world.password)));

  const listed = await auditCli(['list', dir]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, new RegExp(`^${id}\\s+${world.username}\\s+127\\.0\\.0\\.1:\\d+\\s+\\S+\\s+\\S+\\s+\\S+\\s+\\S+\\s+3\\s+complete$`, 'm'));
  // JSON lines: the same fields, one object per recording, filtered by user and start time.
  const json = await auditCli(['list', dir, '--json', '--user', world.username, '--since', '1h']);
  assert.equal(json.code, 0, json.stderr);
  const [line, ...more] = json.stdout.split('\n').filter(Boolean);
  assert.deepEqual(more, [], 'one recording, one line');
  const overview = JSON.parse(line!) as Record<string, unknown>;
  assert.equal(overview.id, id);
  assert.equal(overview.user, world.username);
  assert.match(String(overview.address), /^127\.0\.0\.1:\d+$/);
  assert.ok(Math.abs(Date.parse(String(overview.start)) - Date.now()) < 3_600_000, String(overview.start));
  assert.ok(typeof overview.durationSeconds === 'number' && overview.durationSeconds >= 0);
  assert.ok(typeof overview.bytesOut === 'number' && overview.bytesOut > 0);
  assert.equal(typeof overview.bytesIn, 'number');
  assert.deepEqual(overview.exitStatus, ['3']);
  assert.equal(overview.state, 'complete');
  assert.equal((await auditCli(['list', dir, '--json', '--user', `${world.username}-other`])).stdout, '', 'another user: nothing');
  assert.equal((await auditCli(['list', dir, '--json', '--since', new Date(Date.now() + 3_600_000).toISOString()])).stdout, '', 'a later --since: nothing');
  const verified = await auditCli(['verify', folder]);
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /OK .*audit\.cslog/);
  const decoded = await auditCli(['decode', join(folder, 'audit.cslog')]);
  assert.equal(decoded.code, 0, decoded.stderr);
  assert.match(decoded.stdout, /channelRequestExec\(403\)/);

  for (const name of ['channel-0.cast', 'audit.cslog']) {
    const file = join(folder, name);
    const original = await readFile(file);
    const edited = Buffer.from(original);
    const at = Math.floor(edited.length / 2);
    edited[at] = edited[at]! ^ 0x20;
    await writeFile(file, edited);
    const failed = await auditCli(['verify', file]);
    assert.equal(failed.code, 1, `verify must fail after one byte of ${name} changed`);
    assert.match(failed.stdout, new RegExp(`FAILED .*${name.replace('.', '\\.')}: .*changed`));
    await writeFile(file, original);
  }
});

const SFTP_MIB = Number(process.env.PORTCULLIS_AUDIT_SFTP_MIB ?? 8);

test(`an SFTP upload of ${SFTP_MIB} MiB is one file event with its SHA-256, and the recording stays under 1 MiB`, E2E, async (t) => {
  const dir = await auditDir(t);
  const tmpfsMib = SFTP_MIB + 16;
  const execution = hardenedExecution();
  const host = execution.host as Record<string, unknown>;
  const { world } = await worldWithConfig(
    t,
    recordedConfig(
      { recording: 'required' },
      {
        ...execution,
        host: { ...host, memory: (tmpfsMib + 256) * 1024 * 1024, tmpfs: { ...(host.tmpfs as object), '/tmp': `rw,nosuid,nodev,size=${tmpfsMib}m,mode=1777` } },
      },
    ),
    { gateway: { audit: { directory: dir } } },
  );
  const work = await auditDir(t);
  const local = join(work, 'upload.bin');
  // Random content: incompressible, so nothing hides the bytes in a small gzip.
  const content = randomBytes(SFTP_MIB * 1024 * 1024);
  await writeFile(local, content);
  const { args, env, dir: sshDir } = await opensshInvocation({ port: world.sshPort, username: world.username, password: world.password });
  t.after(() => rm(sshDir, { recursive: true, force: true }));
  // sftp takes ssh's options, with -P for the port; commands come on stdin (-b would forbid the password prompt).
  const port = args[args.indexOf('-p') + 1]!;
  const options = args.slice(0, args.indexOf('-p')).filter((arg) => arg !== '-T');
  const sftp = spawn('sftp', [...options, '-P', port, `${world.username}@127.0.0.1`], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  sftp.stdout.on('data', (chunk: Buffer) => (output += chunk));
  sftp.stderr.on('data', (chunk: Buffer) => (output += chunk));
  sftp.stdin.end(`put ${local} /tmp/upload.bin\nquit\n`);
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => sftp.kill('SIGKILL'), 300_000);
    sftp.on('close', (exit) => {
      clearTimeout(timer);
      resolve(exit);
    });
  });
  assert.equal(code, 0, output);
  await world.gateway.waitForCode('AUDIT_RECORDING_STORED');

  const [id] = await recordingFolders(dir);
  const folder = join(dir, id!);
  const { messages } = decodeBinaryLog(await readFile(join(folder, 'audit.cslog')));
  const files = messages.filter((message) => message.type === MESSAGE_TYPES.sftpFile).map((message) => message.payload);
  assert.deepEqual(files, [{ operation: 'upload', path: '/tmp/upload.bin', direction: 'upload', bytes: content.length, sha256: createHash('sha256').update(content).digest('hex'), result: 'ok' }]);
  assert.ok(!messages.some((message) => message.type === MESSAGE_TYPES.io), 'no raw SFTP bytes in the log');
  const bytes = await folderBytes(folder);
  assert.ok(bytes < 1024 * 1024, `the recording is ${bytes} bytes`);
  t.diagnostic(`${SFTP_MIB} MiB uploaded, recording ${bytes} bytes`);
});
