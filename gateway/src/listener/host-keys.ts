import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import type { Logger } from '../observability/index.ts';

const HOST_KEY_TYPES = ['ed25519', 'ecdsa'] as const;

/**
 * Loads the host keys, creating any that are missing on first start. They are kept so
 * clients' known_hosts stay valid across restarts; the folder and files are owner-only.
 */
export async function loadHostKeys(dir: string, log: Logger): Promise<Buffer[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys: Buffer[] = [];
  for (const type of HOST_KEY_TYPES) {
    const file = join(dir, `ssh_host_${type}_key`);
    try {
      keys.push(await readFile(file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const pair =
        type === 'ed25519'
          ? ssh2.utils.generateKeyPairSync('ed25519')
          : ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 });
      await writeFile(file, pair.private, { mode: 0o600, flag: 'wx' });
      await writeFile(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
      log.info({ code: 'SSH_HOSTKEY_CREATED', file: `${file}.pub` }, 'host key created');
      keys.push(Buffer.from(pair.private));
    }
  }
  return keys;
}
