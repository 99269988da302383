import { Duplex, PassThrough } from 'node:stream';
import type { BackendConnection, BackendSession } from '../backends/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';

/** Where the session image keeps the guest agent (images/session/agent). */
export const GUEST_AGENT_PATH = '/usr/local/bin/portcullis-agent';

/** Frame types of the agent's listen protocol, version 1 (see portcullis-agent.c). */
const FRAME = { READY: 0, OPEN: 1, DATA: 2, EOF: 3, CLOSE: 4, FAIL: 5 } as const;
const HEADER = 9;
/** The agent reads and sends at most this much per frame. */
const MAX_PAYLOAD = 32 * 1024;

/** Quotes one word for POSIX sh. */
export function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** One stream through the agent's stdio: the helper's stdout is read, its stdin written. */
function helperDuplex(helper: BackendSession): Duplex {
  helper.stderr.resume();
  const duplex = Duplex.from({ readable: helper.stdout, writable: helper.stdin });
  duplex.on('close', () => helper.destroy());
  return duplex;
}

/**
 * A TCP connection (ssh -L, -D) or Unix socket connection (ssh -L to a socket) made from
 * inside the container by the guest agent, as the session user.
 */
export async function connectThroughAgent(connection: BackendConnection, target: { readonly host: string; readonly port: number } | { readonly path: string }): Promise<Duplex> {
  if (!connection.runHelper) throw new Error('this backend cannot run the guest agent');
  const command = 'path' in target ? `exec ${GUEST_AGENT_PATH} connect-unix ${shellWord(target.path)}` : `exec ${GUEST_AGENT_PATH} connect ${shellWord(target.host)} ${target.port}`;
  return helperDuplex(await connection.runHelper(command));
}

/** The `onBroken` of a forward's listener: the operator is told which forward went and why. */
export function logBrokenListener(log: Logger, kind: string): (error: Error) => void {
  return (error) => log.warn({ code: 'SSH_FORWARD_REJECTED', kind, ...errorFields(error) }, `${kind} forward closed: the guest agent broke its protocol`);
}

export interface AgentListener {
  /** The port the agent bound (for a TCP listen on port 0), or the socket path. */
  readonly bound: string;
  /** Stops listening; open connections are closed. */
  close(): void;
}

/**
 * Listens inside the container (ssh -R, X11, agent forwarding) through the guest agent; every
 * accepted connection is handed to `onConnection` as a stream. Rejects when the agent cannot
 * listen (address in use, permission), with the agent's reason. A listener already up that the
 * agent's output breaks (the container shapes it) is closed and reported to `onBroken`.
 */
export async function listenThroughAgent(
  connection: BackendConnection,
  address: { readonly host: string; readonly port: number } | { readonly path: string },
  onConnection: (stream: Duplex, peer: { host: string; port: number }) => void,
  onBroken: (error: Error) => void = () => undefined,
): Promise<AgentListener> {
  if (!connection.runHelper) throw new Error('this backend cannot run the guest agent');
  const command = 'path' in address ? `exec ${GUEST_AGENT_PATH} listen-unix ${shellWord(address.path)}` : `exec ${GUEST_AGENT_PATH} listen-tcp ${shellWord(address.host)} ${address.port}`;
  const helper = await connection.runHelper(command);
  helper.stderr.resume();
  const streams = new Map<number, PassThrough>();
  const send = (type: number, id: number, payload: Buffer = Buffer.alloc(0)) => {
    for (let offset = 0; offset === 0 || offset < payload.length; offset += MAX_PAYLOAD) {
      const part = payload.subarray(offset, offset + MAX_PAYLOAD);
      const head = Buffer.alloc(HEADER);
      head.writeUInt8(type, 0);
      head.writeUInt32BE(id, 1);
      head.writeUInt32BE(part.length, 5);
      if (helper.stdin.writable) helper.stdin.write(Buffer.concat([head, part]));
      if (payload.length === 0) break;
    }
  };
  const close = () => {
    for (const stream of streams.values()) stream.destroy();
    streams.clear();
    helper.stdin.end();
    helper.destroy();
  };

  return new Promise<AgentListener>((resolve, reject) => {
    // The helper's output is the container's to shape: frames are bounded, and a frame that
    // arrives a byte at a time is joined once it is whole, not on every byte.
    let waiting: Buffer[] = [];
    let waitingBytes = 0;
    let needed = HEADER;
    let ready = false;
    let refused = false;
    // A connection whose SSH side reads slower than the container sends stops the agent's
    // output until it drained, instead of buffering it here (the other connections of this
    // listener wait too: they share the agent's one stdout).
    const held = new Set<PassThrough>();
    const release = (inbound: PassThrough) => {
      if (held.delete(inbound) && held.size === 0) helper.stdout.resume();
    };
    const hold = (inbound: PassThrough) => {
      if (held.has(inbound)) return;
      held.add(inbound);
      helper.stdout.pause();
      inbound.once('drain', () => release(inbound));
    };
    helper.stdout.on('data', (chunk: Buffer) => {
      if (refused) return;
      waiting.push(chunk);
      waitingBytes += chunk.length;
      if (waitingBytes < needed) return;
      let buffered = waiting.length === 1 ? chunk : Buffer.concat(waiting, waitingBytes);
      needed = HEADER;
      while (buffered.length >= HEADER) {
        const length = buffered.readUInt32BE(5);
        if (length > MAX_PAYLOAD) {
          refused = true;
          close();
          const error = new Error(`the guest agent sent a frame of ${length} bytes (at most ${MAX_PAYLOAD})`);
          if (ready) onBroken(error);
          else reject(error);
          return;
        }
        if (buffered.length < HEADER + length) {
          needed = HEADER + length;
          break;
        }
        const type = buffered.readUInt8(0);
        const id = buffered.readUInt32BE(1);
        const payload = buffered.subarray(HEADER, HEADER + length);
        buffered = buffered.subarray(HEADER + length);
        if (type === FRAME.READY) {
          ready = true;
          resolve({ bound: payload.toString('utf8'), close });
        } else if (type === FRAME.FAIL) {
          close();
          reject(new Error(payload.toString('utf8')));
        } else if (type === FRAME.OPEN) {
          const [host = '', port = '0'] = payload.toString('utf8').split(' ');
          const inbound = new PassThrough();
          streams.set(id, inbound);
          let ended = false;
          const stream = new Duplex({
            read: () => inbound.resume(),
            write: (data: Buffer, _encoding, callback) => {
              send(FRAME.DATA, id, data);
              callback();
            },
            final: (callback) => {
              send(FRAME.EOF, id);
              callback();
            },
            destroy: (error, callback) => {
              if (!ended && streams.has(id)) send(FRAME.CLOSE, id);
              ended = true;
              streams.delete(id);
              release(inbound);
              callback(error);
            },
          });
          inbound.on('data', (data: Buffer) => {
            if (!stream.push(data)) inbound.pause();
          });
          inbound.on('end', () => stream.push(null));
          onConnection(stream, { host, port: Number(port) });
        } else if (type === FRAME.DATA) {
          const inbound = streams.get(id);
          if (inbound && !inbound.write(Buffer.from(payload))) hold(inbound);
        } else if (type === FRAME.EOF) {
          streams.get(id)?.end();
        }
      }
      waiting = buffered.length > 0 ? [buffered] : [];
      waitingBytes = buffered.length;
    });
    void helper.exited.then(() => {
      for (const stream of streams.values()) stream.destroy();
      streams.clear();
      if (!ready) reject(new Error('the guest agent ended before it listened (is it in the image?)'));
    });
  });
}
