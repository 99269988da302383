import { PassThrough, type Readable } from 'node:stream';

const HEADER_BYTES = 8;
const STREAM_STDOUT = 1;
const STREAM_STDERR = 2;

/**
 * Splits Docker's multiplexed attach stream (8-byte header: stream type, 3 zero bytes,
 * big-endian length) into stdout and stderr, honouring back-pressure on both sides so a
 * slow SSH client slows the container instead of filling the gateway's memory.
 */
export function demuxDockerStream(source: Readable): { stdout: PassThrough; stderr: PassThrough } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let pending: Buffer = Buffer.alloc(0);
  let frameType = 0;
  let frameRemaining = 0;

  const resumeWhenDrained = (sink: PassThrough) => {
    source.pause();
    sink.once('drain', () => source.resume());
  };

  source.on('data', (chunk: Buffer) => {
    let data = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    pending = Buffer.alloc(0);
    let blocked: PassThrough | undefined;
    while (data.length > 0) {
      if (frameRemaining === 0) {
        if (data.length < HEADER_BYTES) {
          pending = data;
          break;
        }
        frameType = data[0]!;
        frameRemaining = data.readUInt32BE(4);
        data = data.subarray(HEADER_BYTES);
        continue;
      }
      const take = Math.min(frameRemaining, data.length);
      const payload = data.subarray(0, take);
      data = data.subarray(take);
      frameRemaining -= take;
      const sink = frameType === STREAM_STDERR ? stderr : frameType === STREAM_STDOUT ? stdout : undefined;
      if (sink && !sink.write(payload)) blocked = sink;
    }
    if (blocked) resumeWhenDrained(blocked);
  });
  const finish = () => {
    stdout.end();
    stderr.end();
  };
  source.once('end', finish);
  source.once('close', finish);
  source.once('error', finish);
  return { stdout, stderr };
}
