import { z } from 'zod';

/** GitHub's answers, only the fields we read; zod keeps the rest out. */
const DeviceCodeSchema = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1).max(64),
  verification_uri: z.url(),
  expires_in: z.number().int().positive(),
  interval: z.number().int().positive().default(5),
});
export type DeviceCode = z.output<typeof DeviceCodeSchema>;

const TokenAnswerSchema = z.union([
  z.object({ access_token: z.string().min(1), scope: z.string().default(''), token_type: z.string().optional() }),
  z.object({ error: z.string(), interval: z.number().int().positive().optional() }),
]);

export const GithubUserSchema = z.object({
  login: z.string().min(1).max(100),
  id: z.number().int(),
  name: z.string().nullish(),
  email: z.string().nullish(),
  company: z.string().nullish(),
  avatar_url: z.string().nullish(),
  /** Present for the authenticated user's own profile. */
  two_factor_authentication: z.boolean().optional(),
});
export type GithubUser = z.output<typeof GithubUserSchema>;

const MembershipSchema = z.object({ state: z.string() });

/** GitHub said no (wrong client, denied, expired); not an outage. */
export class GithubRefusal extends Error {
  override name = 'GithubRefusal';
}

/** GitHub could not be asked or answered nonsense: "unavailable". */
export class GithubUnreachable extends Error {
  override name = 'GithubUnreachable';
}

const REQUEST_TIMEOUT_MS = 10_000;

/** The documented endpoints the device flow and the membership checks use. */
export class GithubApi {
  constructor(
    private readonly urls: { readonly url: string; readonly apiUrl: string },
    private readonly clientId: string,
  ) {}

  /** POST /login/device/code */
  async deviceCode(scopes: readonly string[]): Promise<DeviceCode> {
    return DeviceCodeSchema.parse(await this.form('/login/device/code', { client_id: this.clientId, scope: scopes.join(' ') }));
  }

  /**
   * POST /login/oauth/access_token until the person approved, denied, or the code expired;
   * `authorization_pending` waits the interval, `slow_down` adds five seconds (GitHub's docs).
   */
  async pollToken(device: DeviceCode, signal: AbortSignal): Promise<{ token: string; scope: string }> {
    let interval = device.interval;
    for (let attempt = 0; attempt < 10_000; attempt++) {
      await sleep(interval * 1000, signal);
      const raw = await this.form('/login/oauth/access_token', {
        client_id: this.clientId,
        device_code: device.device_code,
        grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
      });
      const answer = TokenAnswerSchema.safeParse(raw);
      if (!answer.success) throw new GithubUnreachable('token endpoint: unexpected answer');
      if ('access_token' in answer.data) return { token: answer.data.access_token, scope: answer.data.scope };
      if (answer.data.error === 'authorization_pending') continue;
      if (answer.data.error === 'slow_down') {
        interval = answer.data.interval ?? interval + 5;
        continue;
      }
      throw new GithubRefusal(answer.data.error);
    }
    throw new GithubRefusal('too many polls');
  }

  /** GET /user */
  async user(token: string): Promise<GithubUser> {
    const { status, body } = await this.api('/user', token);
    if (status !== 200) throw new GithubUnreachable(`GET /user: ${status}`);
    return GithubUserSchema.parse(body);
  }

  /** GET /user/memberships/orgs/{org}: an active membership, or none (404/403). */
  async isOrgMember(token: string, org: string): Promise<boolean> {
    const { status, body } = await this.api(`/user/memberships/orgs/${encodeURIComponent(org)}`, token);
    if (status === 404 || status === 403) return false;
    if (status !== 200) throw new GithubUnreachable(`org membership: ${status}`);
    return MembershipSchema.parse(body).state === 'active';
  }

  /** GET /orgs/{org}/teams/{team_slug}/memberships/{username}: active, or none (404/403). */
  async isTeamMember(token: string, org: string, team: string, login: string): Promise<boolean> {
    const path = `/orgs/${encodeURIComponent(org)}/teams/${encodeURIComponent(team)}/memberships/${encodeURIComponent(login)}`;
    const { status, body } = await this.api(path, token);
    if (status === 404 || status === 403) return false;
    if (status !== 200) throw new GithubUnreachable(`team membership: ${status}`);
    return MembershipSchema.parse(body).state === 'active';
  }

  private async form(path: string, fields: Record<string, string>): Promise<unknown> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.urls.url), {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(fields),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new GithubUnreachable(`POST ${path}: ${(error as Error).name}`);
    }
    if (!response.ok) throw new GithubUnreachable(`POST ${path}: ${response.status}`);
    return response.json().catch(() => {
      throw new GithubUnreachable(`POST ${path}: not JSON`);
    });
  }

  private async api(path: string, token: string): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      response = await fetch(new URL(path.replace(/^\//, ''), this.urls.apiUrl.endsWith('/') ? this.urls.apiUrl : `${this.urls.apiUrl}/`), {
        headers: { accept: 'application/vnd.github+json', authorization: `Bearer ${token}`, 'x-github-api-version': '2022-11-28' },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new GithubUnreachable(`GET ${path}: ${(error as Error).name}`);
    }
    return { status: response.status, body: await response.json().catch(() => undefined) };
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve()), ms);
    const onAbort = () => (clearTimeout(timer), reject(signal.reason));
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
