import type { Logger } from 'pino';
import type { KeyboardInteractiveRequest, MetadataMap } from '@portcullis/wire';
import { GithubUnavailableError, LogCode } from '../../errors.ts';
import { mergeGrants } from '../../grants.ts';
import type { UserDirectory } from '../../users-file.ts';
import type { Conversation, ConversationStep, KeyboardInteractiveFlow } from '../keyboard-interactive/index.ts';
import { BackgroundWait, grantedScopes, missingScopes, tokenGrants } from '../oauth2/index.ts';
import type { GithubConfig } from './config.ts';
import { GithubApi, GithubRefusal, GithubUnreachable, type DeviceCode, type GithubUser } from './github-api.ts';

type Refusal = 'denied' | 'expired' | 'timeout' | 'scope-not-granted' | 'username-mismatch' | '2fa-not-enabled' | 'not-org-member' | 'not-team-member' | 'provider-error';

/**
 * GitHub's OAuth device flow over keyboard-interactive: the SSH client shows the verification
 * address and the code, the authserver polls the token endpoint in the background, then checks
 * the login (`enforceUsername`), 2FA, organisation and team membership and scopes. Tokens are
 * never logged.
 */
export function githubFlow(config: GithubConfig, users: UserDirectory, log: Logger): KeyboardInteractiveFlow {
  const api = new GithubApi(config, config.clientId);
  return { name: 'github', start: () => new GithubDeviceConversation(config, api, users, log) };
}

const scopesOf = (config: GithubConfig) => [...new Set([...config.extraScopes, ...(config.requireOrgMembership ? ['read:org'] : [])])];

class GithubDeviceConversation implements Conversation {
  private wait: BackgroundWait<{ token: string; scope: string }> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly config: GithubConfig,
    private readonly api: GithubApi,
    private readonly users: UserDirectory,
    private readonly log: Logger,
  ) {}

  async next(_answers: readonly string[], request: KeyboardInteractiveRequest): Promise<ConversationStep> {
    if (!this.wait) return this.begin(request);
    const waited = await this.wait.waitUpTo(this.config.pollWindow);
    if (!waited.done) return { challenge: { name: '', instruction: '', prompts: [] } };
    if ('error' in waited) return this.refuse(request, refusalOf(waited.error), { detail: (waited.error as Error).message });
    try {
      return await this.finish(waited.value.token, waited.value.scope, request);
    } catch (error) {
      if (!(error instanceof GithubUnreachable)) throw error;
      return this.refuse(request, 'provider-error', { detail: error.message });
    }
  }

  private async begin(request: KeyboardInteractiveRequest): Promise<ConversationStep> {
    let device: DeviceCode;
    try {
      device = await this.api.deviceCode(scopesOf(this.config));
    } catch (error) {
      this.log.warn({ code: LogCode.GITHUB_UNAVAILABLE, step: 'device-code', reason: (error as Error).message, connectionId: request.connectionId }, 'GitHub device code failed');
      throw new GithubUnavailableError();
    }
    const timer = setTimeout(() => this.abort.abort(new Error('timeout')), Math.min(this.config.timeout, device.expires_in * 1000));
    timer.unref();
    this.wait = new BackgroundWait(this.api.pollToken(device, this.abort.signal).finally(() => clearTimeout(timer)));
    return { challenge: { name: '', instruction: `To log in with GitHub, open ${device.verification_uri}\nand enter the code ${device.user_code}`, prompts: [] } };
  }

  private async finish(token: string, scope: string, request: KeyboardInteractiveRequest): Promise<ConversationStep> {
    const requested = scopesOf(this.config);
    const missing = missingScopes(requested, grantedScopes(scope, requested));
    if (missing.length > 0 && (this.config.enforceScopes || missing.includes('read:org'))) {
      return this.refuse(request, 'scope-not-granted', { missingScopes: missing });
    }
    const user = await this.api.user(token);
    if (this.config.enforceUsername && user.login !== request.username) return this.refuse(request, 'username-mismatch', { githubLogin: user.login });
    if (this.config.require2FA && user.two_factor_authentication !== true) return this.refuse(request, '2fa-not-enabled', { githubLogin: user.login });
    const org = this.config.requireOrgMembership;
    const teams: string[] = [];
    if (org) {
      if (!(await this.api.isOrgMember(token, org))) return this.refuse(request, 'not-org-member', { githubLogin: user.login, org });
      for (const team of this.config.requireTeamMembership) if (await this.api.isTeamMember(token, org, team, user.login)) teams.push(team);
      if (this.config.requireTeamMembership.length > 0 && teams.length === 0) {
        return this.refuse(request, 'not-team-member', { githubLogin: user.login, org, teams: this.config.requireTeamMembership });
      }
    }
    this.log.info({ code: LogCode.GITHUB_AUTHENTICATED, username: request.username, githubLogin: user.login, org, teams, connectionId: request.connectionId }, 'GitHub login');
    return {
      decision: {
        success: true,
        authenticatedUsername: user.login,
        ...mergeGrants(this.users.grantsOf(user.login), { metadata: userMetadata(user, org, teams) }, tokenGrants(token, this.config.exposeAccessToken)),
      },
    };
  }

  private refuse(request: KeyboardInteractiveRequest, reason: Refusal, fields: Record<string, unknown> = {}): ConversationStep {
    this.log.info({ code: LogCode.GITHUB_REFUSED, reason, username: request.username, connectionId: request.connectionId, ...fields }, 'GitHub login refused');
    return { decision: { success: false }, reason: `github-${reason}` };
  }
}

/** ContainerSSH's GitHub metadata names, plus the organisation and the teams that matched. */
function userMetadata(user: GithubUser, org: string | undefined, teams: string[]): MetadataMap {
  const entries: Record<string, string | null | undefined> = {
    // What /authz maps to SSH usernames (users file `identities`).
    identity: `github:${user.login}`,
    github_username: user.login,
    github_id: String(user.id),
    github_name: user.name,
    github_email: user.email,
    github_company: user.company,
    github_avatar_url: user.avatar_url,
    github_org: org,
    github_teams: teams.length > 0 ? teams.join(',') : undefined,
  };
  const metadata: MetadataMap = {};
  for (const [name, value] of Object.entries(entries)) if (value) metadata[name] = { value, sensitive: false };
  return metadata;
}

function refusalOf(error: unknown): Refusal {
  if (error instanceof GithubRefusal) {
    if (error.message === 'access_denied') return 'denied';
    if (error.message === 'expired_token') return 'expired';
    return 'provider-error';
  }
  if ((error as Error)?.message === 'timeout') return 'timeout';
  return 'provider-error';
}
