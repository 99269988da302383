/**
 * Baseline for the memory and session-rate benchmarks: ssh2's server with nothing behind
 * it (any key logs in, `exit N` ends at once, a shell waits). Prints its port as a log line.
 */
import { generateParsableKeyPair } from '../../gateway/src/listener/index.ts';
import { once } from 'node:events';
import ssh2 from 'ssh2';

const hostKey = generateParsableKeyPair('ed25519').private;
const server = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
  client.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
  client.on('session', (accept) => {
    const session = accept();
    session.on('exec', (acceptExec, _reject, info) => {
      const channel = acceptExec();
      channel.exit(Number(/^exit (\d+)$/.exec(info.command)?.[1] ?? 0));
      channel.end();
    });
    session.on('shell', (acceptShell) => {
      const channel = acceptShell();
      channel.on('end', () => channel.end());
      channel.resume();
    });
  });
  client.on('error', () => undefined);
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const address = server.address();
console.log(JSON.stringify({ code: 'BARE_LISTENING', port: typeof address === 'object' && address ? address.port : 0 }));
process.once('SIGTERM', () => process.exit(0));
