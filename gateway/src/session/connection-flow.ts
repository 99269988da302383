/**
 * How one SSH connection flows through the gateway, stage by stage (as ContainerSSH's layered
 * handlers): the network connection makes an SSH connection after login, which hands each
 * session channel to the session-channel stage. Auth, authz, config, audit, metrics and the
 * security filters wrap these stages; each lives in its own file and knows only the next.
 *
 *   network-connection.ts   identity, logger, metrics, login grace time, fault containment
 *   authentication.ts       auth webhook: password, public key, keyboard-interactive
 *   admission.ts            authz webhook, config webhook, audit settings, per-user slot
 *   ssh-connection.ts       backend start, time limits, channel routing, forwarding filter
 *   session-channel.ts      one session: requests through the filters, one program, its streams
 */
import type { ClientInfo, Connection } from 'ssh2';
import { NO_TAP, tapGlobalRequests, type AuditService } from '../audit/index.ts';
import type { Backend } from '../backends/index.ts';
import type { SecurityCeilings } from '../filters/index.ts';
import type { GatewayMetrics, Logger } from '../observability/index.ts';
import { admit, type ConfigService, type Grant } from './admission.ts';
import { authenticate, type AuthService } from './authentication.ts';
import { NetworkConnection } from './network-connection.ts';
import { handleSshConnection, type SshConnection } from './ssh-connection.ts';
import type { ConnectionSlots } from './user-connections.ts';

export interface ConnectionDependencies {
  readonly auth: AuthService;
  readonly config: ConfigService;
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
  /** > 0: the source is penalised for failed logins; its passwords are refused for this long (ms), its keys are not. */
  readonly passwordsRefusedMs?: number;
  /** Told when a password is refused for that penalty. */
  readonly onRefusedForPenalty?: () => void;
}

/** One SSH connection from accept to close, and the cleanup of everything it created. */
export function handleConnection(client: Connection, info: ClientInfo, deps: ConnectionDependencies): void {
  // 1. The network connection: named, logged, counted, bounded by the login grace time.
  const net = new NetworkConnection(client, info, deps);

  // Audit wraps every later stage. Until the session's limits exist there is no program to
  // tell: a broken required recording just closes.
  let connection: SshConnection | undefined;
  const tap = deps.audit?.tap(net.identity, net.log, () => (connection ? connection.closeForRecording() : net.end())) ?? NO_TAP;
  // Every global request, including those ssh2 refuses itself; else only what `request` shows.
  const everyGlobalRequest = tapGlobalRequests(client, (name) => tap.globalRequest(name));

  // 2. Login: auth, then authz and config. What they grant is fixed for the whole connection.
  let grant: Grant | undefined;
  authenticate(net, tap, deps, async (login) => {
    const outcome = await admit(login, net, tap, deps);
    if (typeof outcome === 'string') return outcome;
    grant = outcome;
    return 'admitted';
  });

  // 3. The SSH connection: the backend, limits, and each channel to its stage.
  client.on('ready', () => {
    if (!grant || net.gone.aborted) return net.loginAbandoned();
    net.loginFinished();
    connection = handleSshConnection(net, tap, grant, { backend: deps.backend, metrics: deps.metrics, everyGlobalRequest });
  });

  // 4. Close: stop what runs, give back the user's slot, remove what the backend made, seal the recording.
  client.once('close', () => {
    connection?.stop();
    grant?.releaseSlot?.();
    net.closed();
    void Promise.all([connection?.close(), tap.close()]).finally(() => {
      net.disconnected();
      deps.onClosed?.();
    });
  });
}
