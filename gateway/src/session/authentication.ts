import ssh2, { type AuthContext, type KeyboardAuthContext } from 'ssh2';
import type { ConnectionTap } from '../audit/index.ts';
import { describeCertificate, isCertificateAlgorithm, relayKeyboardInteractive, verifyCertificateSignature } from '../auth/index.ts';
import type { AuthDecision, AuthWebhook } from '../webhooks/index.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { showUserAuthMessage } from '../listener/user-message.ts';
import { errorFields } from '../observability/index.ts';
import type { NetworkConnection } from './network-connection.ts';

/** What the auth stage asks of the auth webhook (AuthWebhook in the gateway). */
export type AuthService = Pick<AuthWebhook, 'password' | 'publicKey' | 'keyboardInteractive' | 'authorize'>;

export interface AuthenticationOptions {
  readonly auth: AuthService;
  /** Offer keyboard-interactive and relay it to the auth webhook (gateway setting `auth.keyboardInteractive`). */
  readonly keyboardInteractive?: { readonly maxRounds: number } | undefined;
  readonly maxAuthTries: number;
  /** Longest user name (UTF-8 bytes) taken; longer ones are refused before any webhook call or log line. */
  readonly maxUsernameLength?: number | undefined;
  /** Told each time credentials are rejected (the listener penalises the source of a failed login). */
  readonly onAuthFailed?: (() => void) | undefined;
  /**
   * > 0: the source failed too many logins, so password and keyboard-interactive attempts are
   * refused for this long (ms) without a webhook call; keys and certificates are still checked.
   */
  readonly passwordsRefusedMs?: number | undefined;
  /** Told when a password is refused for the source's penalty (such a refusal earns no further penalty). */
  readonly onRefusedForPenalty?: (() => void) | undefined;
}

/** Accepted credentials: what the auth webhook said, and how they were given. */
export interface AcceptedLogin {
  readonly username: string;
  readonly method: AuthContext['method'];
  readonly decision: Extract<AuthDecision, { accepted: true }>;
}

/**
 * What comes after accepted credentials (authz, config): `admitted` logs the user in, `denied`
 * counts as a failed attempt, `gone` means the client left meanwhile. A throw refuses the login.
 */
export type Admit = (login: AcceptedLogin) => Promise<'admitted' | 'denied' | 'gone'>;

const BASE_METHODS: AuthContext['method'][] = ['publickey', 'password'];

/**
 * The auth stage: turns ssh2's authentication requests into auth webhook calls (password,
 * public key, keyboard-interactive relayed verbatim) and hands accepted credentials to `admit`.
 * Unavailable is not denied: a webhook failure refuses the login with its code and hangs up.
 */
export function authenticate(net: NetworkConnection, tap: ConnectionTap, options: AuthenticationOptions, admit: Admit): void {
  const { client, identity } = net;
  const offered: AuthContext['method'][] = options.keyboardInteractive ? [...BASE_METHODS, 'keyboard-interactive'] : BASE_METHODS;
  let failures = 0;
  const keyDecisions = new Map<string, Promise<AuthDecision>>();

  const refuse = (ctx: AuthContext, error: unknown) => {
    const gatewayError = isGatewayError(error) ? error : new GatewayError('AUTH_BACKEND_ERROR', 'Login refused: an internal error occurred.', { cause: error });
    net.log.error({ code: gatewayError.code, username: ctx.username, ...errorFields(gatewayError) }, 'login refused');
    // The client may have left while the webhook answered: ssh2 throws on any reply then.
    if (net.gone.aborted) return;
    showUserAuthMessage(client, gatewayError.toUserLine());
    ctx.reject([]);
    net.end();
  };

  const deny = (ctx: AuthContext) => {
    failures += 1;
    options.onAuthFailed?.();
    net.log.info({ code: 'AUTH_FAILED', method: ctx.method, username: ctx.username }, 'credentials rejected');
    if (net.gone.aborted) return;
    ctx.reject(offered);
    if (failures >= options.maxAuthTries) {
      net.log.info({ code: 'SSH_HANDSHAKE_FAILED', username: ctx.username }, 'too many authentication failures');
      net.end();
    }
  };

  /** A password from a source penalised for failed logins: refused unheard, keys still offered. */
  const refuseForPenalty = (ctx: AuthContext) => {
    failures += 1;
    options.onRefusedForPenalty?.();
    net.log.info(
      { code: 'SSH_SOURCE_PENALIZED', method: ctx.method, username: ctx.username, retryAfterSeconds: Math.ceil((options.passwordsRefusedMs ?? 0) / 1000) },
      'password refused: its source is penalised for failed logins',
    );
    ctx.reject(offered.filter((method) => method !== 'password' && method !== 'keyboard-interactive'));
    if (failures >= options.maxAuthTries) net.end();
  };

  const accepted = async (ctx: AuthContext, decision: Extract<AuthDecision, { accepted: true }>) => {
    net.log.info({ code: 'AUTH_SUCCESSFUL', method: ctx.method, username: ctx.username }, 'credentials accepted');
    const outcome = await admit({ username: ctx.username, method: ctx.method, decision });
    if (outcome === 'denied') return deny(ctx);
    if (outcome === 'admitted' && !net.gone.aborted) ctx.accept();
  };

  /** Relays the auth server's conversation to the client verbatim until the server decides. */
  const keyboardInteractive = async (ctx: KeyboardAuthContext, maxRounds: number) => {
    const outcome = await relayKeyboardInteractive(
      (turn) => options.auth.keyboardInteractive(identity, ctx.username, turn),
      (challenge) =>
        new Promise((resolve) => {
          net.log.debug({ code: 'AUTH_KEYBOARD_INTERACTIVE_STEP', username: ctx.username, prompts: challenge.prompts.length }, 'keyboard-interactive step relayed');
          const questions = challenge.prompts.map((prompt) => prompt.prompt);
          tap.keyboardInteractive({
            kind: 'challenge',
            username: ctx.username,
            instruction: challenge.instruction ?? '',
            questions: challenge.prompts.map((prompt) => ({ question: prompt.prompt, echo: prompt.echo === true })),
          });
          // The client left while the auth service answered: the conversation is abandoned.
          if (net.gone.aborted) return resolve(undefined);
          // ssh2 hands an Error instead of answers when the client starts another auth request.
          ctx.prompt(challenge.prompts, challenge.name, challenge.instruction, (answers: unknown) => {
            if (Array.isArray(answers)) tap.keyboardInteractive({ kind: 'answers', username: ctx.username, questions, answers: answers.map(String) });
            resolve(Array.isArray(answers) ? answers : undefined);
          });
        }),
      { submethods: submethodsOf(ctx.submethods as unknown), maxRounds },
    ).catch((error: unknown) => {
      tap.keyboardInteractive({ kind: 'error', username: ctx.username, reason: isGatewayError(error) ? error.code : 'the auth service could not decide' });
      throw error;
    });
    if (outcome.kind === 'abandoned') return;
    if (outcome.kind !== 'decision' || !outcome.decision.accepted) tap.keyboardInteractive({ kind: 'failed', username: ctx.username });
    if (outcome.kind === 'answers-invalid') {
      net.log.info({ code: 'AUTH_KEYBOARD_INTERACTIVE_ANSWERS_INVALID', username: ctx.username, round: outcome.rounds }, 'answers do not fit the prompts');
      return deny(ctx);
    }
    if (outcome.kind === 'too-many-rounds') {
      net.log.info({ code: 'AUTH_KEYBOARD_INTERACTIVE_TOO_MANY_ROUNDS', username: ctx.username, round: outcome.rounds }, 'conversation too long');
      return deny(ctx);
    }
    return outcome.decision.accepted ? accepted(ctx, outcome.decision) : deny(ctx);
  };

  client.on('authentication', (ctx) => {
    // ssh2 still hands over requests that were in flight when the connection was ended for
    // too many failures: they cost no webhook call.
    if (failures >= options.maxAuthTries) return ctx.reject([]);
    // Not a credential that failed: the connection closes as one that never tried, a penalty on the whole source.
    if (options.maxUsernameLength !== undefined && usernameTooLong(ctx, options.maxUsernameLength, net)) return;
    if ((ctx.method === 'password' || ctx.method === 'keyboard-interactive') && (options.passwordsRefusedMs ?? 0) > 0) return refuseForPenalty(ctx);
    void (async () => {
      try {
        if (ctx.method === 'password') {
          const decision = await options.auth.password(identity, ctx.username, Buffer.from(ctx.password, 'utf8')).catch((error: unknown) => {
            // The auth service could not decide: recorded as a backend error (the password only where the policy asks).
            tap.authAttempt({ method: 'password', username: ctx.username, password: Buffer.from(ctx.password, 'utf8'), outcome: 'error' });
            throw error;
          });
          tap.authAttempt({ method: 'password', username: ctx.username, password: Buffer.from(ctx.password, 'utf8'), outcome: decision.accepted ? 'accepted' : 'rejected' });
          return decision.accepted ? await accepted(ctx, decision) : deny(ctx);
        }
        if (ctx.method === 'publickey') {
          const authorizedKey = `${ctx.key.algo} ${ctx.key.data.toString('base64')}`;
          if (ctx.signature) {
            if (!ctx.blob || !signatureVerifies(ctx.key.algo, ctx.key.data, ctx.blob, ctx.signature, ctx.hashAlgo)) {
              net.log.info({ code: 'AUTH_PUBKEY_SIGNATURE_INVALID', username: ctx.username }, 'bad signature');
              return deny(ctx);
            }
          }
          let pending = keyDecisions.get(authorizedKey);
          if (!pending) {
            const certificate = isCertificateAlgorithm(ctx.key.algo) ? describeCertificate(ctx.key.data) : undefined;
            pending = options.auth.publicKey(identity, ctx.username, authorizedKey, certificate);
            keyDecisions.set(authorizedKey, pending);
          }
          const decision = await pending;
          if (ctx.signature) tap.authAttempt({ method: 'publickey', username: ctx.username, key: authorizedKey, outcome: decision.accepted ? 'accepted' : 'rejected' });
          if (!decision.accepted) return deny(ctx);
          // Without a signature this only tells the client the key would do (PK_OK).
          if (ctx.signature) return await accepted(ctx, decision);
          if (!net.gone.aborted) ctx.accept();
          return;
        }
        if (ctx.method === 'keyboard-interactive' && options.keyboardInteractive) {
          return await keyboardInteractive(ctx, options.keyboardInteractive.maxRounds);
        }
        ctx.reject(offered);
      } catch (error) {
        try {
          refuse(ctx, error);
        } catch (fault) {
          // An ssh2 reply that threw all the same: this connection alone ends, logged and counted.
          net.containFault('handler', fault);
        }
      }
    })();
  });
}

/** Refuses a user name over the limit before it reaches a webhook, the recording or a log line. */
function usernameTooLong(ctx: AuthContext, limit: number, net: NetworkConnection): boolean {
  const bytes = Buffer.byteLength(ctx.username, 'utf8');
  if (bytes <= limit) return false;
  net.log.info({ code: 'AUTH_USERNAME_TOO_LONG', usernameBytes: bytes, limit }, 'user name too long; refused');
  showUserAuthMessage(net.client, new GatewayError('AUTH_USERNAME_TOO_LONG', `Login refused: the user name is longer than ${limit} bytes.`).toUserLine());
  ctx.reject([]);
  net.end();
  return true;
}

/** ssh2 passes the RFC 4256 submethods field as text, though its typings say string[]. */
function submethodsOf(value: unknown): string {
  if (typeof value === 'string') return value.slice(0, 1024);
  return Array.isArray(value)
    ? value
        .filter((item) => typeof item === 'string')
        .join(',')
        .slice(0, 1024)
    : '';
}

/** The publickey signature, by the key itself or, for an OpenSSH certificate, by the key it certifies. */
function signatureVerifies(algo: string, key: Buffer, blob: Buffer, signature: Buffer, hashAlgo: string | undefined): boolean {
  if (isCertificateAlgorithm(algo)) return verifyCertificateSignature(algo, key, blob, signature);
  const parsed = ssh2.utils.parseKey(key);
  return !(parsed instanceof Error) && parsed.verify(blob, signature, hashAlgo);
}
