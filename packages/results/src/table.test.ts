import { describe, expect, it } from 'vitest';
import { formatTable, type Column } from './table.js';

interface Row { name: string; count: number; ratio: number }
const rows: Row[] = [
  { name: 'a|b', count: 1234567, ratio: 0.125 },
  { name: 'say "hi", then go', count: 5, ratio: 2 },
];
const columns: Column<Row>[] = [
  { key: 'name', title: 'name', value: (r) => r.name },
  { key: 'count', title: 'count', value: (r) => r.count },
  { key: 'ratio', title: 'ratio', value: (r) => r.ratio },
];

describe('formatTable', () => {
  it('writes Markdown with numbers right-aligned and grouped, and pipes escaped', () => {
    expect(formatTable(rows, columns, 'md')).toBe([
      '| name              |     count | ratio |',
      '|-------------------|----------:|------:|',
      '| a\\|b              | 1,234,567 | 0.125 |',
      '| say "hi", then go |         5 |     2 |',
      '',
    ].join('\n'));
  });

  it('writes csv with RFC 4180 quoting and plain numbers', () => {
    expect(formatTable(rows, columns, 'csv')).toBe('name,count,ratio\na|b,1234567,0.125\n"say ""hi"", then go",5,2\n');
  });

  it('writes the rows themselves as json', () => {
    expect(JSON.parse(formatTable(rows, columns, 'json'))).toEqual(rows);
  });

  it('writes a header alone for no rows', () => {
    expect(formatTable([], columns, 'csv')).toBe('name,count,ratio\n');
    expect(formatTable([], columns, 'md').split('\n')).toHaveLength(3);
  });
});
