import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { decodeBinaryLog } from './binary-log.ts';
import { CHAIN_SUFFIX, verifyChain, type VerifyResult } from '../store/chunk-chain.ts';
import type { RecordingStore } from '../store/recording-store.ts';
import { S3RecordingStore } from '../store/s3-store.ts';

/** Where recordings are read from: a local path, or an `s3://bucket/key` URL. */
export interface RecordingSource {
  /** Stream keys (`<recording id>/<name>`) the spec names: one stream, or every stream of a recording. */
  streams(): Promise<string[]>;
  read(key: string): Promise<Buffer>;
  readChain(key: string): Promise<string>;
  /** For `list`. */
  readonly store?: RecordingStore;
}

export interface S3Access {
  readonly endpoint?: string;
  readonly region?: string;
  readonly credentials?: { accessKeyId: string; secretAccessKey: string };
}

export class SourceError extends Error {}

export async function openSource(spec: string, s3: S3Access = {}): Promise<RecordingSource> {
  const url = /^s3:\/\/([^/]+)\/?(.*)$/.exec(spec);
  if (url) {
    const [, bucket, fullPath] = url as unknown as [string, string, string];
    // Anything before the recording id is the gateway's `audit.s3.prefix`.
    const split = /^(.*?)(\d{8}T\d{6}Z-[0-9a-f]{8,64}(?:\/[^/]+)?)\/?$/.exec(fullPath);
    const prefix = split ? split[1]! : fullPath.endsWith('/') || fullPath === '' ? fullPath : `${fullPath}/`;
    const path = split ? split[2]! : '';
    const store = new S3RecordingStore({
      ...(s3.endpoint ? { endpoint: s3.endpoint } : {}),
      region: s3.region ?? 'us-east-1',
      bucket,
      prefix,
      forcePathStyle: true,
      partSize: 5 * 1024 * 1024,
      timeoutMs: 15_000,
      stagingDirectory: '/nonexistent-staging',
      ...(s3.credentials ? { credentials: s3.credentials } : {}),
    });
    const id = path.replace(/\/$/, '');
    return {
      store,
      streams: async () => {
        if (id.includes('/')) return [id];
        if (id === '') throw new SourceError('name a recording or stream after the bucket (s3://bucket/<recording id>[/<stream>])');
        const page = await store.list({ limit: 1_000 });
        const found = page.recordings.find((recording) => recording.id === id);
        if (!found) throw new SourceError(`no recording ${id} in s3://${bucket}`);
        return found.streams;
      },
      read: (key) => store.read(key),
      readChain: async (key) => (await store.read(`${key}${CHAIN_SUFFIX}`)).toString('utf8'),
    };
  }
  const info = await stat(spec).catch(() => undefined);
  if (!info) throw new SourceError(`${spec}: no such file or directory`);
  if (info.isDirectory()) {
    // A recording folder: its streams. Keys keep the folder name, as the chain seeds with it.
    const names = (await readdir(spec)).filter((name) => !name.endsWith(CHAIN_SUFFIX) && !name.startsWith('.')).sort();
    const id = basename(spec.replace(/\/$/, ''));
    const root = dirname(spec.replace(/\/$/, ''));
    return {
      streams: async () => names.map((name) => `${id}/${name}`),
      read: (key) => readFile(join(root, key)),
      readChain: (key) => readFile(join(root, `${key}${CHAIN_SUFFIX}`), 'utf8'),
    };
  }
  const key = `${basename(dirname(spec))}/${basename(spec)}`;
  const root = dirname(dirname(spec));
  return {
    streams: async () => [key],
    read: (name) => readFile(join(root, name)),
    readChain: (name) => readFile(join(root, `${name}${CHAIN_SUFFIX}`), 'utf8'),
  };
}

export interface StreamVerdict extends VerifyResult {
  readonly key: string;
}

/** Checks each stream against its chain; a binary log must also decode. */
export async function verifyStreams(source: RecordingSource): Promise<StreamVerdict[]> {
  const verdicts: StreamVerdict[] = [];
  for (const key of await source.streams()) {
    const data = await source.read(key);
    let index: string;
    try {
      index = await source.readChain(key);
    } catch {
      verdicts.push({ key, ok: false, problems: ['the chain index is missing'], chunks: 0, complete: false });
      continue;
    }
    const result = verifyChain(key, data, index);
    const problems = [...result.problems];
    if (key.endsWith('.cslog') && result.ok) {
      try {
        decodeBinaryLog(data);
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    verdicts.push({ key, ...result, ok: problems.length === 0, problems });
  }
  return verdicts;
}
