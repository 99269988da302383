import { createRequire } from 'node:module';

/**
 * Loads ssh2's cipher module (lib/protocol/crypto.js) with a pooled `randomFillSync`. ssh2
 * fills the 4 to 19 padding bytes of every packet with a call of its own, a random-bytes job
 * each (14 % of the gateway's CPU in a bulk download). Here those bytes are cut from a block
 * filled by the same CSPRNG, refilled when used up; no byte is handed out twice. ssh2 keeps
 * the function it finds when the module loads, so this module is imported before anything
 * loads ssh2 (main.ts imports it first); the rest of the process keeps node:crypto's own.
 */

const require = createRequire(import.meta.url);
const nodeCrypto = require('node:crypto') as { randomFillSync: (buffer: Buffer, offset?: number, size?: number) => Buffer };
const CIPHER_MODULE = 'ssh2/lib/protocol/crypto.js';

const BLOCK_BYTES = 16 * 1024;
/** Larger requests (none from ssh2 today) go to node:crypto directly. */
const MAX_POOLED_BYTES = 256;

const fillFromCsprng = nodeCrypto.randomFillSync;
let block: Buffer = Buffer.alloc(0);
let used = 0;
let pooledFills = 0;

function pooledRandomFill(buffer: Buffer, offset = 0, size = buffer.length - offset): Buffer {
  if (!Buffer.isBuffer(buffer) || size > MAX_POOLED_BYTES) return fillFromCsprng(buffer, offset, size);
  if (used + size > block.length) {
    block = fillFromCsprng(Buffer.allocUnsafeSlow(BLOCK_BYTES));
    used = 0;
  }
  block.copy(buffer, offset, used, used + size);
  used += size;
  pooledFills += 1;
  return buffer;
}

/** False when ssh2's cipher module was loaded before this one: its padding is then unpooled. */
export const sshPaddingPooled = !(require.resolve(CIPHER_MODULE) in require.cache);

if (sshPaddingPooled) {
  // Its dependencies first, so that the swap below is seen by the cipher module alone.
  require('ssh2/lib/protocol/utils.js');
  require('ssh2/lib/protocol/crypto/poly1305.js');
  nodeCrypto.randomFillSync = pooledRandomFill;
  try {
    require(CIPHER_MODULE);
  } finally {
    nodeCrypto.randomFillSync = fillFromCsprng;
  }
}

/** How many fills the pool served (for its test). */
export function pooledPaddingFills(): number {
  return pooledFills;
}
