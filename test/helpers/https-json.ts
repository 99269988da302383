import { request } from 'node:https';

export interface ClientTls {
  ca: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export interface HttpsAnswer {
  statusCode: number;
  body: unknown;
}

/** One JSON POST (or GET without body) over a fresh TLS connection; rejects on any TLS error. */
export function httpsJson(url: string, tls: ClientTls, body?: unknown): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method: payload === undefined ? 'GET' : 'POST',
        agent: false,
        ...tls,
        headers: payload === undefined ? {} : { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
