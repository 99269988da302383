import type { Logger } from '../observability/index.ts';
import { RefusalLog } from './refusal-log.ts';
import { inAnyRange, sourceBlock } from './source-block.ts';
import { SourcePenalties, type PenaltyEvent, type PenaltySettings } from './source-penalties.ts';
import { StartupGate, type StartupLimits } from './startup-gate.ts';

/** An admitted connection's hold on its unauthenticated slot; the listener reports how it ended. */
export interface AdmissionTicket {
  /** > 0: its source failed logins past the penalty's `min`, so password attempts are refused for this long (ms). */
  readonly passwordsRefusedMs: number;
  /** The client logged in: its unauthenticated slot is free again. */
  loggedIn(): void;
  /** The connection closed (final): frees the slot; `penalty` names why its source earns one. */
  closed(penalty?: PenaltyEvent): void;
}

export type AdmissionVerdict = { readonly admitted: false } | { readonly admitted: true; readonly delayMs: number; readonly ticket: AdmissionTicket };

/**
 * The pre-auth checks on a new connection's source (penalties, MaxStartups, PerSourceMaxStartups).
 * One instance per gateway, whatever the number of worker processes: workers ask the primary's
 * over IPC, so a source cannot multiply its allowance by the number of workers.
 */
export interface SourceAdmission {
  admit(address: string): AdmissionVerdict | Promise<AdmissionVerdict>;
}

export interface AdmissionSettings {
  readonly maxStartups: StartupLimits;
  /** Prefix lengths a source address is grouped by (OpenSSH PerSourceNetBlockSize). */
  readonly sourceBlockBits?: { readonly ipv4: number; readonly ipv6: number };
  /** Per-source penalties; off when absent. `exempt` CIDRs never earn one. */
  readonly penalties?: PenaltySettings & { readonly exempt: readonly string[] };
  readonly log: Logger;
}

const DEFAULT_BLOCK_BITS = { ipv4: 32, ipv6: 64 } as const;

/** The admission that owns the counters: the single process's, or the cluster primary's. */
export class LocalSourceAdmission implements SourceAdmission {
  private readonly gate: StartupGate;
  private readonly penalties: SourcePenalties | undefined;
  private readonly refusals: RefusalLog;

  constructor(private readonly settings: AdmissionSettings) {
    this.gate = new StartupGate(settings.maxStartups);
    this.penalties = settings.penalties ? new SourcePenalties(settings.penalties) : undefined;
    this.refusals = new RefusalLog(settings.log);
  }

  admit(address: string): AdmissionVerdict {
    const bits = this.settings.sourceBlockBits ?? DEFAULT_BLOCK_BITS;
    const block = sourceBlock(address, bits.ipv4, bits.ipv6);
    const penalties = this.penalties && !inAnyRange(address, this.settings.penalties?.exempt ?? []) ? this.penalties : undefined;
    const verdict = penalties ? penalties.check(block) : { refused: false as const, delayMs: 0, passwordsRefusedMs: 0 };
    if (verdict.refused) {
      this.refusals.warn('SSH_SOURCE_PENALIZED', { source: block, retryAfterSeconds: Math.ceil(verdict.retryAfterMs / 1000) }, 'connection refused: its source is penalised');
      return { admitted: false };
    }
    const admission = this.gate.admit(block);
    if (!admission.admitted) {
      if (admission.reason === 'per-source') {
        this.refusals.warn('SSH_PER_SOURCE_MAX_STARTUPS', { source: block, limit: this.settings.maxStartups.perSource }, 'too many unauthenticated connections from one source');
      } else {
        this.refusals.warn('SSH_MAX_STARTUPS', { reason: admission.reason, unauthenticated: this.gate.unauthenticated, limit: this.settings.maxStartups.full }, 'too many unauthenticated connections');
      }
      return { admitted: false };
    }
    return {
      admitted: true,
      // A penalised source waits before it is served, holding its slot meanwhile.
      delayMs: verdict.delayMs,
      ticket: {
        passwordsRefusedMs: verdict.passwordsRefusedMs,
        loggedIn: admission.release,
        closed: (penalty) => {
          admission.release();
          if (penalty) penalties?.penalize(block, penalty);
        },
      },
    };
  }
}
