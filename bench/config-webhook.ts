/**
 * Config webhook throughput: POST /config over mutual TLS with kept-alive connections, to
 * the configserver with a 1,000-profile policy, next to a bare Fastify mTLS server that
 * parses the same body and answers a fixed one. Goal: ≥ 0.9× the bare server. Every user asks
 * once before the timed slices, so they measure a running service (each profile's render cached),
 * not the first login of 2,000 users.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createPki } from '@portcullis/pki';
import { startProgram, type RunningProgram } from '../test/helpers/program.ts';
import type { BenchOptions, Row } from './lib/table.ts';

const POLICIES = fileURLToPath(new URL('../policies', import.meta.url));
const PROFILES = 1000;
const CONCURRENCY = 32;

/** A policy set: the shipped baseline plus `count` profiles, each matching its own user. */
async function manyProfiles(dir: string, count: number): Promise<void> {
  await cp(join(POLICIES, 'baseline.yaml'), join(dir, 'baseline.yaml'));
  await mkdir(join(dir, 'profiles'));
  for (let index = 0; index < count; index += 1) {
    const profile = {
      description: `bench profile ${index}`,
      priority: 10,
      match: { users: [`user-${index}`] },
      overlay: { environment: { BENCH_PROFILE: String(index) } },
    };
    await writeFile(join(dir, 'profiles', `profile-${String(index).padStart(4, '0')}.yaml`), stringify(profile));
  }
}

function body(index: number): string {
  const username = `user-${index % (PROFILES * 2)}`; // half match a profile, half only the baseline
  return JSON.stringify({
    username,
    authenticatedUsername: username,
    remoteAddress: '127.0.0.1:40000',
    connectionId: index.toString(16).padStart(32, '0'),
    clientVersion: 'SSH-2.0-OpenSSH_9.2',
    metadata: { authMethod: { value: 'publickey', sensitive: false } },
  });
}

/** Requests per second over `seconds`, or until `count` requests were answered when that comes first. */
async function requestsPerSecond(port: number, certs: string, seconds: number, count = Number.POSITIVE_INFINITY): Promise<number> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: CONCURRENCY,
    ca: await readFile(join(certs, 'ca.crt')),
    cert: await readFile(join(certs, 'gateway.crt')),
    key: await readFile(join(certs, 'gateway.key')),
  });
  const post = (index: number) =>
    new Promise<void>((resolve, reject) => {
      const payload = body(index);
      const req = request({ host: 'localhost', port, path: '/config', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      });
      req.on('error', reject);
      req.end(payload);
    });
  let sent = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline && sent < count) await post(sent++);
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return sent / elapsed;
}

export async function run(options: BenchOptions): Promise<Row[]> {
  const seconds = options.smoke ? 1 : 10;
  const profiles = options.smoke ? 50 : PROFILES;
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-bench-config-'));
  const programs: RunningProgram[] = [];
  try {
    const certs = join(dir, 'certs');
    await createPki(certs);
    const policyDir = join(dir, 'policies');
    await mkdir(policyDir);
    await manyProfiles(policyDir, profiles);
    const tls = { certFile: join(certs, 'configserver.crt'), keyFile: join(certs, 'configserver.key'), clientCaFile: join(certs, 'ca.crt'), allowedClientNames: ['gateway'] };
    await writeFile(join(dir, 'configserver.yaml'), stringify({ listen: '127.0.0.1:0', tls, policyDir, log: { level: 'info' } }));
    // Logging at info, as in production: each answer costs one log line.
    const configserver = await startProgram('configserver', ['configserver/src/main.ts', '--config', join(dir, 'configserver.yaml')], 'CONFIGSERVER_LISTENING');
    programs.push(configserver);
    const echo = await startProgram('echo', ['bench/lib/echo-server.ts', '--certs', certs], 'ECHO_LISTENING');
    programs.push(echo);
    await requestsPerSecond(configserver.port, certs, options.smoke ? 1 : 60, PROFILES * 2); // warm-up: every user once
    await requestsPerSecond(echo.port, certs, 1);
    // Alternating one-second slices: a load change on the machine hits both sides alike.
    let ours = 0;
    let theirs = 0;
    for (let slice = 0; slice < seconds; slice += 1) {
      ours += (await requestsPerSecond(configserver.port, certs, 1)) / seconds;
      theirs += (await requestsPerSecond(echo.port, certs, 1)) / seconds;
    }
    return [
      {
        benchmark: 'config webhook',
        measure: `POST /config, ${profiles} profiles, ${CONCURRENCY} kept-alive mTLS connections, ${seconds} s`,
        value: ours,
        unit: 'req/s',
        baseline: { label: 'bare Fastify mTLS echo', value: theirs },
        ratio: ours / theirs,
        goal: '≥ 0.9× the echo',
        ...(options.smoke ? {} : { met: ours / theirs >= 0.9 }),
      },
    ];
  } finally {
    await Promise.all(programs.map((program) => program.stop()));
    await rm(dir, { recursive: true, force: true });
  }
}
