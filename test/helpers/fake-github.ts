import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeGithubUser {
  readonly id: number;
  readonly name?: string;
  readonly email?: string;
  readonly company?: string;
  readonly twoFactor?: boolean;
  /** Organisation login → team slugs the user belongs to (active memberships). */
  readonly orgs?: Record<string, string[]>;
}

export interface FakeGithub {
  /** Web base (`/login/device/code`, `/login/oauth/access_token`). */
  readonly url: string;
  /** REST base, GitHub Enterprise style (`<url>/api/v3`). */
  readonly apiUrl: string;
  readonly clientId: string;
  /** The person at `/login/device` enters `userCode` as `login` and authorizes (granting these scopes, default all asked). */
  approve(userCode: string, login: string, grantScopes?: string[]): void;
  /** The person cancels at `/login/device`. */
  deny(userCode: string): void;
  /** Every access token handed out, for assertions that none was logged. */
  readonly issuedTokens: string[];
  stop(): Promise<void>;
}

interface Pending {
  readonly userCode: string;
  readonly scopes: string[];
  outcome?: { login: string; scopes: string[] } | 'denied';
  lastPoll: number;
}

/**
 * The GitHub endpoints the authserver uses, as GitHub documents them: the OAuth device flow
 * (form posts answered in JSON, errors as 200 with `error`, `authorization_pending`,
 * `slow_down`, `access_denied`, `expired_token`), `GET /user`, `GET /user/memberships/orgs/{org}`
 * (403 without `read:org`) and `GET /orgs/{org}/teams/{team_slug}/memberships/{username}`.
 */
export async function startFakeGithub(users: Record<string, FakeGithubUser>): Promise<FakeGithub> {
  const clientId = 'Iv1.portcullis-test';
  const devices = new Map<string, Pending>();
  const tokens = new Map<string, { login: string; scopes: string[] }>();
  const issuedTokens: string[] = [];
  const interval = 1;
  const server = createServer((req, res) => void handle(req, res).catch(() => json(res, 500, { message: 'Server Error' })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', url).pathname;
    if (req.method === 'POST' && path === '/login/device/code') {
      const form = new URLSearchParams(await readBody(req));
      if (form.get('client_id') !== clientId) return json(res, 200, { error: 'incorrect_client_credentials' });
      const deviceCode = randomBytes(20).toString('hex');
      const userCode = `${randomBytes(2).toString('hex')}-${randomBytes(2).toString('hex')}`.toUpperCase();
      devices.set(deviceCode, { userCode, scopes: (form.get('scope') ?? '').split(/[ ,]+/).filter(Boolean), lastPoll: 0 });
      return json(res, 200, { device_code: deviceCode, user_code: userCode, verification_uri: `${url}/login/device`, expires_in: 900, interval });
    }
    if (req.method === 'POST' && path === '/login/oauth/access_token') {
      const form = new URLSearchParams(await readBody(req));
      const pending = devices.get(form.get('device_code') ?? '');
      if (form.get('client_id') !== clientId) return json(res, 200, { error: 'incorrect_client_credentials' });
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:device_code') return json(res, 200, { error: 'unsupported_grant_type' });
      if (!pending) return json(res, 200, { error: 'incorrect_device_code' });
      const now = Date.now();
      const tooSoon = now - pending.lastPoll < interval * 1000 - 200;
      pending.lastPoll = now;
      if (tooSoon) return json(res, 200, { error: 'slow_down', interval: interval + 5 });
      if (!pending.outcome) return json(res, 200, { error: 'authorization_pending' });
      devices.delete(form.get('device_code') ?? '');
      if (pending.outcome === 'denied') return json(res, 200, { error: 'access_denied' });
      const token = `gho_${randomBytes(18).toString('base64url')}`;
      tokens.set(token, pending.outcome);
      issuedTokens.push(token);
      return json(res, 200, { access_token: token, token_type: 'bearer', scope: pending.outcome.scopes.join(',') });
    }
    if (req.method === 'GET' && path.startsWith('/api/v3/')) {
      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const grant = auth ? tokens.get(auth) : undefined;
      if (!grant) return json(res, 401, { message: 'Bad credentials' });
      const user = users[grant.login]!;
      const api = path.slice('/api/v3'.length);
      res.setHeader('x-oauth-scopes', grant.scopes.join(', '));
      if (api === '/user') {
        return json(res, 200, {
          login: grant.login,
          id: user.id,
          name: user.name ?? null,
          email: user.email ?? null,
          company: user.company ?? null,
          avatar_url: `${url}/avatars/${user.id}`,
          two_factor_authentication: user.twoFactor ?? false,
        });
      }
      const orgMembership = /^\/user\/memberships\/orgs\/([^/]+)$/.exec(api);
      if (orgMembership) {
        if (!grant.scopes.includes('read:org')) return json(res, 403, { message: 'You need at least read:org scope' });
        const org = decodeURIComponent(orgMembership[1]!);
        if (!user.orgs?.[org]) return json(res, 404, { message: 'Not Found' });
        return json(res, 200, { state: 'active', role: 'member', organization: { login: org }, user: { login: grant.login } });
      }
      const teamMembership = /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/.exec(api);
      if (teamMembership) {
        const [, org, team, login] = teamMembership.map((part) => decodeURIComponent(part));
        if (!grant.scopes.includes('read:org')) return json(res, 403, { message: 'You need at least read:org scope' });
        if (!users[login!]?.orgs?.[org!]?.includes(team!)) return json(res, 404, { message: 'Not Found' });
        return json(res, 200, { state: 'active', role: 'member' });
      }
    }
    json(res, 404, { message: 'Not Found' });
  }

  const byUserCode = (userCode: string) => [...devices.values()].find((pending) => pending.userCode === userCode);
  return {
    url,
    apiUrl: `${url}/api/v3`,
    clientId,
    issuedTokens,
    approve: (userCode, login, grantScopes) => {
      const pending = byUserCode(userCode);
      if (!pending || !users[login]) throw new Error(`no pending device code ${userCode} or user ${login}`);
      pending.outcome = { login, scopes: grantScopes ?? pending.scopes };
    },
    deny: (userCode) => {
      const pending = byUserCode(userCode);
      if (!pending) throw new Error(`no pending device code ${userCode}`);
      pending.outcome = 'denied';
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 64 * 1024) throw new Error('body too large');
  }
  return text;
}
