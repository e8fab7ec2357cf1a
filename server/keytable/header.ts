import type { CellInput, Cells, TableChange } from './table.ts';

export function normalizeName(value: unknown): string {
  return String(value ?? '').trim().toLowerCase();
}

export function isBlankCell(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '');
}

/** The header row's names, normalised; trailing blank cells dropped (Sheets omits them too). */
export function headerNames(values: readonly unknown[][]): string[] {
  const names = (values[0] ?? []).map(normalizeName);
  while (names.length && names.at(-1) === '') names.pop();
  return names;
}

function isBlankInput(cell: CellInput): boolean {
  return typeof cell === 'string' && cell.trim() === '';
}

/** Columns the change writes non-blank values to that the header lacks, in first-use order. */
export function missingColumns(header: readonly string[], change: TableChange): string[] {
  const missing: string[] = [];
  const all: Cells[] = [...(change.updates ?? []).map((u) => u.cells), ...(change.appends ?? [])];
  for (const cells of all) {
    for (const [name, cell] of Object.entries(cells)) {
      const n = normalizeName(name);
      if (!isBlankInput(cell) && !header.includes(n) && !missing.includes(n)) missing.push(n);
    }
  }
  return missing;
}

/** The cells of `cells` that have a column in `header`, as [0-based column, value]. */
export function positioned(header: readonly string[], cells: Cells): Array<[number, CellInput]> {
  const out: Array<[number, CellInput]> = [];
  for (const [name, cell] of Object.entries(cells)) {
    const index = header.indexOf(normalizeName(name));
    if (index >= 0) out.push([index, cell]);
  }
  return out;
}

/** A full row for `header`: given cells in their columns, blanks elsewhere. */
export function rowFor<T>(header: readonly string[], cells: Cells, convert: (cell: CellInput) => T, blank: T): T[] {
  const row = header.map(() => blank);
  for (const [index, cell] of positioned(header, cells)) row[index] = convert(cell);
  return row;
}
