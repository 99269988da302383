import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A webhook server that misbehaves on purpose, behind the same mTLS as the real ones:
 * it answers whatever `handler` writes (garbage, errors) or nothing at all.
 */
export async function startFakeWebhook(
  certs: { cert: string; key: string; ca: string },
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: (path: string) => string; close: () => Promise<void> }> {
  const server: Server = createServer(
    {
      cert: await readFile(certs.cert),
      key: await readFile(certs.key),
      ca: await readFile(certs.ca),
      requestCert: true,
      rejectUnauthorized: true,
    },
    handler,
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: (path) => `https://localhost:${port}${path}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
