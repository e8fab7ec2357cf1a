/**
 * What the admin CLI needs from a key source: read the keys tab, write cells by header name,
 * create the tabs (or files). Two implementations: Google Sheets and the local CSV file.
 */

/** A value to write. Plain strings are text; instants and days are written in the table's own date form. */
export type CellInput = string | number | boolean | { instant: number } | { day: string };

export type Cells = Readonly<Record<string, CellInput>>;

/** The keys tab as read: every row, header first (values[i] is row i + 1), and the zone of offset-less dates. */
export interface TableData {
  values: unknown[][];
  timeZone: string;
}

export interface RowUpdate {
  /** 1-based row number, as in the sheet (the header is row 1). */
  row: number;
  cells: Cells;
}

/**
 * One write. Cells are addressed by header name (case-insensitive). A column named by a non-blank
 * cell that the header lacks is added after the last column; blank cells for missing columns are skipped.
 */
export interface TableChange {
  updates?: readonly RowUpdate[];
  appends?: readonly Cells[];
}

export interface ApplyResult {
  /** Row numbers of the appended rows, when the source tells them. */
  appendedRows: number[];
  addedColumns: string[];
}

export interface InitResult {
  lines: string[];
  /** Whether the keys tab (or file) was written. */
  changedKeys: boolean;
}

export interface KeyTable {
  readonly kind: 'google_sheets' | 'file';
  /** Safe to print: no secrets. */
  readonly description: string;
  /** Creates the keys and usage tabs (or files) with their headers; adds missing key columns. Safe to repeat. */
  init(): Promise<InitResult>;
  read(): Promise<TableData>;
  /** Writes `change` against the rows of `base` (a previous read): as one atomic file replace, or few Sheets calls. */
  apply(base: TableData, change: TableChange): Promise<ApplyResult>;
}

/** A key source failure, with a one-line message that never holds a key. */
export class TableError extends Error {}
