import { gunzipSync } from 'node:zlib';
import { Encoder, decodeMultiple } from 'cbor-x';

/** `ContainerSSH-Auditlog` padded to 32 bytes, then the version as uint64 little endian. */
const MAGIC = 'ContainerSSH-Auditlog';
export const HEADER_LENGTH = 40;
/** Version 2: the gzip body is a stream of CBOR maps, one per message (no enclosing array). */
export const FORMAT_VERSION = 2;

export interface AuditMessage {
  readonly connectionId: string;
  /** Nanoseconds since the epoch. */
  readonly timestamp: bigint;
  readonly type: number;
  readonly payload: Record<string, unknown> | null;
  /** null for connection-level messages. */
  readonly channelId: number | null;
}

export function fileHeader(version = FORMAT_VERSION): Buffer {
  const header = Buffer.alloc(HEADER_LENGTH);
  header.write(MAGIC, 0, 'utf8');
  header.writeBigUInt64LE(BigInt(version), 32);
  return header;
}

// Plain CBOR maps keyed like ContainerSSH's Go json tags; byte strings stay byte strings (no typed-array tags).
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, mapsAsObjects: true, variableMapSize: true } as ConstructorParameters<typeof Encoder>[0]);

export function encodeMessage(message: AuditMessage): Buffer {
  const encoded = encoder.encode(message);
  return Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength);
}

/** CBOR head of a major type with its argument (RFC 8949 §3). */
function head(major: number, value: number | bigint): Buffer {
  const n = BigInt(value);
  if (n < 24n) return Buffer.from([(major << 5) | Number(n)]);
  if (n < 0x100n) return Buffer.from([(major << 5) | 24, Number(n)]);
  if (n < 0x10000n) return Buffer.from([(major << 5) | 25, Number(n >> 8n), Number(n & 0xffn)]);
  if (n < 0x100000000n) {
    const out = Buffer.alloc(5);
    out[0] = (major << 5) | 26;
    out.writeUInt32BE(Number(n), 1);
    return out;
  }
  const out = Buffer.alloc(9);
  out[0] = (major << 5) | 27;
  out.writeBigUInt64BE(n, 1);
  return out;
}

const text = (value: string) => {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([head(3, bytes.length), bytes]);
};
const KEY_CONNECTION_ID = text('connectionId');
const KEY_TIMESTAMP = text('timestamp');
const KEY_TYPE = text('type');
const KEY_PAYLOAD = text('payload');
const KEY_STREAM = text('stream');
const KEY_DATA = text('data');
const KEY_CHANNEL_ID = text('channelId');

/**
 * Writes a CBOR head (RFC 8949 §3) at `offset`; returns the offset after it. A bigint is always
 * a uint64, as cbor-x writes it, so both encodings agree byte for byte.
 */
function writeHead(target: Buffer, offset: number, major: number, value: number | bigint): number {
  if (typeof value === 'bigint') {
    target[offset] = (major << 5) | 27;
    target.writeBigUInt64BE(value, offset + 1);
    return offset + 9;
  }
  const n = Number(value);
  if (n < 24) {
    target[offset] = (major << 5) | n;
    return offset + 1;
  }
  if (n < 0x100) {
    target[offset] = (major << 5) | 24;
    target[offset + 1] = n;
    return offset + 2;
  }
  if (n < 0x10000) {
    target[offset] = (major << 5) | 25;
    target.writeUInt16BE(n, offset + 1);
    return offset + 3;
  }
  target[offset] = (major << 5) | 26;
  target.writeUInt32BE(n, offset + 1);
  return offset + 5;
}

/** The constant keys and values between an I/O message's timestamp and its stream number. */
const IO_TYPE_AND_PAYLOAD = Buffer.concat([KEY_TYPE, head(0, 500), KEY_PAYLOAD, Buffer.from([0xa2]), KEY_STREAM]);
/** Longest CBOR head: a type byte and a uint64. */
const MAX_HEAD = 9;

/**
 * Encodes a connection's I/O messages (type 500) as pieces whose middle one is `data` itself,
 * uncopied: the same CBOR map encodeMessage makes. This runs for every chunk of a session's
 * stream, so the connection's constant prefix is encoded once and each message costs one small
 * allocation for its head; the channel's trailer is shared.
 */
export class IoMessageEncoder {
  private readonly prefix: Buffer;
  private readonly trailers = new Map<number, Buffer>();

  constructor(connectionId: string) {
    this.prefix = Buffer.concat([Buffer.from([0xa5]), KEY_CONNECTION_ID, text(connectionId), KEY_TIMESTAMP]);
  }

  encode(timestamp: bigint, channelId: number, stream: number, data: Buffer): Buffer[] {
    const before = Buffer.allocUnsafe(this.prefix.length + MAX_HEAD + IO_TYPE_AND_PAYLOAD.length + MAX_HEAD + KEY_DATA.length + MAX_HEAD);
    let offset = this.prefix.copy(before, 0);
    offset = writeHead(before, offset, 0, timestamp);
    offset += IO_TYPE_AND_PAYLOAD.copy(before, offset);
    offset = writeHead(before, offset, 0, stream);
    offset += KEY_DATA.copy(before, offset);
    offset = writeHead(before, offset, 2, data.length);
    let trailer = this.trailers.get(channelId);
    if (!trailer) {
      trailer = Buffer.concat([KEY_CHANNEL_ID, head(0, channelId)]);
      this.trailers.set(channelId, trailer);
    }
    return [before.subarray(0, offset), data, trailer];
  }
}

/** One I/O message as pieces (see IoMessageEncoder, which a recorder keeps for its connection). */
export function encodeIoMessage(connectionId: string, timestamp: bigint, channelId: number, stream: number, data: Buffer): Buffer[] {
  return new IoMessageEncoder(connectionId).encode(timestamp, channelId, stream, data);
}

/** Wall clock at start plus the monotonic clock since: nanosecond stamps that never go back. */
const EPOCH_OFFSET = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

export function nowNanoseconds(): bigint {
  return EPOCH_OFFSET + process.hrtime.bigint();
}

export class BinaryLogError extends Error {}

/**
 * Decodes a whole binary audit log: version 1 (one CBOR array) or version 2 (a CBOR sequence),
 * the gzip body possibly made of several members (one per flushed chunk).
 */
export function decodeBinaryLog(file: Buffer): { version: number; messages: AuditMessage[] } {
  if (file.length < HEADER_LENGTH) throw new BinaryLogError('too short for the 40-byte audit log header');
  const magic = file.subarray(0, 32).toString('utf8').replace(/\0+$/, '');
  if (magic !== MAGIC) throw new BinaryLogError('not a ContainerSSH audit log (bad magic)');
  const version = Number(file.readBigUInt64LE(32));
  if (version !== 1 && version !== 2) throw new BinaryLogError(`unsupported audit log version ${version}`);
  let body: Buffer;
  try {
    body = file.length === HEADER_LENGTH ? Buffer.alloc(0) : gunzipSync(file.subarray(HEADER_LENGTH));
  } catch (cause) {
    throw new BinaryLogError(`the gzip body is damaged: ${(cause as Error).message}`);
  }
  const items: unknown[] = [];
  if (body.length > 0) {
    try {
      decodeMultiple(body, (item: unknown) => {
        items.push(item);
      });
    } catch (cause) {
      throw new BinaryLogError(`the CBOR body is damaged: ${(cause as Error).message}`);
    }
  }
  const messages = (version === 1 && items.length === 1 && Array.isArray(items[0]) ? (items[0] as unknown[]) : items).map(toMessage);
  return { version, messages };
}

function toMessage(item: unknown): AuditMessage {
  if (item === null || typeof item !== 'object') throw new BinaryLogError('a message is not a CBOR map');
  const raw = item as Record<string, unknown>;
  if (typeof raw.type !== 'number' && typeof raw.type !== 'bigint') throw new BinaryLogError('a message has no type');
  return {
    connectionId: String(raw.connectionId ?? ''),
    timestamp: BigInt((raw.timestamp as number | bigint | undefined) ?? 0),
    type: Number(raw.type),
    payload: (raw.payload ?? null) as Record<string, unknown> | null,
    channelId: raw.channelId === null || raw.channelId === undefined ? null : Number(raw.channelId),
  };
}
