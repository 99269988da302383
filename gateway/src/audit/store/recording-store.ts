import type { ChainLine, StreamFormat } from './chunk-chain.ts';
import { ChainLineSchema } from './chunk-chain.ts';

/** One recorded stream (binary log, one terminal's asciicast, one SFTP file's content). */
export interface StreamWriter {
  /**
   * Appends one self-contained chunk (whole gzip members, whole asciicast lines) and its chain
   * entry. Once resolved, the chunk survives a `kill -9` of the gateway. A rejection means the
   * stream is broken; later calls reject too.
   */
  append(chunk: Buffer | readonly Buffer[]): Promise<void>;
  /** Seals the stream (the chain's end entry). Idempotent. */
  close(): Promise<void>;
  /**
   * After a failure: releases what the stream holds (file handles) without sealing it, so the
   * next start's recovery seals it as incomplete. Never waits on the store.
   */
  abandon?(): void;
}

export interface RecordingSummary {
  /** The recording's folder: `<UTC start>-<connectionId>`. */
  readonly id: string;
  /** Stream keys inside it, chain indexes left out. */
  readonly streams: string[];
}

export interface RecordingPage {
  readonly recordings: RecordingSummary[];
  /** Pass as `after` for the next page; absent on the last. */
  readonly next?: string;
}

export interface RecordingStore {
  readonly kind: 'file' | 's3';
  /** Resolves when a recording can be stored now; rejects with the reason otherwise. */
  check(): Promise<void>;
  /** Starts a stream at `key` (`<recording id>/<name>`). Nothing is left behind on failure. */
  openStream(key: string, format: StreamFormat): Promise<StreamWriter>;
  /** Whole small object (metadata, capped SFTP content), with its single-chunk chain. */
  putObject(key: string, format: StreamFormat, data: Buffer): Promise<void>;
  /** Newest first. `after` is the last id of the previous page. */
  list(options: { after?: string; limit: number }): Promise<RecordingPage>;
  read(key: string): Promise<Buffer>;
  /**
   * Seals streams a crashed gateway left open (finishing interrupted uploads). Returns the keys
   * it sealed; the tail after the last stored chunk is lost, nothing before it.
   */
  recover(): Promise<string[]>;
  close(): Promise<void>;
}

/** Parses a chain index, dropping a torn last line (a crash mid-write). */
export function parseChainLines(text: string): ChainLine[] {
  const lines: ChainLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    const parsed = ChainLineSchema.safeParse(safeJson(raw));
    if (!parsed.success) break;
    lines.push(parsed.data);
  }
  return lines;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Where the chunks of an interrupted stream end, per its chain. */
export function chainState(lines: readonly ChainLine[]): { link: string; length: number } | undefined {
  const last = [...lines].reverse().find((line) => line.kind === 'chunk');
  if (last && last.kind === 'chunk') return { link: last.link, length: last.offset + last.length };
  return undefined;
}

/** Recording ids sort by start time: `20261123T114653Z-<connectionId>`. */
export function recordingId(connectionId: string, at = new Date()): string {
  return `${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${connectionId}`;
}

export const RECORDING_ID_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{8,64}$/;
/** A stream key: recording id, then a plain file name. */
export const STREAM_KEY_PATTERN = /^\d{8}T\d{6}Z-[0-9a-f]{8,64}\/[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;
