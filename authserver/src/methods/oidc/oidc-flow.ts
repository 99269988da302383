import * as client from 'openid-client';
import type { Logger } from 'pino';
import type { AuthResponse, KeyboardInteractiveRequest } from '@portcullis/wire';
import { LogCode, OidcUnavailableError } from '../../errors.ts';
import { mergeGrants } from '../../grants.ts';
import type { UserDirectory } from '../../users-file.ts';
import type { Conversation, ConversationStep, KeyboardInteractiveFlow } from '../keyboard-interactive/index.ts';
import { BackgroundWait, grantedScopes, missingScopes, tokenGrants } from '../oauth2/index.ts';
import { claimsMetadata } from './claims.ts';
import type { OidcConfig } from './config.ts';

type Tokens = client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;

/** Why an OIDC login was refused; logged under AUTHSERVER_OIDC_REFUSED and returned as the route's reason. */
type Refusal = 'denied' | 'expired' | 'timeout' | 'scope-not-granted' | 'no-username' | 'username-mismatch' | 'state-mismatch' | 'bad-code' | 'provider-error';

/**
 * OpenID Connect over keyboard-interactive. The device flow (default) shows a URL and a code and
 * polls the token endpoint in the background while each call waits up to `pollWindow`; the
 * authorization code flow shows a URL and takes the code back at a prompt. Then: scopes checked
 * (`enforceScopes`), userinfo fetched, the username claim checked (`enforceUsername`), claims and
 * groups into metadata and the access token exposed as configured. Tokens are never logged.
 */
export function oidcFlow(config: OidcConfig, users: UserDirectory, log: Logger): KeyboardInteractiveFlow {
  const discovery = new Discovery(config, log);
  return {
    name: 'oidc',
    start: () => (config.deviceFlow ? new DeviceConversation(config, discovery, users, log) : new CodeConversation(config, discovery, users, log)),
  };
}

/** Discovery once, kept while it works; a failure is retried on the next login. */
class Discovery {
  private pending: Promise<client.Configuration> | undefined;

  constructor(
    private readonly config: OidcConfig,
    private readonly log: Logger,
  ) {}

  async configuration(): Promise<client.Configuration> {
    this.pending ??= client.discovery(new URL(this.config.issuer), this.config.clientId, this.config.clientSecret, undefined, {
      ...(this.config.allowInsecureHttp ? { execute: [client.allowInsecureRequests] } : {}),
      timeout: 10,
    });
    try {
      return await this.pending;
    } catch (error) {
      this.pending = undefined;
      this.log.warn({ code: LogCode.OIDC_UNAVAILABLE, issuer: this.config.issuer, step: 'discovery', reason: describe(error) }, 'OIDC discovery failed');
      throw new OidcUnavailableError();
    }
  }
}

const scopesOf = (config: OidcConfig) => ['openid', ...config.extraScopes.filter((scope) => scope !== 'openid')];

class DeviceConversation implements Conversation {
  private wait: BackgroundWait<Tokens> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly config: OidcConfig,
    private readonly discovery: Discovery,
    private readonly users: UserDirectory,
    private readonly log: Logger,
  ) {}

  async next(_answers: readonly string[], request: KeyboardInteractiveRequest): Promise<ConversationStep> {
    if (!this.wait) return this.begin(request);
    const waited = await this.wait.waitUpTo(this.config.pollWindow);
    // Nothing yet: an empty step, which the client answers at once, and the gateway calls again.
    if (!waited.done) return { challenge: { name: '', instruction: '', prompts: [] } };
    if ('error' in waited) return refuse(this.log, request, refusalOf(waited.error), { detail: describe(waited.error) });
    return finish(this.config, await this.discovery.configuration(), waited.value, request, this.users, this.log);
  }

  private async begin(request: KeyboardInteractiveRequest): Promise<ConversationStep> {
    const configuration = await this.discovery.configuration();
    let device: client.DeviceAuthorizationResponse;
    try {
      device = await client.initiateDeviceAuthorization(configuration, { scope: scopesOf(this.config).join(' ') });
    } catch (error) {
      this.log.warn(
        { code: LogCode.OIDC_UNAVAILABLE, issuer: this.config.issuer, step: 'device-authorization', reason: describe(error), connectionId: request.connectionId },
        'OIDC device authorization failed',
      );
      throw new OidcUnavailableError();
    }
    // The poll ends by itself: tokens, a refusal, the code's expiry, or our own timeout.
    const timer = setTimeout(() => this.abort.abort(), Math.min(this.config.timeout, device.expires_in * 1000));
    timer.unref();
    this.wait = new BackgroundWait(client.pollDeviceAuthorizationGrant(configuration, device, undefined, { signal: this.abort.signal }).finally(() => clearTimeout(timer)));
    const lines = [`To log in, open ${device.verification_uri}`, `and enter the code ${device.user_code}`];
    if (device.verification_uri_complete) lines.push(`(or open ${device.verification_uri_complete})`);
    return { challenge: { name: '', instruction: lines.join('\n'), prompts: [] } };
  }
}

class CodeConversation implements Conversation {
  private pending: { state: string; verifier: string; configuration: client.Configuration } | undefined;

  constructor(
    private readonly config: OidcConfig,
    private readonly discovery: Discovery,
    private readonly users: UserDirectory,
    private readonly log: Logger,
  ) {}

  async next(answers: readonly string[], request: KeyboardInteractiveRequest): Promise<ConversationStep> {
    if (!this.pending) {
      const configuration = await this.discovery.configuration();
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(configuration, {
        redirect_uri: this.config.redirectURI!,
        scope: scopesOf(this.config).join(' '),
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      this.pending = { state, verifier, configuration };
      return {
        challenge: {
          name: '',
          instruction: `To log in, open this address in a browser:\n${url.href}\nThen paste the code the last page shows (or that page's whole address).`,
          prompts: [{ prompt: 'Code: ', echo: true }],
        },
      };
    }
    const { state, verifier, configuration } = this.pending;
    const callback = callbackUrl(this.config.redirectURI!, (answers[0] ?? '').trim(), state, configuration);
    if (callback === 'state-mismatch' || callback === 'bad-code') return refuse(this.log, request, callback);
    let tokens: Tokens;
    try {
      tokens = await client.authorizationCodeGrant(configuration, callback, { pkceCodeVerifier: verifier, expectedState: state });
    } catch (error) {
      return refuse(this.log, request, refusalOf(error) === 'denied' ? 'denied' : 'bad-code', { detail: describe(error) });
    }
    return finish(this.config, configuration, tokens, request, this.users, this.log);
  }
}

/**
 * The redirect URI as the provider would have called it. The user pastes either the bare code
 * (its state is the one we made) or the whole address, whose state must be ours.
 */
function callbackUrl(redirectURI: string, answer: string, state: string, configuration: client.Configuration): URL | 'state-mismatch' | 'bad-code' {
  let params: URLSearchParams;
  if (/^https?:\/\//i.test(answer)) {
    try {
      params = new URL(answer).searchParams;
    } catch {
      return 'bad-code';
    }
    if (params.get('state') !== state) return 'state-mismatch';
  } else {
    if (!/^[\x21-\x7E]{1,2048}$/.test(answer)) return 'bad-code';
    params = new URLSearchParams({ code: answer, state });
  }
  // RFC 9207: a provider that announces `iss` in its responses has it checked; a bare code lost it.
  const metadata = configuration.serverMetadata();
  if (!params.has('iss') && metadata.authorization_response_iss_parameter_supported) params.set('iss', metadata.issuer);
  const url = new URL(redirectURI);
  url.search = params.toString();
  return url;
}

async function finish(config: OidcConfig, configuration: client.Configuration, tokens: Tokens, request: KeyboardInteractiveRequest, users: UserDirectory, log: Logger): Promise<ConversationStep> {
  const granted = grantedScopes(tokens.scope, scopesOf(config));
  const missing = missingScopes(config.extraScopes, granted);
  if (missing.length > 0 && config.enforceScopes) return refuse(log, request, 'scope-not-granted', { missingScopes: missing });
  let userinfo: Record<string, unknown>;
  try {
    userinfo = await client.fetchUserInfo(configuration, tokens.access_token, tokens.claims()?.sub ?? client.skipSubjectCheck);
  } catch (error) {
    return refuse(log, request, 'provider-error', { detail: describe(error) });
  }
  const username = userinfo[config.usernameClaim];
  if (typeof username !== 'string' || username.length === 0 || username.length > 256) return refuse(log, request, 'no-username', { claim: config.usernameClaim });
  if (config.enforceUsername && username !== request.username) return refuse(log, request, 'username-mismatch', { claimed: username });
  log.info(
    { code: LogCode.OIDC_AUTHENTICATED, username: request.username, authenticatedUsername: username, subject: userinfo.sub, scopes: [...granted], connectionId: request.connectionId },
    'OIDC login',
  );
  const decision: AuthResponse = {
    success: true,
    authenticatedUsername: username,
    ...mergeGrants(
      users.grantsOf(username),
      { metadata: claimsMetadata(userinfo, config.groupsClaim) },
      // What /authz maps to SSH usernames (users file `identities`): the issuer's subject, stable across renames.
      { metadata: { identity: { value: `oidc:${configuration.serverMetadata().issuer}#${String(userinfo.sub)}`, sensitive: false } } },
      tokenGrants(tokens.access_token, config.exposeAccessToken),
    ),
  };
  return { decision };
}

function refuse(log: Logger, request: KeyboardInteractiveRequest, reason: Refusal, fields: Record<string, unknown> = {}): ConversationStep {
  log.info({ code: LogCode.OIDC_REFUSED, reason, username: request.username, connectionId: request.connectionId, ...fields }, 'OIDC login refused');
  return { decision: { success: false }, reason: `oidc-${reason}` };
}

/** The OAuth error of a failed grant (RFC 8628 §3.5, RFC 6749 §5.2), as our refusal reason. */
function refusalOf(error: unknown): Refusal {
  const oauthError = (error as { error?: unknown }).error;
  if (oauthError === 'access_denied') return 'denied';
  if (oauthError === 'expired_token') return 'expired';
  if ((error as { name?: unknown }).name === 'AbortError' || (error as { code?: unknown }).code === 'ABORT_ERR') return 'timeout';
  return 'provider-error';
}

/** An error's kind and OAuth error code for the log: never a response body or a token. */
function describe(error: unknown): string {
  const { name, error: oauthError, code } = (error ?? {}) as { name?: unknown; error?: unknown; code?: unknown };
  return [name, code, oauthError].filter((part) => typeof part === 'string').join(' ') || 'error';
}
