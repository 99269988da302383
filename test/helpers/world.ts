import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { createPki } from '@portcullis/pki';
import { hashPassword } from '../../authserver/src/users-file.ts';
import { trackContainers } from './leftovers.ts';
import { startProgram, type RunningProgram } from './program.ts';

/** The policy files the repository ships: the tests run what operators run. */
const POLICY_DIR = fileURLToPath(new URL('../../policies', import.meta.url));

export interface World {
  readonly dir: string;
  readonly username: string;
  readonly password: string;
  readonly authserver: RunningProgram;
  readonly configserver: RunningProgram;
  readonly gateway: RunningProgram;
  readonly sshPort: number;
  /** The gateway instance id its containers are labelled with. */
  readonly instanceId: string;
  readonly pki: Awaited<ReturnType<typeof createPki>>;
  /** Starts another gateway process with the same config (after a crash, or as a second instance). */
  startAnotherGateway(): Promise<RunningProgram>;
  stop(): Promise<void>;
}

export interface GatewayRedirect {
  readonly authUrl?: string;
  readonly configserverUrl?: string;
  /** Config sections merged over everything else (e.g. a Docker endpoint made for the test). */
  readonly gateway?: Record<string, Record<string, unknown>>;
}

export interface WorldOptions {
  /** Authorized keys for the demo user. */
  readonly authorizedKeys?: string[];
  readonly webhookTimeout?: string;
  /** Log level of all three programs (default `debug`, which the tests read; `info` is production's). */
  readonly logLevel?: 'debug' | 'info';
  /** Script that starts the gateway (default `gateway/src/main.ts`; benchmarks use a no-op backend). */
  readonly gatewayEntry?: string;
  /** Merged over the gateway's config sections (e.g. `{ docker: { host, tls } }`). */
  readonly gateway?: Record<string, Record<string, unknown>>;
  /** The gateway's `workers` setting (default: the config default, a single process). */
  readonly workers?: number | 'auto';
  /** More users for the authserver's users file, beside the demo user (e.g. one with a `totpSecret`). */
  readonly extraUsers?: Record<string, Record<string, unknown>>;
  /** The users file's `identities` map (`kind:id` → allowed SSH usernames). */
  readonly identities?: Record<string, string[]>;
  /** Merged over the authserver's and configserver's config keys (e.g. `{ metrics: { listen } }`, `certificates`, `bruteForce`). */
  readonly authserver?: Record<string, unknown>;
  readonly configserver?: Record<string, unknown>;
  /** How long the gateway may take to listen (default 30 s; a backend that loads a large client may need more on a busy machine). */
  readonly gatewayStartTimeoutMs?: number;
  /** Runs once the certificates exist, before the gateway starts; may redirect its webhooks. */
  readonly beforeGateway?: (certsDir: string) => Promise<GatewayRedirect>;
}

/**
 * The three programs as real processes on 127.0.0.1 with ephemeral ports, fresh
 * certificates and a fresh demo user, all under one temporary folder.
 */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-e2e-'));
  const started: RunningProgram[] = [];
  try {
    const pki = await createPki(join(dir, 'certs'));
    const username = 'demo';
    const password = randomBytes(12).toString('base64url');
    await writeFile(
      join(dir, 'users.yaml'),
      stringify({
        users: {
          [username]: {
            // The cost operators' hashes have (authserver hash-password), not the library's default.
            passwordHash: await hashPassword(password),
            authorizedKeys: options.authorizedKeys ?? [],
          },
          ...options.extraUsers,
        },
        ...(options.identities ? { identities: options.identities } : {}),
      }),
      { mode: 0o600 },
    );
    const serverTls = (name: 'authserver' | 'configserver') => ({
      certFile: join(dir, 'certs', `${name}.crt`),
      keyFile: join(dir, 'certs', `${name}.key`),
      clientCaFile: join(dir, 'certs', 'ca.crt'),
      allowedClientNames: ['gateway'],
    });
    await writeFile(
      join(dir, 'authserver.yaml'),
      stringify({ listen: '127.0.0.1:0', tls: serverTls('authserver'), usersFile: join(dir, 'users.yaml'), log: { level: options.logLevel ?? 'debug' }, ...options.authserver }),
    );
    await writeFile(
      join(dir, 'configserver.yaml'),
      stringify({ listen: '127.0.0.1:0', tls: serverTls('configserver'), policyDir: POLICY_DIR, log: { level: options.logLevel ?? 'debug' }, ...options.configserver }),
    );
    const authserver = await startProgram('authserver', ['authserver/src/main.ts', '--config', join(dir, 'authserver.yaml')], 'AUTHSERVER_LISTENING');
    started.push(authserver);
    const configserver = await startProgram('configserver', ['configserver/src/main.ts', '--config', join(dir, 'configserver.yaml')], 'CONFIGSERVER_LISTENING');
    started.push(configserver);
    const redirect = (await options.beforeGateway?.(join(dir, 'certs'))) ?? {};
    const sections = { ...options.gateway };
    for (const [name, section] of Object.entries(redirect.gateway ?? {})) sections[name] = { ...sections[name], ...section };
    // As docker-compose.yml runs it: programs without a terminal get their stdin and stdout
    // through FIFOs (an engine over TCP cannot see them; a test may also turn them off).
    if (sections.docker?.host === undefined && !('streamDirectory' in (sections.docker ?? {}))) {
      sections.docker = { ...sections.docker, streamDirectory: join(dir, 'streams') };
    } else if (sections.docker?.streamDirectory === null) {
      const { streamDirectory: _off, ...docker } = sections.docker;
      sections.docker = docker;
    }
    const clientTls = {
      caFile: join(dir, 'certs', 'ca.crt'),
      certFile: join(dir, 'certs', 'gateway.crt'),
      keyFile: join(dir, 'certs', 'gateway.key'),
      timeout: options.webhookTimeout ?? '5s',
    };
    await writeFile(
      join(dir, 'gateway.yaml'),
      stringify({
        // 127.0.0.1 is every test's own client: its deliberate failures must not lock the
        // next test out. Other loopback addresses are penalised as any source would be.
        ssh: { listen: '127.0.0.1:0', hostKeyDir: join(dir, 'hostkeys'), perSourcePenalties: { exempt: ['127.0.0.1/32'] }, ...sections.ssh },
        auth: { url: redirect.authUrl ?? `https://localhost:${authserver.port}`, ...clientTls, ...sections.auth },
        configserver: {
          url: redirect.configserverUrl ?? `https://localhost:${configserver.port}/config`,
          ...clientTls,
          ...sections.configserver,
        },
        ...Object.fromEntries(Object.entries(sections).filter(([name]) => !['ssh', 'auth', 'configserver'].includes(name))),
        log: { level: options.logLevel ?? 'debug' },
        ...(options.workers ? { workers: options.workers } : {}),
      }),
    );
    const startGateway = async () => {
      const program = await startProgram('gateway', [options.gatewayEntry ?? 'gateway/src/main.ts', '--config', join(dir, 'gateway.yaml')], 'SSH_AVAILABLE', {
        ...(options.gatewayStartTimeoutMs ? { timeoutMs: options.gatewayStartTimeoutMs } : {}),
      });
      started.push(program);
      const available = await program.waitForCode('SSH_AVAILABLE');
      // With workers, each has its own instance id; the primary's line lists them.
      const instanceIds = Array.isArray(available.instanceIds) ? available.instanceIds : [available.instanceId];
      for (const instanceId of instanceIds) trackContainers(`portcullis.io/instance=${String(instanceId)}`);
      return program;
    };
    const gateway = await startGateway();
    return {
      dir,
      username,
      password,
      authserver,
      configserver,
      gateway,
      sshPort: gateway.port,
      instanceId: String((await gateway.waitForCode('SSH_AVAILABLE')).instanceId ?? ''),
      pki,
      startAnotherGateway: startGateway,
      stop: async () => {
        await Promise.all(started.map((program) => program.stop()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(started.map((program) => program.stop()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
