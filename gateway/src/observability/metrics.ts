import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEFAULT_METRICS_OPTIONS } from '@portcullis/kit';

/** ContainerSSH labels its SSH metrics with a GeoIP country; without GeoIP it says XX. */
const COUNTRY = 'XX';
/** The gateway makes one attempt per webhook call; ContainerSSH's `retry` label is always 0. */
const RETRY = '0';

export type AuthType = 'password' | 'pubkey' | 'authorization' | 'keyboard-interactive';

const SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * The gateway's metrics. Names and labels are ContainerSSH 0.5's, so existing dashboards
 * keep working; the latency histograms are Portcullis's own. Labels are bounded: never a
 * username, address or connection id.
 */
/** ssh2's `level` on a connection error; anything else (a handler that threw mid-packet, a bad inflate) is `other`. */
export const CONNECTION_ERROR_LEVELS = ['socket', 'protocol', 'handshake', 'client-timeout', 'other'] as const;
export type ConnectionErrorLevel = (typeof CONNECTION_ERROR_LEVELS)[number];

/** The bounded label of an ssh2 connection error. */
export function connectionErrorLevel(error: unknown): ConnectionErrorLevel {
  const level = (error as { level?: unknown } | null)?.level;
  return CONNECTION_ERROR_LEVELS.find((known) => known === level) ?? 'other';
}

export class GatewayMetrics {
  readonly registry = new Registry();

  private readonly connections = new Counter({ name: 'containerssh_ssh_connections_total', help: 'TCP connections accepted by the SSH server.', labelNames: ['country'], registers: [this.registry] });
  private readonly currentConnections = new Gauge({ name: 'containerssh_ssh_current_connections', help: 'SSH connections open right now.', labelNames: ['country'], registers: [this.registry] });
  private readonly handshakes = new Counter({
    name: 'containerssh_ssh_successful_handshakes_total',
    help: 'Completed SSH handshakes, authentication included.',
    labelNames: ['country'],
    registers: [this.registry],
  });
  private readonly failedHandshakes = new Counter({
    name: 'containerssh_ssh_failed_handshakes_total',
    help: 'SSH connections that closed without a successful login.',
    labelNames: ['country'],
    registers: [this.registry],
  });
  private readonly authRequests = new Counter({
    name: 'containerssh_auth_server_requests_total',
    help: 'Requests sent to the auth webhook.',
    labelNames: ['authtype', 'retry'],
    registers: [this.registry],
  });
  private readonly authServerFailures = new Counter({
    name: 'containerssh_auth_server_failures_total',
    help: 'Auth webhook requests that gave no valid answer.',
    labelNames: ['type', 'authtype', 'retry', 'reason'],
    registers: [this.registry],
  });
  private readonly authSuccesses = new Counter({
    name: 'containerssh_auth_success_total',
    help: 'Credentials the auth webhook accepted.',
    labelNames: ['authtype', 'retry', 'country'],
    registers: [this.registry],
  });
  private readonly authFailures = new Counter({
    name: 'containerssh_auth_failures_total',
    help: 'Credentials the auth webhook rejected.',
    labelNames: ['authtype', 'retry', 'country'],
    registers: [this.registry],
  });
  private readonly configRequests = new Counter({ name: 'containerssh_config_server_requests_total', help: 'Requests sent to the config webhook.', labelNames: ['retry'], registers: [this.registry] });
  private readonly configFailures = new Counter({
    name: 'containerssh_config_server_failures_total',
    help: 'Config webhook requests that gave no valid answer.',
    labelNames: ['type', 'retry', 'reason'],
    registers: [this.registry],
  });
  private readonly backendRequests = new Counter({
    name: 'containerssh_backend_requests_total',
    help: 'Containers, pods or upstream connections the backend was asked for.',
    labelNames: ['backend'],
    registers: [this.registry],
  });
  private readonly backendErrors = new Counter({ name: 'containerssh_backend_errors_total', help: 'Backend requests that failed.', labelNames: ['backend'], registers: [this.registry] });
  private readonly backendFailures = new Counter({
    name: 'portcullis_backend_failures_total',
    help: 'Backend requests that failed, by the message code of the failure.',
    labelNames: ['backend', 'reason'],
    registers: [this.registry],
  });
  private readonly authSeconds = new Histogram({
    name: 'portcullis_auth_webhook_duration_seconds',
    help: 'Auth webhook call latency.',
    labelNames: ['authtype'],
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly configSeconds = new Histogram({ name: 'portcullis_config_webhook_duration_seconds', help: 'Config webhook call latency.', buckets: SECONDS_BUCKETS, registers: [this.registry] });
  private readonly backendStartSeconds = new Histogram({
    name: 'portcullis_backend_start_duration_seconds',
    help: 'Time to get a container, pod or upstream connection ready.',
    labelNames: ['backend'],
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });
  private readonly connectionFaults = new Counter({
    name: 'portcullis_ssh_connection_faults_total',
    help: 'Faults of one connection (an ssh2 call after the client left, a handler that threw) that closed that connection alone.',
    labelNames: ['stage'],
    registers: [this.registry],
  });
  private readonly connectionErrors = new Counter({
    name: 'portcullis_ssh_connection_errors_total',
    help: 'Errors ssh2 reported on a connection, which it then ended, by level: socket, protocol, handshake, client-timeout, or other (an exception while a packet was handled).',
    labelNames: ['level'],
    registers: [this.registry],
  });
  private readonly processFaults = new Counter({
    name: 'portcullis_process_faults_total',
    help: 'Errors that reached the process-level last resort (a bug: each should have been contained by its connection).',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  private readonly timeToShellSeconds = new Histogram({
    name: 'portcullis_time_to_shell_seconds',
    help: 'TCP accept to the first program started on the connection.',
    buckets: SECONDS_BUCKETS,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, ...DEFAULT_METRICS_OPTIONS });
  }

  connectionOpened(): void {
    this.connections.inc({ country: COUNTRY });
    this.currentConnections.inc({ country: COUNTRY });
  }

  connectionClosed(loggedIn: boolean): void {
    this.currentConnections.dec({ country: COUNTRY });
    if (!loggedIn) this.failedHandshakes.inc({ country: COUNTRY });
  }

  handshakeSucceeded(): void {
    this.handshakes.inc({ country: COUNTRY });
  }

  /** One auth webhook call: its outcome and how long it took. `reason` is a message code. */
  authCall(authtype: AuthType, outcome: 'accepted' | 'rejected' | { unavailable: string }, seconds: number): void {
    this.authRequests.inc({ authtype, retry: RETRY });
    this.authSeconds.observe({ authtype }, seconds);
    if (outcome === 'accepted') this.authSuccesses.inc({ authtype, retry: RETRY, country: COUNTRY });
    else if (outcome === 'rejected') this.authFailures.inc({ authtype, retry: RETRY, country: COUNTRY });
    else this.authServerFailures.inc({ type: 'hard', authtype, retry: RETRY, reason: outcome.unavailable });
  }

  /** `denied`: the policy refused the user, an answer and not a failure of the server. */
  configCall(outcome: 'ok' | 'denied' | { unavailable: string }, seconds: number): void {
    this.configRequests.inc({ retry: RETRY });
    this.configSeconds.observe(seconds);
    if (typeof outcome === 'object') this.configFailures.inc({ type: 'hard', retry: RETRY, reason: outcome.unavailable });
  }

  /** `reason`: the failure's message code (a bounded set), counted in portcullis_backend_failures_total. */
  backendStart(backend: string, ok: boolean, seconds: number, reason?: string): void {
    this.backendRequests.inc({ backend });
    if (ok) this.backendStartSeconds.observe({ backend }, seconds);
    else {
      this.backendErrors.inc({ backend });
      this.backendFailures.inc({ backend, reason: reason ?? 'unknown' });
    }
  }

  /** A backend operation after the start failed (e.g. an exec refused), by its message code. */
  backendFailed(backend: string, reason: string): void {
    this.backendErrors.inc({ backend });
    this.backendFailures.inc({ backend, reason });
  }

  /** `stage`: where in the connection the fault was caught (a bounded set). */
  connectionFaultContained(stage: string): void {
    this.connectionFaults.inc({ stage });
  }

  /** An error ssh2 reported on a connection; `level` is ssh2's own (a bounded set). */
  connectionError(level: ConnectionErrorLevel): void {
    this.connectionErrors.inc({ level });
  }

  processFault(kind: 'uncaughtException' | 'unhandledRejection'): void {
    this.processFaults.inc({ kind });
  }

  firstProgramStarted(secondsSinceAccept: number): void {
    this.timeToShellSeconds.observe(secondsSinceAccept);
  }
}

/** Seconds since `start` (from performance.now()). */
export function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
