import { pooledPaddingFills, sshPaddingPooled } from './ssh2-padding.ts';
import assert from 'node:assert/strict';
import { randomBytes, randomFillSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { test } from 'node:test';

const require = createRequire(import.meta.url);

interface CipherInfo {
  readonly keyLen: number;
  readonly ivLen: number;
}
interface SshCipher {
  allocPacket(payloadLength: number): Buffer;
}
const ssh2Crypto = require('ssh2/lib/protocol/crypto.js') as {
  CIPHER_INFO: Record<string, CipherInfo>;
  MAC_INFO: Record<string, { readonly len: number }>;
  createCipher(config: { outbound: Record<string, unknown> }): SshCipher;
};

function cipher(name: string): SshCipher {
  const info = ssh2Crypto.CIPHER_INFO[name]!;
  const mac = ssh2Crypto.MAC_INFO['hmac-sha2-256']!;
  const outbound = { onWrite: () => undefined, seqno: 0, cipherInfo: info, cipherKey: randomBytes(info.keyLen), cipherIV: randomBytes(info.ivLen), macInfo: mac, macKey: randomBytes(mac.len) };
  return ssh2Crypto.createCipher({ outbound });
}

test('ssh2 packet padding comes from the pool, never the same bytes twice, for the ciphers OpenSSH picks', () => {
  assert.ok(sshPaddingPooled, 'loaded before ssh2 cipher module');
  for (const name of ['chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'aes128-ctr']) {
    const before = pooledPaddingFills();
    const paddings = new Set<string>();
    const packets = 2_000; // more than one 16 KiB block of padding
    for (let i = 0; i < packets; i += 1) {
      const payload = 32 * 1024 + (i % 16);
      const packet = cipher(name).allocPacket(payload);
      const padLength = packet[4]!;
      assert.ok(padLength >= 4, `${name}: RFC 4253 wants at least 4 bytes of padding`);
      paddings.add(packet.subarray(5 + payload, 5 + payload + padLength).toString('hex'));
    }
    assert.equal(pooledPaddingFills() - before, packets, `${name}: every packet's padding came from the pool`);
    assert.equal(paddings.size, packets, `${name}: no padding repeats`);
  }
});

test('the rest of the process keeps node:crypto randomFillSync', () => {
  const before = pooledPaddingFills();
  randomFillSync(Buffer.alloc(16));
  assert.equal(require('node:crypto').randomFillSync, randomFillSync);
  assert.equal(pooledPaddingFills(), before);
});
