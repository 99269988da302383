import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { formatPath, type Segment } from './path.ts';

/** Where a value sits in a policy file (1-based line and column, as editors count). */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** A parsed policy file: its plain value and the position of every node, by field path. */
export interface SourceFile {
  readonly file: string;
  readonly value: unknown;
  /** Field path inside the file (`overlay.pod.container.image`) → where its value starts. */
  readonly positions: ReadonlyMap<string, Position>;
  /** The YAML syntax errors, already with positions; empty when the file parsed. */
  readonly syntaxErrors: readonly { message: string; position: Position }[];
}

export function parseSource(text: string, file: string): SourceFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { keepSourceTokens: true, lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  const positions = new Map<string, Position>();
  const walk = (node: unknown, segments: Segment[]) => {
    if (!node || typeof node !== 'object') return;
    const range = (node as Node).range;
    if (range) positions.set(formatPath(segments), at(range[0]));
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        const keyRange = (pair.key as Node | null)?.range;
        const path = [...segments, key];
        // A key with no value (`privileged:`) still gets a position: the key's own.
        if (keyRange) positions.set(formatPath(path), at(keyRange[0]));
        walk(pair.value, path);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        walk(item, [...segments, index]);
      });
    }
  };
  walk(doc.contents, []);
  const syntaxErrors = doc.errors.map((error) => ({ message: error.message.split('\n')[0] ?? error.message, position: at(error.pos[0]) }));
  return { file, value: syntaxErrors.length > 0 ? undefined : doc.toJS({ maxAliasCount: 100 }), positions, syntaxErrors };
}

/** The position of `segments`, or of the nearest ancestor that has one. */
export function positionOf(source: SourceFile, segments: readonly Segment[]): Position {
  for (let length = segments.length; length >= 0; length--) {
    const found = source.positions.get(formatPath(segments.slice(0, length)));
    if (found) return found;
  }
  return { file: source.file, line: 1, column: 1 };
}
