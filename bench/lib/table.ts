import { writeFile } from 'node:fs/promises';

/** One measured figure, next to the baseline measured in the same run. */
export interface Row {
  readonly benchmark: string;
  readonly measure: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly label: string; readonly value: number };
  /** value / baseline, or as the goal defines it. */
  readonly ratio?: number;
  readonly goal: string;
  /** Whether the goal was met; undefined where there is nothing to compare yet. */
  readonly met?: boolean;
}

export interface BenchOptions {
  /** A short run that proves the benchmark still works (CI), not a measurement. */
  readonly smoke: boolean;
}

const HEADER = ['benchmark', 'measure', 'value', 'baseline (same run)', 'ratio', 'goal', 'met'];

function cells(row: Row): string[] {
  const number = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1));
  return [
    row.benchmark,
    row.measure,
    `${number(row.value)} ${row.unit}`,
    row.baseline ? `${number(row.baseline.value)} ${row.unit} (${row.baseline.label})` : '',
    row.ratio === undefined ? '' : `${row.ratio.toFixed(2)}×`,
    row.goal,
    row.met === undefined ? '' : row.met ? 'yes' : 'NO',
  ];
}

export function formatTable(rows: readonly Row[]): string {
  const lines = [HEADER, ...rows.map(cells)];
  const widths = HEADER.map((_, column) => Math.max(...lines.map((line) => line[column]!.length)));
  const format = (line: string[]) => `| ${line.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  return [format(HEADER), `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`, ...lines.slice(1).map(format)].join('\n');
}

/** Prints the table and, for full runs, writes it where bench/README.md links. */
export async function report(title: string, rows: readonly Row[], options: BenchOptions, resultsFile?: string): Promise<void> {
  const table = formatTable(rows);
  console.log(`\n## ${title}${options.smoke ? ' (smoke run: proves the benchmark works; figures are not measurements)' : ''}\n\n${table}\n`);
  if (resultsFile && !options.smoke) {
    const machine = `Node ${process.version}, ${(await import('node:os')).cpus().length} cores`;
    await writeFile(resultsFile, `# ${title}\n\nMeasured ${new Date().toISOString()} on ${machine} by \`npm run bench\`.\n\n${table}\n`);
  }
}
