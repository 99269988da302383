import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { checkPodSecurity, type PodSecurityLevel } from './pod-security.ts';

/** Upstream's Pod Security Admission fixtures, read where they live (never copied into the repo). */
const REFERENCE_DIR = process.env.PORTCULLIS_REFERENCE_DIR ?? fileURLToPath(new URL('../../../../shared/reference/', import.meta.url));
const FIXTURES = join(REFERENCE_DIR, 'pod-security');

/** `runasnonroot0.yaml` → `runasnonroot`; checks compare lower-cased, as upstream names the files. */
const checkOf = (file: string) => file.replace(/\d*\.yaml$/, '');

for (const level of ['restricted', 'baseline'] as PodSecurityLevel[]) {
  test(`${level}: every upstream pass fixture is admitted`, async () => {
    const files = (await readdir(join(FIXTURES, level, 'pass'))).filter((file) => file.endsWith('.yaml'));
    assert.ok(files.length >= (level === 'restricted' ? 23 : 15), `fixtures found in ${FIXTURES}`);
    for (const file of files) {
      const pod = parse(await readFile(join(FIXTURES, level, 'pass', file), 'utf8'));
      assert.deepEqual(checkPodSecurity(pod, level), [], `${level}/pass/${file}`);
    }
  });

  test(`${level}: every upstream fail fixture is rejected, naming its check`, async () => {
    const files = (await readdir(join(FIXTURES, level, 'fail'))).filter((file) => file.endsWith('.yaml'));
    assert.ok(files.length >= (level === 'restricted' ? 76 : 34), `fixtures found in ${FIXTURES}`);
    for (const file of files) {
      const pod = parse(await readFile(join(FIXTURES, level, 'fail', file), 'utf8'));
      const checks = checkPodSecurity(pod, level).map((violation) => violation.check.toLowerCase());
      assert.ok(checks.includes(checkOf(file)), `${level}/fail/${file}: expected ${checkOf(file)}, got [${checks.join(', ')}]`);
    }
  });
}
