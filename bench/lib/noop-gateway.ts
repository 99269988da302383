/**
 * The real gateway process (config file, webhooks over mTLS) with the no-op backend, so
 * memory and session rates measure the gateway alone. Started like gateway/src/main.ts.
 */
import '../../gateway/src/ssh2-padding.ts';
import { parseArgs } from 'node:util';
import { startGateway } from '../../gateway/src/gateway.ts';
import { createLogger } from '../../gateway/src/observability/index.ts';
import { loadGatewayConfig } from '../../gateway/src/settings/index.ts';
import { NoopBackend } from './noop-backend.ts';

const { values } = parseArgs({ options: { config: { type: 'string' } } });
const config = await loadGatewayConfig(values.config!);
const gateway = await startGateway(config, createLogger(config.log.level), { backend: new NoopBackend() });
process.once('SIGTERM', () => void gateway.close().then(() => process.exit(0)));
