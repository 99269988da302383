import { randomBytes } from 'node:crypto';
import type { AuthResponse, KeyboardInteractiveChallenge, KeyboardInteractiveRequest } from '@portcullis/wire';

/** What a conversation says next: another step for the user, or the final answer. */
export type ConversationStep = { readonly challenge: KeyboardInteractiveChallenge } | { readonly decision: AuthResponse; readonly reason?: string };

/**
 * One user's keyboard-interactive conversation. `next` gets `[]` first, then the answers to the
 * last challenge (exactly one per prompt, the route checks that). It may take as long as it
 * needs below the gateway's webhook timeout (e.g. while polling an identity provider); a step
 * with no prompts is answered by the client at once, so a long wait is a loop of such steps.
 */
export interface Conversation {
  next(answers: readonly string[], request: KeyboardInteractiveRequest): Promise<ConversationStep>;
}

/**
 * A way of logging in over keyboard-interactive (password + one-time code, OIDC device flow...).
 * `start` returns a conversation when this flow handles the request's user, else undefined so
 * the next flow may.
 */
export interface KeyboardInteractiveFlow {
  readonly name: string;
  start(request: KeyboardInteractiveRequest): Conversation | undefined | Promise<Conversation | undefined>;
}

interface Entry {
  readonly conversation: Conversation;
  readonly flow: string;
  readonly connectionId: string;
  readonly username: string;
  /** The source address without port. */
  readonly address: string;
  readonly expiresAt: number;
  /** Prompts of the challenge last sent: the next call must carry exactly this many answers. */
  expectedAnswers: number;
  busy: boolean;
}

/**
 * Conversations in progress, keyed by the random `state` handed to the gateway. A state is good
 * only for the connection and username that started it, only until it expires, and only once
 * at a time. A connection has one conversation (a new one replaces it), and one source address
 * at most `perAddress`, so nobody can fill the store and shut keyboard-interactive for everyone.
 * Kept in memory: one authserver replica holds a conversation, so replicas behind a load
 * balancer need sticky routing by connection id (or a shared store behind this interface).
 */
export class ConversationStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly options: { readonly ttlMs: number; readonly maxEntries: number; readonly perAddress: number; readonly now?: () => number } = {
      ttlMs: 10 * 60_000,
      maxEntries: 10_000,
      perAddress: 20,
    },
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Stores a new conversation; undefined when the store or the address is full (the caller refuses the login). */
  add(entry: Omit<Entry, 'expiresAt' | 'busy'>): string | undefined {
    this.sweep();
    let fromAddress = 0;
    for (const [state, other] of this.entries) {
      if (other.connectionId === entry.connectionId) this.entries.delete(state);
      else if (other.address === entry.address) fromAddress += 1;
    }
    if (this.entries.size >= this.options.maxEntries || fromAddress >= this.options.perAddress) return undefined;
    const state = randomBytes(24).toString('base64url');
    this.entries.set(state, { ...entry, expiresAt: this.now() + this.options.ttlMs, busy: false });
    return state;
  }

  /** The conversation `state` names, if it belongs to this connection and user and is not in use. */
  claim(state: string, request: KeyboardInteractiveRequest): Entry | undefined {
    const entry = this.entries.get(state);
    if (!entry || entry.expiresAt <= this.now()) {
      this.entries.delete(state);
      return undefined;
    }
    if (entry.busy || entry.connectionId !== request.connectionId || entry.username !== request.username) return undefined;
    entry.busy = true;
    return entry;
  }

  release(entry: Entry): void {
    entry.busy = false;
  }

  delete(state: string): void {
    this.entries.delete(state);
  }

  get size(): number {
    return this.entries.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [state, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(state);
  }
}
