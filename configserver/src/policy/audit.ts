import type { AuditOverlaySchema } from './schema.ts';
import type { z } from 'zod';

type AuditSettings = z.output<typeof AuditOverlaySchema>;

/**
 * The rendered audit settings as the wire's `config.audit`: `enabled` and `recordInput` become
 * `recording` and `intercept.stdin`; nothing rendered sends no section (the gateway records nothing).
 */
export function auditSection(settings: Record<string, unknown>): { audit?: Record<string, unknown> } {
  const { enabled, recordInput, ...rest } = settings as AuditSettings;
  if (Object.keys(settings).length === 0) return {};
  const audit: Record<string, unknown> = { ...rest };
  if (audit.recording === undefined && enabled !== undefined) audit.recording = enabled ? 'best-effort' : 'off';
  if (recordInput !== undefined) audit.intercept = { ...rest.intercept, stdin: recordInput };
  return { audit };
}
