/**
 * Every code the gateway can emit, with its level of concern. A code is published once
 * and never renamed; ContainerSSH's code is reused for the same event.
 */
export const GATEWAY_CODES = {
  GATEWAY_CONFIG_INVALID: 'The gateway config file is missing or invalid.',
  GATEWAY_START_FAILED: 'The gateway could not start.',
  GATEWAY_SSH2_INCOMPATIBLE: 'The installed ssh2 lacks an internal hook the gateway relies on (named in the message); the gateway did not start.',
  GATEWAY_OPS_LISTENING: 'The metrics and/or health listener is up.',
  GATEWAY_OPS_NOT_FOUND: 'A path other than /metrics and /healthz was asked of the ops listener.',
  GATEWAY_PRIVILEGES_DROPPED: 'Started as root, the gateway switched to its runAs user.',
  SSH_AVAILABLE: 'The SSH listener is up.',
  SSH_CONNECTED: 'A client opened a TCP connection.',
  SSH_DISCONNECTED: 'An SSH connection closed.',
  SSH_HANDSHAKE_FAILED: 'SSH handshake or login failed.',
  SSH_HANDSHAKE_SUCCESSFUL: 'Handshake and authentication succeeded.',
  SSH_HOSTKEY_CREATED: 'A host key was created on first start.',
  SSH_LOGIN_GRACE_EXPIRED: 'The client did not log in within the login grace time.',
  SSH_MAX_STARTUPS: 'Too many unauthenticated connections; one was dropped.',
  SSH_PROXY_UNTRUSTED: 'A connection came from an address that is not in ssh.proxyProtocol.trustedProxies; dropped.',
  SSH_PROXY_HEADER_INVALID: 'A connection did not start with a valid PROXY protocol header in time; dropped.',
  SSH_PER_SOURCE_MAX_STARTUPS: 'A source block holds its limit of unauthenticated connections; another from it was dropped.',
  SSH_SOURCE_PENALIZED: 'A connection was refused: its source earned penalties (failed or stalled logins) and must wait.',
  SSH_CONNECTION_ERROR: 'The SSH connection failed at the protocol level.',
  AUTH_SUCCESSFUL: 'The auth webhook accepted the credentials.',
  AUTH_FAILED: 'The auth webhook rejected the credentials.',
  AUTH_BACKEND_ERROR: 'The auth webhook was unreachable, slow, or answered something invalid.',
  AUTH_USERNAME_TOO_LONG: 'A user name longer than ssh.maxUsernameLength was refused before any webhook call.',
  AUTH_PUBKEY_SIGNATURE_INVALID: 'A public-key signature did not verify.',
  AUTH_KEYBOARD_INTERACTIVE_STEP: 'A keyboard-interactive step from the auth webhook was shown to the client (never the answers).',
  AUTH_KEYBOARD_INTERACTIVE_ANSWERS_INVALID: "The client's keyboard-interactive answers did not fit the prompts; refused without asking the webhook.",
  AUTH_KEYBOARD_INTERACTIVE_TOO_MANY_ROUNDS: 'The auth webhook kept the keyboard-interactive conversation going past the gateway bound; refused.',
  AUTHZ_SUCCESSFUL: 'The authz webhook allowed the authenticated user to log in.',
  AUTHZ_FAILED: 'The authz webhook refused the authenticated user.',
  AUTHZ_BACKEND_ERROR: 'The authz webhook was unreachable, slow, or answered something invalid.',
  WEBHOOK_QUEUE_FULL: "A login was refused before its webhook call: that webhook's queue in this process (maxQueued) was full.",
  WEBHOOK_QUEUE_TIMEOUT: 'A login was refused before its webhook call: it waited queueTimeout for one of the maxConcurrent slots of that webhook.',
  CONFIG_RESPONSE: 'The config webhook answered a valid configuration.',
  CONFIG_BACKEND_ERROR: 'The config webhook was unreachable, slow, or answered something invalid.',
  CONFIG_POLICY_DENIED: 'The configuration service refused the user by policy; its message is shown to the user.',
  CONFIG_UNSUPPORTED: 'The config webhook asked for something this gateway does not support.',
  DOCKER_CONTAINER_CREATE: 'Creating the session container.',
  DOCKER_CONTAINER_ATTACH_FAILED: 'The attach connection that ties a container to this gateway failed.',
  DOCKER_CONTAINER_CONFIG_REJECTED: 'The engine rejected the container settings (e.g. resource limits).',
  DOCKER_CONTAINER_EXITED: 'The session container stopped as soon as it started.',
  DOCKER_CONTAINER_REAPED: 'An abandoned container (dead owner or failed start) was removed.',
  DOCKER_ENGINE_UNREACHABLE: 'The Docker engine cannot be reached.',
  DOCKER_PERSISTENT_CONTAINER_CREATED: 'A persistent container was created because it was missing.',
  DOCKER_PERSISTENT_CONTAINER_FOREIGN: 'A container with the persistent name exists but Portcullis did not create it.',
  DOCKER_PERSISTENT_CONTAINER_MISSING: 'The persistent container does not exist and may not be created.',
  DOCKER_REAPER_FAILED: 'A reaper pass could not list or remove containers.',
  DOCKER_CONTAINER_CREATE_FAILED: 'Creating or starting the session container failed.',
  DOCKER_CONTAINER_REMOVE_SUCCESSFUL: 'The session container was removed.',
  DOCKER_CONTAINER_REMOVE_FAILED: 'Removing the session container failed.',
  DOCKER_IMAGE_MISSING: 'The image is not present and the pull policy forbids pulling it.',
  DOCKER_IMAGE_PULL: 'Pulling the container image.',
  DOCKER_IMAGE_PULL_FAILED: 'Pulling the container image failed.',
  DOCKER_FILES_WRITE_FAILED: 'Writing the files the webhooks gave into the session container failed.',
  DOCKER_EXEC_CREATE_FAILED: 'Starting a program in the container failed.',
  DOCKER_EXEC_RESIZE_FAILED: 'Resizing the terminal failed.',
  DOCKER_SUBSYSTEM_NOT_SUPPORTED: 'A subsystem the configuration does not name was requested.',
  DOCKER_STREAM_OUTPUT_FAILED: 'The attach stream to the container failed.',
  DOCKER_EXIT_CODE_FAILED: 'Reading the exit code of a program failed.',
  SSHPROXY_CONNECTING: 'Connecting to the upstream SSH server.',
  BACKEND_API_BUSY: 'A Docker or Kubernetes API call was refused: the per-process pool of backend calls and its queue were full.',
  SSHPROXY_BACKEND_FAILED: 'The upstream SSH server cannot be reached or the connection failed.',
  SSHPROXY_BACKEND_HANDSHAKE_FAILED: 'The upstream SSH server refused the login.',
  SSHPROXY_BACKEND_SESSION_FAILED: 'The upstream SSH server refused to open a session.',
  SSHPROXY_INVALID_FINGERPRINT: 'The upstream host key matches no pinned fingerprint (misconfiguration or interception).',
  SSHPROXY_BACKEND_FORWARD_FAILED: 'The upstream SSH server refused a port forward.',
  SSHPROXY_EXIT_STATUS: 'The upstream program ended with an exit status.',
  SSHPROXY_EXIT_SIGNAL: 'The upstream program was ended by a signal.',
  SSHPROXY_STDOUT_ERROR: 'Relaying output from the upstream server failed.',
  SSH_FORWARD_REJECTED: 'A port forward was refused: the backend does not offer it, or it failed.',
  SESSION_STARTED: 'A program started in the session container.',
  SESSION_ENDED: 'A program in the session container ended.',
  AUDIT_STORAGE_UNAVAILABLE: 'The recording storage cannot take a recording; with recording required the login is refused, with best-effort the session runs unrecorded.',
  AUDIT_RECORDING_FAILED: 'Writing a recording failed mid-session; a required recording ends the connection.',
  AUDIT_RECORDING_QUOTA_REACHED: "A recording reached audit.maxRecordingBytes or the volume's audit.minFreeBytes; it stops (a required one ends the connection).",
  AUDIT_RECORDING_STORED: 'A connection ended and its recording is sealed in storage.',
  AUDIT_RECOVERED: 'An interrupted recording (a crashed gateway) was finished and sealed on start.',
  AUDIT_RECOVERY_FAILED: 'Interrupted recordings could not be finished on start; their staging is kept.',
  AUDIT_SFTP_DECODE_FAILED: 'An SFTP channel could not be decoded; it has no more file events.',
  AUDIT_PLAYER_LISTENING: 'The recording player page is listening.',
  AUDIT_PLAYER_VIEWED: 'An auditor (client certificate auditor:NAME) listed recordings or played one; who watched what.',
  AUDIT_PLAYER_REFUSED: 'The recording player refused a client certificate of the CA that is not an auditor certificate.',
  SECURITY_ENV_REJECTED: 'A client env request was refused by the security policy.',
  SECURITY_EXEC_REJECTED: 'An exec request was refused by the security policy (command allowlist).',
  SECURITY_EXEC_FORCING_COMMAND: 'forceCommand replaced the client request; the original is in SSH_ORIGINAL_COMMAND.',
  SECURITY_SHELL_REJECTED: 'A shell request was refused by the security policy.',
  SECURITY_SUBSYSTEM_REJECTED: 'A subsystem request was refused by the security policy.',
  SECURITY_TTY_REJECTED: 'A pty request was refused by the security policy.',
  SECURITY_SIGNAL_REJECTED: 'A signal request was refused by the security policy.',
  SECURITY_MAX_SESSIONS: 'A new session channel was refused: the per-connection session limit is reached.',
  SECURITY_FORWARDING_REJECTED: 'A local or socket forward (direct-tcpip, direct-streamlocal) was refused by the security policy.',
  SECURITY_REVERSE_FORWARDING_REJECTED: 'A remote forward (tcpip-forward, streamlocal-forward) was refused by the security policy.',
  SECURITY_X11_FORWARDING_REJECTED: 'An X11 forwarding request was refused by the security policy.',
  SECURITY_AGENT_FORWARDING_REJECTED: 'An agent forwarding request was refused by the security policy.',
  SECURITY_MAX_CONNECTIONS: 'A login was refused: the gateway holds ssh.maxConnections logged-in connections.',
  SECURITY_MAX_CONTAINERS_PER_USER: 'A container or pod was refused: the user already holds ssh.maxContainersPerUser of them on this instance.',
  SECURITY_MAX_CONNECTIONS_PER_USER: 'A login was refused: the user already holds as many connections as the policy allows.',
  SESSION_SIGNAL_DELIVERED: 'A client signal was delivered to the program in the container.',
  SESSION_SIGNAL_FAILED: 'A client signal could not be delivered to the program in the container.',
  SESSION_SIGNAL_RATE_LIMITED: 'A client signal was refused: the session sent signals faster than the gateway delivers them.',
  SESSION_FLUSH_ABANDONED: "The program ended but its last output made no progress with the client's window open; the channel was closed without exit status.",
  SSH_CONNECTION_FAULT_CONTAINED: 'A fault of one connection (a write after the client left, a handler that threw) closed that connection alone.',
  GATEWAY_UNCAUGHT_EXCEPTION: 'An exception no connection contained reached the process last resort; logged, counted, and the gateway kept running.',
  GATEWAY_UNHANDLED_REJECTION: 'A rejected promise no connection contained reached the process last resort; logged, counted, and the gateway kept running.',
  SESSION_LIMIT_WARNING: 'The user was warned that the idle timeout or maximum duration is near.',
  SESSION_IDLE_TIMEOUT: 'The connection was closed after the idle timeout.',
  SESSION_MAX_DURATION: 'The connection was closed at its maximum duration.',
  SSH_KEEPALIVE_TIMEOUT: 'The client stopped answering keepalives (clientAliveInterval x clientAliveCountMax) and was dropped.',
  KUBERNETES_CONFIG_ERROR: 'The configuration asks for a pod the gateway may not create (e.g. outside its namespace).',
  KUBERNETES_POD_CREATE: 'Creating a session pod.',
  KUBERNETES_POD_CREATE_FAILED: 'The API server refused to create the session pod (invalid spec, name taken).',
  KUBERNETES_POD_WAIT: 'Waiting for the session pod to run.',
  KUBERNETES_POD_WAIT_FAILED: 'The session pod failed while starting (container error, stopped, deleted).',
  KUBERNETES_POD_START_TIMEOUT: 'The session pod was not running within the start timeout.',
  KUBERNETES_POD_UNSCHEDULABLE: 'The scheduler found no node for the session pod.',
  KUBERNETES_IMAGE_PULL_FAILED: "The session pod's image could not be pulled (ErrImagePull, ImagePullBackOff).",
  KUBERNETES_QUOTA_EXCEEDED: "The namespace's ResourceQuota refused another session pod.",
  KUBERNETES_ADMISSION_DENIED: 'An admission controller (Pod Security, an admission webhook) refused the session pod.',
  KUBERNETES_API_FORBIDDEN: "The API server refused the gateway's credentials or RBAC forbids the call.",
  KUBERNETES_API_UNREACHABLE: 'The Kubernetes API server cannot be reached or did not answer in time.',
  KUBERNETES_POD_REMOVE_SUCCESSFUL: 'A session pod was deleted.',
  KUBERNETES_POD_REMOVE_FAILED: 'Deleting a session pod failed; the reaper tries again.',
  KUBERNETES_POD_REAPED: 'A pod whose gateway instance died (or whose start failed) was deleted.',
  KUBERNETES_REAPER_FAILED: 'A reaper pass could not list or delete pods or leases.',
  KUBERNETES_HEARTBEAT_FAILED: "Renewing this instance's heartbeat Lease failed.",
  KUBERNETES_PERSISTENT_POD_CREATED: 'A persistent pod was created because it was missing.',
  KUBERNETES_PERSISTENT_POD_MISSING: 'The persistent pod does not exist and may not be created.',
  KUBERNETES_PERSISTENT_POD_FOREIGN: 'A pod with the persistent name exists but Portcullis did not create it.',
  KUBERNETES_EXEC: 'Starting a program in a session pod.',
  KUBERNETES_EXEC_FAILED: 'Starting a program in the pod failed, or its stream broke.',
  KUBERNETES_EXEC_FORBIDDEN: 'The API server refused the exec into the session pod (pods/exec forbidden).',
  KUBERNETES_EXIT_CODE_FAILED: 'A program ended without an exit status on the status channel.',
  KUBERNETES_SUBSYSTEM_NOT_SUPPORTED: 'A subsystem the configuration does not name was requested.',
  KUBERNETES_FILE_WRITE_FAILED: 'Writing the files the webhooks gave into the session pod failed.',
  KUBERNETES_PERSISTENT_POD_ATTACH_FAILED: 'Recording a session attached to (or detached from) a persistent pod on its annotations failed.',
  KUBERNETES_PERSISTENT_POD_EXPIRED: 'A persistent pod idle (no session attached) longer than its idle timeout was deleted.',
  KUBERNETES_POD_START_ABANDONED: 'The client left while its session pod was starting; the start was stopped and the pod deleted.',
} as const;

export type GatewayCode = keyof typeof GATEWAY_CODES;

/**
 * An error with a stable code, a message a user may read, and a cause for operators.
 * The SSH client sees `userMessage` and the code, never the cause.
 */
export class GatewayError extends Error {
  readonly code: GatewayCode;
  readonly userMessage: string;

  constructor(code: GatewayCode, userMessage: string, options?: { cause?: unknown }) {
    super(userMessage, options);
    this.name = 'GatewayError';
    this.code = code;
    this.userMessage = userMessage;
  }

  /** One line for the SSH client: the message and the code, nothing from upstream. */
  toUserLine(): string {
    return `portcullis: ${this.userMessage} (${this.code})`;
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}
