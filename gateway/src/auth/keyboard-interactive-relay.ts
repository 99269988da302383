import { KEYBOARD_INTERACTIVE_LIMITS, type KeyboardInteractiveChallenge } from '@portcullis/wire';
import type { AuthDecision, KeyboardInteractiveStep, KeyboardInteractiveTurn } from '../webhooks/auth-webhook.ts';

/**
 * Shows one step to the SSH client and resolves with its answers, or with `undefined` when the
 * client abandoned the conversation (it started another auth request, RFC 4252 §5).
 */
export type AskClient = (challenge: KeyboardInteractiveChallenge) => Promise<unknown[] | undefined>;

/** Asks the auth server for the next step (AuthWebhook.keyboardInteractive, bound to a connection). */
export type AskServer = (turn: KeyboardInteractiveTurn) => Promise<KeyboardInteractiveStep>;

export type RelayOutcome =
  | { kind: 'decision'; decision: AuthDecision; rounds: number }
  /** The client gave up on this conversation; nothing to answer. */
  | { kind: 'abandoned' }
  /** The client's answers did not fit the prompts (count, type, length): refused, never forwarded. */
  | { kind: 'answers-invalid'; rounds: number }
  /** The server kept asking past the gateway's bound. */
  | { kind: 'too-many-rounds'; rounds: number };

/**
 * Relays a keyboard-interactive conversation between the auth server and the SSH client,
 * verbatim, until the server decides. The gateway adds no prompt and judges no answer: it only
 * checks that the answers fit the prompts and bounds the number of rounds (the connection's
 * login grace time bounds the duration).
 */
export async function relayKeyboardInteractive(askServer: AskServer, askClient: AskClient, options: { readonly submethods: string; readonly maxRounds: number }): Promise<RelayOutcome> {
  let turn: KeyboardInteractiveTurn = { round: 0, submethods: options.submethods, state: undefined, answers: [] };
  for (;;) {
    const step = await askServer(turn);
    if (step.kind === 'decision') return { kind: 'decision', decision: step.decision, rounds: turn.round };
    if (turn.round >= options.maxRounds) return { kind: 'too-many-rounds', rounds: turn.round };
    const raw = await askClient(step.challenge);
    if (raw === undefined) return { kind: 'abandoned' };
    const answers = checkedAnswers(raw, step.challenge.prompts.length);
    if (!answers) return { kind: 'answers-invalid', rounds: turn.round + 1 };
    turn = { round: turn.round + 1, submethods: options.submethods, state: step.state, answers };
  }
}

/** Exactly one string per prompt, each within the wire's limit; anything else is refused. */
function checkedAnswers(raw: unknown[], expected: number): string[] | undefined {
  if (raw.length !== expected) return undefined;
  if (!raw.every((answer): answer is string => typeof answer === 'string' && answer.length <= KEYBOARD_INTERACTIVE_LIMITS.answerLength)) {
    return undefined;
  }
  return raw;
}
