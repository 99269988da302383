import type { Readable } from 'node:stream';
import type { AuditConfig } from '@portcullis/wire';
import type { ExitStatus } from '../../backends/index.ts';
import { GatewayError } from '../../errors.ts';
import { errorFields, type Logger } from '../../observability/index.ts';
import type { ConnectionIdentity } from '../../identity/connection-identity.ts';
import { AsciicastEvents, headerLine } from '../format/asciicast.ts';
import { IoMessageEncoder, encodeMessage, fileHeader, nowNanoseconds, type AuditMessage } from '../format/binary-log.ts';
import { ChunkedStream } from '../store/chunked-stream.ts';
import { chunkCompressor } from '../store/chunk-compression.ts';
import { MESSAGE_TYPES, STREAMS, type StreamName } from '../format/message-types.ts';
import { recordingId, type RecordingStore, type StreamWriter } from '../store/recording-store.ts';
import type { QuotaScope, RecordingQuota } from './recording-quota.ts';
import { SftpDecoder, type SftpFileEvent } from './sftp-decoder.ts';
import type { AuthAttempt, ChannelTap, ConnectionTap, KeyboardInteractiveAudit } from './tap.ts';

export interface RecorderContext {
  readonly identity: ConnectionIdentity;
  /** The store for a storage kind, or undefined when the gateway has none configured. */
  readonly storeFor: (kind: AuditConfig['storage']) => RecordingStore | undefined;
  readonly flushIntervalMs: number;
  readonly maxChunkBytes: number;
  /**
   * Back-pressure bound: when a recording stream (or SFTP content) has this many bytes not yet
   * stored, the session's tapped sources pause (the SSH window then stops the client) until a
   * quarter is left. Nothing is dropped, and memory stays bounded.
   */
  readonly maxPendingBytes?: number;
  /** Under back-pressure, a store that stores nothing for this long counts as failed. */
  readonly stallTimeoutMs?: number;
  readonly log: Logger;
  readonly onFailure?: (reason: 'unavailable' | 'write' | 'quota') => void;
  /** Called when a required recording breaks mid-session: the connection must end. */
  readonly onRequiredFailure: () => void;
  /** Bytes per recording and free space on the volume; unbounded without it. */
  readonly quota?: RecordingQuota;
}

type Recording = 'required' | 'best-effort' | 'off';

/** Before the config webhook answers, events wait here (a login has only a few). */
const MAX_EARLY_EVENTS = 64;
/** Never more than this waits for a store answer when the policy demands recording. */
const OPEN_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

export function effectiveRecording(audit: AuditConfig | undefined): Recording {
  if (!audit) return 'off';
  if (audit.recording) return audit.recording;
  return audit.enable === false ? 'off' : 'best-effort';
}

/**
 * Records one SSH connection per the policy's audit settings: ContainerSSH's binary log for
 * everything, an asciicast per terminal, per-file SFTP events (and capped content when asked).
 */
export class ConnectionRecorder implements ConnectionTap {
  private readonly id: string;
  private readonly early: (() => AuditMessage | undefined)[] = [];
  private audit: AuditConfig | undefined;
  private recording: Recording | 'pending' = 'pending';
  private store: RecordingStore | undefined;
  private binary: ChunkedStream | undefined;
  private readonly streams = new Set<ChunkedStream>();
  private readonly pendingWrites = new Set<Promise<unknown>>();
  /** Streams over their back-pressure bound, and the sources paused until they drain. */
  private readonly pressed = new Set<ChunkedStream>();
  private readonly held = new Set<Readable>();
  private pendingContentBytes = 0;
  private nextChannel = 0;
  private failureReported = false;
  /** Set once a required recording broke: nothing more may flow unrecorded while the connection ends. */
  private halted = false;
  private closed = false;
  /** Raw bytes this recording has taken, for the quota. */
  private recordedBytes = 0;
  /** Set once a quota was reached: nothing more is recorded but the disconnect. */
  private quotaReached: QuotaScope | undefined;

  private readonly io: IoMessageEncoder;

  constructor(private readonly context: RecorderContext) {
    this.id = recordingId(context.identity.connectionId);
    this.io = new IoMessageEncoder(context.identity.connectionId);
    this.event(MESSAGE_TYPES.connect, { remoteAddr: context.identity.remoteAddress, country: 'XX' });
  }

  private message(type: number, payload: Record<string, unknown> | null, channelId: number | null): AuditMessage {
    return { connectionId: this.context.identity.connectionId, timestamp: nowNanoseconds(), type, payload, channelId };
  }

  private event(type: number, payload: Record<string, unknown> | null, channelId: number | null = null) {
    if (this.recording === 'pending') {
      if (this.early.length < MAX_EARLY_EVENTS) {
        const message = this.message(type, payload, channelId);
        this.early.push(() => message);
      }
      return;
    }
    if (!this.binary) return;
    const encoded = encodeMessage(this.message(type, payload, channelId));
    if (type === MESSAGE_TYPES.disconnect || this.withinQuota(encoded.length)) this.binary.add(encoded);
  }

  /**
   * Counts `bytes` about to be recorded; false once a quota is reached. The first time, the
   * recording says so itself (a recordingStopped message), and a required recording ends the
   * connection as any broken recording does.
   */
  withinQuota(bytes: number): boolean {
    const quota = this.context.quota;
    if (!quota) return true;
    if (this.quotaReached) return false;
    this.recordedBytes += bytes;
    const scope = quota.exceeded(this.recordedBytes);
    if (!scope) return true;
    this.quotaReached = scope;
    const limit = scope === 'session' ? { maxRecordingBytes: quota.settings.maxRecordingBytes } : { minFreeBytes: quota.settings.minFreeBytes };
    this.binary?.add(encodeMessage(this.message(MESSAGE_TYPES.recordingStopped, { reason: 'quota', scope, ...limit }, null)));
    this.context.onFailure?.('quota');
    this.context.log.warn({ code: 'AUDIT_RECORDING_QUOTA_REACHED', scope, recording: this.recording, ...limit }, 'recording quota reached; nothing more is recorded');
    this.requiredFailed();
    return false;
  }

  get active(): boolean {
    return this.recording === 'required' || this.recording === 'best-effort';
  }

  authAttempt(attempt: AuthAttempt): void {
    const passwordTypes = { accepted: MESSAGE_TYPES.authPasswordSuccessful, rejected: MESSAGE_TYPES.authPasswordFailed, error: MESSAGE_TYPES.authPasswordBackendError };
    const keyTypes = { accepted: MESSAGE_TYPES.authPubKeySuccessful, rejected: MESSAGE_TYPES.authPubKeyFailed, error: MESSAGE_TYPES.authPubKeyBackendError };
    const at = this.message(0, null, null).timestamp;
    const build = (): AuditMessage | undefined => {
      const base = { connectionId: this.context.identity.connectionId, timestamp: at, channelId: null };
      if (attempt.method === 'publickey') return { ...base, type: keyTypes[attempt.outcome], payload: { username: attempt.username, key: attempt.key ?? '' } };
      // The password only where the policy explicitly asks for it (intercept.passwords).
      const password = this.audit?.intercept.passwords && attempt.password ? Buffer.from(attempt.password) : Buffer.alloc(0);
      if (attempt.method === 'password') return { ...base, type: passwordTypes[attempt.outcome], payload: { username: attempt.username, password } };
      return undefined;
    };
    if (this.recording === 'pending') {
      if (this.early.length < MAX_EARLY_EVENTS) this.early.push(build);
    } else if (this.active) {
      const message = build();
      if (message) this.binary?.add(encodeMessage(message));
    }
  }

  keyboardInteractive(step: KeyboardInteractiveAudit): void {
    const at = this.message(0, null, null).timestamp;
    const build = (): AuditMessage => {
      const base = { connectionId: this.context.identity.connectionId, timestamp: at, channelId: null };
      switch (step.kind) {
        case 'challenge':
          return {
            ...base,
            type: MESSAGE_TYPES.authKeyboardInteractiveChallenge,
            payload: { username: step.username, instruction: step.instruction, questions: step.questions.map((q) => ({ question: q.question, echo: q.echo })) },
          };
        case 'answers': {
          // Answers are passwords and one-time codes: kept only where the policy explicitly asks.
          const keep = this.audit?.intercept.passwords === true;
          const answers = step.questions.map((question, index) => ({ question, answer: keep ? (step.answers[index] ?? '') : '' }));
          return { ...base, type: MESSAGE_TYPES.authKeyboardInteractiveAnswer, payload: { username: step.username, answers } };
        }
        case 'failed':
          return { ...base, type: MESSAGE_TYPES.authKeyboardInteractiveFailed, payload: { username: step.username } };
        case 'error':
          return { ...base, type: MESSAGE_TYPES.authKeyboardInteractiveBackendError, payload: { username: step.username, reason: step.reason } };
      }
    };
    if (this.recording === 'pending') {
      if (this.early.length < MAX_EARLY_EVENTS) this.early.push(build);
    } else if (this.active) this.binary?.add(encodeMessage(build()));
  }

  async configure(audit: AuditConfig | undefined): Promise<void> {
    this.audit = audit;
    const recording = effectiveRecording(audit);
    if (recording === 'off' || !audit) {
      this.recording = 'off';
      this.early.length = 0;
      return;
    }
    try {
      const store = this.context.storeFor(audit.storage);
      if (!store) throw new Error(`the gateway has no "${audit.storage}" recording storage configured`);
      this.store = store;
      if (this.context.quota) {
        await this.context.quota.refresh();
        if (this.context.quota.volumeLow) throw new Error(`the recording volume has less than ${this.context.quota.settings.minFreeBytes} bytes free (audit.minFreeBytes)`);
      }
      if (audit.format === 'binary') {
        const writer = await withTimeout(store.openStream(`${this.id}/audit.cslog`, 'containerssh-binary'), OPEN_TIMEOUT_MS);
        this.binary = this.chunked(writer, chunkCompressor(), fileHeader());
        // The header reaches the store at once, so even a session cut short leaves a valid file.
        await this.binary.flush();
        if (this.binary.broken) throw new Error('the first write to the recording storage failed');
      } else await withTimeout(store.check(), OPEN_TIMEOUT_MS);
    } catch (error) {
      this.early.length = 0;
      this.recording = 'off';
      this.context.onFailure?.('unavailable');
      if (recording === 'required') {
        this.context.log.error({ code: 'AUDIT_STORAGE_UNAVAILABLE', recording, storage: audit.storage, ...errorFields(error) }, 'recording required but storage unavailable; login refused');
        throw new GatewayError('AUDIT_STORAGE_UNAVAILABLE', 'Login refused: this session must be recorded, and the recording storage is unavailable.', { cause: error });
      }
      this.context.log.warn({ code: 'AUDIT_STORAGE_UNAVAILABLE', recording, storage: audit.storage, ...errorFields(error) }, 'recording storage unavailable; session continues unrecorded');
      return;
    }
    this.recording = recording;
    for (const build of this.early.splice(0)) {
      const message = build();
      if (message) this.binary?.add(encodeMessage(message));
    }
  }

  private chunked(writer: StreamWriter | Promise<StreamWriter>, encode: (pieces: Buffer[]) => Promise<Buffer[]>, preamble?: Buffer): ChunkedStream {
    const stream = new ChunkedStream({
      writer: lazyWriter(writer),
      encode,
      ...(preamble ? { preamble } : {}),
      flushIntervalMs: this.context.flushIntervalMs,
      maxChunkBytes: this.context.maxChunkBytes,
      highWaterBytes: this.highWater,
      ...(this.context.stallTimeoutMs !== undefined ? { stallTimeoutMs: this.context.stallTimeoutMs } : {}),
      onPressure: (pressed) => {
        if (pressed) this.pressed.add(stream);
        else this.pressed.delete(stream);
        this.releaseIfCaughtUp();
      },
      onFailure: (error) => this.writeFailed(error),
    });
    this.streams.add(stream);
    return stream;
  }

  private get highWater(): number {
    return this.context.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
  }

  private get behind(): boolean {
    return this.pressed.size > 0 || this.pendingContentBytes >= this.highWater;
  }

  /**
   * For ChannelRecorder, after a source's bytes were recorded: while the store is behind, the
   * source pauses, so its producer stops (an SSH channel stops adjusting the client's window).
   * A pipe may resume it on drain; the next chunk pauses it again, so at most one slips by.
   */
  holdIfBehind(source: Readable) {
    if (this.halted) {
      // The recording that must cover this session broke: its streams stop here for good (a
      // pipe's drain would resume a paused source), while the program is told and hung up.
      source.unpipe();
      source.pause();
      return;
    }
    if (!this.behind) return;
    source.pause();
    this.held.add(source);
  }

  private releaseIfCaughtUp() {
    if (this.behind) return;
    for (const source of this.held) if (!source.destroyed) source.resume();
    this.held.clear();
  }

  private writeFailed(error: unknown) {
    if (this.failureReported) return;
    this.failureReported = true;
    this.context.onFailure?.('write');
    this.context.log.error({ code: 'AUDIT_RECORDING_FAILED', recording: this.recording, ...errorFields(error) }, 'writing the recording failed');
    this.requiredFailed();
  }

  /** A required recording broke: no more input or output flows, and the connection ends. */
  private requiredFailed() {
    if (this.recording !== 'required') return;
    this.halted = true;
    this.context.onRequiredFailure();
  }

  handshake(successful: boolean, username = ''): void {
    this.event(successful ? MESSAGE_TYPES.handshakeSuccessful : MESSAGE_TYPES.handshakeFailed, { username });
  }

  globalRequest(type: string): void {
    this.event(MESSAGE_TYPES.globalRequestUnknown, { requestType: type });
  }

  channel(type: string, details: Record<string, unknown> = {}): ChannelTap {
    const channelId = this.nextChannel++;
    this.event(MESSAGE_TYPES.newChannel, { channelType: type, ...details }, channelId);
    if (!this.active && this.recording !== 'pending') return { request() {}, streams() {}, exit() {}, close() {} };
    return new ChannelRecorder(this, channelId, type);
  }

  /** For ChannelRecorder: stream bytes on the binary log, without copying them again. */
  recordIo(channelId: number, stream: number, data: Buffer) {
    if (!this.binary) return;
    for (const piece of this.io.encode(nowNanoseconds(), channelId, stream, data)) this.binary.add(piece);
  }

  /** For ChannelRecorder: one message on the binary log. */
  record(type: number, payload: Record<string, unknown> | null, channelId: number) {
    this.event(type, payload, channelId);
  }

  settings(): AuditConfig | undefined {
    return this.active ? this.audit : undefined;
  }

  openCast(channelId: number, header: Parameters<typeof headerLine>[0]): ChunkedStream | undefined {
    if (!this.store || !this.audit?.asciicast) return undefined;
    const stream = this.chunked(this.store.openStream(`${this.id}/channel-${channelId}.cast`, 'asciicast'), async (pieces) => pieces);
    stream.add(Buffer.from(headerLine(header)));
    return stream;
  }

  storeContent(channelId: number, index: number, content: Buffer): string | undefined {
    if (!this.store || !this.withinQuota(content.length)) return undefined;
    const key = `${this.id}/sftp-${channelId}-${index}.bin`;
    this.pendingContentBytes += content.length;
    const write = this.store.putObject(key, 'sftp-content', content).catch((error: unknown) => this.writeFailed(error));
    this.pendingWrites.add(write);
    void write.finally(() => {
      this.pendingWrites.delete(write);
      this.pendingContentBytes -= content.length;
      this.releaseIfCaughtUp();
    });
    return key;
  }

  sftpDecodeFailed(channelId: number, message: string) {
    this.context.log.warn({ code: 'AUDIT_SFTP_DECODE_FAILED', channelId, reason: message }, 'SFTP stream not decodable; no more file events on this channel');
  }

  async closeStream(stream: ChunkedStream) {
    await stream.close();
    this.streams.delete(stream);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.recording === 'pending') this.recording = 'off';
    this.event(MESSAGE_TYPES.disconnect, null);
    await Promise.all([...this.pendingWrites]);
    await Promise.all([...this.streams].map((stream) => stream.close()));
    if (this.active && !this.failureReported) this.context.log.info({ code: 'AUDIT_RECORDING_STORED', recordingId: this.id }, 'recording stored');
  }
}

class ChannelRecorder implements ChannelTap {
  private pty: { term: string; cols: number; rows: number } | undefined;
  private cast: ChunkedStream | undefined;
  private castEvents: AsciicastEvents | undefined;
  private sftp: SftpDecoder | undefined;
  private sftpFiles = 0;
  private nextRequest = 0;
  private opened = false;
  private closed = false;
  private quotaNoted = false;

  constructor(
    private readonly connection: ConnectionRecorder,
    private readonly channelId: number,
    private readonly type: string,
  ) {}

  private record(type: number, payload: Record<string, unknown> | null) {
    // A channel counts as open once something happens on it; one closed before that was refused.
    if (!this.opened && type !== MESSAGE_TYPES.close) {
      this.opened = true;
      this.connection.record(MESSAGE_TYPES.newChannelSuccessful, { channelType: this.type }, this.channelId);
    }
    this.connection.record(type, payload, this.channelId);
  }

  request(type: string, details: Record<string, unknown> = {}): void {
    const requestId = this.nextRequest++;
    switch (type) {
      case 'pty':
        this.pty = { term: String(details.term ?? 'xterm'), cols: Number(details.cols ?? 80), rows: Number(details.rows ?? 24) };
        this.record(MESSAGE_TYPES.channelRequestPty, { requestId, term: this.pty.term, columns: this.pty.cols, rows: this.pty.rows, width: 0, height: 0, modeList: Buffer.alloc(0) });
        return;
      case 'window-change': {
        const cols = Number(details.cols);
        const rows = Number(details.rows);
        if (this.pty) this.pty = { ...this.pty, cols, rows };
        const resize = this.cast && this.castEvents ? Buffer.from(this.castEvents.resizeLine(cols, rows, performance.now())) : undefined;
        if (resize && this.connection.withinQuota(resize.length)) this.cast!.add(resize);
        this.record(MESSAGE_TYPES.channelRequestWindow, { requestId, columns: cols, rows, width: 0, height: 0 });
        return;
      }
      case 'env':
        this.record(MESSAGE_TYPES.channelRequestSetEnv, { requestId, name: String(details.name), value: String(details.value) });
        return;
      case 'shell':
        this.startProgram(null);
        this.record(MESSAGE_TYPES.channelRequestShell, { requestId });
        return;
      case 'exec':
        this.startProgram(String(details.command));
        this.record(MESSAGE_TYPES.channelRequestExec, { requestId, program: String(details.command) });
        return;
      case 'subsystem':
        this.startSubsystem(String(details.name));
        this.record(MESSAGE_TYPES.channelRequestSubsystem, { requestId, subsystem: String(details.name) });
        return;
      case 'signal':
        this.record(MESSAGE_TYPES.channelRequestSignal, { requestId, signal: String(details.name) });
        return;
      default:
        this.record(MESSAGE_TYPES.channelRequestUnknownType, { requestId, requestType: type, payload: Buffer.from(JSON.stringify(details)) });
        return;
    }
  }

  private startProgram(command: string | null) {
    if (!this.pty) return;
    const at = performance.now();
    this.castEvents = new AsciicastEvents(at);
    this.cast = this.connection.openCast(this.channelId, {
      width: this.pty.cols,
      height: this.pty.rows,
      timestamp: Math.floor(Date.now() / 1000),
      env: { TERM: this.pty.term },
      ...(command !== null ? { title: command } : {}),
    });
  }

  private startSubsystem(name: string) {
    const settings = this.connection.settings();
    if (name !== 'sftp' || !settings) return;
    this.sftp = new SftpDecoder({
      keepContentBytes: settings.sftp.storeContent ? settings.sftp.maxFileBytes : 0,
      onEvent: (event: SftpFileEvent, content?: Buffer) => {
        if (!settings.intercept.sftp) return;
        const contentKey = content ? this.connection.storeContent(this.channelId, this.sftpFiles++, content) : undefined;
        this.record(MESSAGE_TYPES.sftpFile, { ...event, ...(contentKey ? { contentKey, contentBytes: content!.length } : {}) });
      },
      onError: (message) => this.connection.sftpDecodeFailed(this.channelId, message),
    });
  }

  streams(streams: { readonly stdin: Readable; readonly stdout: Readable; readonly stderr?: Readable }): void {
    if (!this.opened) {
      this.opened = true;
      this.connection.record(MESSAGE_TYPES.newChannelSuccessful, { channelType: this.type }, this.channelId);
    }
    const settings = this.connection.settings();
    if (!settings) return;
    const forwarded = this.type !== 'session';
    const tap = (name: StreamName, source: Readable | undefined) => {
      if (!source) return;
      const sftp = this.sftp;
      if (sftp) {
        // SFTP bulk content never goes into the log as raw I/O: it becomes file events.
        if (name === 'stdin')
          source.on('data', (data: Buffer) => {
            sftp.clientData(data);
            this.connection.holdIfBehind(source);
          });
        if (name === 'stdout')
          source.on('data', (data: Buffer) => {
            sftp.serverData(data);
            this.connection.holdIfBehind(source);
          });
        return;
      }
      const keep = forwarded ? settings.intercept.forwarding : settings.intercept[name];
      const cast = this.cast;
      const events = this.castEvents;
      const stream = STREAMS[name];
      source.on('data', (data: Buffer) => {
        const line = cast && events ? (name === 'stdin' ? (keep ? events.inputLine(data, performance.now()) : undefined) : events.outputLine(data, performance.now())) : undefined;
        const castBytes = line ? Buffer.from(line) : undefined;
        // Both copies count: an asciicast line can be six times its bytes (JSON escapes).
        if (!this.connection.withinQuota((keep ? data.length : 0) + (castBytes?.length ?? 0))) {
          this.connection.holdIfBehind(source);
          return this.stoppedForQuota();
        }
        if (keep) this.connection.recordIo(this.channelId, stream, data);
        if (castBytes) cast!.add(castBytes);
        this.connection.holdIfBehind(source);
      });
    };
    tap('stdin', streams.stdin);
    tap('stdout', streams.stdout);
    tap('stderr', streams.stderr);
  }

  /** Once per terminal: the recording's viewer sees where and why it stops. */
  private stoppedForQuota() {
    if (!this.cast || !this.castEvents || this.quotaNoted) return;
    this.quotaNoted = true;
    const line = this.castEvents.outputLine(Buffer.from('\r\n[recording stopped: quota reached]\r\n'), performance.now());
    if (line) this.cast.add(Buffer.from(line));
  }

  exit(status: ExitStatus): void {
    if ('signal' in status) this.record(MESSAGE_TYPES.exitSignal, { signal: status.signal, coreDumped: status.coreDumped, errorMessage: '', languageTag: '' });
    else this.record(MESSAGE_TYPES.exit, { exitStatus: status.exitCode });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sftp?.end();
    if (!this.opened) {
      this.connection.record(MESSAGE_TYPES.newChannelFailed, { channelType: this.type, reason: 'refused' }, this.channelId);
      return;
    }
    this.record(MESSAGE_TYPES.close, null);
    if (this.cast) void this.connection.closeStream(this.cast);
  }
}

function lazyWriter(writer: StreamWriter | Promise<StreamWriter>): StreamWriter {
  const ready = Promise.resolve(writer);
  ready.catch(() => undefined);
  return {
    append: async (chunk) => (await ready).append(chunk),
    close: async () => (await ready).close(),
    abandon: () =>
      void ready.then(
        (resolved) => resolved.abandon?.(),
        () => undefined,
      ),
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the recording storage did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
