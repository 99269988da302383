import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyHeader, ProxyHeaderError } from './proxy-protocol.ts';

const SSH = Buffer.from('SSH-2.0-OpenSSH_9.2\r\n');
const v2 = (command: number, family: number, addresses: Buffer) => {
  const head = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20 | command, family, 0, 0]);
  head.writeUInt16BE(addresses.length, 14);
  return Buffer.concat([head, addresses]);
};

test('v1: TCP4 and TCP6 name the client; UNKNOWN keeps the balancer; the SSH bytes after it are not consumed', () => {
  const tcp4 = Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 40000 22\r\n'), SSH]);
  assert.deepEqual(parseProxyHeader(tcp4), { source: { address: '203.0.113.7', port: 40000 }, length: tcp4.length - SSH.length });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 40000 22\r\n'))?.source, { address: '2001:db8::7', port: 40000 });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { source: undefined, length: 15 });
  assert.equal(parseProxyHeader(Buffer.from('PROXY TCP4 203.0')), null, 'incomplete: wait for more');
});

test('v2: PROXY over TCP4 and TCP6, LOCAL; incomplete waits', () => {
  const ipv4 = Buffer.from([203, 0, 113, 7, 192, 0, 2, 1, 0x9c, 0x40, 0, 22]);
  const header = v2(1, 0x11, ipv4);
  assert.deepEqual(parseProxyHeader(Buffer.concat([header, SSH])), { source: { address: '203.0.113.7', port: 40000 }, length: header.length });
  const ipv6 = Buffer.alloc(36);
  ipv6.writeUInt16BE(0x2001, 0);
  ipv6.writeUInt16BE(0x0db8, 2);
  ipv6.writeUInt16BE(7, 14);
  ipv6.writeUInt16BE(40000, 32);
  assert.deepEqual(parseProxyHeader(v2(1, 0x21, ipv6))?.source, { address: '2001:db8:0:0:0:0:0:7', port: 40000 });
  assert.deepEqual(parseProxyHeader(v2(0, 0x00, Buffer.alloc(0)))?.source, undefined);
  assert.equal(parseProxyHeader(header.subarray(0, 10)), null);
});

test('anything else is refused: plain SSH, spoofed fields, oversized headers', () => {
  for (const bad of [
    SSH,
    Buffer.from('PROXY TCP4 not-an-ip 192.0.2.1 40000 22\r\n'),
    Buffer.from('PROXY TCP4 2001:db8::7 192.0.2.1 40000 22\r\n'),
    Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 99999 22\r\n'),
    Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`),
    v2(1, 0x11, Buffer.alloc(4000)),
    Buffer.concat([v2(1, 0x11, Buffer.alloc(12)).subarray(0, 12), Buffer.from([0x30, 0x11, 0, 12])]),
  ]) {
    assert.throws(() => parseProxyHeader(bad), ProxyHeaderError, bad.toString('latin1').slice(0, 40));
  }
});
