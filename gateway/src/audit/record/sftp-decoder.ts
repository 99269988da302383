import { createHash, type Hash } from 'node:crypto';

/** One decoded SFTP operation, recorded instead of the channel's raw bytes. */
export interface SftpFileEvent {
  readonly operation: 'upload' | 'download' | 'open' | 'remove' | 'rename' | 'mkdir' | 'rmdir' | 'setstat';
  readonly path: string;
  /** For rename. */
  readonly newPath?: string;
  readonly direction: 'upload' | 'download' | 'none';
  readonly bytes: number;
  /** SHA-256 of the content as transferred; null when it was not sent in order (no single hash exists). */
  readonly sha256: string | null;
  /** `ok`, the server's failure message, or `unclosed` when the channel ended first. */
  readonly result: string;
}

export interface SftpDecoderOptions {
  readonly onEvent: (event: SftpFileEvent, content?: Buffer) => void;
  /** Keep up to this many bytes of each file's content (0: none). */
  readonly keepContentBytes: number;
  /** Told once if the stream is not SFTP as this decoder knows it; decoding stops. */
  readonly onError: (message: string) => void;
}

// RFC draft-ietf-secsh-filexfer-02 (SFTP v3, what OpenSSH speaks) packet types.
const FXP = { INIT: 1, VERSION: 2, OPEN: 3, CLOSE: 4, READ: 5, WRITE: 6, SETSTAT: 9, REMOVE: 13, MKDIR: 14, RMDIR: 15, RENAME: 18, STATUS: 101, HANDLE: 102, DATA: 103 } as const;
const FXF_WRITE = 0x02;
/** OpenSSH caps packets at 256 KiB; anything far beyond is not SFTP. */
const MAX_PACKET = 4 * 1024 * 1024;
/** Pieces a packet may wait in before small ones are joined: a 4 MiB packet in 32 KiB pieces is 128. */
const MAX_PIECES = 256;

interface OpenFile {
  path: string;
  flags: number;
  written: number;
  read: number;
  writeHash: Hash;
  readHash: Hash;
  nextWrite: number;
  nextRead: number;
  writeOrdered: boolean;
  readOrdered: boolean;
  content: Buffer[];
  contentBytes: number;
}

type Pending =
  | { kind: 'open'; path: string; flags: number }
  | { kind: 'read'; handle: string; offset: number }
  | { kind: 'close'; handle: string }
  | { kind: 'path'; operation: 'remove' | 'mkdir' | 'rmdir' | 'setstat'; path: string }
  | { kind: 'rename'; path: string; newPath: string };

/**
 * Reassembles length-prefixed packets from one direction of the channel. A packet is handed on
 * as the pieces of the channel data it arrived in: OpenSSH's 32 KiB writes span two SSH packets
 * each, and joining them cost a copy of every byte an upload sends. Only runs of many small
 * pieces are joined (see push).
 */
class PacketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Chunks before this index are runs of small pieces already joined (see push). */
  private joined = 0;

  constructor(
    private readonly onPacket: (packet: Buffer[]) => void,
    private readonly onError: (message: string) => void,
  ) {}

  push(data: Buffer) {
    if (data.length === 0) return;
    this.chunks.push(data);
    this.size += data.length;
    // A client may send a byte per SSH packet, each a view that keeps its packet alive: past
    // MAX_PIECES pieces waiting, the newer ones are joined into one run (each byte copied once).
    if (this.chunks.length - this.joined > MAX_PIECES) {
      this.chunks.splice(this.joined, Number.POSITIVE_INFINITY, Buffer.concat(this.chunks.slice(this.joined)));
      this.joined += 1;
    }
    while (this.size >= 4) {
      const length = new Cursor(this.chunks).uint32();
      if (length === 0 || length > MAX_PACKET) return this.onError(`an SFTP packet of ${length} bytes`);
      if (this.size < 4 + length) return;
      this.take(4);
      this.onPacket(this.take(length));
    }
  }

  /** The next `count` buffered bytes, as subarrays of the chunks they are in. */
  private take(count: number): Buffer[] {
    const pieces: Buffer[] = [];
    let left = count;
    while (left > 0) {
      const chunk = this.chunks[0]!;
      if (chunk.length <= left) {
        pieces.push(chunk);
        this.chunks.shift();
        this.joined = Math.max(0, this.joined - 1);
        left -= chunk.length;
      } else {
        pieces.push(chunk.subarray(0, left));
        this.chunks[0] = chunk.subarray(left);
        left = 0;
      }
    }
    this.size -= count;
    return pieces;
  }
}

function byteLength(pieces: readonly Buffer[]): number {
  let length = 0;
  for (const piece of pieces) length += piece.length;
  return length;
}

/** Reads SSH wire types from a packet held in pieces; throws RangeError when it is cut short. */
class Cursor {
  private piece = 0;
  private at = 0;
  constructor(private readonly pieces: readonly Buffer[]) {}
  byte() {
    return this.contiguous(1).readUInt8(0);
  }
  uint32() {
    return this.contiguous(4).readUInt32BE(0);
  }
  uint64() {
    return Number(this.contiguous(8).readBigUInt64BE(0));
  }
  /** A string's bytes in one buffer: handles and paths, which are short. */
  bytes() {
    return Buffer.concat(this.spans());
  }
  /** A string's bytes as they lie in the pieces, uncopied: file data. */
  spans() {
    return this.slices(this.uint32());
  }
  string() {
    return this.bytes().toString('utf8');
  }

  private contiguous(length: number): Buffer {
    const here = this.pieces[this.piece];
    if (here && this.at + length <= here.length) {
      const value = here.subarray(this.at, this.at + length);
      this.at += length;
      if (this.at === here.length) this.next();
      return value;
    }
    return Buffer.concat(this.slices(length));
  }

  private slices(length: number): Buffer[] {
    const out: Buffer[] = [];
    let left = length;
    while (left > 0) {
      const here = this.pieces[this.piece];
      if (!here) throw new RangeError('string past the end of the packet');
      const take = Math.min(left, here.length - this.at);
      out.push(here.subarray(this.at, this.at + take));
      this.at += take;
      left -= take;
      if (this.at === here.length) this.next();
    }
    return out;
  }

  private next() {
    this.piece += 1;
    this.at = 0;
  }
}

/**
 * Decodes an SFTP subsystem channel into per-file events: client packets (stdin) and server
 * packets (stdout) are matched by request id. Content is hashed as it passes and is never kept
 * beyond the per-file cap.
 */
export class SftpDecoder {
  private readonly pending = new Map<number, Pending>();
  private readonly files = new Map<string, OpenFile>();
  private readonly fromClient: PacketReader;
  private readonly fromServer: PacketReader;
  private broken = false;

  constructor(private readonly options: SftpDecoderOptions) {
    const fail = (message: string) => {
      if (this.broken) return;
      this.broken = true;
      this.options.onError(message);
    };
    this.fromClient = new PacketReader((packet) => this.guard(() => this.clientPacket(packet), fail), fail);
    this.fromServer = new PacketReader((packet) => this.guard(() => this.serverPacket(packet), fail), fail);
  }

  private guard(step: () => void, fail: (message: string) => void) {
    try {
      step();
    } catch (error) {
      fail(`a malformed SFTP packet (${(error as Error).message})`);
    }
  }

  clientData(data: Buffer) {
    if (!this.broken) this.fromClient.push(data);
  }

  serverData(data: Buffer) {
    if (!this.broken) this.fromServer.push(data);
  }

  private clientPacket(packet: Buffer[]) {
    const cursor = new Cursor(packet);
    const type = cursor.byte();
    if (type === FXP.INIT) return;
    const id = cursor.uint32();
    switch (type) {
      case FXP.OPEN: {
        const path = cursor.string();
        this.pending.set(id, { kind: 'open', path, flags: cursor.uint32() });
        return;
      }
      case FXP.CLOSE:
        this.pending.set(id, { kind: 'close', handle: cursor.bytes().toString('hex') });
        return;
      case FXP.READ: {
        const handle = cursor.bytes().toString('hex');
        this.pending.set(id, { kind: 'read', handle, offset: cursor.uint64() });
        return;
      }
      case FXP.WRITE: {
        const file = this.files.get(cursor.bytes().toString('hex'));
        const offset = cursor.uint64();
        const data = cursor.spans();
        if (!file) return;
        const length = byteLength(data);
        file.written += length;
        if (offset === file.nextWrite && file.writeOrdered) {
          for (const piece of data) file.writeHash.update(piece);
          file.nextWrite += length;
        } else file.writeOrdered = false;
        this.keep(file, data);
        return;
      }
      case FXP.REMOVE:
        this.pending.set(id, { kind: 'path', operation: 'remove', path: cursor.string() });
        return;
      case FXP.MKDIR:
        this.pending.set(id, { kind: 'path', operation: 'mkdir', path: cursor.string() });
        return;
      case FXP.RMDIR:
        this.pending.set(id, { kind: 'path', operation: 'rmdir', path: cursor.string() });
        return;
      case FXP.SETSTAT:
        this.pending.set(id, { kind: 'path', operation: 'setstat', path: cursor.string() });
        return;
      case FXP.RENAME: {
        const path = cursor.string();
        this.pending.set(id, { kind: 'rename', path, newPath: cursor.string() });
        return;
      }
      default:
        return; // stat, readdir, realpath…: not file content, not recorded as file events
    }
  }

  /** Copies what fits under the cap: the pieces belong to the channel's data. */
  private keep(file: OpenFile, data: readonly Buffer[]) {
    for (const piece of data) {
      const room = this.options.keepContentBytes - file.contentBytes;
      if (room <= 0) return;
      const kept = Buffer.from(piece.length <= room ? piece : piece.subarray(0, room));
      file.content.push(kept);
      file.contentBytes += kept.length;
    }
  }

  private serverPacket(packet: Buffer[]) {
    const cursor = new Cursor(packet);
    const type = cursor.byte();
    if (type === FXP.VERSION) return;
    const id = cursor.uint32();
    const request = this.pending.get(id);
    if (!request) return;
    if (request.kind !== 'read' || type !== FXP.DATA) this.pending.delete(id);
    switch (type) {
      case FXP.HANDLE:
        if (request.kind === 'open') {
          const hash = () => createHash('sha256');
          this.files.set(cursor.bytes().toString('hex'), {
            path: request.path,
            flags: request.flags,
            written: 0,
            read: 0,
            writeHash: hash(),
            readHash: hash(),
            nextWrite: 0,
            nextRead: 0,
            writeOrdered: true,
            readOrdered: true,
            content: [],
            contentBytes: 0,
          });
        }
        return;
      case FXP.DATA: {
        this.pending.delete(id);
        if (request.kind !== 'read') return;
        const file = this.files.get(request.handle);
        const data = cursor.spans();
        if (!file) return;
        const length = byteLength(data);
        file.read += length;
        if (request.offset === file.nextRead && file.readOrdered) {
          for (const piece of data) file.readHash.update(piece);
          file.nextRead += length;
        } else file.readOrdered = false;
        this.keep(file, data);
        return;
      }
      case FXP.STATUS: {
        const code = cursor.uint32();
        const message = code === 0 ? 'ok' : cursor.string() || `status ${code}`;
        if (request.kind === 'close') {
          const file = this.files.get(request.handle);
          this.files.delete(request.handle);
          if (file) this.emitFile(file, message);
        } else if (request.kind === 'path') {
          this.options.onEvent({ operation: request.operation, path: request.path, direction: 'none', bytes: 0, sha256: null, result: message });
        } else if (request.kind === 'rename') {
          this.options.onEvent({ operation: 'rename', path: request.path, newPath: request.newPath, direction: 'none', bytes: 0, sha256: null, result: message });
        } else if (request.kind === 'open') {
          this.options.onEvent({ operation: 'open', path: request.path, direction: request.flags & FXF_WRITE ? 'upload' : 'download', bytes: 0, sha256: null, result: message });
        }
        // A read answered with a status is end of file or an error; the hash so far stands.
        return;
      }
      default:
        return;
    }
  }

  private emitFile(file: OpenFile, result: string) {
    const upload = file.written > 0 || (file.read === 0 && (file.flags & FXF_WRITE) !== 0);
    const content = file.contentBytes > 0 ? Buffer.concat(file.content) : undefined;
    this.options.onEvent(
      {
        operation: upload ? 'upload' : file.read > 0 ? 'download' : 'open',
        path: file.path,
        direction: upload ? 'upload' : 'download',
        bytes: upload ? file.written : file.read,
        sha256: upload ? (file.writeOrdered ? file.writeHash.digest('hex') : null) : file.readOrdered ? file.readHash.digest('hex') : null,
        result,
      },
      content,
    );
  }

  /** The channel ended: files still open are reported as such. */
  end() {
    for (const file of this.files.values()) this.emitFile(file, 'unclosed');
    this.files.clear();
    this.pending.clear();
  }
}
