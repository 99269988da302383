import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

export interface ThrottledProxy {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy to `target` on 127.0.0.1 that lets requests through at no more than
 * `bytesPerSecond` (all connections together): a storage that is slow, not down.
 */
export async function startThrottledProxy(target: { host: string; port: number }, bytesPerSecond: number): Promise<ThrottledProxy> {
  const sockets = new Set<Socket>();
  // The moment the bytes sent so far are due at the allowed rate.
  let due = performance.now();
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      const now = performance.now();
      due = Math.max(due, now) + (chunk.length / bytesPerSecond) * 1000;
      if (due > now + 1) {
        client.pause();
        setTimeout(() => client.resume(), due - now);
      }
    });
    client.on('end', () => upstream.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
