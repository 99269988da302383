import ssh2, { type AuthContext, type Connection, type ClientInfo } from 'ssh2';
import type { AppConfig } from '@portcullis/wire';
import type { AuthDecision, AuthWebhook } from '../auth/index.ts';
import type { Backend, BackendConnection } from '../backends/index.ts';
import type { ConfigWebhook } from '../config/index.ts';
import { GatewayError, isGatewayError } from '../errors.ts';
import { showUserAuthMessage } from '../listener/user-message.ts';
import { errorFields, secondsSince, type GatewayMetrics, type Logger } from '../observability/index.ts';
import { formatRemoteAddress, newConnectionId, type ConnectionIdentity } from './connection-identity.ts';
import { describeMaps, mergeConnectionMaps, withGatewayMetadata, type FullConnectionMaps } from './connection-maps.ts';
import { ProgressRelay } from './progress-relay.ts';
import { handleSessionChannel } from './session-channel.ts';
import { handleDirectTcpip } from '../forwarding/index.ts';

export interface ConnectionDependencies {
  readonly auth: AuthWebhook;
  readonly config: ConfigWebhook;
  readonly backend: Backend;
  /** Ask the auth webhook's `/authz` after a successful login (gateway setting `auth.authz`). */
  readonly authz?: boolean;
  readonly log: Logger;
  readonly loginGraceTimeMs: number;
  readonly maxAuthTries: number;
  /** Called once when the connection is fully closed and its backend cleaned up. */
  readonly onClosed?: () => void;
  readonly metrics?: GatewayMetrics;
}

/** What the webhooks granted, fixed at login for the whole connection. */
interface Grant {
  readonly authenticatedUsername: string;
  readonly config: AppConfig;
  /** auth → authz → config, merged additively. Values are never logged. */
  readonly maps: FullConnectionMaps;
}

const OFFERED_METHODS: AuthContext['method'][] = ['publickey', 'password'];

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
  log.debug({ code: 'SSH_CONNECTED' }, 'connection accepted');
  const acceptedAt = performance.now();
  deps.metrics?.connectionOpened();
  let loggedIn = false;

  let grant: Grant | undefined;
  let backend: Promise<BackendConnection> | undefined;
  let failures = 0;
  const keyDecisions = new Map<string, Promise<AuthDecision>>();

  const graceTimer = setTimeout(() => {
    log.info({ code: 'SSH_LOGIN_GRACE_EXPIRED' }, 'login grace time expired');
    client.end();
  }, deps.loginGraceTimeMs);

  /** Unavailable is not denied: say what is wrong, refuse, and hang up. */
  const refuse = (ctx: AuthContext, error: unknown) => {
    const gatewayError = isGatewayError(error)
      ? error
      : new GatewayError('AUTH_BACKEND_ERROR', 'Login refused: an internal error occurred.', { cause: error });
    log.error({ code: gatewayError.code, username: ctx.username, ...errorFields(gatewayError) }, 'login refused');
    showUserAuthMessage(client, gatewayError.toUserLine());
    ctx.reject([]);
    client.end();
  };

  const deny = (ctx: AuthContext) => {
    failures += 1;
    log.info({ code: 'AUTH_FAILED', method: ctx.method, username: ctx.username }, 'credentials rejected');
    ctx.reject(OFFERED_METHODS);
    if (failures >= deps.maxAuthTries) {
      log.info({ code: 'SSH_HANDSHAKE_FAILED', username: ctx.username }, 'too many authentication failures');
      client.end();
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
    grant = { authenticatedUsername, config: response.config, maps: withGatewayMetadata(response.maps, facts) };
    log = log.child({ username: authenticatedUsername });
    log.debug({ code: 'CONFIG_RESPONSE', backend: response.config.backend, ...describeMaps(grant.maps) }, 'configuration received');
    ctx.accept();
  };

  client.on('authentication', (ctx) => {
    void (async () => {
      try {
        if (ctx.method === 'password') {
          const decision = await deps.auth.password(identity, ctx.username, Buffer.from(ctx.password, 'utf8'));
          return decision.accepted ? await admit(ctx, decision) : deny(ctx);
        }
        if (ctx.method === 'publickey') {
          const authorizedKey = `${ctx.key.algo} ${ctx.key.data.toString('base64')}`;
          if (ctx.signature) {
            const parsed = ssh2.utils.parseKey(ctx.key.data);
            if (parsed instanceof Error || !ctx.blob || !parsed.verify(ctx.blob, ctx.signature, ctx.hashAlgo)) {
              log.info({ code: 'AUTH_PUBKEY_SIGNATURE_INVALID', username: ctx.username }, 'bad signature');
              return deny(ctx);
            }
          }
          let pending = keyDecisions.get(authorizedKey);
          if (!pending) {
            pending = deps.auth.publicKey(identity, ctx.username, authorizedKey);
            keyDecisions.set(authorizedKey, pending);
          }
          const decision = await pending;
          if (!decision.accepted) return deny(ctx);
          // Without a signature this only tells the client the key would do (PK_OK).
          return ctx.signature ? await admit(ctx, decision) : ctx.accept();
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
    if (!grant) return client.end();
    loggedIn = true;
    deps.metrics?.handshakeSucceeded();
    log.info({ code: 'SSH_HANDSHAKE_SUCCESSFUL' }, 'logged in');
    const environment = Object.fromEntries(
      Object.entries(grant.maps.environment ?? {}).map(([name, entry]) => [name, entry.value]),
    );
    const progress = new ProgressRelay();
    backend = deps.backend.openConnection({
      identity,
      authenticatedUsername: grant.authenticatedUsername,
      config: grant.config,
      environment,
      metadata: grant.maps.metadata,
      files: grant.maps.files,
      onProgress: progress.report,
    });
    const backendName = grant.config.backend;
    const backendStarted = performance.now();
    backend.then(
      () => deps.metrics?.backendStart(backendName, true, secondsSince(backendStarted)),
      (error: unknown) => {
        deps.metrics?.backendStart(backendName, false, secondsSince(backendStarted), isGatewayError(error) ? error.code : undefined);
        log.error({ code: isGatewayError(error) ? error.code : 'DOCKER_CONTAINER_CREATE_FAILED', ...errorFields(error) }, 'backend not ready');
      },
    );
    const sessionLog = log;
    let firstProgram = true;
    const onProgramStarted = () => {
      if (firstProgram) deps.metrics?.firstProgramStarted(secondsSince(acceptedAt));
      firstProgram = false;
    };
    client.on('session', (accept) =>
      handleSessionChannel(accept(), { backend: backend!, environment, progress, log: sessionLog, onProgramStarted }),
    );
    client.on('tcpip', (accept, reject, info) => void handleDirectTcpip(accept, reject, info, backend!, sessionLog));
  });

  client.on('error', (error) => log.debug({ code: 'SSH_CONNECTION_ERROR', ...errorFields(error) }, 'connection error'));

  client.once('close', () => {
    clearTimeout(graceTimer);
    deps.metrics?.connectionClosed(loggedIn);
    const cleanup = backend ? backend.then((connection) => connection.close(), () => undefined) : Promise.resolve();
    void cleanup.finally(() => {
      log.info({ code: 'SSH_DISCONNECTED' }, 'connection closed');
      deps.onClosed?.();
    });
  });
}
