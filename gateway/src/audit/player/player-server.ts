import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { RECORDING_ID_PATTERN, STREAM_KEY_PATTERN, type RecordingStore } from '../recording-store.ts';
import { listPage, playPage } from './pages.ts';

export interface PlayerServerOptions {
  readonly host: string;
  readonly port: number;
  readonly store: RecordingStore;
  readonly pageSize: number;
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
 * The recording player: `/` lists recordings newest first (`?after=<id>` pages on), `/play?key=`
 * plays one terminal with asciinema-player, `/cast?key=` serves its asciicast. Read-only, plain
 * HTTP, off unless configured: bind it to an address only auditors can reach.
 */
export async function startPlayerServer(options: PlayerServerOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const send = (res: import('node:http').ServerResponse, status: number, type: string, body: string | Buffer) =>
    res.writeHead(status, { 'content-type': type, ...SECURITY_HEADERS }).end(body);
  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://player.invalid');
      if (req.method !== 'GET') return res.writeHead(405, { allow: 'GET' }).end();
      const asset = ASSETS[url.pathname];
      if (asset) return send(res, 200, asset.type, await readFile(asset.file));
      if (url.pathname === '/favicon.ico') return res.writeHead(204, SECURITY_HEADERS).end();
      if (url.pathname === '/') {
        const after = url.searchParams.get('after') ?? undefined;
        if (after !== undefined && !RECORDING_ID_PATTERN.test(after)) return send(res, 400, 'text/plain; charset=utf-8', 'bad "after": not a recording id');
        const page = await options.store.list({ limit: options.pageSize, ...(after ? { after } : {}) });
        return send(res, 200, 'text/html; charset=utf-8', listPage(page, after));
      }
      const key = url.searchParams.get('key') ?? '';
      if ((url.pathname === '/play' || url.pathname === '/cast') && !(STREAM_KEY_PATTERN.test(key) && key.endsWith('.cast'))) {
        return send(res, 400, 'text/plain; charset=utf-8', 'bad "key": not a terminal recording');
      }
      if (url.pathname === '/play') return send(res, 200, 'text/html; charset=utf-8', playPage(key));
      if (url.pathname === '/cast') return send(res, 200, 'application/x-asciicast', await options.store.read(key));
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
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
