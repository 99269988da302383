import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuthWebhook } from './auth/index.ts';
import { BackendRouter, UserContainerBudget, type Backend } from './backends/index.ts';
import { ContainerReaper, DockerBackend, connectDockerEngine } from './backends/docker/index.ts';
import { SshProxyBackend } from './backends/sshproxy/index.ts';
import { ConfigWebhook } from './config/index.ts';
import { loadHostKeys, startSshListener } from './listener/index.ts';
import { GatewayMetrics, startOpsServer, type HealthCheck, type Logger } from './observability/index.ts';
import { UserConnections, handleConnection } from './session/index.ts';
import type { GatewayConfig } from './settings/index.ts';
import { WebhookClient } from './webhook/index.ts';
import { AuditService } from './audit/index.ts';
import { assertSsh2Internals } from './ssh2-internals.ts';

export interface RunningGateway {
  readonly port: number;
  readonly instanceId: string;
  readonly metrics: GatewayMetrics;
  /** Stops accepting, then waits for open connections to close and clean up. */
  close(): Promise<void>;
}

export interface GatewayOverrides {
  /** Replaces the configured backends (benchmarks measure the gateway alone with a no-op one). */
  readonly backend?: Backend;
}

/** Wires the pieces from the config; knows nothing of any single connection. */
export async function startGateway(config: GatewayConfig, log: Logger, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
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
  // Only with `kubernetes` settings: a gateway without them refuses kubernetes configs by name.
  // Loaded only when configured: @kubernetes/client-node is large, and most gateways never need it.
  const kubernetes = config.kubernetes
    ? (await import('./backends/kubernetes/index.ts')).kubernetesRuntime(config.kubernetes, instanceId, log, metrics)
    : undefined;
  const routed = overrides.backend ?? new BackendRouter([...(docker ? [new DockerBackend({ docker, instanceId, log })] : []), new SshProxyBackend(log, config.sshproxy?.privateKeyFile ? readFileSync(config.sshproxy.privateKeyFile, 'utf8') : undefined), ...(kubernetes ? [kubernetes.backend] : [])]);
  const backend = new UserContainerBudget(routed, config.ssh.maxContainersPerUser);
  const reaper = docker && new ContainerReaper(docker, {
    instanceId,
    intervalMs: config.docker.reapInterval,
    reapAfterMs: config.docker.reapAfter,
    log,
  });
  const hostKeys = await loadHostKeys(config.ssh.hostKeyDir, log);
  const audit = await AuditService.start(config.audit, log, metrics.registry);
  const [host, portText] = splitHostPort(config.ssh.listen);
  const open = new Set<Promise<void>>();
  const clients = new Set<{ end(): unknown }>();
  const userConnections = new UserConnections(config.ssh.maxConnections);

  const listener = await startSshListener({
    hostKeys,
    host,
    port: Number(portText),
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
      });
    },
  });
  reaper?.start();
  kubernetes?.start();
  log.info({ code: 'SSH_AVAILABLE', port: listener.port, address: host, instanceId }, 'SSH listener up');
  const ops = await startOpsListeners(config, metrics, [
    { name: 'auth', check: () => authClient.reachable() },
    { name: 'configserver', check: () => configClient.reachable() },
    ...(docker
      ? [{ name: 'docker', check: () => docker.ping().then(() => undefined, (error: Error) => Promise.reject(new Error(`the Docker engine cannot be reached: ${error.message}`))) }]
      : []),
    ...(kubernetes ? [{ name: 'kubernetes', check: () => kubernetes.check() }] : []),
  ]);
  for (const { name, port, address } of ops.listening) log.info({ code: 'GATEWAY_OPS_LISTENING', serves: name, port, address }, `${name} listener up`);

  return {
    port: listener.port,
    instanceId,
    metrics,
    close: async () => {
      const stopped = listener.close();
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
      await ops.close();
      await audit.close();
      authClient.close();
      configClient.close();
    },
  };
}

/** `/metrics` and `/healthz` on their configured listeners (one server where they share one). */
async function startOpsListeners(config: GatewayConfig, metrics: GatewayMetrics, checks: HealthCheck[]) {
  const wanted = new Map<string, { metrics: boolean; health: boolean }>();
  if (config.metrics) wanted.set(config.metrics.listen, { metrics: true, health: false });
  if (config.health) wanted.set(config.health.listen, { metrics: wanted.has(config.health.listen), health: true });
  const servers = await Promise.all(
    [...wanted].map(async ([listen, serves]) => {
      const [host, port] = splitHostPort(listen);
      const server = await startOpsServer({
        host,
        port: Number(port),
        ...(serves.metrics ? { metrics: metrics.registry } : {}),
        ...(serves.health ? { health: checks } : {}),
      });
      const name = [serves.metrics && 'metrics', serves.health && 'health'].filter(Boolean).join('+');
      return { name, port: server.port, address: host, close: server.close };
    }),
  );
  return { listening: servers, close: () => Promise.all(servers.map((server) => server.close())).then(() => undefined) };
}

function splitHostPort(listen: string): [string, string] {
  const at = listen.lastIndexOf(':');
  return [listen.slice(0, at).replace(/^\[|\]$/g, ''), listen.slice(at + 1)];
}
