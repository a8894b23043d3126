/** A table as reports print it: column names and rows of already formatted cells. */
export interface Table {
  columns: readonly string[];
  rows: readonly (readonly string[])[];
}

export function toMarkdown({ columns, rows }: Table): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const lines = [`| ${columns.map(escape).join(' | ')} |`, `|${columns.map(() => '---').join('|')}|`];
  for (const row of rows) lines.push(`| ${row.map(escape).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}

export function toCsv({ columns, rows }: Table): string {
  const quote = (cell: string) => (/[",\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell);
  return `${[columns, ...rows].map((r) => r.map(quote).join(',')).join('\n')}\n`;
}

/** 2257984 → 2,257,984 (the way Keras' summary prints counts). */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
