import { createHash } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { CHAIN_SUFFIX, ChainLineSchema, ChunkChain, formatChainLines, type ChainLine, type StreamFormat } from './chunk-chain.ts';
import { chainState, RECORDING_ID_PATTERN, STREAM_KEY_PATTERN, type RecordingPage, type RecordingStore, type StreamWriter } from './recording-store.ts';

export interface S3StoreOptions {
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  readonly prefix: string;
  readonly forcePathStyle: boolean;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
  readonly partSize: number;
  readonly timeoutMs: number;
  /** Uploads in progress: one folder per stream with its journal and the bytes not yet in a part. */
  readonly stagingDirectory: string;
}

export const S3CredentialsSchema = z.strictObject({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) });

const JournalLineSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('upload'), key: z.string(), uploadId: z.string() }),
  z.strictObject({ kind: z.literal('chain'), line: ChainLineSchema }),
  z.strictObject({ kind: z.literal('part'), number: z.number().int().positive(), etag: z.string(), size: z.number().int().nonnegative() }),
]);
type JournalLine = z.infer<typeof JournalLineSchema>;

const JOURNAL = 'journal.jsonl';
/** Bytes flushed but not yet in an uploaded part; one file per part number, so a crash never mixes them. */
const pendingFile = (part: number) => `pending-${part}.bin`;

/**
 * Recordings in S3-compatible storage. Each stream is one multipart upload: chunks go to a
 * local staging file and its journal as they are flushed (so a `kill -9` loses only the chunk
 * being built), a part is uploaded whenever the staged bytes reach the part size (so staging
 * stays bounded whatever the session length), and closing uploads the rest and completes.
 * A restarted gateway finds the journals and completes those uploads itself.
 */
export class S3RecordingStore implements RecordingStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;

  constructor(private readonly options: S3StoreOptions) {
    // The SDK prints a multi-line Node 20 support notice on stderr, outside the JSON log; the
    // engines field (Node >= 20) is the project's decision, and the README notes the SDK's plan.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      maxAttempts: 2,
      // Many S3-compatible stores do not understand the SDK's default trailing checksums.
      requestChecksumCalculation: `WHEN_REQUIRED`, // an SDK setting, not a message code
      responseChecksumValidation: `WHEN_REQUIRED`,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(options.credentials ? { credentials: options.credentials } : {}),
    });
  }

  private objectKey(key: string): string {
    return `${this.options.prefix}${key}`;
  }

  /** Every call is bounded in time: a stalled store must not hold a login or a session. */
  private send<T = unknown>(command: object): Promise<T> {
    const send = this.client.send as (this: S3Client, command: object, options: { abortSignal: AbortSignal }) => Promise<T>;
    return send.call(this.client, command, { abortSignal: AbortSignal.timeout(this.options.timeoutMs) });
  }

  async check(): Promise<void> {
    await mkdir(this.options.stagingDirectory, { recursive: true });
    await this.send(new HeadBucketCommand({ Bucket: this.options.bucket }));
  }

  private stagingFor(key: string): string {
    return join(this.options.stagingDirectory, createHash('sha256').update(key).digest('hex').slice(0, 32));
  }

  async openStream(key: string, format: StreamFormat): Promise<StreamWriter> {
    if (!STREAM_KEY_PATTERN.test(key)) throw new Error(`not a recording stream key: ${key}`);
    const dir = this.stagingFor(key);
    // Staged bytes are recording content: the gateway's user only.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const created = await this.send<{ UploadId?: string }>(new CreateMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
    const uploadId = created.UploadId!;
    const journal = (lines: JournalLine[]) => appendFile(join(dir, JOURNAL), lines.map((line) => `${JSON.stringify(line)}\n`).join(''), { mode: 0o600 });
    const start: ChainLine = { kind: 'start', version: 1, key, format, startedAt: new Date().toISOString() };
    await journal([
      { kind: 'upload', key, uploadId },
      { kind: 'chain', line: start },
    ]);
    const chain = new ChunkChain(key);
    const chainLines: ChainLine[] = [start];
    const parts: { number: number; etag: string; size: number }[] = [];
    let staged = 0;
    let queue = Promise.resolve();
    let closed = false;
    const run = (step: () => Promise<void>) => (queue = queue.then(step));
    const uploadStaged = async () => {
      const number = parts.length + 1;
      const part = await this.uploadPart(key, uploadId, number, await readFile(join(dir, pendingFile(number))));
      parts.push(part);
      await journal([{ kind: 'part', ...part }]);
      await rm(join(dir, pendingFile(number)), { force: true });
      staged = 0;
    };
    return {
      append: (pieces) =>
        run(async () => {
          if (closed) throw new Error('stream closed');
          const chunk = Buffer.isBuffer(pieces) ? pieces : Buffer.concat(pieces);
          await appendFile(join(dir, pendingFile(parts.length + 1)), chunk, { mode: 0o600 });
          const line = chain.append(chunk);
          chainLines.push(line);
          await journal([{ kind: 'chain', line }]);
          staged += chunk.length;
          if (staged >= this.options.partSize) await uploadStaged();
        }),
      close: () =>
        run(async () => {
          if (closed) return;
          closed = true;
          if (staged > 0 || parts.length === 0) {
            await appendFile(join(dir, pendingFile(parts.length + 1)), Buffer.alloc(0));
            await uploadStaged();
          }
          await this.complete(key, uploadId, parts);
          await this.putChain(key, [...chainLines, chain.end(true)]);
          await rm(dir, { recursive: true, force: true });
        }),
    };
  }

  private async uploadPart(key: string, uploadId: string, number: number, body: Buffer) {
    const result = await this.send<{ ETag?: string }>(new UploadPartCommand({ Bucket: this.options.bucket, Key: this.objectKey(key), UploadId: uploadId, PartNumber: number, Body: body }));
    return { number, etag: result.ETag ?? '', size: body.length };
  }

  private async complete(key: string, uploadId: string, parts: readonly { number: number; etag: string }[]) {
    await this.send(
      new CompleteMultipartUploadCommand({
        Bucket: this.options.bucket,
        Key: this.objectKey(key),
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.number, ETag: part.etag })) },
      }),
    );
  }

  private async putChain(key: string, lines: readonly ChainLine[]) {
    await this.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(`${key}${CHAIN_SUFFIX}`), Body: formatChainLines(lines), ContentType: 'application/x-ndjson' }));
  }

  async putObject(key: string, format: StreamFormat, data: Buffer): Promise<void> {
    if (!STREAM_KEY_PATTERN.test(key)) throw new Error(`not a recording stream key: ${key}`);
    const chain = new ChunkChain(key);
    const lines: ChainLine[] = [{ kind: 'start', version: 1, key, format, startedAt: new Date().toISOString() }];
    if (data.length > 0) lines.push(chain.append(data));
    await this.send(new PutObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key), Body: data }));
    await this.putChain(key, [...lines, chain.end(true)]);
  }

  async list(options: { after?: string; limit: number }): Promise<RecordingPage> {
    const ids: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 1000; page++) {
      const result = await this.send<{ CommonPrefixes?: { Prefix?: string }[]; NextContinuationToken?: string; IsTruncated?: boolean }>(
        new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.options.prefix, Delimiter: '/', ...(token ? { ContinuationToken: token } : {}) }),
      );
      for (const entry of result.CommonPrefixes ?? []) {
        const id = (entry.Prefix ?? '').slice(this.options.prefix.length).replace(/\/$/, '');
        if (RECORDING_ID_PATTERN.test(id)) ids.push(id);
      }
      if (!result.IsTruncated || !result.NextContinuationToken) break;
      token = result.NextContinuationToken;
    }
    const sorted = ids.sort().reverse();
    const from = options.after ? sorted.filter((id) => id < options.after!) : sorted;
    const page = from.slice(0, options.limit);
    const recordings = await Promise.all(
      page.map(async (id) => {
        const result = await this.send<{ Contents?: { Key?: string }[] }>(new ListObjectsV2Command({ Bucket: this.options.bucket, Prefix: this.objectKey(`${id}/`) }));
        const streams = (result.Contents ?? [])
          .map((object) => (object.Key ?? '').slice(this.options.prefix.length))
          .filter((key) => !key.endsWith(CHAIN_SUFFIX))
          .sort();
        return { id, streams };
      }),
    );
    return { recordings, ...(from.length > options.limit ? { next: page[page.length - 1] } : {}) };
  }

  async read(key: string): Promise<Buffer> {
    const result = await this.send<{ Body?: { transformToByteArray(): Promise<Uint8Array> } }>(new GetObjectCommand({ Bucket: this.options.bucket, Key: this.objectKey(key) }));
    return Buffer.from(await result.Body!.transformToByteArray());
  }

  async recover(): Promise<string[]> {
    let dirs: string[] = [];
    try {
      dirs = await readdir(this.options.stagingDirectory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const sealed: string[] = [];
    for (const name of dirs) {
      const dir = join(this.options.stagingDirectory, name);
      const lines = parseJournal(await readFile(join(dir, JOURNAL), 'utf8').catch(() => ''));
      const upload = lines.find((line) => line.kind === 'upload');
      if (upload?.kind !== 'upload') {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      const chainLines = lines.flatMap((line) => (line.kind === 'chain' ? [line.line] : []));
      const parts = lines.flatMap((line) => (line.kind === 'part' ? [line] : []));
      const chain = new ChunkChain(upload.key, chainState(chainLines));
      if (chainLines.some((line) => line.kind === 'end')) {
        await rm(dir, { recursive: true, force: true });
        continue;
      }
      // Keep exactly the bytes the journal covers: a chunk written but not journaled is dropped.
      const expected = chain.bytes - parts.reduce((sum, part) => sum + part.size, 0);
      const pending = join(dir, pendingFile(parts.length + 1));
      const have = await stat(pending).then(
        (info) => info.size,
        () => 0,
      );
      if (have < expected) throw new Error(`staged bytes of ${upload.key} are missing (${have} of ${expected})`);
      if (have > expected) await truncate(pending, expected);
      if (expected > 0 || parts.length === 0) {
        const body = expected > 0 ? await readFile(pending) : Buffer.alloc(0);
        parts.push({ kind: 'part', ...(await this.uploadPart(upload.key, upload.uploadId, parts.length + 1, body)) });
      }
      try {
        await this.complete(upload.key, upload.uploadId, parts);
      } catch (error) {
        // Completed before the crash, only the cleanup was lost: the object is there already.
        if ((error as { name?: string }).name !== 'NoSuchUpload') throw error;
      }
      await this.putChain(upload.key, [...chainLines, chain.end(false)]);
      await rm(dir, { recursive: true, force: true });
      sealed.push(upload.key);
    }
    return sealed;
  }

  /** Drops an upload that never got a byte (used when a stream could not start properly). */
  async abort(key: string, uploadId: string): Promise<void> {
    await this.send(new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.objectKey(key), UploadId: uploadId }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function parseJournal(text: string): JournalLine[] {
  const lines: JournalLine[] = [];
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch {
      break; // a torn last line
    }
    const parsed = JournalLineSchema.safeParse(value);
    if (!parsed.success) break;
    lines.push(parsed.data);
  }
  return lines;
}

export async function loadS3Credentials(file: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  const parsed = S3CredentialsSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  // Never echo the file's content: it holds the secret.
  if (!parsed.success) throw new Error(`${file} must hold {"accessKeyId", "secretAccessKey"}`);
  return parsed.data;
}
