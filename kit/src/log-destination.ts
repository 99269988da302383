// Where log lines go: stdout (default), a file, or syslog (RFC 5424 over UDP, TCP or a Unix
// stream socket), for every program. Written here rather than with pino-syslog + pino-socket:
// those put `req.id` in MSGID (ours is the log code operators filter on) and frame TCP with
// newlines, where a JSON line may itself hold one; RFC 6587 octet counting needs its own sender.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { z } from 'zod';

/** RFC 5424 section 6.2.1 facility numbers, by the names syslog.conf uses. */
const FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
type Facility = keyof typeof FACILITIES;

/** pino levels (numbers, or labels when a formatter renames them) to RFC 5424 severities. */
const SEVERITIES: Record<string, number> = {
  fatal: 2,
  error: 3,
  warn: 4,
  info: 6,
  debug: 7,
  trace: 7,
  60: 2,
  50: 3,
  40: 4,
  30: 6,
  20: 7,
  10: 7,
};

// Descriptions are .describe() texts: docs/config-*.md is generated from them (scripts/config-doc.ts).
const SyslogSchema = z.strictObject({
  destination: z
    .string()
    .regex(/^(?:(?:udp|tcp):\/\/(?:\[[0-9a-fA-F:]+\]|[^\s:/[\]]+):\d{1,5}|unix:\/\/\/\S+)$/, 'syslog.destination is udp://host:port, tcp://host:port or unix:///path')
    .default('udp://127.0.0.1:514')
    .describe('`udp://host:port`, `tcp://host:port` (octet-counted frames, RFC 6587) or `unix:///path` (a stream socket)'),
  facility: z
    .enum(Object.keys(FACILITIES) as [Facility, ...Facility[]])
    .default('local0')
    .describe('syslog facility'),
  tag: z
    .string()
    .regex(/^[!-~]{1,48}$/, 'syslog.tag is 1 to 48 printable ASCII characters')
    .optional()
    .describe('RFC 5424 APP-NAME; `portcullis-<program>` when unset'),
});

/** Fields added to each program's `log` section beside `level`. */
export const LogTargetFields = {
  destination: z
    .enum(['stdout', 'file', 'syslog'])
    .default('stdout')
    .describe('`stdout` (JSON lines), `file` (JSON lines appended to `log.file`) or `syslog` (RFC 5424; MSGID is the code, MSG the JSON line)'),
  file: z.string().min(1).optional().describe('the file for `destination: file`; its folder is created if missing'),
  syslog: SyslogSchema.optional().describe('settings for `destination: syslog`'),
};

export interface LogTarget {
  destination: 'stdout' | 'file' | 'syslog';
  file?: string | undefined;
  syslog?: z.output<typeof SyslogSchema> | undefined;
}

/** For `.superRefine` on the `log` section: `destination: file` needs `file`. */
export function checkLogTarget(target: LogTarget, ctx: z.RefinementCtx): void {
  if (target.destination === 'file' && !target.file) {
    ctx.addIssue({ code: 'custom', path: ['file'], message: 'log.destination "file" needs log.file' });
  }
}

/**
 * The pino destination for `target`, or undefined for stdout. Logging never stops the program:
 * a syslog receiver that is down loses lines, it does not block or crash anything.
 */
export function openLogDestination(target: LogTarget, program: string): pino.DestinationStream | undefined {
  if (target.destination === 'file' && target.file) return pino.destination({ dest: target.file, mkdir: true, sync: false });
  if (target.destination === 'syslog') {
    const syslog = target.syslog ?? SyslogSchema.parse({});
    return new SyslogSink(syslog.destination, FACILITIES[syslog.facility], syslog.tag ?? program);
  }
  return undefined;
}

/** One pino JSON line as an RFC 5424 message; the line's `code` becomes the MSGID. */
export function formatRfc5424(line: string, facility: number, appName: string, host: string = hostname(), pid: number = process.pid): string {
  let parsed: { level?: unknown; time?: unknown; code?: unknown } = {};
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    // not JSON: sent as it is, with the current time
  }
  const severity = SEVERITIES[String(parsed.level)] ?? 6;
  const time = typeof parsed.time === 'number' || typeof parsed.time === 'string' ? new Date(parsed.time) : new Date();
  const timestamp = Number.isNaN(time.getTime()) ? new Date().toISOString() : time.toISOString();
  // RFC 5424 section 6: header fields are printable ASCII without spaces, MSGID at most 32 of
  // them. A longer code is not cut (a cut code would name another event): MSGID is then "-".
  const field = (value: unknown, max: number) => (typeof value === 'string' && /^[!-~]+$/.test(value) && value.length <= max ? value : '-');
  return `<${facility * 8 + severity}>1 ${timestamp} ${field(host, 255)} ${field(appName, 48)} ${pid} ${field(parsed.code, 32)} - ${line}`;
}

/** Lines queued while a stream socket connects; beyond this, the oldest are dropped. */
const MAX_QUEUED = 1_000;
/** A stream receiver that went away is retried at most this often. */
const RECONNECT_MS = 1_000;

class SyslogSink extends Writable {
  private udp?: UdpSocket;
  private stream?: Socket;
  private connected = false;
  private lastAttempt = 0;
  private readonly queue: Buffer[] = [];
  private readonly url: URL;

  constructor(
    destination: string,
    private readonly facility: number,
    private readonly appName: string,
  ) {
    super({ decodeStrings: false });
    this.url = new URL(destination);
  }

  override _write(chunk: Buffer | string, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    for (const line of String(chunk).split('\n')) {
      if (line.length > 0) this.send(formatRfc5424(line, this.facility, this.appName));
    }
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.udp?.close();
    this.stream?.end();
    done(error);
  }

  private send(message: string): void {
    if (this.url.protocol === 'udp:') {
      if (!this.udp) {
        this.udp = createSocket(this.url.hostname.includes(':') ? 'udp6' : 'udp4');
        this.udp.on('error', () => undefined);
        this.udp.unref();
      }
      this.udp.send(Buffer.from(message), Number(this.url.port), this.url.hostname.replace(/^\[|\]$/g, ''), () => undefined);
      return;
    }
    // RFC 6587 section 3.4.1 octet counting: a message may itself hold newlines.
    const body = Buffer.from(message);
    const frame = Buffer.concat([Buffer.from(`${body.length} `), body]);
    if (this.connected && this.stream) {
      this.stream.write(frame);
      return;
    }
    this.queue.push(frame);
    if (this.queue.length > MAX_QUEUED) this.queue.shift();
    this.connect();
  }

  private connect(): void {
    if (this.stream || Date.now() - this.lastAttempt < RECONNECT_MS) return;
    this.lastAttempt = Date.now();
    const socket = this.url.protocol === 'unix:' ? connect({ path: decodeURIComponent(this.url.pathname) }) : connect({ host: this.url.hostname.replace(/^\[|\]$/g, ''), port: Number(this.url.port) });
    this.stream = socket;
    socket.unref();
    socket.on('connect', () => {
      this.connected = true;
      for (const frame of this.queue.splice(0)) socket.write(frame);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.connected = false;
      this.stream = undefined;
    });
  }
}
