// First: ssh2's cipher module must load with the pooled packet padding, and V8 take the gateway's heap growth (see each module).
import './ssh2-padding.ts';
import './process/heap-tuning.ts';
import { parseArgs } from 'node:util';
import { GatewayError, isGatewayError } from './errors.ts';
import { prepareStreamRoot } from './backends/docker/stream-directory.ts';
import cluster from 'node:cluster';
import { startGatewayProcess } from './cluster/index.ts';
import { createLogger, errorFields, openLogDestination } from './observability/index.ts';
import { dropPrivileges } from './process/drop-privileges.ts';
import { installLastResort } from './process/last-resort.ts';
import { loadGatewayConfig } from './settings/index.ts';

const USAGE = 'usage: gateway --config <gateway.yaml>   (or PORTCULLIS_GATEWAY_CONFIG)\n';
let values: { config?: string; help?: boolean };
try {
  ({ values } = parseArgs({ options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
} catch (error) {
  // A mistyped option gets one line and the usage, never a stack trace.
  process.stderr.write(`portcullis gateway: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const configFile = values.config ?? process.env.PORTCULLIS_GATEWAY_CONFIG;
if (!configFile) {
  process.stderr.write(USAGE);
  process.exit(2);
}

try {
  const config = await loadGatewayConfig(configFile);
  const log = createLogger(config.log.level, openLogDestination(config.log, 'portcullis-gateway'));
  // The FIFO root is made the gateway user's while still root; workers find it ready.
  if (cluster.isPrimary && config.docker.enabled && config.docker.streamDirectory) await prepareStreams(config.docker.streamDirectory, config.runAs);
  // Workers inherit the primary's user: only the first process may drop privileges.
  const droppedTo = cluster.isPrimary ? dropPrivileges(config.runAs, !config.docker.enabled || config.docker.host ? undefined : config.docker.socketPath) : undefined;
  if (droppedTo) log.info({ code: 'GATEWAY_PRIVILEGES_DROPPED', ...droppedTo }, 'running without root');
  const gateway = await startGatewayProcess(config, log);
  installLastResort(log, (kind) => gateway.processFault(kind));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      // Connections close, and with them their containers; then exit. The primary first
      // asks every worker to do so and waits for each.
      void gateway.close().then(() => process.exit(0));
    });
  }
} catch (error) {
  const line = isGatewayError(error) ? `${error.userMessage} (${error.code})` : (error as Error).message;
  createLogger('error').fatal({ code: isGatewayError(error) ? error.code : 'GATEWAY_START_FAILED', ...errorFields(error) }, 'gateway did not start');
  process.stderr.write(`portcullis gateway: ${line}\n`);
  process.exit(1);
}

async function prepareStreams(root: string, runAs: string | undefined): Promise<void> {
  const [uid, gid] = runAs && process.getuid?.() === 0 ? runAs.split(':').map(Number) : [];
  try {
    await prepareStreamRoot(root, uid !== undefined && gid !== undefined ? { uid, gid } : undefined);
  } catch (cause) {
    throw new GatewayError('GATEWAY_START_FAILED', `docker.streamDirectory ${root} cannot be used: ${(cause as Error).message}`, { cause });
  }
}
