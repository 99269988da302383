import type { ConnectionTap } from '../audit/index.ts';
import type { Backend, BackendConnection } from '../backends/index.ts';
import { RemoteForwards, handleDirectStreamlocal, handleDirectTcpip, sessionForwards } from '../forwarding/index.ts';
import { secondsSince, type GatewayMetrics } from '../observability/index.ts';
import type { Grant } from './admission.ts';
import { startBackend } from './backend-start.ts';
import type { NetworkConnection } from './network-connection.ts';
import { ProgressRelay } from './progress-relay.ts';
import { handleSessionChannel } from './session-channel.ts';
import { ConnectionTimeLimits } from './time-limits.ts';

export interface SshConnectionOptions {
  readonly backend: Backend;
  readonly metrics?: GatewayMetrics | undefined;
  /** Whether ssh2 shows every global request to the tap already (else only what `request` shows). */
  readonly everyGlobalRequest: boolean;
}

/** A logged-in connection's handle for its close: what it started stops, what it created goes. */
export interface SshConnection {
  /** Ends the connection because its required recording broke (each program is told first). */
  closeForRecording(): void;
  /** Stops the time limits and remote forwards (the transport is gone). */
  stop(): void;
  /** Removes what the backend created for this connection; never rejects. */
  close(): Promise<void>;
}

/**
 * The SSH-connection stage, after login: opens the backend once for the connection, starts the
 * policy's time limits, and routes each channel the client opens to its handler (session
 * channels to the session-channel stage, forwards through the policy's forwarding filter).
 */
export function handleSshConnection(net: NetworkConnection, tap: ConnectionTap, grant: Grant, options: SshConnectionOptions): SshConnection {
  const { client, identity, log } = net;
  tap.handshake(true, grant.loginName);
  const environment = Object.fromEntries(Object.entries(grant.maps.environment ?? {}).map(([name, entry]) => [name, entry.value]));
  const progress = new ProgressRelay();
  const clientGone = new AbortController();
  client.once('close', () => clientGone.abort());
  const backend = startBackend(
    options.backend,
    {
      identity,
      authenticatedUsername: grant.authenticatedUsername,
      config: grant.config,
      environment,
      metadata: grant.maps.metadata,
      files: grant.maps.files,
      onProgress: progress.report,
      signal: clientGone.signal,
    },
    log,
    options.metrics,
  );
  let firstProgram = true;
  const onProgramStarted = () => {
    if (firstProgram) options.metrics?.firstProgramStarted(secondsSince(net.acceptedAt));
    firstProgram = false;
  };
  const policy = grant.policy;
  const limits = new ConnectionTimeLimits(policy.timeLimits, net.end, log);
  let openSessions = 0;
  const forwards = sessionForwards(client, log);
  const remoteForwards = new RemoteForwards(client, backend, policy, log);
  // Recorded first; remoteForwards answers (ssh2 shows only forwarding requests, refusing others itself).
  if (!options.everyGlobalRequest) client.on('request', (_accept, _reject, name) => tap.globalRequest(name));
  // Replies to forwarding requests come after the container answered: the client may be gone.
  client.on('request', (accept, reject, name, info) => remoteForwards.handle(accept && net.guardReply(accept), reject && net.guardReply(reject), name, info));
  client.on('openssh.streamlocal', (accept, reject, info) => {
    if (policy.forwarding('direct-streamlocal') !== 'allow') {
      log.info({ code: 'SECURITY_FORWARDING_REJECTED', kind: 'direct-streamlocal' }, 'socket forward refused by policy');
      return reject();
    }
    handleDirectStreamlocal(net.guardReply(accept), net.guardReply(reject), info.socketPath, backend, log).catch((error: unknown) => net.containFault('handler', error));
  });
  client.on('session', (accept, reject) => {
    const maxSessions = policy.maxSessions;
    if (maxSessions !== undefined && openSessions >= maxSessions) {
      log.info({ code: 'SECURITY_MAX_SESSIONS', limit: maxSessions }, 'session refused: limit reached');
      return reject();
    }
    openSessions += 1;
    const session = accept();
    session.once('close', () => (openSessions -= 1));
    handleSessionChannel(session, {
      backend,
      environment,
      progress,
      log,
      onProgramStarted,
      audit: tap.channel('session'),
      policy,
      forwards,
      // Every program is registered: a broken required recording tells each one, limits or not.
      onRunning: limits.register,
      connectionGone: net.gone,
      onFault: net.containFault,
      ...(limits.active ? { onActivity: limits.activity } : {}),
    });
  });
  client.on('tcpip', (accept, reject, info) => {
    if (policy.forwarding('direct-tcpip') === 'deny') {
      log.info({ code: 'SECURITY_FORWARDING_REJECTED', kind: 'direct-tcpip', port: info.destPort }, 'forward refused by policy');
      return reject();
    }
    handleDirectTcpip(net.guardReply(accept), net.guardReply(reject), info, backend, log, {
      guestAgent: policy.forwarding('direct-tcpip') === 'allow',
      audit: tap.channel('direct-tcpip', { destination: `${info.destIP}:${info.destPort}` }),
    }).catch((error: unknown) => net.containFault('handler', error));
  });
  return {
    closeForRecording: () => limits.closeFor('recording'),
    stop: () => {
      limits.stop();
      remoteForwards.closeAll();
    },
    close: () => closeBackend(backend),
  };
}

/** The backend's own close, once it started; a start that failed left nothing to close. */
function closeBackend(backend: Promise<BackendConnection>): Promise<void> {
  return backend.then(
    (connection) => connection.close(),
    () => undefined,
  );
}
