import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inAnyRange, sourceBlock } from './source-block.ts';

test('addresses are grouped by prefix: IPv4 by /32 by default, IPv6 by /64, mapped IPv4 as IPv4', () => {
  assert.equal(sourceBlock('127.0.0.2', 32, 64), '127.0.0.2/32');
  assert.equal(sourceBlock('192.0.2.77', 24, 64), '192.0.2.0/24');
  assert.equal(sourceBlock('2001:db8:1:2:aaaa::1', 32, 64), sourceBlock('2001:db8:1:2:ffff::9', 32, 64));
  assert.notEqual(sourceBlock('2001:db8:1:2::1', 32, 64), sourceBlock('2001:db8:1:3::1', 32, 64));
  assert.equal(sourceBlock('::ffff:127.0.0.2', 32, 64), '127.0.0.2/32');
});

test('exempt ranges match by family and prefix', () => {
  assert.ok(inAnyRange('127.0.0.1', ['127.0.0.1/32']));
  assert.ok(!inAnyRange('127.0.0.2', ['127.0.0.1/32']));
  assert.ok(inAnyRange('::ffff:10.1.2.3', ['10.0.0.0/8', '2001:db8::/32']));
  assert.ok(!inAnyRange('2001:db9::1', ['10.0.0.0/8', '2001:db8::/32']));
});
