import ssh2, { type AuthContext, type Connection, type ClientInfo, type KeyboardAuthContext } from 'ssh2';
import type { AppConfig } from '@portcullis/wire';
import { describeCertificate, isCertificateAlgorithm, relayKeyboardInteractive, verifyCertificateSignature, type AuthDecision, type AuthWebhook } from '../auth/index.ts';
import type { Backend, BackendConnection } from '../backends/index.ts';
import type { ConfigWebhook } from '../config/index.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { showUserAuthMessage } from '../listener/user-message.ts';
import { connectionSocket } from '../ssh2-internals.ts';
import { errorFields, secondsSince, type GatewayMetrics, type Logger } from '../observability/index.ts';
import { formatRemoteAddress, newConnectionId, type ConnectionIdentity } from './connection-identity.ts';
import { describeMaps, mergeConnectionMaps, withGatewayMetadata, type FullConnectionMaps } from './connection-maps.ts';
import { ProgressRelay } from './progress-relay.ts';
import { handleSessionChannel } from './session-channel.ts';
import type { FaultStage } from './channel-guard.ts';
import { NO_TAP, tapGlobalRequests, type AuditService } from '../audit/index.ts';
import { RemoteForwards, handleDirectStreamlocal, handleDirectTcpip, sessionForwards } from '../forwarding/index.ts';
import { SecurityPolicy, type SecurityCeilings } from '../filters/index.ts';
import { ConnectionTimeLimits } from './time-limits.ts';
import type { ConnectionSlots } from './user-connections.ts';

export interface ConnectionDependencies {
  readonly auth: AuthWebhook;
  readonly config: ConfigWebhook;
  readonly backend: Backend;
  /** Ask the auth webhook's `/authz` after a successful login (gateway setting `auth.authz`). */
  readonly authz?: boolean;
  /** Offer keyboard-interactive and relay it to the auth webhook (gateway setting `auth.keyboardInteractive`). */
  readonly keyboardInteractive?: { readonly maxRounds: number } | undefined;
  readonly log: Logger;
  readonly loginGraceTimeMs: number;
  readonly maxAuthTries: number;
  /** Called once when the connection is fully closed and its backend cleaned up. */
  readonly onClosed?: () => void;
  readonly metrics?: GatewayMetrics;
  /** Records the connection per the policy's audit settings; without it nothing is recorded. */
  readonly audit?: AuditService;
  /** Connections per user on this instance, for the policy's maxConnectionsPerUser. */
  readonly userConnections?: ConnectionSlots;
  /** The gateway's limits a policy may lower but never lift (sessions, connections per user). */
  readonly ceilings?: SecurityCeilings;
  /** Longest user name (UTF-8 bytes) taken; longer ones are refused before any webhook call or log line. */
  readonly maxUsernameLength?: number;
  /** Told each time credentials are rejected (the listener penalises the source of a failed login). */
  readonly onAuthFailed?: () => void;
}

/** What the webhooks granted, fixed at login for the whole connection. */
interface Grant {
  readonly authenticatedUsername: string;
  readonly config: AppConfig;
  /** auth → authz → config, merged additively. Values are never logged. */
  readonly maps: FullConnectionMaps;
  /** The config's security filters and limits. */
  readonly policy: SecurityPolicy;
  /** Gives back this connection's slot in maxConnectionsPerUser. */
  readonly releaseSlot?: () => void;
}

const BASE_METHODS: AuthContext['method'][] = ['publickey', 'password'];

/**
 * One SSH connection from accept to close: authentication through the auth webhook, one
 * config webhook call, the backend connection, and cleanup of everything it created.
 */
export function handleConnection(client: Connection, info: ClientInfo, deps: ConnectionDependencies): void {
  const identity: ConnectionIdentity = {
    connectionId: newConnectionId(),
    remoteAddress: formatRemoteAddress(info.ip, info.port),
    ...(info.header?.identRaw ? { clientVersion: info.header.identRaw } : {}),
  };
  let log = deps.log.child({ connectionId: identity.connectionId, remoteAddress: identity.remoteAddress });
  const OFFERED_METHODS: AuthContext['method'][] = deps.keyboardInteractive ? [...BASE_METHODS, 'keyboard-interactive'] : BASE_METHODS;
  // Until the session's limits exist there is no program to tell: a broken required recording just closes.
  let closeForRecording = (): void => void client.end();
  const tap = deps.audit?.tap(identity, log, () => closeForRecording()) ?? NO_TAP;
  // Every global request, including those ssh2 refuses itself; else only what `request` shows.
  const everyGlobalRequest = tapGlobalRequests(client, (name) => tap.globalRequest(name));
  log.debug({ code: 'SSH_CONNECTED' }, 'connection accepted');
  /** Aborted when the client's socket ended or closed: ssh2 throws on any write after that. */
  const gone = new AbortController();
  client.once('end', () => gone.abort());
  client.once('close', () => gone.abort());
  /** Ends this connection only; ssh2's own end() throws once its protocol object is gone. */
  const endConnection = (): void => {
    try {
      client.end();
    } catch {
      connectionSocket(client)?.destroy();
    }
  };
  /** Every fault of this connection ends here: one log code, one metric, this connection closed. */
  const containFault = (stage: FaultStage, error: unknown): void => {
    log.warn({ code: 'SSH_CONNECTION_FAULT_CONTAINED', stage, ...errorFields(error) }, 'connection fault contained: closing this connection');
    deps.metrics?.connectionFaultContained(stage);
    connectionSocket(client)?.destroy();
  };
  const acceptedAt = performance.now();
  deps.metrics?.connectionOpened();
  let loggedIn = false;

  let grant: Grant | undefined;
  /** The SSH username of the accepted login, as ContainerSSH records it on handshakeSuccessful. */
  let loginName = '';
  let backend: Promise<BackendConnection> | undefined;
  let failures = 0;
  let stopLimits = () => {};
  let closeForwards = () => {};
  const keyDecisions = new Map<string, Promise<AuthDecision>>();

  const graceTimer = setTimeout(() => {
    log.info({ code: 'SSH_LOGIN_GRACE_EXPIRED' }, 'login grace time expired');
    endConnection();
  }, deps.loginGraceTimeMs);

  /** Unavailable is not denied: say what is wrong, refuse, and hang up. */
  const refuse = (ctx: AuthContext, error: unknown) => {
    const gatewayError = isGatewayError(error) ? error : new GatewayError('AUTH_BACKEND_ERROR', 'Login refused: an internal error occurred.', { cause: error });
    log.error({ code: gatewayError.code, username: ctx.username, ...errorFields(gatewayError) }, 'login refused');
    showUserAuthMessage(client, gatewayError.toUserLine());
    ctx.reject([]);
    client.end();
  };

  const deny = (ctx: AuthContext) => {
    failures += 1;
    deps.onAuthFailed?.();
    log.info({ code: 'AUTH_FAILED', method: ctx.method, username: ctx.username }, 'credentials rejected');
    ctx.reject(OFFERED_METHODS);
    if (failures >= deps.maxAuthTries) {
      log.info({ code: 'SSH_HANDSHAKE_FAILED', username: ctx.username }, 'too many authentication failures');
      endConnection();
    }
  };

  /**
   * After the credentials were accepted: authz (when configured), then the config webhook.
   * Metadata flows auth → authz → config, each step adding to (never dropping from) the last.
   */
  const admit = async (ctx: AuthContext, decision: Extract<AuthDecision, { accepted: true }>) => {
    log.info({ code: 'AUTH_SUCCESSFUL', method: ctx.method, username: ctx.username }, 'credentials accepted');
    const facts = { authMethod: ctx.method };
    let authenticatedUsername = decision.authenticatedUsername;
    let maps = withGatewayMetadata(decision.maps, facts);
    if (deps.authz) {
      const authz = await deps.auth.authorize(identity, ctx.username, authenticatedUsername, maps);
      if (!authz.accepted) {
        log.info({ code: 'AUTHZ_FAILED', username: ctx.username, authenticatedUsername }, 'authorization refused');
        return deny(ctx);
      }
      authenticatedUsername = authz.authenticatedUsername;
      maps = withGatewayMetadata(mergeConnectionMaps(maps, authz.maps), facts);
      log.info({ code: 'AUTHZ_SUCCESSFUL', username: ctx.username, authenticatedUsername }, 'authorization granted');
    }
    const response = await deps.config.fetch(identity, ctx.username, authenticatedUsername, maps);
    if (deps.backend.supports && !deps.backend.supports(response.config.backend)) {
      // e.g. `backend: kubernetes` on a gateway without cluster settings: refused before login succeeds.
      throw new GatewayError('CONFIG_UNSUPPORTED', `Session refused: this gateway has no ${response.config.backend} backend.`);
    }
    await tap.configure(response.config.audit);
    // The client left while the webhooks answered: its close already ran, so nothing may start now.
    if (gone.signal.aborted) return;
    const policy = new SecurityPolicy(response.config.security, deps.ceilings);
    const slot = await deps.userConnections?.take(authenticatedUsername, policy.maxConnectionsPerUser);
    if (slot && !slot.taken) throw slot.refusal;
    // With workers the slot comes from the primary: the client may have left meanwhile.
    if (gone.signal.aborted) return slot?.release();
    const releaseSlot = slot?.release;
    loginName = ctx.username;
    grant = { authenticatedUsername, config: response.config, maps: withGatewayMetadata(response.maps, facts), policy, ...(releaseSlot ? { releaseSlot } : {}) };
    log = log.child({ username: authenticatedUsername });
    log.debug({ code: 'CONFIG_RESPONSE', backend: response.config.backend, ...describeMaps(grant.maps) }, 'configuration received');
    ctx.accept();
  };

  /** Relays the auth server's conversation to the client verbatim until the server decides. */
  const keyboardInteractive = async (ctx: KeyboardAuthContext, maxRounds: number) => {
    const outcome = await relayKeyboardInteractive(
      (turn) => deps.auth.keyboardInteractive(identity, ctx.username, turn),
      (challenge) =>
        new Promise((resolve) => {
          log.debug({ code: 'AUTH_KEYBOARD_INTERACTIVE_STEP', username: ctx.username, prompts: challenge.prompts.length }, 'keyboard-interactive step relayed');
          const questions = challenge.prompts.map((prompt) => prompt.prompt);
          tap.keyboardInteractive({
            kind: 'challenge',
            username: ctx.username,
            instruction: challenge.instruction ?? '',
            questions: challenge.prompts.map((prompt) => ({ question: prompt.prompt, echo: prompt.echo === true })),
          });
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
      log.info({ code: 'AUTH_KEYBOARD_INTERACTIVE_ANSWERS_INVALID', username: ctx.username, round: outcome.rounds }, 'answers do not fit the prompts');
      return deny(ctx);
    }
    if (outcome.kind === 'too-many-rounds') {
      log.info({ code: 'AUTH_KEYBOARD_INTERACTIVE_TOO_MANY_ROUNDS', username: ctx.username, round: outcome.rounds }, 'conversation too long');
      return deny(ctx);
    }
    return outcome.decision.accepted ? admit(ctx, outcome.decision) : deny(ctx);
  };

  client.on('authentication', (ctx) => {
    if (deps.maxUsernameLength !== undefined && usernameTooLong(ctx, deps.maxUsernameLength, log, client)) return deps.onAuthFailed?.();
    void (async () => {
      try {
        if (ctx.method === 'password') {
          const decision = await deps.auth.password(identity, ctx.username, Buffer.from(ctx.password, 'utf8')).catch((error: unknown) => {
            // The auth service could not decide: recorded as a backend error (the password only where the policy asks).
            tap.authAttempt({ method: 'password', username: ctx.username, password: Buffer.from(ctx.password, 'utf8'), outcome: 'error' });
            throw error;
          });
          tap.authAttempt({ method: 'password', username: ctx.username, password: Buffer.from(ctx.password, 'utf8'), outcome: decision.accepted ? 'accepted' : 'rejected' });
          return decision.accepted ? await admit(ctx, decision) : deny(ctx);
        }
        if (ctx.method === 'publickey') {
          const authorizedKey = `${ctx.key.algo} ${ctx.key.data.toString('base64')}`;
          if (ctx.signature) {
            if (!ctx.blob || !signatureVerifies(ctx.key.algo, ctx.key.data, ctx.blob, ctx.signature, ctx.hashAlgo)) {
              log.info({ code: 'AUTH_PUBKEY_SIGNATURE_INVALID', username: ctx.username }, 'bad signature');
              return deny(ctx);
            }
          }
          let pending = keyDecisions.get(authorizedKey);
          if (!pending) {
            const certificate = isCertificateAlgorithm(ctx.key.algo) ? describeCertificate(ctx.key.data) : undefined;
            pending = deps.auth.publicKey(identity, ctx.username, authorizedKey, certificate);
            keyDecisions.set(authorizedKey, pending);
          }
          const decision = await pending;
          if (ctx.signature) tap.authAttempt({ method: 'publickey', username: ctx.username, key: authorizedKey, outcome: decision.accepted ? 'accepted' : 'rejected' });
          if (!decision.accepted) return deny(ctx);
          // Without a signature this only tells the client the key would do (PK_OK).
          return ctx.signature ? await admit(ctx, decision) : ctx.accept();
        }
        if (ctx.method === 'keyboard-interactive' && deps.keyboardInteractive) {
          return await keyboardInteractive(ctx, deps.keyboardInteractive.maxRounds);
        }
        ctx.reject(OFFERED_METHODS);
      } catch (error) {
        try {
          refuse(ctx, error);
        } catch {
          // The client left while the webhook was answering; nothing to tell it.
        }
      }
    })();
  });

  client.on('ready', () => {
    clearTimeout(graceTimer);
    if (!grant || gone.signal.aborted) return endConnection();
    loggedIn = true;
    deps.metrics?.handshakeSucceeded();
    log.info({ code: 'SSH_HANDSHAKE_SUCCESSFUL' }, 'logged in');
    tap.handshake(true, loginName);
    const environment = Object.fromEntries(Object.entries(grant.maps.environment ?? {}).map(([name, entry]) => [name, entry.value]));
    const progress = new ProgressRelay();
    const clientGone = new AbortController();
    client.once('close', () => clientGone.abort());
    backend = deps.backend.openConnection({
      identity,
      authenticatedUsername: grant.authenticatedUsername,
      config: grant.config,
      environment,
      metadata: grant.maps.metadata,
      files: grant.maps.files,
      onProgress: progress.report,
      signal: clientGone.signal,
    });
    const backendName = grant.config.backend;
    const backendStarted = performance.now();
    backend.then(
      () => deps.metrics?.backendStart(backendName, true, secondsSince(backendStarted)),
      (error: unknown) => {
        deps.metrics?.backendStart(backendName, false, secondsSince(backendStarted), isGatewayError(error) ? error.code : undefined);
        // A client that left is not a backend failure worth an error line.
        const level = clientGone.signal.aborted ? 'info' : 'error';
        log[level]({ code: isGatewayError(error) ? error.code : 'DOCKER_CONTAINER_CREATE_FAILED', ...errorFields(error) }, 'backend not ready');
      },
    );
    const sessionLog = log;
    let firstProgram = true;
    const onProgramStarted = () => {
      if (firstProgram) deps.metrics?.firstProgramStarted(secondsSince(acceptedAt));
      firstProgram = false;
    };
    const policy = grant.policy;
    const limits = new ConnectionTimeLimits(policy.timeLimits, endConnection, sessionLog);
    stopLimits = () => limits.stop();
    closeForRecording = () => limits.closeFor('recording');
    let openSessions = 0;
    const forwards = sessionForwards(client, sessionLog);
    const remoteForwards = new RemoteForwards(client, backend, policy, sessionLog);
    closeForwards = () => remoteForwards.closeAll();
    // Recorded first; remoteForwards answers (ssh2 shows only forwarding requests, refusing others itself).
    if (!everyGlobalRequest) client.on('request', (_accept, _reject, name) => tap.globalRequest(name));
    client.on('request', remoteForwards.handle);
    client.on('openssh.streamlocal', (accept, reject, info) => {
      if (policy.forwarding('direct-streamlocal') !== 'allow') {
        sessionLog.info({ code: 'SECURITY_FORWARDING_REJECTED', kind: 'direct-streamlocal' }, 'socket forward refused by policy');
        return reject();
      }
      void handleDirectStreamlocal(accept, reject, info.socketPath, backend!, sessionLog);
    });
    client.on('session', (accept, reject) => {
      const maxSessions = policy.maxSessions;
      if (maxSessions !== undefined && openSessions >= maxSessions) {
        sessionLog.info({ code: 'SECURITY_MAX_SESSIONS', limit: maxSessions }, 'session refused: limit reached');
        return reject();
      }
      openSessions += 1;
      const session = accept();
      session.once('close', () => (openSessions -= 1));
      handleSessionChannel(session, {
        backend: backend!,
        environment,
        progress,
        log: sessionLog,
        onProgramStarted,
        audit: tap.channel('session'),
        policy,
        forwards,
        // Every program is registered: a broken required recording tells each one, limits or not.
        onRunning: limits.register,
        connectionGone: gone.signal,
        onFault: containFault,
        ...(limits.active ? { onActivity: limits.activity } : {}),
      });
    });
    client.on('tcpip', (accept, reject, info) => {
      if (policy.forwarding('direct-tcpip') === 'deny') {
        sessionLog.info({ code: 'SECURITY_FORWARDING_REJECTED', kind: 'direct-tcpip', port: info.destPort }, 'forward refused by policy');
        return reject();
      }
      void handleDirectTcpip(accept, reject, info, backend!, sessionLog, {
        guestAgent: policy.forwarding('direct-tcpip') === 'allow',
        audit: tap.channel('direct-tcpip', { destination: `${info.destIP}:${info.destPort}` }),
      });
    });
  });

  client.on('error', (error) => {
    if ((error as Error & { level?: string }).level === 'client-timeout') {
      log.info({ code: 'SSH_KEEPALIVE_TIMEOUT' }, 'client stopped answering keepalives');
      // ssh2 only half-closes; a frozen client never closes its side, so drop the socket.
      connectionSocket(client)?.destroy();
      return;
    }
    log.debug({ code: 'SSH_CONNECTION_ERROR', ...errorFields(error) }, 'connection error');
  });

  client.once('close', () => {
    clearTimeout(graceTimer);
    stopLimits();
    closeForwards();
    grant?.releaseSlot?.();
    deps.metrics?.connectionClosed(loggedIn);
    const cleanup = Promise.all([
      backend
        ? backend.then(
            (connection) => connection.close(),
            () => undefined,
          )
        : undefined,
      tap.close(),
    ]);
    void cleanup.finally(() => {
      log.info({ code: 'SSH_DISCONNECTED' }, 'connection closed');
      deps.onClosed?.();
    });
  });
}

/** Refuses a user name over the limit before it reaches a webhook, the recording or a log line. */
function usernameTooLong(ctx: AuthContext, limit: number, log: Logger, client: Connection): boolean {
  const bytes = Buffer.byteLength(ctx.username, 'utf8');
  if (bytes <= limit) return false;
  log.info({ code: 'AUTH_USERNAME_TOO_LONG', usernameBytes: bytes, limit }, 'user name too long; refused');
  showUserAuthMessage(client, new GatewayError('AUTH_USERNAME_TOO_LONG', `Login refused: the user name is longer than ${limit} bytes.`).toUserLine());
  ctx.reject([]);
  client.end();
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
