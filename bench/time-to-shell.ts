/**
 * Time from TCP connect to the first byte of shell output, through Portcullis with the
 * Docker backend, next to its two baselines measured in the same run: a bare ssh2
 * handshake + password login with no webhook and no backend, and a direct Docker
 * create/start/exec to first output byte. Usage: `npm run bench:time-to-shell [-- --runs N]`.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';
import Docker from 'dockerode';
import ssh2 from 'ssh2';
import { startWorld } from '../test/helpers/world.ts';
import { percentile, printTable, type Row } from './stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Number(values.runs);
const IMAGE = 'portcullis/session:dev';

/** Connects with ssh2's client, opens a shell, and resolves at its first output byte. */
type Credential = { password: string } | { privateKey: string };

async function timeShell(port: number, username: string, credential: Credential, command = 'echo x'): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = performance.now();
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    client.on('error', reject);
    client.on('ready', () => {
      client.exec(command, (error, channel) => {
        if (error) return reject(error);
        channel.once('data', () => {
          const elapsed = performance.now() - started;
          channel.on('data', () => undefined);
          channel.on('close', () => client.end());
          resolve(elapsed);
        });
      });
    });
    client.connect({ sock: socket, username, ...credential, hostVerifier: () => true });
  });
}

/** A bare ssh2 server: handshake and a password login, no webhook, no backend. */
async function bareServer(): Promise<{ port: number; close: () => void }> {
  const hostKey = ssh2.utils.generateKeyPairSync('ed25519').private;
  const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    client.on('authentication', (ctx) => (ctx.method === 'password' ? ctx.accept() : ctx.reject(['password'])));
    client.on('session', (accept) => {
      accept().on('exec', (acceptExec) => {
        const channel = acceptExec();
        channel.write('x\n');
        channel.exit(0);
        channel.end();
      });
    });
    client.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, close: () => server.close() };
}

/** Runs `echo x` in the container and resolves at its first output byte. */
async function execFirstByte(container: Docker.Container): Promise<void> {
  const exec = await container.exec({ Cmd: ['/bin/sh', '-c', 'echo x'], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  await once(stream, 'data');
  stream.destroy();
}

async function timeDockerExec(docker: Docker): Promise<number> {
  const started = performance.now();
  const container = await docker.createContainer({
    Image: IMAGE,
    Cmd: ['/bin/sh', '-c', 'sleep infinity & wait'],
    User: '1000:1000',
    HostConfig: { ReadonlyRootfs: true, CapDrop: ['ALL'], NetworkMode: 'none', Tmpfs: { '/tmp': '' } },
    Labels: { 'portcullis.io/bench': 'true' },
  });
  try {
    await container.start();
    await execFirstByte(container);
    return performance.now() - started;
  } finally {
    await container.remove({ force: true });
  }
}

/** `docker exec` into a container that is already running: the floor for any exec. */
async function timeExecOnly(container: Docker.Container): Promise<number> {
  const started = performance.now();
  await execFirstByte(container);
  return performance.now() - started;
}

const docker = new Docker();
const key = ssh2.utils.generateKeyPairSync('ed25519');
const world = await startWorld({ authorizedKeys: [key.public] });
const bare = await bareServer();
const idle = await docker.createContainer({ Image: IMAGE, Cmd: ['/bin/sh', '-c', 'sleep infinity & wait'], Labels: { 'portcullis.io/bench': 'true' } });
await idle.start();
try {
  const samples = { password: [] as number[], publicKey: [] as number[], bare: [] as number[], docker: [] as number[], exec: [] as number[] };
  const viaPassword = () => timeShell(world.sshPort, world.username, { password: world.password });
  const viaKey = () => timeShell(world.sshPort, world.username, { privateKey: key.private });
  // One warm-up each, so first-use costs (module loading, TLS session setup) are not counted.
  await viaPassword();
  await viaKey();
  await timeShell(bare.port, 'bench', { password: 'bench' });
  await timeDockerExec(docker);
  await timeExecOnly(idle);
  for (let i = 0; i < runs; i += 1) {
    samples.password.push(await viaPassword());
    samples.publicKey.push(await viaKey());
    samples.bare.push(await timeShell(bare.port, 'bench', { password: 'bench' }));
    samples.docker.push(await timeDockerExec(docker));
    samples.exec.push(await timeExecOnly(idle));
  }
  const row = (name: string, values: number[], note?: string): Row => ({
    name,
    median: percentile(values, 50),
    p95: percentile(values, 95),
    unit: 'ms',
    ...(note ? { note } : {}),
  });
  const baseline = percentile(samples.bare, 50) + percentile(samples.docker, 50);
  const versus = (values: number[]) => {
    const median = percentile(values, 50);
    return `${(median / baseline).toFixed(2)}× baseline, ${(median - baseline).toFixed(1)} ms over it (goal ≤ +50 ms)`;
  };
  printTable(`time to shell, Docker backend (${runs} runs; baseline = bare login + docker create/start/exec)`, [
    row('portcullis, public key: TCP connect → first shell byte', samples.publicKey, versus(samples.publicKey)),
    row('portcullis, password (argon2id verify): same', samples.password, versus(samples.password)),
    row('baseline: bare ssh2 handshake + login', samples.bare),
    row('baseline: docker create + start + exec → first byte', samples.docker),
    row('reference: docker exec in a running container', samples.exec),
  ]);
} finally {
  await idle.remove({ force: true });
  bare.close();
  await world.stop();
}
