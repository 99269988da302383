import type { Readable } from 'node:stream';
import type { AuditConfig } from '@portcullis/wire';
import type { ExitStatus } from '../../backends/index.ts';

/** One authentication attempt as the tap sees it. The password is dropped unless the policy keeps it. */
export interface AuthAttempt {
  readonly method: 'password' | 'publickey' | 'keyboard-interactive';
  readonly username: string;
  readonly password?: Buffer;
  /** Authorized-key form of the offered key. */
  readonly key?: string;
  readonly outcome: 'accepted' | 'rejected' | 'error';
}

/**
 * One step of a keyboard-interactive conversation. Answers can be passwords or one-time codes:
 * the recorder keeps them only where the policy asks (intercept.passwords).
 */
export type KeyboardInteractiveAudit =
  | { readonly kind: 'challenge'; readonly username: string; readonly instruction: string; readonly questions: readonly { readonly question: string; readonly echo: boolean }[] }
  | { readonly kind: 'answers'; readonly username: string; readonly questions: readonly string[]; readonly answers: readonly string[] }
  | { readonly kind: 'failed'; readonly username: string }
  | { readonly kind: 'error'; readonly username: string; readonly reason: string };

/**
 * What the session code tells the audit recorder: one call where bytes or requests cross
 * the gateway. Every method is cheap and never throws; the recorder decides what to keep.
 */
export interface ConnectionTap {
  authAttempt(attempt: AuthAttempt): void;
  keyboardInteractive(step: KeyboardInteractiveAudit): void;
  /**
   * Applies the policy's audit settings once the config webhook answered. Rejects with a
   * GatewayError (AUDIT_STORAGE_UNAVAILABLE) when recording is required and cannot be stored:
   * the login must then be refused.
   */
  configure(audit: AuditConfig | undefined): Promise<void>;
  /** `username`: the SSH username of the accepted login (empty for a failed handshake). */
  handshake(successful: boolean, username?: string): void;
  globalRequest(type: string): void;
  /** A channel the client opened (`session`, `direct-tcpip`…). */
  channel(type: string, details?: Record<string, unknown>): ChannelTap;
  /** Writes the disconnect and seals every stream; resolves when they are stored. */
  close(): Promise<void>;
}

export interface ChannelTap {
  /** A channel request: `pty`, `window-change`, `env`, `shell`, `exec`, `subsystem`, `signal`… */
  request(type: string, details?: Record<string, unknown>): void;
  /** The program's streams: stdin is what the client sends, stdout/stderr what it receives. */
  streams(streams: { readonly stdin: Readable; readonly stdout: Readable; readonly stderr?: Readable }): void;
  exit(status: ExitStatus): void;
  close(): void;
}

const NO_CHANNEL: ChannelTap = { request() {}, streams() {}, exit() {}, close() {} };

/** A tap that records nothing (tests and benchmarks that start sessions without a recorder). */
export const NO_TAP: ConnectionTap = {
  authAttempt() {},
  keyboardInteractive() {},
  configure: async () => undefined,
  handshake() {},
  globalRequest() {},
  channel: () => NO_CHANNEL,
  close: async () => undefined,
};
