import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { pollUntil } from './poll-until.ts';
import { freePort } from './ports.ts';
import { ensureSessionImage } from './session-image.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The services of docker-compose.yml that keep running and carry a health check. */
export const LONG_RUNNING_SERVICES = ['authserver', 'configserver', 'gateway'] as const;

/** The repository's docker-compose.yml, up under a project name of its own, as an operator starts it. */
export interface ComposeStack {
  readonly project: string;
  /** The environment every compose command of this stack runs with (its free ports). */
  readonly env: NodeJS.ProcessEnv;
  /** The gateway's SSH port on the host. */
  readonly sshPort: number;
  /** Runs Debian's docker-compose (v1) on this stack: `compose(['logs', 'gateway'])`. */
  compose(args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** Each service's container id, by service name (running or exited). */
  containers(): Promise<Map<string, string>>;
  /** Health status of each long-running service (`starting`, `healthy`, `unhealthy`, or `none`). */
  health(): Promise<Record<string, string>>;
  /** Resolves once every long-running service reports healthy; throws naming the statuses if one turns unhealthy or time runs out. */
  healthy(timeoutMs?: number): Promise<void>;
  /** `down -v`: every container, volume and network of the project removed. */
  down(): Promise<void>;
}

/**
 * The gateway runs on the host's network, so its ports are host ports: the shipped gateway.yaml
 * with free ones (the webhooks' published loopback ports, SSH, metrics and health).
 */
async function gatewayConfigWithFreePorts(dir: string): Promise<{ port: number; env: NodeJS.ProcessEnv }> {
  const ports = { ssh: await freePort(), authserver: await freePort(), configserver: await freePort(), ops: await freePort() };
  const config = parse(await readFile(join(ROOT, 'deploy/compose/gateway.yaml'), 'utf8')) as Record<string, Record<string, unknown>>;
  config.ssh = { ...config.ssh, listen: `0.0.0.0:${ports.ssh}` };
  config.auth = { ...config.auth, url: `https://authserver:${ports.authserver}` };
  config.configserver = { ...config.configserver, url: `https://configserver:${ports.configserver}/config` };
  config.metrics = { listen: `127.0.0.1:${ports.ops}` };
  config.health = { listen: `127.0.0.1:${ports.ops}` };
  const file = join(dir, 'gateway.yaml');
  await writeFile(file, stringify(config));
  return {
    port: ports.ssh,
    env: {
      PORTCULLIS_GATEWAY_CONFIG: file,
      PORTCULLIS_AUTHSERVER_PORT: String(ports.authserver),
      PORTCULLIS_CONFIGSERVER_PORT: String(ports.configserver),
      PORTCULLIS_GATEWAY_OPS_PORT: String(ports.ops),
    },
  };
}

/** `docker-compose up -d` of the repository's compose file (images built from this tree, no registry); `dir` holds its gateway.yaml. */
export async function composeUp(project: string, dir: string): Promise<ComposeStack> {
  const gateway = await gatewayConfigWithFreePorts(dir);
  // The images are built from this tree (a no-op when current); compose must not try a registry.
  await ensureSessionImage();
  const env = { ...process.env, ...gateway.env };
  const compose = (args: string[]) => run('docker-compose', ['-p', project, ...args], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
  const containers = async () => {
    const { stdout } = await run('docker', ['ps', '-a', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.ID}} {{.Label "com.docker.compose.service"}}']);
    return new Map(
      stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [id, service] = line.split(' ');
          return [service!, id!] as const;
        }),
    );
  };
  const health = async () => {
    const ids = await containers();
    const statuses: Record<string, string> = {};
    for (const service of LONG_RUNNING_SERVICES) {
      const id = ids.get(service);
      statuses[service] = id ? (await run('docker', ['inspect', '--format', '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}', id])).stdout.trim() : 'absent';
    }
    return statuses;
  };
  const stack: ComposeStack = {
    project,
    env,
    sshPort: gateway.port,
    compose,
    containers,
    health,
    async healthy(timeoutMs = 180_000) {
      // The gateway's first check runs one interval (30 s) after its start.
      const statuses = await pollUntil(health, {
        what: 'every compose service healthy',
        until: (seen) => Object.values(seen).every((status) => status === 'healthy') || Object.values(seen).includes('unhealthy'),
        timeoutMs,
        intervalMs: 1000,
      });
      if (Object.values(statuses).includes('unhealthy')) throw new Error(`a compose service reports unhealthy: ${JSON.stringify(statuses)}`);
    },
    async down() {
      await compose(['down', '-v', '--remove-orphans', '--timeout', '20']);
    },
  };
  try {
    await compose(['up', '-d', '--no-build']);
  } catch (error) {
    await stack.down().catch(() => undefined);
    throw error;
  }
  return stack;
}
