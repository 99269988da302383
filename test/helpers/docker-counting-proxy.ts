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
  /** Most connections to the engine open at one time: each is an open file in the engine. */
  maxConnectionsOpen: number;
}

export interface DockerCountingProxy {
  /** Unix socket to give the gateway as `docker.socketPath`. */
  readonly socketPath: string;
  readonly counts: DockerCallCounts;
  /** Attached exec streams open now (of the focused container only, once one is focused). */
  execStreamsOpen(): number;
  /** Connections to the engine open now. */
  connectionsOpen(): number;
  /** The container of the last exec created through the proxy. */
  lastExecContainer(): string | undefined;
  /**
   * Starts counting afresh (maxima included); with `container`, exec creates and exec streams
   * are counted for that container alone, so another user's sessions do not blur the figures.
   */
  reset(container?: string): void;
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
  const counts: DockerCallCounts = { resizes: 0, maxResizesInFlight: 0, execCreates: 0, maxExecStreamsOpen: 0, maxConnectionsOpen: 0 };
  let resizesInFlight = 0;
  let streamsOpen = 0;
  let connectionsOpen = 0;
  let focus: string | undefined;
  let lastExecContainer: string | undefined;
  /** The container of every exec id the engine handed out, read from exec-create answers. */
  const execContainers = new Map<string, string>();
  /** Exec streams open now, by container. */
  const streamsByContainer = new Map<string, number>();
  const counted = (container: string | undefined) => focus === undefined || container === focus;
  const openStreams = () => (focus === undefined ? streamsOpen : (streamsByContainer.get(focus) ?? 0));
  const sockets = new Set<Socket>();
  // Half-open both ways, as the engine's own socket is: a client's end of stdin (FIN) must not cut the output still coming back.
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ path: target, allowHalfOpen: true });
    connectionsOpen += 1;
    counts.maxConnectionsOpen = Math.max(counts.maxConnectionsOpen, connectionsOpen);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    /** Requests on this keep-alive connection waiting for an answer, oldest first. */
    const waiting: Array<{ kind: 'resize' | 'exec-create' | 'other'; container?: string }> = [];
    /** The container whose exec-create answer is still to bring the exec's id. */
    let awaitingExecId: string | undefined;
    let upgraded = false;
    let stream = false;
    let streamContainer: string | undefined;
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
          const execCreate = method === 'POST' ? /\/containers\/([^/]+)\/exec$/.exec(path!.split('?')[0]!) : null;
          if (execCreate) {
            lastExecContainer = execCreate[1]!;
            if (counted(lastExecContainer)) counts.execCreates += 1;
          }
          const execStart = method === 'POST' ? /\/exec\/([^/]+)\/start/.exec(path!) : null;
          if (execStart) {
            upgraded = stream = true;
            streamContainer = execContainers.get(execStart[1]!);
            streamsOpen += 1;
            if (streamContainer !== undefined) streamsByContainer.set(streamContainer, (streamsByContainer.get(streamContainer) ?? 0) + 1);
            if (counted(streamContainer)) counts.maxExecStreamsOpen = Math.max(counts.maxExecStreamsOpen, openStreams());
          }
          waiting.push(isResize ? { kind: 'resize' } : execCreate ? { kind: 'exec-create', container: execCreate[1]! } : { kind: 'other' });
        }
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      if (waiting.length > 0) {
        for (const _ of text.matchAll(STATUS_LINE)) {
          const answered = waiting.shift();
          if (answered?.kind === 'resize') resizesInFlight -= 1;
          if (answered?.kind === 'exec-create') awaitingExecId = answered.container;
        }
      }
      const id = awaitingExecId === undefined ? undefined : /"Id":"([0-9a-f]+)"/.exec(text)?.[1];
      if (awaitingExecId !== undefined && id !== undefined) {
        execContainers.set(id, awaitingExecId);
        awaitingExecId = undefined;
      }
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('close', () => {
      connectionsOpen -= 1;
      upstream.destroy();
      resizesInFlight -= waiting.filter(({ kind }) => kind === 'resize').length;
      waiting.length = 0;
      if (stream) {
        streamsOpen -= 1;
        if (streamContainer !== undefined) streamsByContainer.set(streamContainer, (streamsByContainer.get(streamContainer) ?? 1) - 1);
      }
      stream = false;
    });
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return {
    socketPath,
    counts,
    execStreamsOpen: openStreams,
    connectionsOpen: () => connectionsOpen,
    lastExecContainer: () => lastExecContainer,
    reset: (container) => {
      focus = container;
      counts.resizes = counts.execCreates = 0;
      counts.maxResizesInFlight = resizesInFlight;
      counts.maxExecStreamsOpen = openStreams();
      counts.maxConnectionsOpen = connectionsOpen;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
