import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';
import type { z } from 'zod';
import { containerSshExample, REFERENCE_DIR } from '../../test/helpers/reference.ts';
import { AuthorizationRequestSchema, AuthResponseSchema, PasswordRequestSchema, PublicKeyRequestSchema } from './auth.ts';
import { ConfigRequestSchema, ConfigResponseSchema } from './config.ts';

/** Which message each example is. */
const SCHEMAS: Record<string, z.ZodType> = {
  'password-request.json': PasswordRequestSchema,
  'legacy-password-request.json': PasswordRequestSchema,
  'pubkey-request.json': PublicKeyRequestSchema,
  'legacy-pubkey-request.json': PublicKeyRequestSchema,
  'authz-request.json': AuthorizationRequestSchema,
  'auth-response-minimal.json': AuthResponseSchema,
  'auth-response.json': AuthResponseSchema,
  'config-request.json': ConfigRequestSchema,
  'config-response.json': ConfigResponseSchema,
  'derived/password-request.json': PasswordRequestSchema,
  'derived/pubkey-request.json': PublicKeyRequestSchema,
  'derived/pubkey-request-certificate.json': PublicKeyRequestSchema,
  'derived/pubkey-request-cacertificate.UNMERGED.json': PublicKeyRequestSchema,
  'derived/auth-response-with-metadata.json': AuthResponseSchema,
  'derived/authz-request.json': AuthorizationRequestSchema,
  'derived/config-response-kubernetes.json': ConfigResponseSchema,
};

/**
 * The docs' placeholders are not valid base64 or key text (the reference README says so: Go's
 * decoder rejects them too). Verbatim, those examples are refused naming the field; with the
 * placeholder replaced by a real value of the same meaning, they parse and round-trip.
 */
const PLACEHOLDERS: Record<string, string> = {
  'Base 64-encoded password': Buffer.from('Base 64-encoded password').toString('base64'),
  'base64-encoded contents of the file': Buffer.from('contents of the file').toString('base64'),
  'ssh-rsa ...': 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDexample',
};
const REFUSED_VERBATIM: Record<string, string> = {
  'password-request.json': 'passwordBase64',
  'legacy-password-request.json': 'passwordBase64',
  'pubkey-request.json': 'publicKey',
  'legacy-pubkey-request.json': 'publicKey',
  'authz-request.json': 'files./path/to/file.value',
  'auth-response.json': 'files./path/to/file.value',
  'config-request.json': 'files./path/to/file.value',
  'config-response.json': 'files./path/to/file.value',
};

function replacePlaceholders(value: unknown): unknown {
  if (typeof value === 'string') return PLACEHOLDERS[value] ?? value;
  if (Array.isArray(value)) return value.map(replacePlaceholders);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replacePlaceholders(v)]));
  return value;
}

test('every JSON example in the reference has a schema here', async () => {
  const dir = `${REFERENCE_DIR}/containerssh/examples`;
  const files = [
    ...(await readdir(dir)).filter((name) => name.endsWith('.json')),
    ...(await readdir(`${dir}/derived`)).filter((name) => name.endsWith('.json')).map((name) => `derived/${name}`),
  ].sort();
  assert.deepEqual(files, Object.keys(SCHEMAS).sort());
});

for (const [name, schema] of Object.entries(SCHEMAS)) {
  test(`example ${name} parses and round-trips`, async () => {
    const verbatim = await containerSshExample(name);
    const refusedAt = REFUSED_VERBATIM[name];
    const verbatimResult = schema.safeParse(verbatim);
    if (refusedAt) {
      assert.equal(verbatimResult.success, false, 'a placeholder is not valid data');
      assert.deepEqual(
        verbatimResult.error!.issues.map((issue) => issue.path.map(String).join('.')),
        [refusedAt],
        'only the placeholder is refused, naming its field',
      );
    } else {
      assert.equal(verbatimResult.success, true, JSON.stringify(verbatimResult.error?.issues));
    }
    const example = refusedAt ? replacePlaceholders(verbatim) : verbatim;
    const parsed = schema.parse(example);
    assert.deepEqual(JSON.parse(JSON.stringify(parsed)), example, 'parsing drops or adds nothing');
  });
}
