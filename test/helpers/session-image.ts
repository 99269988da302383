import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Makes sure the session image is the one this tree builds (guest agent, scp, ssh-add, nc):
 * several checkouts share one engine, and the build is a no-op when the image is current.
 */
export async function ensureSessionImage(): Promise<void> {
  await promisify(execFile)('bash', ['scripts/build-images.sh'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
}
