/** Small helpers shared by the benchmarks: percentiles and a printed table. */
export function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export interface Row {
  readonly name: string;
  readonly median: number;
  readonly p95: number;
  readonly unit: string;
  readonly note?: string;
}

export function printTable(title: string, rows: Row[]): string {
  const header = ['measurement', 'median', 'p95', 'unit', 'note'];
  const lines = rows.map((row) => [row.name, row.median.toFixed(1), row.p95.toFixed(1), row.unit, row.note ?? '']);
  const widths = header.map((cell, column) => Math.max(cell.length, ...lines.map((line) => line[column]!.length)));
  const format = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  const text = [
    `## ${title}`,
    '',
    format(header),
    `| ${widths.map((width) => '-'.repeat(width)).join(' | ')} |`,
    ...lines.map(format),
  ].join('\n');
  console.log(text);
  return text;
}
