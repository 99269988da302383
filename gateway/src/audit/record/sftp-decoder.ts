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

/** Reassembles length-prefixed packets from one direction of the channel. */
class PacketReader {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly onPacket: (packet: Buffer) => void,
    private readonly onError: (message: string) => void,
  ) {}

  push(data: Buffer) {
    this.chunks.push(data);
    this.size += data.length;
    while (this.size >= 4) {
      const head = this.chunks[0]!.length >= 4 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const length = head.readUInt32BE(0);
      if (length === 0 || length > MAX_PACKET) return this.onError(`an SFTP packet of ${length} bytes`);
      if (this.size < 4 + length) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.onPacket(all.subarray(4, 4 + length));
      const rest = all.subarray(4 + length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
    }
  }
}

/** Reads SSH wire types from a packet; throws RangeError when it is cut short. */
class Cursor {
  private at = 0;
  constructor(private readonly packet: Buffer) {}
  byte() {
    return this.packet.readUInt8(this.at++);
  }
  uint32() {
    const value = this.packet.readUInt32BE(this.at);
    this.at += 4;
    return value;
  }
  uint64() {
    const value = Number(this.packet.readBigUInt64BE(this.at));
    this.at += 8;
    return value;
  }
  bytes() {
    const length = this.uint32();
    if (this.at + length > this.packet.length) throw new RangeError('string past the end of the packet');
    const value = this.packet.subarray(this.at, this.at + length);
    this.at += length;
    return value;
  }
  string() {
    return this.bytes().toString('utf8');
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

  private clientPacket(packet: Buffer) {
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
        const data = cursor.bytes();
        if (!file) return;
        file.written += data.length;
        if (offset === file.nextWrite && file.writeOrdered) {
          file.writeHash.update(data);
          file.nextWrite += data.length;
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

  private keep(file: OpenFile, data: Buffer) {
    const room = this.options.keepContentBytes - file.contentBytes;
    if (room <= 0) return;
    const piece = data.length <= room ? Buffer.from(data) : Buffer.from(data.subarray(0, room));
    file.content.push(piece);
    file.contentBytes += piece.length;
  }

  private serverPacket(packet: Buffer) {
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
        const data = cursor.bytes();
        if (!file) return;
        file.read += data.length;
        if (request.offset === file.nextRead && file.readOrdered) {
          file.readHash.update(data);
          file.nextRead += data.length;
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
