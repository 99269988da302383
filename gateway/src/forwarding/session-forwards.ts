import type { Duplex } from 'node:stream';
import type { Connection, X11Info } from 'ssh2';
import type { BackendConnection } from '../backends/index.ts';
import { errorFields, type Logger } from '../observability/index.ts';
import { openAgentChannel } from '../ssh2-internals.ts';
import { relay } from './direct-tcpip.ts';
import { listenThroughAgent, logBrokenListener, shellWord, type AgentListener } from './guest-agent.ts';

/** Sets up, before the program starts, what it reaches the client's agent or X server through. */
export interface SessionForwards {
  /** Listens for the program's agent connections; resolves the environment that names the socket. */
  agent(connection: BackendConnection, marker: string): Promise<{ readonly env: Record<string, string>; close(): void }>;
  /** Listens for the program's X11 connections; resolves the environment (DISPLAY). */
  x11(connection: BackendConnection, marker: string, request: X11Info): Promise<{ readonly env: Record<string, string>; close(): void }>;
}

/** X displays tried inside the container, as sshd's X11DisplayOffset (10) onwards. */
const FIRST_DISPLAY = 10;
const LAST_DISPLAY = 59;

type OpenCallback = (error: Error | undefined, channel: Duplex) => void;

/**
 * The cookie's bytes. RFC 4254 §6.3.1 sends it as a hex string; ssh2 hands that field over
 * hex-encoded once more, so a decode that yields hex text is decoded again.
 */
export function x11CookieBytes(cookie: string): Buffer {
  const once = Buffer.from(cookie, 'hex');
  const text = once.toString('latin1');
  return /^(?:[0-9a-fA-F]{2})+$/.test(text) ? Buffer.from(text, 'hex') : once;
}

/** An .Xauthority entry (FamilyWild, any address) for `display`, as `xauth add` would write it. */
export function xauthorityEntry(display: number, protocol: string, cookie: Buffer): Buffer {
  const field = (data: Buffer) => Buffer.concat([Buffer.from([data.length >> 8, data.length & 0xff]), data]);
  return Buffer.concat([Buffer.from([0xff, 0xff]), field(Buffer.alloc(0)), field(Buffer.from(String(display))), field(Buffer.from(protocol)), field(cookie)]);
}

/** Agent (ssh -A) and X11 (ssh -X) forwarding through the guest agent, for one connection. */
export function sessionForwards(client: Connection, log: Logger): SessionForwards {
  const toClient = (open: (callback: OpenCallback) => void) => (stream: Duplex) => {
    try {
      open((error, channel) => {
        if (error) {
          log.debug({ code: 'SSH_FORWARD_REJECTED', ...errorFields(error) }, 'the client refused a forwarded channel');
          return stream.destroy();
        }
        relay(channel, stream);
      });
    } catch (error) {
      // The client left: ssh2 throws on a channel open after its transport is gone.
      log.debug({ code: 'SSH_FORWARD_REJECTED', ...errorFields(error) }, 'the client is gone; forwarded channel dropped');
      stream.destroy();
    }
  };
  return {
    agent: async (connection, marker) => {
      const path = `/tmp/portcullis-agent-${marker}.sock`;
      const listener = await listenThroughAgent(
        connection,
        { path },
        toClient((callback) => openAgentChannel(client, callback)),
        logBrokenListener(log, 'agent'),
      );
      return { env: { SSH_AUTH_SOCK: path }, close: () => listener.close() };
    },
    x11: async (connection: BackendConnection, _marker: string, request: X11Info) => {
      let listener: AgentListener | undefined;
      let display = FIRST_DISPLAY;
      for (; display <= LAST_DISPLAY && !listener; display += 1) {
        listener = await listenThroughAgent(
          connection,
          { host: '127.0.0.1', port: 6000 + display },
          (stream, peer) => toClient((callback) => client.x11(peer.host, peer.port, callback as never))(stream),
          logBrokenListener(log, 'x11'),
        ).catch(() => undefined);
      }
      if (!listener) throw new Error('no free X11 display in the container');
      display -= 1;
      // The client checks the cookie it sent in x11-req, so programs need it: sshd runs xauth.
      const entry = xauthorityEntry(display, request.protocol, x11CookieBytes(request.cookie));
      const octal = [...entry].map((byte) => `\\${byte.toString(8).padStart(3, '0')}`).join('');
      const writer = await connection.runHelper!(`umask 077; printf ${shellWord(octal)} > "$HOME/.Xauthority"`);
      writer.stdin.end();
      writer.stdout.resume();
      writer.stderr.resume();
      await writer.exited;
      const opened = listener;
      return { env: { DISPLAY: `localhost:${display}.${request.screen}` }, close: () => opened.close() };
    },
  };
}
