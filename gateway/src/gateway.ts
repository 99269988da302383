import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { BackendRouter, UserContainerBudget, type Backend, type ContainerSlots } from './backends/index.ts';
import { ContainerReaper, DockerBackend, StreamDirectory, connectDockerEngine } from './backends/docker/index.ts';
import { SshProxyBackend } from './backends/sshproxy/index.ts';
import { AuthWebhook, ConfigWebhook, WebhookClient } from './webhooks/index.ts';
import { acceptingProxyProtocol, createSshEdge, loadHostKeys, startSshListener, type AdmissionTicket, type ListenerOptions, type SourceAdmission } from './listener/index.ts';
import { startOpsListeners, type HealthCheck } from '@portcullis/kit';
import { GatewayMetrics, type Logger } from './observability/index.ts';
import { UserConnections, handleConnection, type ConnectionSlots } from './session/index.ts';
import type { GatewayConfig } from './settings/index.ts';
import { AuditService } from './audit/index.ts';
import { assertSsh2Internals } from './ssh2-internals.ts';

export interface RunningGateway {
  /** The SSH port; 0 in a cluster worker, which has no listener of its own. */
  readonly port: number;
  readonly instanceId: string;
  readonly metrics: GatewayMetrics;
  /** Stops accepting, then waits for open connections to close and clean up. */
  close(): Promise<void>;
}

export interface GatewayOverrides {
  /** Replaces the configured backends (benchmarks measure the gateway alone with a no-op one). */
  readonly backend?: Backend;
  /** Runs as a cluster worker: the primary listens, counts the limits and serves the ops endpoints. */
  readonly worker?: WorkerShares;
}

/** What a worker asks of the cluster primary instead of counting alone. */
export interface WorkerShares {
  readonly admission: SourceAdmission;
  readonly connections: ConnectionSlots;
  readonly containers: ContainerSlots;
}

/** A cluster worker's gateway: sockets come from the primary, health is asked by it. */
export interface WorkerGateway extends RunningGateway {
  /** A connection the primary admitted. */
  serveAdmitted(socket: Socket, ticket: AdmissionTicket, delayMs: number): void;
  /** A connection from a trusted load balancer; its PROXY header names the source to admit. */
  acceptProxied(socket: Socket): void;
  readonly checks: readonly HealthCheck[];
}

/** Wires the pieces from the config; knows nothing of any single connection. */
export function startGateway(config: GatewayConfig, log: Logger, overrides?: { readonly backend?: Backend }): Promise<RunningGateway>;
export function startGateway(config: GatewayConfig, log: Logger, overrides: GatewayOverrides & { readonly worker: WorkerShares }): Promise<WorkerGateway>;
export async function startGateway(config: GatewayConfig, log: Logger, overrides: GatewayOverrides = {}): Promise<RunningGateway | WorkerGateway> {
  // Before anything starts: a changed ssh2 is refused by the name of the hook it lost.
  await assertSsh2Internals();
  const instanceId = randomBytes(8).toString('hex');
  const authClient = new WebhookClient(config.auth);
  const configClient = new WebhookClient(config.configserver);
  const metrics = new GatewayMetrics();
  const auth = new AuthWebhook(authClient, { transmitSensitiveMetadata: config.auth.transmitSensitiveMetadata, metrics });
  const configWebhook = new ConfigWebhook(configClient, { transmitSensitiveMetadata: config.configserver.transmitSensitiveMetadata, metrics });
  const docker = config.docker.enabled
    ? connectDockerEngine({ ...config.docker, requestPool: { maxConcurrent: config.docker.maxConcurrentRequests, maxQueued: config.docker.maxQueuedRequests } })
    : undefined;
  const streams = docker && config.docker.streamDirectory ? new StreamDirectory(config.docker.streamDirectory, log) : undefined;
  // Only with `kubernetes` settings: a gateway without them refuses kubernetes configs by name.
  // Loaded only when configured: @kubernetes/client-node is large, and most gateways never need it.
  const kubernetes = config.kubernetes ? (await import('./backends/kubernetes/index.ts')).kubernetesRuntime(config.kubernetes, instanceId, log, metrics) : undefined;
  const routed =
    overrides.backend ??
    new BackendRouter([
      ...(docker ? [new DockerBackend({ docker, instanceId, log, ...(streams ? { streams } : {}) })] : []),
      new SshProxyBackend(log, config.sshproxy?.privateKeyFile ? readFileSync(config.sshproxy.privateKeyFile, 'utf8') : undefined),
      ...(kubernetes ? [kubernetes.backend] : []),
    ]);
  const backend = new UserContainerBudget(routed, overrides.worker?.containers ?? config.ssh.maxContainersPerUser);
  const reaper =
    docker &&
    new ContainerReaper(docker, {
      instanceId,
      intervalMs: config.docker.reapInterval,
      reapAfterMs: config.docker.reapAfter,
      log,
      ...(streams ? { streams } : {}),
    });
  const hostKeys = await loadHostKeys(config.ssh.hostKeyDir, log);
  // Sealing a crashed gateway's recordings and the player run once, in the primary: a worker
  // starting later must not seal recordings its siblings are still writing.
  const audit = await AuditService.start(config.audit, log, metrics.registry, { recover: !overrides.worker, player: !overrides.worker });
  const { host, port: sshPort } = hostPort(config.ssh.listen);
  const open = new Set<Promise<void>>();
  const clients = new Set<{ end(): unknown }>();
  const userConnections = overrides.worker?.connections ?? new UserConnections(config.ssh.maxConnections);

  const listenerOptions: ListenerOptions = {
    hostKeys,
    host,
    port: sshPort,
    maxStartups: { ...config.ssh.maxStartups, perSource: config.ssh.perSourceMaxStartups },
    sourceBlockBits: config.ssh.perSourceNetBlockSize,
    ...(config.ssh.perSourcePenalties.enabled ? { penalties: config.ssh.perSourcePenalties } : {}),
    compression: config.ssh.compression,
    loginGraceTimeMs: config.ssh.loginGraceTime,
    // ContainerSSH counts every TCP connection; ssh2 shows the gateway only those that identify.
    onUnidentifiedClose: () => {
      metrics.connectionOpened();
      metrics.connectionClosed(false);
    },
    ...(config.ssh.banner ? { banner: config.ssh.banner } : {}),
    ...(config.ssh.proxyProtocol ? { proxyProtocol: { trustedProxies: config.ssh.proxyProtocol.trustedProxies, headerTimeoutMs: config.ssh.proxyProtocol.headerTimeout } } : {}),
    ...(config.ssh.clientAliveInterval ? { clientAlive: { intervalMs: config.ssh.clientAliveInterval, countMax: config.ssh.clientAliveCountMax } } : {}),
    log,
    onConnection: (client, info, attempt) => {
      let closed!: () => void;
      const done = new Promise<void>((resolve) => (closed = resolve));
      open.add(done);
      clients.add(client);
      void done.then(() => {
        open.delete(done);
        clients.delete(client);
      });
      handleConnection(client, info, {
        auth,
        config: configWebhook,
        backend,
        authz: config.auth.authz,
        keyboardInteractive: config.auth.keyboardInteractive ? { maxRounds: config.auth.keyboardInteractiveMaxRounds } : undefined,
        log,
        loginGraceTimeMs: config.ssh.loginGraceTime,
        maxAuthTries: config.ssh.maxAuthTries,
        onClosed: closed,
        metrics,
        audit,
        userConnections,
        ceilings: { maxSessions: config.ssh.maxSessions, maxConnectionsPerUser: config.ssh.maxConnectionsPerUser },
        maxUsernameLength: config.ssh.maxUsernameLength,
        onAuthFailed: attempt.authFailed,
        passwordsRefusedMs: attempt.passwordsRefusedMs,
        onRefusedForPenalty: attempt.refusedForPenalty,
      });
    },
    ...(overrides.worker ? { admission: overrides.worker.admission } : {}),
  };
  const edge = overrides.worker && createSshEdge(listenerOptions);
  const listener = edge ? undefined : await startSshListener(listenerOptions);
  reaper?.start();
  kubernetes?.start();
  const checks: HealthCheck[] = [
    { name: 'auth', check: () => authClient.reachable() },
    { name: 'configserver', check: () => configClient.reachable() },
    ...(docker
      ? [
          {
            name: 'docker',
            check: () =>
              docker.ping().then(
                () => undefined,
                (error: Error) => Promise.reject(new Error(`the Docker engine cannot be reached: ${error.message}`)),
              ),
          },
        ]
      : []),
    ...(kubernetes ? [{ name: 'kubernetes', check: () => kubernetes.check() }] : []),
  ];
  if (listener) log.info({ code: 'SSH_AVAILABLE', port: listener.port, address: host, instanceId }, 'SSH listener up');
  const ops = edge
    ? undefined
    : await startOpsListeners({
        metrics: config.metrics && hostPort(config.metrics.listen),
        health: config.health && hostPort(config.health.listen),
        registry: metrics.registry,
        checks,
        notFoundCode: 'GATEWAY_OPS_NOT_FOUND',
      });
  for (const { serves, port, address } of ops?.listening ?? []) log.info({ code: 'GATEWAY_OPS_LISTENING', serves, port, address }, `${serves} listener up`);

  const running: RunningGateway = {
    port: listener?.port ?? 0,
    instanceId,
    metrics,
    close: async () => {
      const stopped = listener?.close();
      // Ending each client closes its sessions and removes its container.
      for (const client of clients) {
        try {
          client.end();
        } catch {
          // Its socket already ended: ssh2 closes what is left of it.
        }
      }
      await Promise.all([stopped, ...open]);
      reaper?.stop();
      await kubernetes?.stop();
      await ops?.close();
      await audit.close();
      authClient.close();
      configClient.close();
    },
  };
  if (!edge) return running;
  const proxied = config.ssh.proxyProtocol
    ? acceptingProxyProtocol({ trustedProxies: config.ssh.proxyProtocol.trustedProxies, headerTimeoutMs: config.ssh.proxyProtocol.headerTimeout, log }, edge.accept)
    : undefined;
  return {
    ...running,
    serveAdmitted: edge.serveAdmitted,
    // Without PROXY protocol settings the primary never sends one; dropped if it did.
    acceptProxied: (socket) => (proxied ? proxied(socket) : socket.destroy()),
    checks,
  };
}

/** The names of the health checks `startGateway` runs for `config` (the cluster primary asks a worker for each). */
export function gatewayCheckNames(config: GatewayConfig): string[] {
  return ['auth', 'configserver', ...(config.docker.enabled ? ['docker'] : []), ...(config.kubernetes ? ['kubernetes'] : [])];
}

/** `host:port` or `[v6]:port` (the config schema checked it) as host and port. */
export function hostPort(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)) };
}
