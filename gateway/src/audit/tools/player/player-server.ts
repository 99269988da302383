import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../../observability/index.ts';
import { RECORDING_ID_PATTERN, STREAM_KEY_PATTERN, type RecordingStore } from '../../store/recording-store.ts';
import { listOverviews, OverviewCache } from '../../format/recording-summary.ts';
import { listPage, playPage } from './pages.ts';

export interface PlayerServerOptions {
  readonly host: string;
  readonly port: number;
  readonly store: RecordingStore;
  readonly pageSize: number;
  /** Server certificate and key, and the CA whose `auditor:<name>` client certificates are admitted. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer };
  readonly log: Logger;
}

/** Client certificates whose common name is `auditor:<name>` (`portcullis pki auditor NAME`). */
const AUDITOR_CN = /^auditor:([A-Za-z0-9][A-Za-z0-9_.@-]{0,63})$/;

/** The auditor a request's client certificate names; undefined for any other certificate of the CA (a program's). */
function auditorOf(req: IncomingMessage): string | undefined {
  const subject = (req.socket as TLSSocket).getPeerCertificate?.()?.subject;
  const cn = subject?.CN;
  return typeof cn === 'string' ? AUDITOR_CN.exec(cn)?.[1] : undefined;
}

const require = createRequire(import.meta.url);
/** The player's own bundle, served from the installed package (no CDN: the page works offline). */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/assets/asciinema-player.min.js': { file: require.resolve('asciinema-player/dist/bundle/asciinema-player.min.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/asciinema-player.css': { file: require.resolve('asciinema-player/dist/bundle/asciinema-player.css'), type: 'text/css; charset=utf-8' },
};

// Recordings hold whatever users typed and saw: no framing, no caching, no referrer, scripts only from here
// (the player's terminal emulator is WebAssembly, hence wasm-unsafe-eval).
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'; worker-src 'self' blob:",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/**
 * The recording player: `/` lists recordings newest first with what an auditor looks for first
 * (`?q=` searches user, address, id and state; `?after=<id>` pages on), `/play?key=` plays one
 * terminal with asciinema-player, `/cast?key=` serves its asciicast. Read-only, HTTPS only: the
 * TLS handshake refuses a client without a certificate from the CA, and a certificate of the CA
 * that is not an auditor's gets 403. Every view is logged with the auditor (AUDIT_PLAYER_VIEWED).
 */
export async function startPlayerServer(options: PlayerServerOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer) => res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS }).end(body);
  const overviews = new OverviewCache();
  const server: Server = createServer({ cert: options.tls.cert, key: options.tls.key, ca: options.tls.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'https://player.invalid');
      if (req.method !== 'GET') return res.writeHead(405, { allow: 'GET' }).end();
      const auditor = auditorOf(req);
      if (!auditor) {
        options.log.warn(
          { code: 'AUDIT_PLAYER_REFUSED', subject: (req.socket as TLSSocket).getPeerCertificate?.()?.subject?.CN ?? '', path: url.pathname },
          "recording player refused a certificate that is not an auditor's",
        );
        return send(res, 403, 'text/plain; charset=utf-8', 'This certificate is not an auditor certificate (portcullis pki auditor NAME issues one).');
      }
      const asset = ASSETS[url.pathname];
      if (asset) return send(res, 200, asset.type, await readFile(asset.file));
      if (url.pathname === '/favicon.ico') return res.writeHead(204, SECURITY_HEADERS).end();
      if (url.pathname === '/') {
        const after = url.searchParams.get('after') ?? undefined;
        if (after !== undefined && !RECORDING_ID_PATTERN.test(after)) return send(res, 400, 'text/plain; charset=utf-8', 'bad "after": not a recording id');
        const search = (url.searchParams.get('q') ?? '').trim().slice(0, 200) || undefined;
        const { overviews: shown, next } = await listOverviews(options.store, { limit: options.pageSize, ...(after ? { after } : {}), filter: search ? { search } : {}, cache: overviews });
        options.log.info({ code: 'AUDIT_PLAYER_VIEWED', auditor, action: 'list', ...(search ? { search } : {}), recordings: shown.length }, 'auditor listed recordings');
        return send(res, 200, 'text/html; charset=utf-8', listPage(shown, { auditor, ...(after ? { after } : {}), ...(next ? { next } : {}), ...(search ? { search } : {}) }));
      }
      const key = url.searchParams.get('key') ?? '';
      if ((url.pathname === '/play' || url.pathname === '/cast') && !(STREAM_KEY_PATTERN.test(key) && key.endsWith('.cast'))) {
        return send(res, 400, 'text/plain; charset=utf-8', 'bad "key": not a terminal recording');
      }
      if (url.pathname === '/play') return send(res, 200, 'text/html; charset=utf-8', playPage(key));
      if (url.pathname === '/cast') {
        const cast = await options.store.read(key);
        // The recording's content left the gateway: who watched what.
        options.log.info({ code: 'AUDIT_PLAYER_VIEWED', auditor, action: 'play', key, recordingId: key.slice(0, key.indexOf('/')) }, 'auditor played a recording');
        return send(res, 200, 'application/x-asciicast', cast);
      }
      return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    })().catch(() => {
      if (!res.headersSent) send(res, 404, 'text/plain; charset=utf-8', 'recording not found or storage unavailable');
      else res.destroy();
    });
  });
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
