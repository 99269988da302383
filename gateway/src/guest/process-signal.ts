import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import type { BackendConnection, BackendSession, ExitStatus } from '../backends/index.ts';

/**
 * Environment variable that marks a session's processes, so a helper running next to them
 * (same container, same user) can find the program a signal is for. Exec APIs (Docker,
 * Kubernetes) start programs but cannot signal them.
 */
export const SESSION_MARKER_VARIABLE = `PORTCULLIS_SESSION`; // not a log code

export function newSessionMarker(): string {
  return randomBytes(12).toString('hex');
}

/** Signal names a client may send (RFC 4254 §6.10), without `SIG`. */
const SIGNAL_NAME = /^[A-Z][A-Z0-9]{0,15}$/;

/** The number of signal `name`; an own entry of the table only, never a key of its prototype. */
export function signalNumber(name: string): number | undefined {
  const key = `SIG${name}`;
  return Object.hasOwn(constants.signals, key) ? (constants.signals as Record<string, number>)[key] : undefined;
}

/**
 * POSIX sh (dash, bash, busybox): signals every process that carries the marker and whose
 * parent does not, i.e. the program the session started, as sshd's kill(child, sig) does.
 * Only the user's own processes are readable, which is exactly what may be signalled.
 */
export function signalScript(marker: string, name: string): string {
  if (!/^[0-9a-f]+$/.test(marker) || !SIGNAL_NAME.test(name)) throw new Error('invalid marker or signal name');
  return [
    `m=${SESSION_MARKER_VARIABLE}=${marker}; n=0`,
    'for d in /proc/[0-9]*; do',
    '  tr "\\000" "\\n" < "$d/environ" 2>/dev/null | grep -qxF "$m" || continue',
    '  pp=$(sed -n "s/^PPid:[[:space:]]*//p" "$d/status" 2>/dev/null)',
    '  tr "\\000" "\\n" < "/proc/$pp/environ" 2>/dev/null | grep -qxF "$m" && continue',
    `  kill -s ${name} "\${d#/proc/}" 2>/dev/null && n=$((n+1))`,
    'done',
    'test "$n" -gt 0',
  ].join('\n');
}

/**
 * Delivers `name` to a session's program: through the backend where it can (an upstream
 * sshd), else through a helper next to it. Resolves whether the signal was delivered.
 */
export async function deliverSignal(session: BackendSession, connection: BackendConnection | undefined, marker: string, name: string): Promise<boolean> {
  if (session.signal) {
    session.signal(name);
    return true;
  }
  if (!connection?.runHelper || signalNumber(name) === undefined) return false;
  const helper = await connection.runHelper(signalScript(marker, name));
  helper.stdin.end();
  helper.stdout.resume();
  helper.stderr.resume();
  const status = await helper.exited;
  return 'exitCode' in status && status.exitCode === 0;
}

/**
 * Exec APIs report a program killed by signal N as exit code 128+N. After the gateway itself
 * delivered N, that is the signal's doing, and the client is told so with exit-signal.
 */
export function statusAfterSignals(status: ExitStatus, delivered: ReadonlySet<string>): ExitStatus {
  if (!('exitCode' in status) || status.exitCode <= 128) return status;
  for (const name of delivered) {
    if (signalNumber(name) === status.exitCode - 128) return { signal: name, coreDumped: false };
  }
  return status;
}
