import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { GatewayError } from './errors.ts';
import type { Logger } from './observability/index.ts';

const HOST_KEY_TYPES = ['ed25519', 'ecdsa'] as const;
type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** ssh2 generates an ed25519 key it cannot parse back about once in 250; a few tries always do. */
const GENERATE_ATTEMPTS = 10;

/**
 * Loads the host keys, creating any that are missing on first start. They are kept so
 * clients' known_hosts stay valid across restarts; the folder and files are owner-only.
 * A stored key that does not parse stops the start, naming the file: silently replacing a
 * host key would make every client see a changed host.
 */
export async function loadHostKeys(dir: string, log: Logger): Promise<Buffer[]> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keys: Buffer[] = [];
  for (const type of HOST_KEY_TYPES) {
    const file = join(dir, `ssh_host_${type}_key`);
    let key: Buffer;
    try {
      key = await readFile(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      const pair = generateParsableKeyPair(type);
      await writeFile(file, pair.private, { mode: 0o600, flag: 'wx' });
      await writeFile(`${file}.pub`, `${pair.public}\n`, { mode: 0o644 });
      log.info({ code: 'SSH_HOSTKEY_CREATED', file: `${file}.pub` }, 'host key created');
      key = Buffer.from(pair.private);
    }
    if (ssh2.utils.parseKey(key) instanceof Error) {
      throw new GatewayError('GATEWAY_CONFIG_INVALID', `The host key ${file} is not a valid private key; replace or remove it.`);
    }
    keys.push(key);
  }
  return keys;
}

export function generateParsableKeyPair(type: HostKeyType): { private: string; public: string } {
  for (let attempt = 0; attempt < GENERATE_ATTEMPTS; attempt += 1) {
    const pair = type === 'ed25519' ? ssh2.utils.generateKeyPairSync('ed25519') : ssh2.utils.generateKeyPairSync('ecdsa', { bits: 256 });
    if (!(ssh2.utils.parseKey(pair.private) instanceof Error)) return pair;
  }
  throw new GatewayError('GATEWAY_START_FAILED', `Could not generate a valid ${type} host key.`);
}
