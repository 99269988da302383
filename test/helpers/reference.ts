import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/**
 * Third-party reference material lives beside the repository (`../shared/reference`),
 * never inside it: the tests read it where it is.
 */
export const REFERENCE_DIR = process.env.PORTCULLIS_REFERENCE_DIR ?? fileURLToPath(new URL('../../../shared/reference/', import.meta.url));

/** A ContainerSSH example body, e.g. `derived/password-request.json`. */
export async function containerSshExample(name: string): Promise<Record<string, unknown>> {
  const path = `${REFERENCE_DIR}/containerssh/examples/${name}`;
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}
