// Columns are found by header name (trimmed, any case), never by position: admins reorder
// and add columns, and the gateway reads the tab the same way.

type Sheet = GoogleAppsScript.Spreadsheet.Sheet;

/** Normalised header name -> 1-based column. The first of duplicate headers wins. */
export type Columns = Map<string, number>;

function normalizeHeader(value: unknown): string {
  return String(value ?? '').trim().toLowerCase();
}

export function columnsOf(header: readonly unknown[]): Columns {
  const columns: Columns = new Map();
  header.forEach((value, i) => {
    const name = normalizeHeader(value);
    if (name !== '' && !columns.has(name)) columns.set(name, i + 1);
  });
  return columns;
}

export function readColumns(sheet: Sheet): Columns {
  const width = sheet.getLastColumn();
  return width === 0 ? new Map() : columnsOf(sheet.getRange(1, 1, 1, width).getValues()[0] ?? []);
}

/**
 * Adds the headers in `names` that the sheet lacks, after its last used column, keeping the
 * existing columns and their order. Returns the columns and the names it added.
 */
export function ensureColumns(sheet: Sheet, names: readonly string[]): { columns: Columns; added: string[] } {
  const columns = readColumns(sheet);
  const added = names.filter((name) => !columns.has(normalizeHeader(name)));
  if (added.length === 0) return { columns, added };
  const start = sheet.getLastColumn() + 1;
  const lastNeeded = start + added.length - 1;
  const maxColumns = sheet.getMaxColumns();
  if (lastNeeded > maxColumns) sheet.insertColumnsAfter(maxColumns, lastNeeded - maxColumns);
  sheet.getRange(1, start, 1, added.length).setValues([added]);
  added.forEach((name, i) => columns.set(normalizeHeader(name), start + i));
  return { columns, added };
}

/** 1 -> A, 27 -> AA: for formulas, which need A1 references. */
export function columnLetter(column: number): string {
  let letters = '';
  for (let n = column; n > 0; n = Math.floor((n - 1) / 26)) {
    letters = String.fromCharCode(65 + ((n - 1) % 26)) + letters;
  }
  return letters;
}

/** The value of `name` in a row read from column 1, or '' when the sheet has no such column. */
export function cell(row: readonly unknown[], columns: Columns, name: string): unknown {
  const column = columns.get(name);
  return column === undefined ? '' : row[column - 1] ?? '';
}

/**
 * Groups columns into runs of adjacent ones, so a write touches each run with one
 * setValues instead of one call per column or per cell.
 */
export function adjacentRuns(columnNumbers: readonly number[]): number[][] {
  const runs: number[][] = [];
  for (const column of [...columnNumbers].sort((a, b) => a - b)) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === column - 1) last.push(column);
    else runs.push([column]);
  }
  return runs;
}
