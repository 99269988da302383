import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigResponseSchema } from '@portcullis/wire';
import { auditSection } from './audit.ts';

const wire = (section: Record<string, unknown>) => ConfigResponseSchema.parse({ config: { ...section } }).config.audit;

test('no audit settings send no audit section', () => {
  assert.deepEqual(auditSection({}), {});
});

test('the short forms become the wire keys the gateway reads', () => {
  const audit = wire(auditSection({ enabled: true, recordInput: true }));
  assert.equal(audit?.recording, 'best-effort');
  assert.equal(audit?.intercept.stdin, true);
  assert.equal(audit?.intercept.passwords, false, 'passwords stay out unless asked for');
  assert.equal(wire(auditSection({ enabled: false }))?.recording, 'off');
});

test('an explicit recording wins over enabled', () => {
  assert.equal(wire(auditSection({ enabled: true, recording: 'required', storage: 's3' }))?.recording, 'required');
});
