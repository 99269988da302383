import { parseArgs } from 'node:util';
import { parseAsciicast } from '../../format/asciicast.ts';
import { decodeBinaryLog } from '../../format/binary-log.ts';
import { messageTypeName } from '../../format/message-types.ts';
import { openSource, SourceError, verifyStreams, type S3Access } from '../../format/recording-reader.ts';
import { loadS3Credentials } from '../../store/s3-store.ts';
import { FileRecordingStore } from '../../store/file-store.ts';
import { RECORDING_ID_PATTERN } from '../../store/recording-store.ts';
import { listOverviews } from '../../format/recording-summary.ts';
import { formatOverviewTable, parseSince } from './list-format.ts';

const USAGE = `usage: portcullis audit <command> [options]
  list   [directory | s3://bucket[/prefix/]] [--user NAME] [--since TIME] [--json] [--after ID] [--limit N]
         recordings newest first: user, address, start, duration, bytes in/out, exit status, state
         (TIME: ISO 8601 such as 2026-12-06T18:00Z, or an age such as 30m, 2h, 7d)
  decode <recording id | stream file | s3://bucket/id/audit.cslog>   one line per binary log message
  play   <recording id | stream file | s3://bucket/id/channel-N.cast> [--speed X] [--no-wait]
  verify <recording id | stream file | recording folder | s3://bucket/id[/stream]>
A recording id is looked up in $PORTCULLIS_RECORDINGS (the default directory of list).
S3 options: --endpoint URL --region R --credentials FILE ({"accessKeyId","secretAccessKey"})`;

/** The directory a bare recording id and a bare `list` refer to (set in the gateway image's compose service). */
function recordingsDirectory(): string | undefined {
  return process.env.PORTCULLIS_RECORDINGS || undefined;
}

/** A bare recording id stands for its folder (verify), its binary log (decode) or its first terminal (play). */
async function resolveTarget(target: string, command: string): Promise<string> {
  const directory = recordingsDirectory();
  if (!RECORDING_ID_PATTERN.test(target) || !directory) return target;
  const folder = `${directory}/${target}`;
  if (command === 'verify') return folder;
  const { streams } = await openSource(folder);
  const names = (await streams()).map((key) => key.slice(key.indexOf('/') + 1));
  const name = command === 'play' ? names.find((file) => file.endsWith('.cast')) : names.find((file) => file === 'audit.cslog');
  if (!name) throw new SourceError(`recording ${target} has no ${command === 'play' ? 'terminal recording (.cast)' : 'binary log'}`);
  return `${folder}/${name}`;
}

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      after: { type: 'string' },
      limit: { type: 'string', default: '20' },
      speed: { type: 'string', default: '1' },
      'no-wait': { type: 'boolean', default: false },
      user: { type: 'string' },
      since: { type: 'string' },
      json: { type: 'boolean', default: false },
      endpoint: { type: 'string' },
      region: { type: 'string' },
      credentials: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, given] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (!command) throw new UsageError('name a command');
  const named = given ?? (command === 'list' ? recordingsDirectory() : undefined);
  if (!named) throw new UsageError(`${command} needs a recording id, file, folder or s3:// URL`);
  const target = await resolveTarget(named, command);
  const s3: S3Access = {
    ...(values.endpoint ? { endpoint: values.endpoint } : {}),
    ...(values.region ? { region: values.region } : {}),
    ...(values.credentials ? { credentials: await loadS3Credentials(values.credentials) } : {}),
  };
  switch (command) {
    case 'list': {
      const limit = Number(values.limit);
      if (!Number.isInteger(limit) || limit <= 0) throw new UsageError('--limit is a positive whole number');
      if (values.after !== undefined && !RECORDING_ID_PATTERN.test(values.after)) throw new UsageError('--after takes a recording id');
      const since = values.since === undefined ? undefined : parseSince(values.since);
      if (since === null) throw new UsageError('--since takes an ISO 8601 time (2026-12-06T18:00Z) or an age (30m, 2h, 7d)');
      if (values.user !== undefined && (values.user === '' || values.user.length > 256)) throw new UsageError('--user takes a username');
      const store = target.startsWith('s3://') ? (await openSource(target, s3)).store! : new FileRecordingStore(target);
      const { overviews, next } = await listOverviews(store, {
        limit,
        ...(values.after ? { after: values.after } : {}),
        filter: { ...(values.user !== undefined ? { user: values.user } : {}), ...(since ? { since } : {}) },
      });
      if (values.json) for (const overview of overviews) console.log(JSON.stringify(overview));
      else {
        process.stdout.write(formatOverviewTable(overviews));
        if (next) console.log(`(more: --after ${next})`);
      }
      return 0;
    }
    case 'decode': {
      const source = await openSource(target, s3);
      const [key] = await source.streams();
      const { version, messages } = decodeBinaryLog(await source.read(key!));
      console.log(`# ContainerSSH audit log version ${version}, ${messages.length} messages`);
      for (const message of messages) {
        const time = new Date(Number(message.timestamp / 1_000_000n)).toISOString();
        console.log(`${time}\t${message.channelId ?? '-'}\t${messageTypeName(message.type)}(${message.type})\t${JSON.stringify(message.payload, printable)}`);
      }
      return 0;
    }
    case 'play': {
      const source = await openSource(target, s3);
      const [key] = await source.streams();
      const { events } = parseAsciicast((await source.read(key!)).toString('utf8'));
      const speed = Number(values.speed);
      if (!(speed > 0)) throw new UsageError('--speed is a positive number');
      let last = 0;
      for (const [time, code, data] of events) {
        if (!values['no-wait']) await new Promise((resolve) => setTimeout(resolve, (Math.min(2, Math.max(0, time - last)) * 1000) / speed));
        last = time;
        if (code === 'o') process.stdout.write(data);
      }
      return 0;
    }
    case 'verify': {
      const verdicts = await verifyStreams(await openSource(target, s3));
      if (verdicts.length === 0) throw new SourceError(`${target} holds no recording streams`);
      for (const verdict of verdicts) {
        if (verdict.ok) console.log(`OK ${verdict.key}: ${verdict.chunks} chunks${verdict.complete ? '' : ' (sealed after a gateway crash: the tail is missing)'}`);
        else console.log(`FAILED ${verdict.key}: ${verdict.problems.join('; ')}`);
      }
      return verdicts.every((verdict) => verdict.ok) ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Byte strings print as text when they are text, else as base64. */
function printable(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    const bytes = Buffer.from((value as { data: number[] }).data);
    const text = bytes.toString('utf8');
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the class names the control characters a terminal recording may keep as text.
    return /^[\P{Cc}\n\r\t\x1b]*$/u.test(text) ? text : `base64:${bytes.toString('base64')}`;
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`portcullis audit: ${error.message}\n${USAGE}`);
    else console.error(`portcullis audit: ${error instanceof SourceError ? error.message : describe(error)}`);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);

function describe(error: unknown): string {
  const name = (error as { name?: string }).name;
  const message = (error as Error).message ?? String(error);
  if (name === 'CredentialsProviderError') return 'no S3 credentials: pass --credentials FILE or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY';
  if (name === 'NoSuchKey') return 'no such object in the bucket';
  if (name === 'NoSuchBucket') return 'no such bucket';
  if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED') return 'the S3 endpoint refused the connection';
  return message;
}
