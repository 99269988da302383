import { StringDecoder } from 'node:string_decoder';

/** asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a JSON header line, then one JSON array per event. */
export interface AsciicastHeader {
  readonly width: number;
  readonly height: number;
  /** Seconds since the epoch. */
  readonly timestamp: number;
  readonly env?: Record<string, string>;
  readonly title?: string;
}

export function headerLine(header: AsciicastHeader): string {
  return `${JSON.stringify({ version: 2, ...header })}\n`;
}

/** Event lines of one terminal; output split mid-character is held until the rest arrives. */
export class AsciicastEvents {
  private readonly output = new StringDecoder('utf8');
  private readonly input = new StringDecoder('utf8');

  constructor(private readonly startedAt: number) {}

  private line(code: 'o' | 'i' | 'r', text: string, at: number): string {
    return `${JSON.stringify([Math.max(0, Math.round((at - this.startedAt) * 1e3) / 1e6), code, text])}\n`;
  }

  /** `at` in milliseconds (performance.now() scale). */
  outputLine(data: Buffer, at: number): string | undefined {
    const text = this.output.write(data);
    return text ? this.line('o', text, at) : undefined;
  }

  inputLine(data: Buffer, at: number): string | undefined {
    const text = this.input.write(data);
    return text ? this.line('i', text, at) : undefined;
  }

  resizeLine(cols: number, rows: number, at: number): string {
    return this.line('r', `${cols}x${rows}`, at);
  }
}

/** Parses a cast file into its header and events (for the CLI and tests). */
export function parseAsciicast(text: string): { header: Record<string, unknown>; events: [number, string, string][] } {
  const [first, ...rest] = text.split('\n').filter((line) => line.trim() !== '');
  if (!first) throw new Error('empty asciicast');
  const header = JSON.parse(first) as Record<string, unknown>;
  if (header.version !== 2) throw new Error('not an asciicast v2 file');
  return { header, events: rest.map((line) => JSON.parse(line) as [number, string, string]) };
}
