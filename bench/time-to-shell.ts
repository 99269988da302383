/**
 * Time from TCP connect to the first byte of a program's output through Portcullis with
 * the Docker backend (image present), next to its baselines measured in the same run: a
 * bare ssh2 handshake + login with no webhook and no backend, plus a direct Docker
 * create/start/exec to first output byte. Goal: ≤ baseline + 50 ms.
 */
import { generateParsableKeyPair } from '../gateway/src/listener/index.ts';
import { once } from 'node:events';
import { connect } from 'node:net';
import Docker from 'dockerode';
import ssh2 from 'ssh2';
import { startWorld } from '../test/helpers/world.ts';
import { percentile } from './lib/stats.ts';
import type { BenchOptions, Row } from './lib/table.ts';

const IMAGE = 'portcullis/session:dev';

type Credential = { password: string } | { privateKey: string };

/** Connects with ssh2's client, runs `echo x`, and resolves at its first output byte. */
export async function timeShell(port: number, username: string, credential: Credential): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const started = performance.now();
  const client = new ssh2.Client();
  return new Promise((resolve, reject) => {
    client.on('error', reject);
    client.on('ready', () => {
      client.exec('echo x', (error, channel) => {
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
export async function bareServer(): Promise<{ port: number; close: () => void }> {
  const hostKey = generateParsableKeyPair('ed25519').private;
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

export async function run(options: BenchOptions): Promise<Row[]> {
  const runs = options.smoke ? 3 : 20;
  const docker = new Docker();
  const key = generateParsableKeyPair('ed25519');
  const world = await startWorld({ authorizedKeys: [key.public], logLevel: 'info' });
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
    for (let i = 0; i < runs; i += 1) {
      samples.password.push(await viaPassword());
      samples.publicKey.push(await viaKey());
      samples.bare.push(await timeShell(bare.port, 'bench', { password: 'bench' }));
      samples.docker.push(await timeDockerExec(docker));
      const execStarted = performance.now();
      await execFirstByte(idle);
      samples.exec.push(performance.now() - execStarted);
    }
    const baseline = percentile(samples.bare, 50) + percentile(samples.docker, 50);
    const row = (measure: string, values: number[]): Row => {
      const median = percentile(values, 50);
      return {
        benchmark: 'time to shell (Docker)',
        measure: `${measure}, median of ${runs} (p95 ${percentile(values, 95).toFixed(0)} ms)`,
        value: median,
        unit: 'ms',
        baseline: { label: 'bare ssh2 login + docker create/start/exec', value: baseline },
        ratio: median / baseline,
        goal: '≤ baseline + 50 ms',
        met: median <= baseline + 50,
      };
    };
    const exec = percentile(samples.exec, 50);
    return [
      row('public key', samples.publicKey),
      row('password (argon2id verify)', samples.password),
      {
        benchmark: 'time to shell (Docker)',
        measure: `reference: bare docker exec into a running container → first byte, median of ${runs}`,
        value: exec,
        unit: 'ms',
        goal: '(reference, no goal)',
      },
    ];
  } finally {
    await idle.remove({ force: true });
    bare.close();
    await world.stop();
  }
}
