import type { AppConfig } from '@portcullis/wire';
import type { ConnectionTap } from '../audit/index.ts';
import type { Backend } from '../backends/index.ts';
import type { ConfigWebhook } from '../webhooks/index.ts';
import { GatewayError } from '../errors.ts';
import { SecurityPolicy, type SecurityCeilings } from '../filters/index.ts';
import type { AcceptedLogin, AuthService } from './authentication.ts';
import { describeMaps, mergeConnectionMaps, withGatewayMetadata, type FullConnectionMaps } from '../identity/connection-maps.ts';
import type { NetworkConnection } from './network-connection.ts';
import type { ConnectionSlots } from './user-connections.ts';

/** What the config stage asks of the config webhook (ConfigWebhook in the gateway). */
export type ConfigService = Pick<ConfigWebhook, 'fetch'>;

export interface AdmissionOptions {
  readonly auth: AuthService;
  readonly config: ConfigService;
  /** Told which backends exist: a config naming another is refused before login succeeds. */
  readonly backend: Pick<Backend, 'supports'>;
  /** Ask the auth webhook's `/authz` after a successful login (gateway setting `auth.authz`). */
  readonly authz?: boolean | undefined;
  /** Connections per user on this instance, for the policy's maxConnectionsPerUser. */
  readonly userConnections?: ConnectionSlots | undefined;
  /** The gateway's limits a policy may lower but never lift (sessions, connections per user). */
  readonly ceilings?: SecurityCeilings | undefined;
}

/** What the webhooks granted, fixed at login for the whole connection. */
export interface Grant {
  /** The SSH username of the accepted login, as ContainerSSH records it on handshakeSuccessful. */
  readonly loginName: string;
  readonly authenticatedUsername: string;
  readonly config: AppConfig;
  /** auth → authz → config, merged additively. Values are never logged. */
  readonly maps: FullConnectionMaps;
  /** The config's security filters and limits. */
  readonly policy: SecurityPolicy;
  /** Gives back this connection's slot in maxConnectionsPerUser. */
  readonly releaseSlot?: () => void;
}

/**
 * The authz and config stages, after the credentials were accepted: authz (when configured),
 * then the config webhook, the audit settings and the per-user connection slot. Metadata flows
 * auth → authz → config, each step adding to (never dropping from) the last. A throw refuses
 * the login with the error's code.
 */
export async function admit(login: AcceptedLogin, net: NetworkConnection, tap: ConnectionTap, options: AdmissionOptions): Promise<Grant | 'denied' | 'gone'> {
  const facts = { authMethod: login.method };
  let authenticatedUsername = login.decision.authenticatedUsername;
  let maps = withGatewayMetadata(login.decision.maps, facts);
  if (options.authz) {
    const authz = await options.auth.authorize(net.identity, login.username, authenticatedUsername, maps);
    if (!authz.accepted) {
      net.log.info({ code: 'AUTHZ_FAILED', username: login.username, authenticatedUsername }, 'authorization refused');
      return 'denied';
    }
    authenticatedUsername = authz.authenticatedUsername;
    maps = withGatewayMetadata(mergeConnectionMaps(maps, authz.maps), facts);
    net.log.info({ code: 'AUTHZ_SUCCESSFUL', username: login.username, authenticatedUsername }, 'authorization granted');
  }
  const response = await options.config.fetch(net.identity, login.username, authenticatedUsername, maps);
  if (options.backend.supports && !options.backend.supports(response.config.backend)) {
    // e.g. `backend: kubernetes` on a gateway without cluster settings: refused before login succeeds.
    throw new GatewayError('CONFIG_UNSUPPORTED', `Session refused: this gateway has no ${response.config.backend} backend.`);
  }
  await tap.configure(response.config.audit);
  // The client left while the webhooks answered: its close already ran, so nothing may start now.
  if (net.gone.aborted) return 'gone';
  const policy = new SecurityPolicy(response.config.security, options.ceilings);
  const slot = await options.userConnections?.take(authenticatedUsername, policy.maxConnectionsPerUser);
  if (slot && !slot.taken) throw slot.refusal;
  // With workers the slot comes from the primary: the client may have left meanwhile.
  if (net.gone.aborted) {
    slot?.release();
    return 'gone';
  }
  const releaseSlot = slot?.release;
  const grant: Grant = {
    loginName: login.username,
    authenticatedUsername,
    config: response.config,
    maps: withGatewayMetadata(response.maps, facts),
    policy,
    ...(releaseSlot ? { releaseSlot } : {}),
  };
  net.log = net.log.child({ username: authenticatedUsername });
  net.log.debug({ code: 'CONFIG_RESPONSE', backend: response.config.backend, ...describeMaps(grant.maps) }, 'configuration received');
  return grant;
}
