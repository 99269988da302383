import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { SftpDecoder, type SftpFileEvent } from './sftp-decoder.ts';

const u32 = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
};
const u64 = (value: number) => {
  const buffer = Buffer.alloc(8);
  buffer.writeBigUInt64BE(BigInt(value));
  return buffer;
};
const str = (value: string | Buffer) => Buffer.concat([u32(Buffer.byteLength(value)), Buffer.from(value)]);
const packet = (type: number, ...parts: Buffer[]) => {
  const body = Buffer.concat([Buffer.from([type]), ...parts]);
  return Buffer.concat([u32(body.length), body]);
};

function decoder(keep = 0) {
  const events: { event: SftpFileEvent; content?: Buffer }[] = [];
  const errors: string[] = [];
  const sftp = new SftpDecoder({ keepContentBytes: keep, onEvent: (event, content) => events.push({ event, ...(content ? { content } : {}) }), onError: (message) => errors.push(message) });
  return { sftp, events, errors };
}

test('an upload becomes one file event with its size and SHA-256, however the packets are split', () => {
  const { sftp, events, errors } = decoder();
  const content = Buffer.alloc(100_000, 7);
  const handle = Buffer.from('h1');
  sftp.clientData(Buffer.concat([packet(1, u32(3)), packet(3, u32(1), str('/tmp/up.bin'), u32(0x02 | 0x08 | 0x10), u32(0))]));
  sftp.serverData(Buffer.concat([packet(2, u32(3)), packet(102, u32(1), str(handle))]));
  const client = Buffer.concat([
    packet(6, u32(2), str(handle), u64(0), str(content.subarray(0, 60_000))),
    packet(6, u32(3), str(handle), u64(60_000), str(content.subarray(60_000))),
    packet(4, u32(4), str(handle)),
  ]);
  // Split at awkward places: inside a length prefix and inside data.
  for (let at = 0; at < client.length; at += 7_001) sftp.clientData(client.subarray(at, Math.min(client.length, at + 7_001)));
  sftp.serverData(Buffer.concat([packet(101, u32(2), u32(0), str(''), str('')), packet(101, u32(3), u32(0), str(''), str(''))]));
  assert.equal(events.length, 0, 'nothing before the close is answered');
  sftp.serverData(packet(101, u32(4), u32(0), str(''), str('')));
  assert.deepEqual(errors, []);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0]!.event, {
    operation: 'upload',
    path: '/tmp/up.bin',
    direction: 'upload',
    bytes: content.length,
    sha256: createHash('sha256').update(content).digest('hex'),
    result: 'ok',
  });
});

test('a download is hashed from the server data and content is kept only up to the cap', () => {
  const { sftp, events } = decoder(10);
  const handle = Buffer.from('h2');
  sftp.clientData(Buffer.concat([packet(3, u32(1), str('/etc/motd'), u32(0x01), u32(0)), packet(5, u32(2), str(handle), u64(0), u32(32768))]));
  sftp.serverData(packet(102, u32(1), str(handle)));
  sftp.serverData(packet(103, u32(2), str('hello world, from the server')));
  sftp.clientData(Buffer.concat([packet(5, u32(3), str(handle), u64(28), u32(32768)), packet(4, u32(4), str(handle))]));
  sftp.serverData(Buffer.concat([packet(101, u32(3), u32(1), str('End of file'), str('')), packet(101, u32(4), u32(0), str(''), str(''))]));
  assert.equal(events.length, 1);
  assert.equal(events[0]!.event.operation, 'download');
  assert.equal(events[0]!.event.bytes, 28);
  assert.equal(events[0]!.event.sha256, createHash('sha256').update('hello world, from the server').digest('hex'));
  assert.equal(events[0]!.content?.toString(), 'hello worl');
});

test('remove and rename report the server result; an open file at channel end is reported unclosed', () => {
  const { sftp, events } = decoder();
  sftp.clientData(Buffer.concat([packet(13, u32(1), str('/nope')), packet(18, u32(2), str('/a'), str('/b')), packet(3, u32(3), str('/w'), u32(0x02), u32(0))]));
  sftp.serverData(Buffer.concat([packet(101, u32(1), u32(2), str('No such file'), str('')), packet(101, u32(2), u32(0), str(''), str('')), packet(102, u32(3), str('h'))]));
  sftp.end();
  assert.deepEqual(
    events.map(({ event }) => [event.operation, event.path, event.result]),
    [
      ['remove', '/nope', 'No such file'],
      ['rename', '/a', 'ok'],
      ['upload', '/w', 'unclosed'],
    ],
  );
});

test('a stream that is not SFTP stops decoding with one error', () => {
  const { sftp, errors } = decoder();
  sftp.clientData(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  sftp.clientData(Buffer.from('more'));
  assert.equal(errors.length, 1);
});

const open = (id: number, path: string) => packet(3, u32(id), str(path), u32(0x02), u32(0));
const write = (id: number, handle: Buffer, offset: number, data: Buffer) => packet(6, u32(id), str(handle), u64(offset), str(data));
const ok = (id: number) => packet(101, u32(id), u32(0), str(''), str(''));
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test('files written in turns, in pieces of every size, each get their own SHA-256; events keep the order the operations ended', () => {
  const { sftp, events, errors } = decoder();
  const contents = [Buffer.alloc(700_000, 1), Buffer.alloc(300_001, 2), Buffer.alloc(5, 3)].map((fill, index) => Buffer.from(fill.map((byte, at) => (byte * 31 + at * (index + 7)) & 0xff)));
  const handles = contents.map((_, index) => Buffer.from(`handle-${index}`));
  sftp.clientData(Buffer.concat(contents.map((_, index) => open(index + 1, `/up/${index}`))));
  sftp.serverData(Buffer.concat(handles.map((handle, index) => packet(102, u32(index + 1), str(handle)))));
  const offsets = contents.map(() => 0);
  let id = 100;
  for (let round = 0; offsets.some((offset, index) => offset < contents[index]!.length); round += 1) {
    contents.forEach((content, index) => {
      const size = [1, 32_768, 262_144, 99_999][(round + index) % 4]!;
      const piece = content.subarray(offsets[index], offsets[index]! + size);
      if (piece.length === 0) return;
      sftp.clientData(write(id++, handles[index]!, offsets[index]!, piece));
      offsets[index]! += piece.length;
    });
  }
  // Closed in another order than opened, with a remove between: the order of the answers is the order of the events.
  sftp.clientData(Buffer.concat([packet(4, u32(1_001), str(handles[1]!)), packet(13, u32(1_002), str('/gone')), packet(4, u32(1_003), str(handles[0]!)), packet(4, u32(1_004), str(handles[2]!))]));
  sftp.serverData(Buffer.concat([ok(1_001), ok(1_002), ok(1_003), ok(1_004)]));
  sftp.end();
  assert.deepEqual(errors, []);
  assert.deepEqual(
    events.map(({ event }) => [event.operation, event.path, event.bytes, event.sha256]),
    [
      ['upload', '/up/1', contents[1]!.length, sha256(contents[1]!)],
      ['remove', '/gone', 0, null],
      ['upload', '/up/0', contents[0]!.length, sha256(contents[0]!)],
      ['upload', '/up/2', contents[2]!.length, sha256(contents[2]!)],
    ],
  );
});

/** Opens `path`, writes `content` at offset 0 and closes, every client byte in a piece of its own. */
function uploadByteByByte(sftp: SftpDecoder, path: string, content: Buffer): void {
  const handle = Buffer.from(path);
  sftp.clientData(packet(3, u32(1), str(path), u32(0x02 | 0x08), u32(0)));
  sftp.serverData(packet(102, u32(1), str(handle)));
  const client = Buffer.concat([packet(6, u32(2), str(handle), u64(0), str(content)), packet(4, u32(3), str(handle))]);
  for (let at = 0; at < client.length; at += 1) sftp.clientData(client.subarray(at, at + 1));
  sftp.serverData(Buffer.concat([packet(101, u32(2), u32(0), str(''), str('')), packet(101, u32(3), u32(0), str(''), str(''))]));
}

test('an upload sent a byte at a time is decoded whole, its headers split across pieces', () => {
  const { sftp, events, errors } = decoder(64);
  const content = Buffer.from(Array.from({ length: 3_000 }, (_, i) => i % 251));
  uploadByteByByte(sftp, '/tmp/bytes.bin', content);
  assert.deepEqual(errors, []);
  assert.equal(events.length, 1);
  assert.equal(events[0]!.event.bytes, content.length);
  assert.equal(events[0]!.event.sha256, createHash('sha256').update(content).digest('hex'));
  assert.deepEqual(events[0]!.content, content.subarray(0, 64));
});

// A client can send each byte in an SSH packet of its own. Joining every waiting piece on each
// arrival made that quadratic: 64 KiB cost 37 s of the event loop every session shares, so 1 MiB
// would hold it for hours and this test would time out. Linear, it takes a fraction of a second.
test('a 1 MiB write sent a byte at a time is decoded without holding the event loop', { timeout: 20_000 }, () => {
  const { sftp, events, errors } = decoder();
  const content = Buffer.alloc(1024 * 1024, 3);
  uploadByteByByte(sftp, '/tmp/slow.bin', content);
  assert.deepEqual(errors, []);
  assert.equal(events[0]?.event.sha256, createHash('sha256').update(content).digest('hex'));
});
