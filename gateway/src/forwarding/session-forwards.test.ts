import assert from 'node:assert/strict';
import { test } from 'node:test';
import { x11CookieBytes, xauthorityEntry } from './session-forwards.ts';

test('the X11 cookie is decoded from the hex string OpenSSH sends, as ssh2 hands it over', () => {
  const cookie = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const asSent = Buffer.from(cookie.toString('hex'), 'latin1').toString('hex');
  assert.deepEqual(x11CookieBytes(asSent), cookie);
});

test('an .Xauthority entry is FamilyWild, display number, protocol name and cookie, each length-prefixed', () => {
  const entry = xauthorityEntry(10, 'MIT-MAGIC-COOKIE-1', Buffer.from([1, 2, 3]));
  assert.equal(entry.toString('hex'), `ffff0000000231300012${Buffer.from('MIT-MAGIC-COOKIE-1').toString('hex')}0003010203`);
});
