import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { auditSection } from '../../configserver/src/policy/audit.ts';
import { AuditOverlaySchema } from '../../configserver/src/policy/schema.ts';

const BASELINE = new URL('../../policies/baseline.yaml', import.meta.url);

/**
 * The `config.audit` every login gets under `docker compose up`: policies/baseline.yaml's
 * `audit` section, rendered as the configserver renders it (today: best effort, local files,
 * stdout, stderr and SFTP file events recorded, keystrokes not).
 */
export async function composeDefaultAudit(): Promise<Record<string, unknown>> {
  const baseline = parse(await readFile(BASELINE, 'utf8')) as { audit?: unknown };
  const { audit } = auditSection(AuditOverlaySchema.parse(baseline.audit ?? {}));
  if (!audit) throw new Error('policies/baseline.yaml records nothing: the benchmark cannot measure the compose defaults with audit');
  return audit;
}
