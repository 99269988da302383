import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { WebSocket } from 'ws';

/**
 * pods/exec over the Kubernetes channel WebSocket protocol: each binary message starts with
 * a channel byte (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize). v5 adds channel 255,
 * the client's "close stream" signal (`[255, 0]` = stdin EOF); v4 clients close the socket.
 */
export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;
export type ExecProtocol = (typeof EXEC_PROTOCOLS)[number];

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const STATUS = 3;
const RESIZE = 4;
const CLOSE = 255;
const OCI_START_FAILURE = Buffer.from('OCI runtime exec failed');

export interface ExecOptions {
  containerId: string;
  command: string[];
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** The v4 status body, as the kubelet's remotecommand server writes it. */
export function execStatus(exitCode: number, command: string[]): Record<string, unknown> {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

function internalError(message: string): Record<string, unknown> {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: error executing command in container: ${message}`,
    reason: 'InternalError',
    details: { causes: [{ message: `error executing command in container: ${message}` }] },
    code: 500,
  };
}

function frame(channel: number, data: Buffer | string): Buffer {
  const payload = typeof data === 'string' ? Buffer.from(data) : data;
  const out = Buffer.allocUnsafe(payload.length + 1);
  out[0] = channel;
  payload.copy(out, 1);
  return out;
}

/** Past this many bytes unsent to the client, Docker's stream is paused; resumed below the second. */
const PAUSE_ABOVE_BYTES = 4 * 1024 * 1024;
const RESUME_BELOW_BYTES = 1024 * 1024;

/**
 * Docker's multiplexed attach stream (8-byte headers: stream type, 3 zero bytes, big-endian
 * length) split into stdout and stderr bytes, a read at a time: frames cut across reads are
 * carried over, and one read's frames of a stream are joined into one piece.
 */
export class DockerDemuxer {
  private header = Buffer.alloc(0);
  private stream = 0;
  private left = 0;

  push(chunk: Buffer): { stdout?: Buffer; stderr?: Buffer } {
    const out: Record<number, Buffer[]> = { 1: [], 2: [] };
    let offset = 0;
    while (offset < chunk.length) {
      if (this.left === 0) {
        const need = 8 - this.header.length;
        this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + need)]);
        offset += Math.min(need, chunk.length - offset);
        if (this.header.length < 8) break;
        this.stream = this.header[0]!;
        this.left = this.header.readUInt32BE(4);
        this.header = Buffer.alloc(0);
        continue;
      }
      const take = Math.min(this.left, chunk.length - offset);
      // Stream 0 (stdin echo) and anything else is not output: skipped.
      out[this.stream]?.push(chunk.subarray(offset, offset + take));
      this.left -= take;
      offset += take;
    }
    const join = (pieces: Buffer[]) => (pieces.length === 0 ? undefined : pieces.length === 1 ? pieces[0] : Buffer.concat(pieces));
    const stdout = join(out[1]!);
    const stderr = join(out[2]!);
    return { ...(stdout ? { stdout } : {}), ...(stderr ? { stderr } : {}) };
  }
}

/** Accepts `{"Width":80,"Height":24}` and client-node's `{"width":..,"height":..}` (Go's decoder ignores case). */
function parseResize(data: Buffer): { w: number; h: number } | undefined {
  try {
    const raw = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
    const get = (k: string) => Object.entries(raw).find(([key]) => key.toLowerCase() === k)?.[1];
    const w = Number(get('width'));
    const h = Number(get('height'));
    return Number.isInteger(w) && Number.isInteger(h) && w > 0 && h > 0 ? { w, h } : undefined;
  } catch {
    return undefined;
  }
}

async function exitCodeOf(exec: Docker.Exec): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const info = await exec.inspect();
    if (!info.Running && typeof info.ExitCode === 'number') return info.ExitCode;
    await new Promise((resolve) => setTimeout(resolve, Math.min(5 * 2 ** i, 200)));
  }
  throw new Error('exec still running after its streams closed');
}

/** Runs one exec for an accepted WebSocket and ends with the status channel and a close. */
export async function runExec(docker: Docker, ws: WebSocket, protocol: string, options: ExecOptions): Promise<void> {
  const send = (channel: number, data: Buffer | string) => {
    if (ws.readyState === ws.OPEN) ws.send(frame(channel, data));
  };
  let socket: Duplex | undefined;
  let exec: Docker.Exec | undefined;
  let started = false;
  let pendingSize: { w: number; h: number } | undefined;
  const queuedStdin: Buffer[] = [];
  let stdinClosed = false;

  const resize = (size: { w: number; h: number }) => {
    if (!options.tty) return;
    if (!started || !exec) {
      pendingSize = size;
      return;
    }
    exec.resize(size).catch(() => undefined);
  };
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary || data.length < 1) return;
    const channel = data[0]!;
    const payload = data.subarray(1);
    if (channel === STDIN && options.stdin) {
      if (socket) socket.write(payload);
      else queuedStdin.push(Buffer.from(payload));
    } else if (channel === RESIZE) {
      const size = parseResize(payload);
      if (size) resize(size);
    } else if (channel === CLOSE && protocol === 'v5.channel.k8s.io' && payload[0] === STDIN) {
      stdinClosed = true;
      if (socket) socket.end();
    }
  });
  ws.on('close', () => socket?.destroy());
  // A client that breaks the WebSocket protocol ends its exec, never the server.
  ws.on('error', () => ws.terminate());

  // The server opens every channel it serves with an empty message (wsstream does the same).
  if (options.stdout) send(STDOUT, Buffer.alloc(0));
  if (options.stderr && !options.tty) send(STDERR, Buffer.alloc(0));

  try {
    exec = await docker.getContainer(options.containerId).exec({
      Cmd: options.command,
      AttachStdin: options.stdin,
      AttachStdout: options.stdout,
      AttachStderr: options.stderr && !options.tty,
      Tty: options.tty,
    });
    socket = (await exec.start({ hijack: true, stdin: options.stdin, Tty: options.tty })) as Duplex;
  } catch (error) {
    send(STATUS, JSON.stringify(internalError((error as Error).message)));
    ws.close(1000);
    return;
  }
  started = true;
  socket.on('error', () => undefined);
  if (ws.readyState !== ws.OPEN) {
    // The client left while the exec was being created.
    socket.destroy();
    return;
  }
  if (pendingSize) resize(pendingSize);
  for (const chunk of queuedStdin.splice(0)) socket.write(chunk);
  if (stdinClosed || !options.stdin) socket.end();

  // Docker reports a program that cannot start (missing, not executable) as text on stdout and
  // exit code 126; the kubelet reports it as an InternalError status with no output. Hold back
  // stdout while it could still be that text.
  let held: Buffer | undefined = Buffer.alloc(0);
  const stdoutChunk = (chunk: Buffer) => {
    if (held === undefined) return sendTracked(STDOUT, chunk);
    held = Buffer.concat([held, chunk]);
    const prefix = OCI_START_FAILURE.subarray(0, Math.min(held.length, OCI_START_FAILURE.length));
    if (!held.subarray(0, prefix.length).equals(prefix)) {
      send(STDOUT, held);
      held = undefined;
    }
  };
  const closed = new Promise<void>((resolve) => {
    socket!.once('end', resolve);
    socket!.once('close', resolve);
    socket!.once('error', () => resolve());
  });
  // Back-pressure as the kubelet has it: while the client has not taken what was sent, Docker's
  // stream is not read (a slow reader holds the program, not this server's memory).
  const flowing = socket;
  const sendTracked = (channel: number, data: Buffer) => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(frame(channel, data), () => {
      if (ws.bufferedAmount < RESUME_BELOW_BYTES) flowing.resume();
    });
    if (ws.bufferedAmount > PAUSE_ABOVE_BYTES) flowing.pause();
  };
  if (options.tty) socket.on('data', stdoutChunk);
  else {
    // Each read from Docker becomes at most one message per stream, however many frames it holds.
    const demuxer = new DockerDemuxer();
    socket.on('data', (chunk: Buffer) => {
      const { stdout, stderr } = demuxer.push(chunk);
      if (stdout) stdoutChunk(stdout);
      if (stderr) sendTracked(STDERR, stderr);
    });
  }
  await closed;
  if (ws.readyState !== ws.OPEN) return;
  try {
    const code = await exitCodeOf(exec);
    if (held !== undefined && held.length > 0 && code === 126 && held.subarray(0, OCI_START_FAILURE.length).equals(OCI_START_FAILURE)) {
      send(STATUS, JSON.stringify(internalError(`failed to exec in container: failed to start exec: ${held.toString('utf8').trim()}`)));
      ws.close(1000);
      return;
    }
    if (held !== undefined && held.length > 0) send(STDOUT, held);
    send(STATUS, JSON.stringify(execStatus(code, options.command)));
  } catch (error) {
    send(STATUS, JSON.stringify(internalError((error as Error).message)));
  }
  ws.close(1000);
}
