import { responses, type WebhookApp } from '@portcullis/kit';
import type { FastifyRequest } from 'fastify';
import {
  KeyboardInteractiveRequestSchema,
  KeyboardInteractiveResponseSchema,
  UNAVAILABLE_ANSWER,
  WEBHOOK_ERROR_ANSWERS,
  type KeyboardInteractiveRequest,
  type KeyboardInteractiveResponse,
} from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import { addressOf, attemptOf, refusal, refusedBy, settled, type LoginThrottle } from '../methods/brute-force/index.ts';
import type { ConversationStep, ConversationStore, KeyboardInteractiveFlow } from '../methods/keyboard-interactive/index.ts';

/**
 * POST /keyboard-interactive (Portcullis extension). Round 0 starts a conversation with the
 * first flow that takes the user; later rounds carry the `state` it was given and the answers.
 * Anything that does not fit (unknown or foreign state, wrong number of answers) is a refusal,
 * never a 4xx the gateway would report as an outage. Answers are never logged.
 */
export function keyboardInteractiveRoute(app: WebhookApp, flows: readonly KeyboardInteractiveFlow[], store: ConversationStore, throttle?: LoginThrottle): void {
  const schema = {
    operationId: 'authKeyboardInteractive',
    summary: 'Keyboard-interactive conversation step (Portcullis extension)',
    body: KeyboardInteractiveRequestSchema,
    ...responses({
      200: { schema: KeyboardInteractiveResponseSchema, description: 'The next step (challenge) or the decision (success), never both.' },
      ...WEBHOOK_ERROR_ANSWERS,
      503: UNAVAILABLE_ANSWER,
    }),
  };
  app.post('/keyboard-interactive', { schema }, async (request): Promise<KeyboardInteractiveResponse> => {
    const body = request.body;
    if (body.state === undefined) {
      if (body.round !== 0 || body.answers.length > 0) return refuse(request, body, 'round-without-state');
      // A blocked address or (address, user) pair gets no conversation, as for /password.
      const block = throttle && (await refusedBy(throttle, request.log, attemptOf(body)));
      if (block) return refusal(block);
      for (const flow of flows) {
        const conversation = await flow.start(body);
        if (!conversation) continue;
        const step = await conversation.next([], body);
        if ('decision' in step) return settle(request, body, throttle, decide(request, body, flow.name, step));
        const state = store.add({
          conversation,
          flow: flow.name,
          connectionId: body.connectionId,
          username: body.username,
          address: addressOf(body.remoteAddress),
          expectedAnswers: step.challenge.prompts.length,
        });
        if (state === undefined) return refuse(request, body, 'too-many-conversations');
        return challenge(request, body, step.challenge, state);
      }
      return refuse(request, body, 'no-flow');
    }
    const entry = store.claim(body.state, body);
    if (!entry) return refuse(request, body, 'unknown-state');
    try {
      if (body.answers.length !== entry.expectedAnswers) {
        store.delete(body.state);
        return settle(request, body, throttle, refuse(request, body, 'answers-mismatch'));
      }
      const step = await entry.conversation.next(body.answers, body);
      if ('decision' in step) {
        store.delete(body.state);
        return settle(request, body, throttle, decide(request, body, entry.flow, step));
      }
      entry.expectedAnswers = step.challenge.prompts.length;
      return challenge(request, body, step.challenge, body.state);
    } catch (err) {
      store.delete(body.state);
      throw err;
    } finally {
      store.release(entry);
    }
  });
}

function challenge(request: FastifyRequest, body: KeyboardInteractiveRequest, step: Extract<ConversationStep, { challenge: unknown }>['challenge'], state: string): KeyboardInteractiveResponse {
  request.log.debug(
    { code: LogCode.KEYBOARD_INTERACTIVE_STEP, username: body.username, connectionId: body.connectionId, round: body.round, prompts: step.prompts.length },
    'keyboard-interactive step',
  );
  return KeyboardInteractiveResponseSchema.parse({ challenge: step, state });
}

function decide(request: FastifyRequest, body: KeyboardInteractiveRequest, flow: string, step: Extract<ConversationStep, { decision: unknown }>): KeyboardInteractiveResponse {
  const ok = step.decision.success;
  request.log.info(
    {
      code: ok ? LogCode.KEYBOARD_INTERACTIVE_ACCEPTED : LogCode.KEYBOARD_INTERACTIVE_REJECTED,
      flow,
      ...(ok ? {} : { reason: step.reason ?? 'refused' }),
      username: body.username,
      connectionId: body.connectionId,
      remoteAddress: body.remoteAddress,
      round: body.round,
    },
    ok ? 'keyboard-interactive accepted' : 'keyboard-interactive rejected',
  );
  return KeyboardInteractiveResponseSchema.parse(step.decision);
}

function refuse(request: FastifyRequest, body: KeyboardInteractiveRequest, reason: string): KeyboardInteractiveResponse {
  request.log.info(
    { code: LogCode.KEYBOARD_INTERACTIVE_REJECTED, reason, username: body.username, connectionId: body.connectionId, remoteAddress: body.remoteAddress, round: body.round },
    'keyboard-interactive rejected',
  );
  return { success: false };
}

/** A decided conversation counts like a /password attempt: a refusal is a failure, a success clears the pair. */
async function settle(request: FastifyRequest, body: KeyboardInteractiveRequest, throttle: LoginThrottle | undefined, answer: KeyboardInteractiveResponse): Promise<KeyboardInteractiveResponse> {
  if (throttle) await settled(throttle, request.log, attemptOf(body), answer.success === true);
  return answer;
}
