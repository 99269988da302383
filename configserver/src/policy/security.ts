import type { ConfigRequest, SecurityConfig } from '@portcullis/wire';

interface RenderedFilters {
  readonly forwarding?: boolean;
  readonly subsystems?: readonly string[];
  readonly maxSessions?: number;
}

interface RenderedLimits {
  readonly idleTimeout?: string;
  readonly maxDuration?: string;
}

/**
 * The policy's `securityFilters` and `sessionLimits` as the wire's `config.security`, which the
 * gateway enforces before a request reaches the container. `forwarding` switches every kind
 * (-L, -R, -D, sockets, X11, agent) together. Nothing rendered sends no section.
 */
export function securitySection(filters: Record<string, unknown>, limits: Record<string, unknown>): { security?: SecurityConfig } {
  const { forwarding, subsystems, maxSessions } = filters as RenderedFilters;
  const { idleTimeout, maxDuration } = limits as RenderedLimits;
  const security: SecurityConfig = {};
  if (forwarding !== undefined) {
    const mode = forwarding ? 'enable' : 'disable';
    security.forwarding = {
      forwardingMode: mode,
      reverseForwardingMode: mode,
      socketForwardingMode: mode,
      socketListenMode: mode,
      x11ForwardingMode: mode,
      agentForwardingMode: mode,
    };
  }
  if (subsystems !== undefined) security.subsystem = { mode: 'filter', allow: [...subsystems] };
  if (maxSessions !== undefined) security.maxSessions = maxSessions;
  if (idleTimeout !== undefined || maxDuration !== undefined) {
    security.session = { ...(idleTimeout !== undefined ? { idleTimeout } : {}), ...(maxDuration !== undefined ? { maxDuration } : {}) };
  }
  return Object.keys(security).length > 0 ? { security } : {};
}

/**
 * A login that vouched for a forced command (an SSH certificate's `force-command`, relayed by
 * the auth webhook as metadata `forceCommand`) gets it whatever the policy says, as sshd does.
 */
export function withForcedCommand<T extends { config: { security?: SecurityConfig } }>(answer: T, metadata: ConfigRequest['metadata']): T {
  const forced = metadata?.forceCommand?.value;
  if (!forced) return answer;
  return { ...answer, config: { ...answer.config, security: { ...answer.config.security, forceCommand: forced } } };
}
