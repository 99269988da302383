import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
// s3rver ships no types; this is the part the tests use.
const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

export interface LocalS3 {
  readonly endpoint: string;
  readonly bucket: string;
  /** `{accessKeyId, secretAccessKey}` as the gateway's `audit.s3.credentialsFile` expects. */
  readonly credentialsFile: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** Stops answering (the port closes); `start` brings it back on the same port with the same data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
}

/** An S3-compatible server (s3rver) on 127.0.0.1 with one bucket, its data in a temporary folder. */
export async function startLocalS3(bucket = 'recordings'): Promise<LocalS3> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-s3-'));
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const credentialsFile = join(dir, 'credentials.json');
  await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
  let port = 0;
  let server: S3rverInstance | undefined;
  const start = async () => {
    server = new S3rver({ address: '127.0.0.1', port, silent: true, directory: join(dir, 'data'), configureBuckets: [{ name: bucket }] });
    port = (await server.run()).port;
  };
  const stop = async () => {
    await server?.close();
    server = undefined;
  };
  await start();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    credentialsFile,
    credentials,
    stop,
    start,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
