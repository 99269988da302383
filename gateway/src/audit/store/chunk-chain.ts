import { createHash } from 'node:crypto';
import { z } from 'zod';

/**
 * Integrity of a stored recording stream: every flushed chunk is one link of a SHA-256 chain,
 * kept in an index object beside the stream (`<key>.chain`, JSON lines). The first link is
 * seeded with the stream's key, so chunks cannot be moved between recordings; each link hashes
 * the previous one with the chunk's offset, length and digest. Changing, dropping, reordering
 * or appending a byte breaks the chain at that chunk.
 */
export const CHAIN_SUFFIX = '.chain';

export const ChainLineSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('start'), version: z.literal(1), key: z.string(), format: z.enum(['containerssh-binary', 'asciicast', 'sftp-content']), startedAt: z.string() }),
  z.strictObject({
    kind: z.literal('chunk'),
    offset: z.number().int().nonnegative(),
    length: z.number().int().positive(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    link: z.string().regex(/^[0-9a-f]{64}$/),
  }),
  z.strictObject({
    kind: z.literal('end'),
    length: z.number().int().nonnegative(),
    link: z.string().regex(/^[0-9a-f]{64}$/),
    /** false when a restarted gateway sealed what a crashed one left (the tail after the last chunk is lost). */
    complete: z.boolean(),
    endedAt: z.string(),
  }),
]);
export type ChainLine = z.infer<typeof ChainLineSchema>;
export type StreamFormat = Extract<ChainLine, { kind: 'start' }>['format'];

export function seedLink(key: string): string {
  return createHash('sha256').update('portcullis-audit-chain-v1\0').update(key).digest('hex');
}

export function nextLink(previous: string, offset: number, length: number, sha256: string): string {
  return createHash('sha256').update(`${previous}\n${offset}\n${length}\n${sha256}`).digest('hex');
}

/** Chain state of one stream as chunks are appended. */
export class ChunkChain {
  private link: string;
  private length = 0;

  constructor(key: string, restored?: { link: string; length: number }) {
    this.link = restored?.link ?? seedLink(key);
    this.length = restored?.length ?? 0;
  }

  get bytes(): number {
    return this.length;
  }

  get head(): string {
    return this.link;
  }

  /** A chunk given as pieces is hashed as their concatenation. */
  append(chunk: Buffer | readonly Buffer[]): Extract<ChainLine, { kind: 'chunk' }> {
    const hash = createHash('sha256');
    let length = 0;
    for (const piece of Buffer.isBuffer(chunk) ? [chunk] : chunk) {
      hash.update(piece);
      length += piece.length;
    }
    const sha256 = hash.digest('hex');
    const line = { kind: 'chunk' as const, offset: this.length, length, sha256, link: nextLink(this.link, this.length, length, sha256) };
    this.link = line.link;
    this.length += length;
    return line;
  }

  end(complete: boolean): Extract<ChainLine, { kind: 'end' }> {
    return { kind: 'end', length: this.length, link: this.link, complete, endedAt: new Date().toISOString() };
  }
}

export function formatChainLines(lines: readonly ChainLine[]): string {
  return lines.map((line) => `${JSON.stringify(line)}\n`).join('');
}

export interface VerifyResult {
  readonly ok: boolean;
  /** One line per problem, naming the chunk or byte range. */
  readonly problems: string[];
  readonly chunks: number;
  readonly complete: boolean;
}

/** Checks a stream's bytes against its chain index. */
export function verifyChain(key: string, data: Buffer, indexText: string): VerifyResult {
  const problems: string[] = [];
  const lines: ChainLine[] = [];
  indexText.split('\n').forEach((text, number) => {
    if (text.trim() === '') return;
    try {
      lines.push(ChainLineSchema.parse(JSON.parse(text)));
    } catch {
      problems.push(`index line ${number + 1} is not a valid chain entry`);
    }
  });
  const start = lines[0];
  if (start?.kind !== 'start') problems.push('the index does not begin with a start entry');
  else if (start.key !== key) problems.push(`the index belongs to ${start.key}, not ${key}`);
  let link = seedLink(key);
  let offset = 0;
  let chunks = 0;
  let end: Extract<ChainLine, { kind: 'end' }> | undefined;
  for (const line of lines.slice(1)) {
    if (end) {
      problems.push('entries after the end entry');
      break;
    }
    if (line.kind === 'end') {
      end = line;
      continue;
    }
    if (line.kind !== 'chunk') {
      problems.push('a second start entry');
      continue;
    }
    chunks += 1;
    if (line.offset !== offset) problems.push(`chunk ${chunks} starts at byte ${line.offset}, expected ${offset}`);
    const bytes = data.subarray(line.offset, line.offset + line.length);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (bytes.length !== line.length) problems.push(`chunk ${chunks} (bytes ${line.offset}-${line.offset + line.length - 1}) is cut short`);
    else if (sha256 !== line.sha256) problems.push(`chunk ${chunks} (bytes ${line.offset}-${line.offset + line.length - 1}) was changed: SHA-256 differs`);
    const expected = nextLink(link, line.offset, line.length, line.sha256);
    if (expected !== line.link) problems.push(`chunk ${chunks}: the chain link does not follow from the previous one (index edited)`);
    link = line.link;
    offset = line.offset + line.length;
  }
  if (!end) problems.push('the index has no end entry (recording still open, or never sealed)');
  else {
    if (end.link !== link) problems.push('the end entry does not match the last chunk (index edited)');
    if (end.length !== offset) problems.push(`the end entry says ${end.length} bytes, the chunks cover ${offset}`);
  }
  if (data.length !== offset) problems.push(`the stored stream has ${data.length} bytes, the index covers ${offset}`);
  return { ok: problems.length === 0, problems, chunks, complete: end?.complete ?? false };
}
