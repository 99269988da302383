import { connect } from 'node:tls';
import type { ClientTls } from './https-json.ts';

export interface StalledRequest {
  /** Milliseconds from the last byte of the headers until the server closed the connection. */
  readonly closedAfterMs: number;
  /** What the server sent before closing (an HTTP 408 or nothing). */
  readonly received: string;
}

/**
 * A mutual-TLS client that sends a POST announcing a 1000-byte body, sends `bodyBytes` of it,
 * then either stalls or, with `dribbleEveryMs`, sends one more byte at that pace (staying active,
 * so only a whole-request bound can end it). Resolves when the server closes the connection;
 * rejects if it is still open after `deadlineMs`.
 */
export function stalledRequest(url: string, tls: ClientTls, options: { bodyBytes: number; dribbleEveryMs?: number; deadlineMs: number }): Promise<StalledRequest> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.hostname, port: Number(target.port), ...tls, servername: 'localhost', checkServerIdentity: () => undefined });
    let received = '';
    let sentAt = 0;
    let dribble: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept a stalled request open for ${options.deadlineMs} ms`));
    }, options.deadlineMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.once('secureConnect', () => {
      socket.write(`POST ${target.pathname} HTTP/1.1\r\nHost: ${target.host}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`);
      socket.write('x'.repeat(options.bodyBytes));
      sentAt = performance.now();
      if (options.dribbleEveryMs) dribble = setInterval(() => socket.write('x'), options.dribbleEveryMs);
    });
    socket.once('close', () => {
      clearTimeout(deadline);
      clearInterval(dribble);
      if (sentAt === 0) reject(new Error('the TLS handshake failed'));
      else resolve({ closedAfterMs: performance.now() - sentAt, received });
    });
    socket.on('error', () => undefined); // a reset is how some closes arrive; 'close' follows
  });
}
