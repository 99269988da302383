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
async function timeShell(port: number, username: string, password: string, command = 'echo x'): Promise<number> {
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
    client.connect({ sock: socket, username, password, hostVerifier: () => true });
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
    const exec = await container.exec({ Cmd: ['/bin/sh', '-c', 'echo x'], AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    await once(stream, 'data');
    const elapsed = performance.now() - started;
    stream.destroy();
    return elapsed;
  } finally {
    await container.remove({ force: true });
  }
}

const docker = new Docker();
const world = await startWorld();
const bare = await bareServer();
try {
  const samples = { portcullis: [] as number[], bare: [] as number[], docker: [] as number[] };
  // One warm-up each, so first-use costs (module loading, TLS session setup) are not counted.
  await timeShell(world.sshPort, world.username, world.password);
  await timeShell(bare.port, 'bench', 'bench');
  await timeDockerExec(docker);
  for (let i = 0; i < runs; i += 1) {
    samples.portcullis.push(await timeShell(world.sshPort, world.username, world.password));
    samples.bare.push(await timeShell(bare.port, 'bench', 'bench'));
    samples.docker.push(await timeDockerExec(docker));
  }
  const row = (name: string, values: number[], note?: string): Row => ({
    name,
    median: percentile(values, 50),
    p95: percentile(values, 95),
    unit: 'ms',
    ...(note ? { note } : {}),
  });
  const baseline = percentile(samples.bare, 50) + percentile(samples.docker, 50);
  const portcullis = percentile(samples.portcullis, 50);
  printTable(`time to shell, Docker backend (${runs} runs)`, [
    row('portcullis: TCP connect → first shell byte', samples.portcullis, `ratio ${(portcullis / baseline).toFixed(2)}× baseline; overhead ${(portcullis - baseline).toFixed(1)} ms (goal ≤ 50 ms)`),
    row('baseline: bare ssh2 handshake + login', samples.bare),
    row('baseline: docker create + start + exec → first byte', samples.docker),
  ]);
} finally {
  bare.close();
  await world.stop();
}
