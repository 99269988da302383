import { fileURLToPath } from 'node:url';
import { loadPolicy, type Policy } from '../policy/index.ts';

/** The repository's own policies/ folder, so tests exercise the baseline that ships. */
export const REPO_POLICY_DIR = fileURLToPath(new URL('../../../policies/', import.meta.url));

export function repoPolicy(): Promise<Policy> {
  return loadPolicy(REPO_POLICY_DIR);
}
