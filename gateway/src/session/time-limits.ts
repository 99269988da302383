import type { Logger } from '../observability/index.ts';
import type { RunningProgram } from './session-channel.ts';

export interface TimeLimitSettings {
  readonly idleTimeoutMs?: number;
  readonly maxDurationMs?: number;
  /** How long before the end the user is warned. */
  readonly warnBeforeMs: number;
}

/** How long the programs get between the signal and the connection closing. */
const GRACE_AFTER_SIGNAL_MS = 2_000;

const REASONS = {
  idle: { code: 'SESSION_IDLE_TIMEOUT', text: 'idle timeout' },
  max: { code: 'SESSION_MAX_DURATION', text: 'maximum session duration' },
  recording: { code: 'AUDIT_RECORDING_FAILED', text: 'the recording storage failed, and this session must be recorded' },
} as const;

/**
 * A connection's idle timeout and maximum duration: a warning on every open terminal before
 * the end, then the programs get SIGTERM and the connection is closed (`close`).
 */
export class ConnectionTimeLimits {
  private readonly programs = new Set<RunningProgram>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private idleWarn: NodeJS.Timeout | undefined;
  private idleEnd: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly settings: TimeLimitSettings,
    private readonly close: () => void,
    private readonly log: Logger,
  ) {
    const { maxDurationMs } = settings;
    if (maxDurationMs) {
      this.later(Math.max(0, maxDurationMs - settings.warnBeforeMs), () => this.warn('max', maxDurationMs - Math.max(0, maxDurationMs - settings.warnBeforeMs)));
      this.later(maxDurationMs, () => void this.end('max'));
    }
    this.activity();
  }

  get active(): boolean {
    return this.settings.idleTimeoutMs !== undefined || this.settings.maxDurationMs !== undefined;
  }

  /** Input from the client: the idle clock starts again. */
  readonly activity = (): void => {
    const { idleTimeoutMs, warnBeforeMs } = this.settings;
    if (!idleTimeoutMs || this.ended) return;
    if (this.idleWarn) this.idleWarn.refresh();
    else this.idleWarn = this.later(Math.max(0, idleTimeoutMs - warnBeforeMs), () => this.warn('idle', Math.min(idleTimeoutMs, warnBeforeMs)));
    if (this.idleEnd) this.idleEnd.refresh();
    else this.idleEnd = this.later(idleTimeoutMs, () => void this.end('idle'));
  };

  /** Registers a running program; returns how to forget it when its channel closes. */
  readonly register = (program: RunningProgram): (() => void) => {
    this.programs.add(program);
    return () => this.programs.delete(program);
  };

  /**
   * Ends the connection now, for a reason other than time (a required recording that broke),
   * the same way: last words on every terminal, SIGTERM, then the close.
   */
  readonly closeFor = (reason: 'recording'): void => void this.end(reason);

  stop(): void {
    this.ended = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private later(ms: number, run: () => void): NodeJS.Timeout {
    const timer = setTimeout(run, ms);
    timer.unref();
    this.timers.add(timer);
    return timer;
  }

  private warn(reason: keyof typeof REASONS, inMs: number): void {
    if (this.ended) return;
    const seconds = Math.max(1, Math.round(inMs / 1000));
    this.log.info({ code: 'SESSION_LIMIT_WARNING', reason: REASONS[reason].code, inSeconds: seconds }, 'user warned');
    for (const program of this.programs) program.tell(`portcullis: this session ends in ${seconds}s: ${REASONS[reason].text} (${REASONS[reason].code})`);
  }

  private async end(reason: keyof typeof REASONS): Promise<void> {
    if (this.ended) return;
    this.stop();
    const { code, text } = REASONS[reason];
    this.log.info({ code }, `connection closed: ${text}`);
    for (const program of this.programs) program.tell(`portcullis: session closed: ${text} (${code})`);
    const grace = new Promise((resolve) => setTimeout(resolve, GRACE_AFTER_SIGNAL_MS).unref());
    const programs = [...this.programs];
    // Each program gets the grace period to end by itself (and have its last words shown).
    await Promise.race([Promise.all(programs.map(async (program) => (await program.signal('TERM').catch(() => false)) && (await program.ended))), grace]);
    this.close();
  }
}
