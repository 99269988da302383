import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';

export interface OidcTestUser {
  readonly login: string;
  readonly password: string;
  readonly sub: string;
  readonly claims: Record<string, unknown>;
}

export interface TestOidcProvider {
  /** `http://127.0.0.1:<port>`: the issuer the authserver discovers. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** A page of this server that shows the `code` it was sent (authorization code flow). */
  readonly redirectUri: string;
  stop(): Promise<void>;
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title: string, body: string) => `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;

/**
 * A real OpenID provider (the `oidc-provider` package) on 127.0.0.1 with one confidential client
 * allowed the device and authorization code grants, one user, and its own small login and
 * consent pages that check the password (the package's development pages accept any login).
 * Scopes: openid, profile, email, groups; anything else asked for is not granted.
 */
export async function startOidcProvider(user: OidcTestUser): Promise<TestOidcProvider> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'portcullis';
  const clientSecret = 'portcullis-client-secret-for-tests-0123456789';
  const redirectUri = `${issuer}/show-code`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'authorization_code'],
        response_types: ['code'],
        redirect_uris: [redirectUri],
      },
    ],
    scopes: ['openid', 'profile', 'email', 'groups'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'], groups: ['groups'] },
    features: { devInteractions: { enabled: false }, deviceFlow: { enabled: true } },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    findAccount: (_ctx, id) => (id === user.sub ? { accountId: id, claims: () => ({ sub: user.sub, ...user.claims }) } : undefined),
    cookies: { keys: ['portcullis-test-cookie-key-0123456789'] },
  });
  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', issuer);
    if (url.pathname.startsWith('/interaction/'))
      return void interaction(provider, user, req, res).catch((error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
      });
    if (url.pathname === '/show-code') {
      const code = url.searchParams.get('code') ?? '';
      res.writeHead(200, { 'content-type': 'text/html' }).end(page('Your code', `<p>Paste this code in your SSH window:</p><pre id="code">${escapeHtml(code)}</pre>`));
      return;
    }
    callback(req, res);
  });
  return {
    issuer,
    clientId,
    clientSecret,
    redirectUri,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The login page (login + password, checked) and the consent page (a Continue button). */
async function interaction(provider: Provider, user: OidcTestUser, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET') {
    const body =
      details.prompt.name === 'login'
        ? `<form method="post"><label>Login <input name="login" autocomplete="username"></label><label>Password <input name="password" type="password"></label><button type="submit">Sign in</button></form>`
        : `<p>Allow ${escapeHtml(String(details.params.client_id))} to use: ${escapeHtml(String(details.params.scope))}</p><form method="post"><button type="submit" name="decision" value="allow">Continue</button><button type="submit" name="decision" value="deny">Deny</button></form>`;
    res.writeHead(200, { 'content-type': 'text/html' }).end(page(details.prompt.name === 'login' ? 'Sign in' : 'Authorize', body));
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  if (details.prompt.name === 'login') {
    const same = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
    if (!same(form.get('login') ?? '', user.login) || !same(form.get('password') ?? '', user.password)) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(page('Sign in', '<p id="error">Wrong login or password.</p>'));
      return;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.sub } }, { mergeWithLastSubmission: false });
    return;
  }
  if (form.get('decision') !== 'allow') {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user denied access' }, { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: user.sub, clientId: String(details.params.client_id) });
  if (!grant) throw new Error('grant vanished');
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 64 * 1024) throw new Error('body too large');
  }
  return text;
}
