import { mkdir, open, type FileHandle, readdir, readFile, rm, truncate, writeFile, access, constants } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CHAIN_SUFFIX, ChunkChain, formatChainLines, type StreamFormat } from './chunk-chain.ts';
import { chainState, parseChainLines, RECORDING_ID_PATTERN, STREAM_KEY_PATTERN, type RecordingPage, type RecordingStore, type StreamWriter } from './recording-store.ts';

/** Streams still being written; each marker file holds a stream key. Gone once sealed. */
const OPEN_DIR = '.open';

/** Recordings in a local directory: `<dir>/<recording id>/<stream>` and `<stream>.chain`. */
export class FileRecordingStore implements RecordingStore {
  readonly kind = 'file' as const;

  constructor(private readonly directory: string) {}

  async check(): Promise<void> {
    await mkdir(join(this.directory, OPEN_DIR), { recursive: true });
    await access(this.directory, constants.W_OK);
  }

  private path(key: string): string {
    if (!STREAM_KEY_PATTERN.test(key)) throw new Error(`not a recording stream key: ${key}`);
    return join(this.directory, ...key.split('/'));
  }

  private marker(key: string): string {
    return join(this.directory, OPEN_DIR, key.replace('/', '__'));
  }

  async openStream(key: string, format: StreamFormat): Promise<StreamWriter> {
    const path = this.path(key);
    // Recordings hold whatever users typed and saw: readable by the gateway's user only.
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await mkdir(join(this.directory, OPEN_DIR), { recursive: true, mode: 0o700 });
    await writeFile(this.marker(key), key, { mode: 0o600 });
    const data = await open(path, 'wx', 0o600);
    const chain = new ChunkChain(key);
    const index = await open(`${path}${CHAIN_SUFFIX}`, 'wx', 0o600);
    const whole = async (handle: FileHandle, pieces: readonly Buffer[]) => {
      const expected = pieces.reduce((sum, piece) => sum + piece.length, 0);
      const { bytesWritten } = await handle.writev(pieces as Buffer[]);
      // A short write to a regular file means the disk filled up: the next one would say ENOSPC.
      if (bytesWritten !== expected) throw Object.assign(new Error(`the recording disk is full: ${bytesWritten} of ${expected} bytes written`), { code: 'ENOSPC' });
    };
    const releaseHandles = () => Promise.all([data.close(), index.close()]);
    try {
      await whole(index, [Buffer.from(formatChainLines([{ kind: 'start', version: 1, key, format, startedAt: new Date().toISOString() }]))]);
    } catch (error) {
      await releaseHandles().catch(() => undefined);
      throw error;
    }
    let queue = Promise.resolve();
    let closed = false;
    const run = (step: () => Promise<void>) => (queue = queue.then(step));
    return {
      abandon: () => {
        if (closed) return;
        closed = true;
        void releaseHandles().catch(() => undefined);
      },
      append: (chunk) =>
        run(async () => {
          if (closed) throw new Error('stream closed');
          // Data first, then its chain entry: a crash in between leaves bytes the index does not cover, which recovery cuts.
          // Pieces go out as they are (writev): the session's bytes are not copied once more.
          await whole(data, Buffer.isBuffer(chunk) ? [chunk] : chunk);
          await whole(index, [Buffer.from(formatChainLines([chain.append(chunk)]))]);
        }),
      close: () =>
        run(async () => {
          if (closed) return;
          closed = true;
          await data.close();
          await whole(index, [Buffer.from(formatChainLines([chain.end(true)]))]);
          await index.close();
          await rm(this.marker(key), { force: true });
        }),
    };
  }

  async putObject(key: string, format: StreamFormat, content: Buffer): Promise<void> {
    const writer = await this.openStream(key, format);
    if (content.length > 0) await writer.append(content);
    await writer.close();
  }

  async list(options: { after?: string; limit: number }): Promise<RecordingPage> {
    let names: string[] = [];
    try {
      names = (await readdir(this.directory))
        .filter((name) => RECORDING_ID_PATTERN.test(name))
        .sort()
        .reverse();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const from = options.after ? names.filter((name) => name < options.after!) : names;
    const page = from.slice(0, options.limit);
    const recordings = await Promise.all(
      page.map(async (id) => ({
        id,
        streams: (await readdir(join(this.directory, id)))
          .filter((name) => !name.endsWith(CHAIN_SUFFIX))
          .sort()
          .map((name) => `${id}/${name}`),
      })),
    );
    return { recordings, ...(from.length > options.limit ? { next: page[page.length - 1] } : {}) };
  }

  read(key: string): Promise<Buffer> {
    return readFile(this.path(key));
  }

  async recover(): Promise<string[]> {
    let markers: string[] = [];
    try {
      markers = await readdir(join(this.directory, OPEN_DIR));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const sealed: string[] = [];
    for (const marker of markers) {
      const key = (await readFile(join(this.directory, OPEN_DIR, marker), 'utf8')).trim();
      const path = this.path(key);
      const lines = parseChainLines(await readFile(`${path}${CHAIN_SUFFIX}`, 'utf8').catch(() => ''));
      if (lines[0]?.kind !== 'start') {
        await rm(path, { force: true });
        await rm(`${path}${CHAIN_SUFFIX}`, { force: true });
      } else if (!lines.some((line) => line.kind === 'end')) {
        const state = chainState(lines);
        const chain = new ChunkChain(key, state);
        await truncate(path, chain.bytes).catch(() => writeFile(path, ''));
        await writeFile(`${path}${CHAIN_SUFFIX}`, formatChainLines([...lines, chain.end(false)]));
        sealed.push(key);
      }
      await rm(join(this.directory, OPEN_DIR, marker), { force: true });
    }
    return sealed;
  }

  async close(): Promise<void> {}
}
