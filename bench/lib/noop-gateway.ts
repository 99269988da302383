/**
 * The real gateway process (config file, webhooks over mTLS) with the no-op backend, so
 * memory and session rates measure the gateway alone. Started like gateway/src/main.ts.
 */
import '../../gateway/src/ssh2-padding.ts';
import { parseArgs } from 'node:util';
import { startGatewayProcess } from '../../gateway/src/cluster/index.ts';
import { createLogger } from '../../gateway/src/observability/index.ts';
import { loadGatewayConfig } from '../../gateway/src/settings/index.ts';
import { NoopBackend } from './noop-backend.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
const config = await loadGatewayConfig(values.config!);
// `workers` in the config runs it as a cluster, each worker with the no-op backend.
const gateway = await startGatewayProcess(config, createLogger(config.log.level), { backend: new NoopBackend() });
process.once('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
