import type { FastifyInstance } from 'fastify';
import { ConfigRequestSchema, type ConfigResponse } from '@portcullis/wire';
import { LogCode } from '../errors.ts';
import { renderConfig, type Policy } from '../policy/index.ts';
import { parseBody } from '../validate.ts';

/**
 * POST /config (ContainerSSH config webhook; the body is the /authz body). Bad input is 400;
 * only a policy that renders something invalid is 500 CONFIG_RENDER_FAILED.
 */
export function configRoute(app: FastifyInstance, policy: Policy): void {
  app.post('/config', async (request): Promise<ConfigResponse> => {
    const body = parseBody(ConfigRequestSchema, request.body);
    const answer = renderConfig(body, policy);
    request.log.info(
      {
        code: LogCode.CONFIG_SENT,
        username: body.username,
        authenticatedUsername: body.authenticatedUsername,
        connectionId: body.connectionId,
        backend: answer.config.backend,
        image: answer.config.docker?.execution.container.image,
      },
      'config sent',
    );
    return answer;
  });
}
