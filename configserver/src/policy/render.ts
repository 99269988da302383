import { ConfigResponseSchema, type ConfigRequest, type ConfigResponse } from '@portcullis/wire';
import { RenderFailedError } from '../errors.ts';
import type { Policy } from './load.ts';

/**
 * Turns a config request into the answer for the gateway. Today every user gets the baseline;
 * matching profiles onto it is the policy engine's later job, and it plugs in here.
 *
 * The answer is checked against the wire schema before it leaves: if the policy yields something
 * the gateway would refuse, this throws CONFIG_RENDER_FAILED (the policy is at fault, not the caller).
 */
export function renderConfig(_request: ConfigRequest, policy: Policy): ConfigResponse {
  const candidate = {
    config: {
      backend: 'docker',
      // A copy, so nothing downstream can change the loaded baseline for the next request.
      docker: { execution: structuredClone(policy.baseline.docker.execution) },
    },
  };
  const result = ConfigResponseSchema.safeParse(candidate);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new RenderFailedError({
      cause: new Error(`${issue?.path.map(String).join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}`),
    });
  }
  return result.data;
}
