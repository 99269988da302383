/**
 * Baseline for the config webhook benchmark: Fastify over the same mutual TLS, parsing the
 * same JSON body and answering a fixed small body, with no policy behind it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import Fastify from 'fastify';

const { values } = parseArgs({ options: { certs: { type: 'string' } } });
const dir = values.certs!;
const app = Fastify({
  logger: false,
  https: {
    cert: readFileSync(`${dir}/configserver.crt`),
    key: readFileSync(`${dir}/configserver.key`),
    ca: readFileSync(`${dir}/ca.crt`),
    requestCert: true,
    rejectUnauthorized: true,
  },
});
app.post('/config', async () => ({ config: {} }));
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
console.log(JSON.stringify({ code: 'ECHO_LISTENING', port: typeof address === 'object' && address ? address.port : 0 }));
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
