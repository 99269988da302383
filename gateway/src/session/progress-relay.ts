import type { Writable } from 'node:stream';

/** Lines kept for a session that opens after they were reported. */
const MAX_PENDING_LINES = 50;

/**
 * Carries backend progress ("downloading your image…") to the user. The backend starts
 * before any session channel is open, so lines wait here until one is, then flow live.
 */
export class ProgressRelay {
  private readonly pending: string[] = [];
  private readonly outputs = new Set<Writable>();

  readonly report = (line: string): void => {
    const text = `${line.replace(/[\r\n]+/g, ' ')}\r\n`;
    if (this.outputs.size === 0) {
      if (this.pending.length < MAX_PENDING_LINES) this.pending.push(text);
      return;
    }
    for (const output of this.outputs) if (output.writable) output.write(text);
  };

  /** Shows what was reported so far, then live lines until `detach`. */
  attach(output: Writable): () => void {
    for (const text of this.pending.splice(0)) output.write(text);
    this.outputs.add(output);
    return () => this.outputs.delete(output);
  }
}
