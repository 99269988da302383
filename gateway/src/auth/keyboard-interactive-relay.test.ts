import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KeyboardInteractiveChallenge } from '@portcullis/wire';
import type { KeyboardInteractiveStep, KeyboardInteractiveTurn } from '../webhooks/auth-webhook.ts';
import { relayKeyboardInteractive, type AskClient } from './keyboard-interactive-relay.ts';

const ask = (count: number): KeyboardInteractiveStep => ({
  kind: 'challenge',
  challenge: { name: 'n', instruction: 'i', prompts: Array.from({ length: count }, (_, i) => ({ prompt: `p${i}: `, echo: i > 0 })) },
  state: `s${count}`,
});
const accepted: KeyboardInteractiveStep = { kind: 'decision', decision: { accepted: true, authenticatedUsername: 'alice', maps: {} } };

test('steps reach the client verbatim and the answers reach the server with the state, until the server decides', async () => {
  const turns: KeyboardInteractiveTurn[] = [];
  const shown: KeyboardInteractiveChallenge[] = [];
  const steps = [ask(1), ask(2), accepted];
  const outcome = await relayKeyboardInteractive(
    async (turn) => (turns.push(turn), steps.shift()!),
    async (challenge) => (shown.push(challenge), challenge.prompts.map((p) => `answer to ${p.prompt}`)),
    { submethods: '', maxRounds: 10 },
  );
  assert.equal(outcome.kind, 'decision');
  assert.deepEqual(
    shown,
    [ask(1), ask(2)].map((step) => (step as Extract<KeyboardInteractiveStep, { kind: 'challenge' }>).challenge),
  );
  assert.deepEqual(turns, [
    { round: 0, submethods: '', state: undefined, answers: [] },
    { round: 1, submethods: '', state: 's1', answers: ['answer to p0: '] },
    { round: 2, submethods: '', state: 's2', answers: ['answer to p0: ', 'answer to p1: '] },
  ]);
});

test('answers that do not fit the prompts are refused without asking the server again', async () => {
  for (const answers of [[], ['a', 'b'], [42], ['x'.repeat(1025)]] as unknown[][]) {
    let calls = 0;
    const client: AskClient = async () => answers;
    const outcome = await relayKeyboardInteractive(async () => (calls++, ask(1)), client, { submethods: '', maxRounds: 10 });
    assert.equal(outcome.kind, 'answers-invalid', JSON.stringify(answers).slice(0, 40));
    assert.equal(calls, 1);
  }
});

test('a server that never decides is cut off after maxRounds steps', async () => {
  let calls = 0;
  const outcome = await relayKeyboardInteractive(
    async () => (calls++, ask(0)),
    async () => [],
    { submethods: '', maxRounds: 5 },
  );
  assert.deepEqual(outcome, { kind: 'too-many-rounds', rounds: 5 });
  assert.equal(calls, 6);
});

test('a client that abandons the conversation ends it without a decision', async () => {
  const outcome = await relayKeyboardInteractive(
    async () => ask(1),
    async () => undefined,
    { submethods: '', maxRounds: 5 },
  );
  assert.deepEqual(outcome, { kind: 'abandoned' });
});
