import { decodeBinaryLog, HEADER_LENGTH, type AuditMessage } from './binary-log.ts';
import { CHAIN_SUFFIX, verifyChain } from '../store/chunk-chain.ts';
import { MESSAGE_TYPES, STREAMS } from './message-types.ts';
import { chainState, parseChainLines, type RecordingStore, type RecordingSummary } from '../store/recording-store.ts';

/**
 * - `complete`: sealed at the end of the connection;
 * - `recording`: still open (the connection goes on, or the gateway died and has not restarted);
 * - `incomplete`: sealed by recovery after a gateway crash, the tail is missing;
 * - `damaged`: the stream does not match its chain (changed or cut);
 * - `no-log`: no binary log (asciicast-only recording), so only the start time is known.
 */
export type RecordingState = 'complete' | 'recording' | 'incomplete' | 'damaged' | 'no-log';

/** What an auditor looks for first, read from a recording's binary log. */
export interface RecordingOverview {
  readonly id: string;
  /** SSH username of the accepted login (handshakeSuccessful), else the last username tried; '' if none. */
  readonly user: string;
  readonly address: string;
  readonly start: string;
  /** Seconds from connect to disconnect (or to the last recorded message while still open). */
  readonly durationSeconds: number | null;
  /** stdin bytes as recorded (the policy's `recordInput` decides whether input is recorded). */
  readonly bytesIn: number;
  /** stdout and stderr bytes. */
  readonly bytesOut: number;
  /** Exit status of each session channel that reported one, in channel order (`signal NAME` for a signal). */
  readonly exitStatus: string[];
  readonly state: RecordingState;
  /** Terminal recordings (asciicast stream keys). */
  readonly casts: string[];
  readonly streams: string[];
}

const BINARY_LOG = 'audit.cslog';

/** Start time from the id (`20261206T181500Z-…`), the only thing known without a binary log. */
export function startOfId(id: string): string {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(id);
  return match ? `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6]}.000Z` : '';
}

export async function summarizeRecording(store: RecordingStore, recording: RecordingSummary): Promise<RecordingOverview> {
  const casts = recording.streams.filter((key) => key.endsWith('.cast'));
  const base = { id: recording.id, casts, streams: recording.streams };
  const empty: RecordingOverview = { ...base, user: '', address: '', start: startOfId(recording.id), durationSeconds: null, bytesIn: 0, bytesOut: 0, exitStatus: [], state: 'no-log' };
  const key = recording.streams.find((name) => name.endsWith(`/${BINARY_LOG}`));
  if (!key) return empty;
  let data: Buffer;
  let index: string;
  try {
    // The gateway stores a chunk's bytes before its index entry: with the index read first,
    // every chunk it lists is whole in the bytes read after it, even while the session writes.
    index = (await store.read(`${key}${CHAIN_SUFFIX}`)).toString('utf8');
    data = await store.read(key);
  } catch {
    return { ...empty, state: 'damaged' };
  }
  // Sealed (an end entry): every byte must match. Still open: what the index covers must; bytes
  // past it and an index line still being written are the chunk in flight, not damage.
  const listed = index.slice(0, index.lastIndexOf('\n') + 1);
  const lines = parseChainLines(listed);
  const sealed = lines.some((line) => line.kind === 'end');
  const covered = sealed ? data.length : (chainState(lines)?.length ?? 0);
  const verdict = verifyChain(key, data.subarray(0, covered), sealed ? index : listed);
  const open = !sealed && verdict.problems.length === 1 && /no end entry/.test(verdict.problems[0] ?? '');
  const state: RecordingState = verdict.ok ? (verdict.complete ? 'complete' : 'incomplete') : open ? 'recording' : 'damaged';
  // Opened, its first chunk (the log's header) not yet stored: nothing to read yet.
  if (open && covered < HEADER_LENGTH) return { ...empty, state: 'recording' };
  let messages: AuditMessage[];
  try {
    messages = decodeBinaryLog(data.subarray(0, Math.max(covered, HEADER_LENGTH))).messages;
  } catch {
    return { ...empty, state: 'damaged' };
  }
  return { ...base, ...overviewOf(messages), state };
}

function overviewOf(messages: readonly AuditMessage[]): Omit<RecordingOverview, 'id' | 'state' | 'casts' | 'streams'> {
  let user = '';
  let triedUser = '';
  let address = '';
  let bytesIn = 0;
  let bytesOut = 0;
  const exits = new Map<number, string>();
  for (const message of messages) {
    const payload = message.payload ?? {};
    switch (message.type) {
      case MESSAGE_TYPES.connect:
        address = String(payload.remoteAddr ?? '');
        break;
      case MESSAGE_TYPES.handshakeSuccessful:
        if (typeof payload.username === 'string' && payload.username !== '') user = payload.username;
        break;
      case MESSAGE_TYPES.io: {
        const length = payload.data instanceof Uint8Array ? payload.data.length : 0;
        if (Number(payload.stream) === STREAMS.stdin) bytesIn += length;
        else bytesOut += length;
        break;
      }
      case MESSAGE_TYPES.exit:
        if (message.channelId !== null) exits.set(message.channelId, String(payload.exitStatus ?? ''));
        break;
      case MESSAGE_TYPES.exitSignal:
        if (message.channelId !== null) exits.set(message.channelId, `signal ${String(payload.signal ?? '')}`);
        break;
      default:
        if (typeof payload.username === 'string' && payload.username !== '') triedUser = payload.username;
    }
  }
  const first = messages[0]?.timestamp;
  const last = messages[messages.length - 1]?.timestamp;
  return {
    user: user || triedUser,
    address,
    start: first === undefined ? '' : new Date(Number(first / 1_000_000n)).toISOString(),
    durationSeconds: first === undefined || last === undefined ? null : Number((last - first) / 1_000_000n) / 1000,
    bytesIn,
    bytesOut,
    exitStatus: [...exits.entries()].sort(([a], [b]) => a - b).map(([, status]) => status),
  };
}

export interface OverviewFilter {
  /** Exact SSH username. */
  readonly user?: string;
  /** Only recordings that started at or after this time. */
  readonly since?: Date;
  /** Case-insensitive text found in the user, address, id or state (the player's search box). */
  readonly search?: string;
}

export function matchesFilter(overview: RecordingOverview, filter: OverviewFilter): boolean {
  if (filter.user !== undefined && overview.user !== filter.user) return false;
  if (filter.since && !(Date.parse(overview.start || startOfId(overview.id)) >= filter.since.getTime())) return false;
  if (filter.search) {
    const needle = filter.search.toLowerCase();
    if (![overview.user, overview.address, overview.id, overview.state].some((field) => field.toLowerCase().includes(needle))) return false;
  }
  return true;
}

/** Upper bound on recordings read for one filtered listing: each read decodes a whole binary log. */
export const MAX_SCANNED = 1000;

/**
 * Recordings newest first that pass `filter`, up to `limit`. Pages through the store; ids sort by
 * start time, so a `since` filter stops at the first older page. `next` continues after the last one.
 */
/**
 * Overviews of sealed recordings, which never change: a long-running reader (the player) decodes
 * each binary log once, not on every page view. Bounded; the oldest entry goes first.
 */
export class OverviewCache {
  private readonly entries = new Map<string, RecordingOverview>();
  constructor(private readonly capacity = 5_000) {}

  async get(store: RecordingStore, recording: RecordingSummary): Promise<RecordingOverview> {
    const cached = this.entries.get(recording.id);
    if (cached && cached.streams.length === recording.streams.length) return cached;
    const overview = await summarizeRecording(store, recording);
    if (overview.state === 'complete' || overview.state === 'incomplete') {
      this.entries.set(recording.id, overview);
      if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    }
    return overview;
  }
}

export async function listOverviews(
  store: RecordingStore,
  options: { limit: number; after?: string; filter: OverviewFilter; cache?: OverviewCache },
): Promise<{ overviews: RecordingOverview[]; next?: string }> {
  const overviews: RecordingOverview[] = [];
  let after = options.after;
  let scanned = 0;
  const sinceId = options.filter.since ? idPrefixOf(options.filter.since) : undefined;
  for (;;) {
    const page = await store.list({ limit: Math.min(100, MAX_SCANNED - scanned), ...(after ? { after } : {}) });
    for (const recording of page.recordings) {
      scanned += 1;
      after = recording.id;
      // Started (by its id, to the second) before `since`: every later one is older still.
      if (sinceId !== undefined && recording.id.slice(0, 16) < sinceId) return { overviews };
      const overview = options.cache ? await options.cache.get(store, recording) : await summarizeRecording(store, recording);
      if (matchesFilter(overview, options.filter)) overviews.push(overview);
      if (overviews.length === options.limit) return { overviews, ...(page.next || recording !== page.recordings[page.recordings.length - 1] ? { next: recording.id } : {}) };
    }
    if (!page.next || scanned >= MAX_SCANNED) return { overviews, ...(page.next ? { next: after! } : {}) };
  }
}

function idPrefixOf(date: Date): string {
  // Ids carry the start to the second: compare at that precision.
  return new Date(Math.floor(date.getTime() / 1000) * 1000)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
