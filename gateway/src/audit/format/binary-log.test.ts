import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { Encoder } from 'cbor-x';
import { BinaryLogError, decodeBinaryLog, encodeMessage, fileHeader, HEADER_LENGTH } from './binary-log.ts';

const message = (type: number, channelId: number | null = null) => ({
  connectionId: 'c0ffee',
  timestamp: 1_700_000_000_000_000_000n,
  type,
  payload: type === 0 ? { remoteAddr: '127.0.0.1:1', country: 'XX' } : null,
  channelId,
});

test("the header is FORMAT.v1.md's: 32 bytes of padded magic, then the version as uint64 little endian", () => {
  const header = fileHeader();
  assert.equal(header.length, HEADER_LENGTH);
  assert.equal(header.subarray(0, 21).toString(), 'ContainerSSH-Auditlog');
  assert.ok(header.subarray(21, 32).every((byte) => byte === 0));
  assert.equal(header.readBigUInt64LE(32), 2n);
});

test('version 2: gzip members, one per flushed chunk, of CBOR maps in sequence', () => {
  const file = Buffer.concat([fileHeader(), gzipSync(Buffer.concat([encodeMessage(message(0)), encodeMessage(message(300, 0))])), gzipSync(encodeMessage(message(1)))]);
  const { version, messages } = decodeBinaryLog(file);
  assert.equal(version, 2);
  assert.deepEqual(
    messages.map((m) => [m.type, m.channelId]),
    [
      [0, null],
      [300, 0],
      [1, null],
    ],
  );
  assert.deepEqual(messages[0]!.payload, { remoteAddr: '127.0.0.1:1', country: 'XX' });
});

test('version 1 (one CBOR array of messages) still decodes', () => {
  const array = new Encoder({ useRecords: false, mapsAsObjects: true } as ConstructorParameters<typeof Encoder>[0]).encode([message(0), message(1)]);
  const { version, messages } = decodeBinaryLog(Buffer.concat([fileHeader(1), gzipSync(Buffer.from(array))]));
  assert.equal(version, 1);
  assert.deepEqual(
    messages.map((m) => m.type),
    [0, 1],
  );
});

test('a damaged file is refused with a reason, never half-read silently', () => {
  assert.throws(() => decodeBinaryLog(Buffer.from('nope')), BinaryLogError);
  const bad = Buffer.concat([fileHeader(), gzipSync(encodeMessage(message(0)))]);
  bad[bad.length - 3] = bad[bad.length - 3]! ^ 0xff;
  assert.throws(() => decodeBinaryLog(bad), /gzip body is damaged/);
});
