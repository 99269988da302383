import type { Duplex, Readable, Writable } from 'node:stream';
import type { AppConfig, FilesMap, MetadataMap } from '@portcullis/wire';
import type { ConnectionIdentity } from '../identity/connection-identity.ts';

/** What a session channel asks to run. Backends never see ssh2 objects. */
export interface SessionProgram {
  /** `null` runs the shell the config names; otherwise a command line for the shell's `-c`. */
  readonly command: string | null;
  /** A subsystem request (`sftp`) instead of a shell or command. */
  readonly subsystem?: string;
  /** Present when the client asked for a terminal. */
  readonly pty?: { readonly term: string; readonly cols: number; readonly rows: number };
  /** Session environment: webhook environment plus what the channel adds (e.g. TERM). */
  readonly env: Readonly<Record<string, string>>;
  /** Short lines for this session's user while the backend gets its program ready (a pod per session). */
  readonly onProgress?: (line: string) => void;
}

/** How a program ended: an exit code, or the signal that killed it (RFC 4254 §6.10). */
export type ExitStatus = { readonly exitCode: number } | { readonly signal: string; readonly coreDumped: boolean };

export interface BackendSession {
  /** Ending it closes the program's stdin (EOF), as the client's channel EOF does. */
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** With a pty the terminal merges both streams; stderr then ends at once. */
  readonly stderr: Readable;
  /** Resolves after stdout and stderr ended, with how the program ended. */
  readonly exited: Promise<ExitStatus>;
  /** Delivers a signal (`INT`, `TERM`…) to the program; absent where the backend cannot. */
  signal?(name: string): void;
  /** Best effort; a failure is logged, never fatal to the session. */
  resize(cols: number, rows: number): Promise<void>;
  /** Tears the streams down; the program may linger until its connection closes. */
  destroy(): void;
}

export interface ForwardEndpoints {
  /** Where the client wants to connect (RFC 4254 §7.2 "host to connect"). */
  readonly destination: { readonly host: string; readonly port: number };
  /** Where the client says the connection comes from. */
  readonly origin: { readonly host: string; readonly port: number };
}

export interface BackendConnection {
  /**
   * True where the other side applies its own policy to client `env` requests (an upstream
   * sshd's AcceptEnv); elsewhere they are refused until a security filter allows them.
   */
  readonly passesClientEnvironment?: boolean;
  /** Starts one program. A failure leaves nothing new running. */
  startSession(program: SessionProgram): Promise<BackendSession>;
  /**
   * Runs a short helper command line (for the shell's `-c`, no pty, empty environment) where
   * this connection's sessions run: same container or pod, same session user, no added
   * capabilities. The gateway uses it to deliver signals and to reach the guest agent for
   * forwarding. Absent where sessions do not share one place (a container per session) or
   * the backend is not a container. Like startSession, a failure leaves nothing running.
   */
  runHelper?(command: string): Promise<BackendSession>;
  /** Opens a `direct-tcpip` stream (ssh -L); absent where the backend cannot. */
  forwardTcp?(endpoints: ForwardEndpoints): Promise<Duplex>;
  /** Removes everything this connection created. Idempotent; never throws. */
  close(): Promise<void>;
}

export interface ConnectionRequest {
  readonly identity: ConnectionIdentity;
  readonly authenticatedUsername: string;
  readonly config: AppConfig;
  /** Environment from the webhooks, for every session of the connection. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Metadata from auth → authz → config (including the gateway's `authMethod`). Entries marked
   * sensitive must never reach a log line, label, error message or audit event.
   */
  readonly metadata?: Readonly<MetadataMap>;
  /**
   * Files to write into the session's container before the first session starts: absolute
   * path → base64 content, mode (wire `fileMode`), owned by the session user. Contents marked
   * sensitive are never logged. A backend that cannot write them must refuse, not skip them.
   */
  readonly files?: Readonly<FilesMap>;
  /** Short lines for the user while the backend gets ready (image pull, pod scheduling). */
  readonly onProgress?: (line: string) => void;
  /**
   * Aborted when the client disconnects. A backend may stop a start that is still waiting and
   * remove what it made (then it rejects); the connection's `close` follows either way.
   */
  readonly signal?: AbortSignal;
}

export interface Backend {
  readonly name: string;
  /**
   * Creates what the connection runs in (a container, a pod, an upstream connection).
   * On failure it throws a GatewayError and removes anything it created.
   */
  openConnection(request: ConnectionRequest): Promise<BackendConnection>;
  /** Whether a config naming `backend` can run here; asked at login, so a refusal comes before "login successful". */
  supports?(backend: string): boolean;
}
