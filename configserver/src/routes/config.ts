import { responses, type WebhookApp } from '@portcullis/kit';
import { ConfigRequestSchema, ConfigResponseSchema, POLICY_DENIED_ANSWER, WEBHOOK_ERROR_ANSWERS, type ConfigResponse } from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import { answerFor, resolve, type Policy } from '../policy/index.ts';
import { PolicyStore } from '../policy/store.ts';
import { withForcedCommand } from '../policy/security.ts';

/**
 * POST /config (ContainerSSH config webhook; the body is the /authz body). Bad input is 400; a
 * deny rule is 403 CONFIG_POLICY_DENIED; a session that breaks a guardrail fails closed with
 * 500 CONFIG_GUARDRAIL_VIOLATED; an answer the wire schema refuses is 500 CONFIG_RENDER_FAILED.
 *
 * Once the server listens, the policy folder is watched and reloaded (see PolicyStore); tests
 * that only inject keep the set they passed in.
 */
export function configRoute(app: WebhookApp, policy: Policy, store: PolicyStore = new PolicyStore(policy, app.log)): void {
  app.addHook('onListen', async () => store.watch());
  app.addHook('onClose', async () => store.close());

  const schema = {
    operationId: 'getUserConfiguration',
    summary: 'Fetches the configuration for a user/session',
    body: ConfigRequestSchema,
    ...responses({
      200: { schema: ConfigResponseSchema, description: 'The session configuration, environment, files and metadata.' },
      ...WEBHOOK_ERROR_ANSWERS,
      403: POLICY_DENIED_ANSWER,
    }),
  };
  app.post('/config', { schema }, async (request): Promise<ConfigResponse> => {
    const body = request.body;
    const resolution = resolve(body, store.current());
    const who = { username: body.username, authenticatedUsername: body.authenticatedUsername, connectionId: body.connectionId };
    const profiles = resolution.matched.map(({ profile }) => profile.name);
    if (resolution.deny) {
      request.log.info({ code: LogCode.POLICY_DENIED, ...who, profile: resolution.deny.profile }, 'login denied by policy');
    } else if (resolution.violations.length > 0) {
      request.log.error(
        { code: LogCode.GUARDRAIL_VIOLATED, ...who, profiles, rules: resolution.violations.map((violation) => `${violation.rule} ${violation.path}`) },
        'rendered session breaks a guardrail; refused',
      );
    }
    const answer = withForcedCommand(answerFor(resolution), body.metadata);
    request.log.info(
      {
        code: LogCode.CONFIG_SENT,
        ...who,
        profiles,
        backend: answer.config.backend,
        image: answer.config.docker?.execution.container.image ?? answer.config.kubernetes?.pod.spec.containers[0]?.image,
      },
      'config sent',
    );
    return answer;
  });
}
