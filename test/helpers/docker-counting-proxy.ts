import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What went through the proxy: every figure a flood test asserts. */
export interface DockerCallCounts {
  /** `POST …/exec/{id}/resize` requests. */
  resizes: number;
  /** Most resize requests waiting for their answer at one time. */
  maxResizesInFlight: number;
  /** `POST …/containers/{id}/exec` (exec create) requests. */
  execCreates: number;
  /** Most attached exec streams (`…/exec/{id}/start`) open at one time. */
  maxExecStreamsOpen: number;
}

export interface DockerCountingProxy {
  /** Unix socket to give the gateway as `docker.socketPath`. */
  readonly socketPath: string;
  readonly counts: DockerCallCounts;
  /** Attached exec streams open now. */
  execStreamsOpen(): number;
  /** Starts counting afresh (maxima included). */
  reset(): void;
  close(): Promise<void>;
}

const REQUEST_LINE = /(?:^|\r\n)(GET|POST|PUT|DELETE|HEAD) (\S+) HTTP\/1\.1\r\n/g;
const STATUS_LINE = /(?:^|\r\n)HTTP\/1\.1 \d{3} /g;

/**
 * A Unix-socket proxy in front of the Docker engine that counts the calls the gateway makes:
 * the engine is real, the counting is the test's. Requests are recognised by their request
 * line; a connection upgraded to an exec stream is counted open until it closes.
 */
export async function startDockerCountingProxy(target = '/var/run/docker.sock'): Promise<DockerCountingProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-docker-proxy-'));
  const socketPath = join(dir, 'docker.sock');
  const counts: DockerCallCounts = { resizes: 0, maxResizesInFlight: 0, execCreates: 0, maxExecStreamsOpen: 0 };
  let resizesInFlight = 0;
  let streamsOpen = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    /** Requests on this keep-alive connection waiting for an answer, oldest first. */
    const waiting: Array<'resize' | 'other'> = [];
    let upgraded = false;
    let stream = false;
    client.on('data', (chunk: Buffer) => {
      if (!upgraded) {
        for (const match of chunk.toString('latin1').matchAll(REQUEST_LINE)) {
          const [, method, path] = match;
          const isResize = method === 'POST' && /\/exec\/[^/]+\/resize/.test(path!);
          if (isResize) {
            counts.resizes += 1;
            resizesInFlight += 1;
            counts.maxResizesInFlight = Math.max(counts.maxResizesInFlight, resizesInFlight);
          }
          if (method === 'POST' && /\/containers\/[^/]+\/exec$/.test(path!.split('?')[0]!)) counts.execCreates += 1;
          if (method === 'POST' && /\/exec\/[^/]+\/start/.test(path!)) {
            upgraded = stream = true;
            streamsOpen += 1;
            counts.maxExecStreamsOpen = Math.max(counts.maxExecStreamsOpen, streamsOpen);
          }
          waiting.push(isResize ? 'resize' : 'other');
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (waiting.length > 0) {
        for (const _ of chunk.toString('latin1').matchAll(STATUS_LINE)) {
          if (waiting.shift() === 'resize') resizesInFlight -= 1;
        }
      }
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => {
      upstream.destroy();
      resizesInFlight -= waiting.filter((kind) => kind === 'resize').length;
      waiting.length = 0;
      if (stream) streamsOpen -= 1;
      stream = false;
    });
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    counts,
    execStreamsOpen: () => streamsOpen,
    reset: () => {
      counts.resizes = counts.execCreates = 0;
      counts.maxResizesInFlight = resizesInFlight;
      counts.maxExecStreamsOpen = streamsOpen;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
