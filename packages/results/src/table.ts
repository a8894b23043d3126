/** The output formats every table-printing command takes (`--format`). */
export const FORMATS = ['md', 'csv', 'json'] as const;
export type Format = (typeof FORMATS)[number];

export interface Column<R> {
  /** The csv header; stable, for scripts. */
  key: string;
  /** The md header; for people. */
  title: string;
  value(row: R): string | number;
}

// A fixed locale, so that output does not change with the machine's LANG.
const formatNumber = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 6 });

function markdown<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  const cells = rows.map((row) => columns.map((c) => {
    const v = c.value(row);
    return typeof v === 'number' ? formatNumber(v) : v.replaceAll('|', '\\|');
  }));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((row) => typeof c.value(row) === 'number'));
  const widths = columns.map((c, i) => Math.max(c.title.length, 3, ...cells.map((r) => r[i]?.length ?? 0)));
  const line = (values: readonly string[]) =>
    `| ${values.map((v, i) => (numeric[i] ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(columns.map((c) => c.title)), rule, ...cells.map(line)].join('\n') + '\n';
}

// RFC 4180: specifiers such as `mobilenetv2:alpha=0.5,trainable=false` contain commas.
const csvField = (v: string | number) => (typeof v === 'string' && /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : String(v));

function csv<R>(rows: readonly R[], columns: readonly Column<R>[]): string {
  return [columns.map((c) => csvField(c.key)), ...rows.map((row) => columns.map((c) => csvField(c.value(row))))].map((r) => r.join(',')).join('\n') + '\n';
}

/** Rows as a table: md and csv through `columns`; json is the rows themselves, whole. */
export function formatTable<R>(rows: readonly R[], columns: readonly Column<R>[], format: Format): string {
  switch (format) {
    case 'md':
      return markdown(rows, columns);
    case 'csv':
      return csv(rows, columns);
    case 'json':
      return `${JSON.stringify(rows, null, 2)}\n`;
  }
}

/** A cell as md shows it (numbers grouped, en-US). */
export function formatCell(value: string | number): string {
  return typeof value === 'number' ? formatNumber(value) : value;
}
