// In-memory SpreadsheetApp: a spreadsheet of sheets holding plain values, strict where the
// real one is strict (range bounds, setValues dimensions) and stricter where a bug could
// hide: a write outside the document lock, or a value Sheets would not store as given
// (undefined, objects, text starting with "=" that Sheets would run as a formula), throws.
// Text the script writes is read as if typed, as in Sheets: `007` becomes 7, `TRUE` a
// boolean, `2099-12-31` a date; a leading apostrophe keeps it text (and is not stored).

import { FakeChartBuilder, FakeEmbeddedChart } from './charts.ts';
import { instantOfWall, isDate, type DateCtor } from './values.ts';

export interface SheetWrite {
  sheet: string;
  op: string;
  row: number;
  column: number;
  rows: number;
  columns: number;
}

/** One getValues: how many cells of which tab, and whether the document lock was held. */
export interface SheetRead {
  sheet: string;
  cells: number;
  locked: boolean;
}

export interface SpreadsheetOptions {
  timeZone: string;
  /** The script realm's Date, so the script gets its own Dates back, as in Apps Script. */
  scriptDate: DateCtor;
  /** Whether the script holds the document lock; every write checks it. */
  lockHeld: () => boolean;
}

const DEFAULT_ROWS = 1000;
const ENTERED_NUMBER = /^[+-]?(\d[\d,]*\.?\d*|\.\d+)(e[+-]?\d+)?%?$/i;
const ENTERED_DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})(?: (\d{1,2}):(\d{2})(?::(\d{2}))?)?$/;
const DEFAULT_COLUMNS = 26;

export class FakeRange {
  constructor(
    readonly sheet: FakeSheet,
    readonly row: number,
    readonly column: number,
    readonly rows: number,
    readonly columns: number,
  ) {}
  getSheet() { return this.sheet; }
  getRow() { return this.row; }
  getColumn() { return this.column; }
  getNumRows() { return this.rows; }
  getNumColumns() { return this.columns; }
  getLastRow() { return this.row + this.rows - 1; }
  getLastColumn() { return this.column + this.columns - 1; }
  getValues(): unknown[][] {
    this.sheet.ss.recordRead(this.sheet.name, this.rows * this.columns);
    const out: unknown[][] = [];
    for (let r = 0; r < this.rows; r++) {
      const line: unknown[] = [];
      for (let c = 0; c < this.columns; c++) line.push(this.sheet.ss.toScript(this.sheet.valueAt(this.row + r, this.column + c)));
      out.push(line);
    }
    return out;
  }
  getValue(): unknown { return this.getValues()[0]?.[0]; }
  getA1Notation(): string {
    const letters = (n: number): string => (n > 26 ? letters(Math.floor((n - 1) / 26)) : '') + String.fromCharCode(65 + ((n - 1) % 26));
    const start = `${letters(this.column)}${this.row}`;
    return this.rows === 1 && this.columns === 1 ? start : `${start}:${letters(this.getLastColumn())}${this.getLastRow()}`;
  }
  setValues(values: unknown[][]): this {
    if (values.length !== this.rows) {
      throw new Error(`The number of rows in the data does not match the number of rows in the range. The data has ${values.length} but the range has ${this.rows}.`);
    }
    for (const line of values) {
      if (line.length !== this.columns) {
        throw new Error(`The number of columns in the data does not match the number of columns in the range. The data has ${line.length} but the range has ${this.columns}.`);
      }
    }
    this.sheet.write('setValues', this, () => values.forEach((line, r) => line.forEach((v, c) => this.sheet.put(this.row + r, this.column + c, v))));
    return this;
  }
  setValue(value: unknown): this {
    this.sheet.write('setValue', this, () => {
      for (let r = 0; r < this.rows; r++) for (let c = 0; c < this.columns; c++) this.sheet.put(this.row + r, this.column + c, value);
    });
    return this;
  }
  setNumberFormat(format: string): this {
    this.sheet.write('setNumberFormat', this, () => {
      for (let r = 0; r < this.rows; r++) for (let c = 0; c < this.columns; c++) this.sheet.formats.set(`${this.row + r}:${this.column + c}`, format);
    });
    return this;
  }
  setDataValidation(rule: unknown): this {
    this.sheet.write('setDataValidation', this, () => {
      for (let r = 0; r < this.rows; r++) for (let c = 0; c < this.columns; c++) this.sheet.validations.set(`${this.row + r}:${this.column + c}`, rule);
    });
    return this;
  }
}

export class FakeSheet {
  cells: unknown[][] = [];
  maxRows = DEFAULT_ROWS;
  maxColumns = DEFAULT_COLUMNS;
  frozenRows = 0;
  validations = new Map<string, unknown>();
  conditionalRules: unknown[] = [];
  hidden = false;
  /** Number formats by "row:column" (not moved by row deletes; tests read them right after writing). */
  formats = new Map<string, string>();
  readonly charts: FakeEmbeddedChart[] = [];

  constructor(readonly ss: FakeSpreadsheet, public name: string) {}

  getName() { return this.name; }
  getMaxRows() { return this.maxRows; }
  getMaxColumns() { return this.maxColumns; }
  getFrozenRows() { return this.frozenRows; }

  valueAt(row: number, column: number): unknown {
    return this.cells[row - 1]?.[column - 1] ?? '';
  }
  /**
   * A write by the script: text is read as typed (see FakeSpreadsheet.enteredValue), except in a
   * cell formatted as plain text ('@'), where Sheets keeps text as it is.
   */
  put(row: number, column: number, value: unknown): void {
    const line = (this.cells[row - 1] ??= []);
    const plainText = typeof value === 'string' && this.formats.get(`${row}:${column}`) === '@';
    line[column - 1] = plainText ? this.ss.checkValue(value) : this.ss.enteredValue(value);
  }
  write(op: string, range: { row: number; column: number; rows: number; columns: number }, apply: () => void): void {
    this.ss.beforeWrite?.(op, this.name);
    this.ss.assertLocked(op, this.name);
    this.ss.writes.push({ sheet: this.name, op, row: range.row, column: range.column, rows: range.rows, columns: range.columns });
    apply();
  }

  getLastRow(): number {
    for (let r = this.cells.length; r > 0; r--) if ((this.cells[r - 1] ?? []).some((v) => v !== '' && v !== undefined)) return r;
    return 0;
  }
  getLastColumn(): number {
    let last = 0;
    for (const line of this.cells) {
      for (let c = (line ?? []).length; c > last; c--) if (line?.[c - 1] !== '' && line?.[c - 1] !== undefined) { last = c; break; }
    }
    return last;
  }
  getRange(row: number, column: number, rows = 1, columns = 1): FakeRange {
    if (![row, column, rows, columns].every(Number.isInteger)) throw new Error('Range coordinates must be integers.');
    if (rows < 1 || columns < 1) throw new Error('The number of rows and columns in the range must be at least 1.');
    if (row < 1 || column < 1 || row + rows - 1 > this.maxRows || column + columns - 1 > this.maxColumns) {
      throw new Error('The coordinates of the range are outside the dimensions of the sheet.');
    }
    return new FakeRange(this, row, column, rows, columns);
  }
  getDataRange(): FakeRange {
    return this.getRange(1, 1, Math.max(this.getLastRow(), 1), Math.max(this.getLastColumn(), 1));
  }
  appendRow(values: unknown[]): this {
    const row = this.getLastRow() + 1;
    this.write('appendRow', { row, column: 1, rows: 1, columns: values.length }, () => {
      this.maxRows = Math.max(this.maxRows, row);
      this.maxColumns = Math.max(this.maxColumns, values.length);
      values.forEach((v, c) => this.put(row, c + 1, v));
    });
    return this;
  }
  insertColumnsAfter(after: number, howMany: number): this {
    this.write('insertColumnsAfter', { row: 1, column: after + 1, rows: this.maxRows, columns: howMany }, () => {
      for (const line of this.cells) line?.splice(after, 0, ...new Array<unknown>(howMany).fill(''));
      this.maxColumns += howMany;
    });
    return this;
  }
  insertRowsAfter(after: number, howMany: number): this {
    this.write('insertRowsAfter', { row: after + 1, column: 1, rows: howMany, columns: this.maxColumns }, () => {
      this.cells.splice(after, 0, ...Array.from({ length: howMany }, () => [] as unknown[]));
      this.maxRows += howMany;
    });
    return this;
  }
  /** As in Sheets: rows below move up, and the non-frozen rows can never all go. */
  deleteRows(start: number, howMany: number): void {
    if (start < 1 || howMany < 1 || start + howMany - 1 > this.maxRows) throw new Error('Those rows are out of bounds.');
    if (start <= this.frozenRows + 1 && start + howMany - 1 >= this.maxRows) throw new Error('Sorry, it is not possible to delete all non-frozen rows.');
    this.write('deleteRows', { row: start, column: 1, rows: howMany, columns: this.maxColumns }, () => {
      this.cells.splice(start - 1, howMany);
      this.maxRows -= howMany;
    });
  }
  clearContents(): this {
    this.write('clearContents', { row: 1, column: 1, rows: this.maxRows, columns: this.maxColumns }, () => { this.cells = []; });
    return this;
  }
  hideSheet(): this {
    this.write('hideSheet', { row: 1, column: 1, rows: 0, columns: 0 }, () => { this.hidden = true; });
    return this;
  }
  isSheetHidden(): boolean { return this.hidden; }

  // ---- charts (EmbeddedChartBuilder) ----
  newChart(): FakeChartBuilder { return new FakeChartBuilder(this, null); }
  getCharts(): FakeEmbeddedChart[] { return [...this.charts]; }
  insertChart(chart: FakeEmbeddedChart): void {
    if (!(chart instanceof FakeEmbeddedChart)) throw new Error('fake: insertChart needs a built EmbeddedChart');
    if (chart.sheet !== this) throw new Error('fake: the chart was built by another sheet');
    if (this.charts.some((c) => c.getChartId() === chart.getChartId())) throw new Error('fake: this chart is already on the sheet; use updateChart');
    this.write('insertChart', { row: chart.position.row, column: chart.position.column, rows: 0, columns: 0 }, () => { this.charts.push(chart); });
  }
  updateChart(chart: FakeEmbeddedChart): void {
    const i = this.charts.findIndex((c) => c.getChartId() === chart.getChartId());
    if (i < 0) throw new Error('fake: updateChart of a chart that is not on the sheet');
    this.write('updateChart', { row: chart.position.row, column: chart.position.column, rows: 0, columns: 0 }, () => { this.charts[i] = chart; });
  }
  removeChart(chart: FakeEmbeddedChart): void {
    const i = this.charts.findIndex((c) => c.getChartId() === chart.getChartId());
    if (i < 0) throw new Error('fake: removeChart of a chart that is not on the sheet');
    this.write('removeChart', { row: chart.position.row, column: chart.position.column, rows: 0, columns: 0 }, () => { this.charts.splice(i, 1); });
  }

  setFrozenRows(rows: number): void {
    this.write('setFrozenRows', { row: 1, column: 1, rows, columns: this.maxColumns }, () => { this.frozenRows = rows; });
  }
  getConditionalFormatRules(): unknown[] { return [...this.conditionalRules]; }
  setConditionalFormatRules(rules: unknown[]): void {
    this.write('setConditionalFormatRules', { row: 1, column: 1, rows: this.maxRows, columns: this.maxColumns }, () => { this.conditionalRules = [...rules]; });
  }

  // ---- test helpers (no lock, no log) ----
  /** What the gateway's values.append does: rows after the last, from outside the script (no lock). */
  gatewayAppend(rows: unknown[][]): this {
    let row = this.getLastRow();
    for (const values of rows) {
      row++;
      this.maxRows = Math.max(this.maxRows, row);
      values.forEach((v, c) => this.put(row, c + 1, v));
    }
    return this;
  }
  seed(values: unknown[][]): this {
    this.cells = values.map((line) => line.map((v) => this.ss.checkValue(v)));
    this.maxRows = Math.max(this.maxRows, values.length);
    return this;
  }
  /** The values as stored, trailing empty rows dropped (host view). */
  rows(): unknown[][] {
    const width = this.getLastColumn();
    return Array.from({ length: this.getLastRow() }, (_, r) => Array.from({ length: width }, (_, c) => this.valueAt(r + 1, c + 1)));
  }
  header(): string[] { return (this.rows()[0] ?? []).map(String); }
  validationAt(row: number, column: number): unknown { return this.validations.get(`${row}:${column}`); }
}

export class FakeSpreadsheet {
  readonly sheets: FakeSheet[] = [];
  readonly writes: SheetWrite[] = [];
  readonly reads: SheetRead[] = [];
  flushes = 0;
  /** Runs before every write the script makes: a test's way to act "meanwhile" (e.g. the gateway appending). */
  beforeWrite: ((op: string, sheet: string) => void) | null = null;
  private active: { sheet: FakeSheet; range: FakeRange } | null = null;

  constructor(private readonly options: SpreadsheetOptions) {}

  getSpreadsheetTimeZone() { return this.options.timeZone; }
  getSheets() { return [...this.sheets]; }
  getSheetByName(name: string): FakeSheet | null { return this.sheets.find((s) => s.name === name) ?? null; }
  insertSheet(name: string): FakeSheet {
    if (this.getSheetByName(name)) throw new Error(`A sheet with the name "${name}" already exists. Please enter another name.`);
    this.assertLocked('insertSheet', name);
    this.writes.push({ sheet: name, op: 'insertSheet', row: 1, column: 1, rows: 0, columns: 0 });
    const sheet = new FakeSheet(this, name);
    this.sheets.push(sheet);
    this.active = { sheet, range: sheet.getRange(1, 1) }; // as in Sheets, the new tab becomes active
    return sheet;
  }
  getActiveSheet(): FakeSheet {
    const sheet = this.active?.sheet ?? this.sheets[0];
    if (!sheet) throw new Error('fake: the spreadsheet has no sheets');
    return sheet;
  }
  setActiveSheet(sheet: FakeSheet): FakeSheet {
    if (!this.sheets.includes(sheet)) throw new Error('fake: setActiveSheet of a sheet not in this spreadsheet');
    this.active = { sheet, range: sheet.getRange(1, 1) };
    return sheet;
  }
  getActiveRange(): FakeRange { return this.active?.range ?? this.getActiveSheet().getRange(1, 1); }

  recordRead(sheet: string, cells: number): void {
    this.reads.push({ sheet, cells, locked: this.options.lockHeld() });
  }
  /** Cells the script read from `sheet` since the test last cleared `reads`. */
  cellsRead(sheet: string, locked?: boolean): number {
    return this.reads.filter((r) => r.sheet === sheet && (locked === undefined || r.locked === locked)).reduce((n, r) => n + r.cells, 0);
  }
  assertLocked(op: string, sheet: string): void {
    if (!this.options.lockHeld()) throw new Error(`fake: ${op} on "${sheet}" without the document lock`);
  }
  checkValue(value: unknown): unknown {
    if (value === null || value === '') return '';
    // A string here is a cell's text as stored (seeded); what the script writes goes through enteredValue.
    if (typeof value === 'string') return value;
    if (typeof value === 'boolean') return value;
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    if (isDate(value)) return value;
    throw new Error(`fake: Sheets would not store ${String(value)} (${typeof value}) as given`);
  }
  /**
   * What Sheets stores when the script writes `value` (setValue, setValues, appendRow): text
   * is read as if an admin typed it. Covered: numbers (with thousands commas, %), TRUE/FALSE,
   * YYYY-MM-DD [HH:MM[:SS]] dates in the sheet's zone, and a leading apostrophe.
   */
  enteredValue(value: unknown): unknown {
    if (typeof value !== 'string') return this.checkValue(value);
    if (value.startsWith("'")) return value.slice(1);
    const t = value.trim();
    if (/^[=+-]/.test(t) && !ENTERED_NUMBER.test(t)) throw new Error(`fake: "${value}" would be read as a formula`);
    if (/^(true|false)$/i.test(t)) return t.toLowerCase() === 'true';
    if (ENTERED_NUMBER.test(t)) {
      const n = Number(t.replace(/,/g, '').replace(/%$/, ''));
      return t.endsWith('%') ? n / 100 : n;
    }
    const date = ENTERED_DATE.exec(t);
    if (date) {
      const [, y, mo, d, h, mi, sec] = date;
      const pad = (x = '0') => x.padStart(2, '0');
      const local = `${y}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(sec)}`;
      const check = new Date(`${local}Z`);
      if (!Number.isNaN(check.getTime()) && check.toISOString().startsWith(local)) return new Date(instantOfWall(local, this.options.timeZone));
    }
    return value;
  }
  toScript(value: unknown): unknown {
    return isDate(value) ? new this.options.scriptDate(value.getTime()) : value;
  }

  // ---- test helpers ----
  addSheet(name: string, values: unknown[][] = []): FakeSheet {
    const sheet = new FakeSheet(this, name).seed(values);
    this.sheets.push(sheet);
    return sheet;
  }
  sheet(name: string): FakeSheet {
    const sheet = this.getSheetByName(name);
    if (!sheet) throw new Error(`fake: no sheet "${name}"`);
    return sheet;
  }
  /** Selects rows×columns at (row, column) on the named tab, as a click or drag would. */
  select(name: string, row: number, column = 1, rows = 1, columns = 1): void {
    const sheet = this.sheet(name);
    this.active = { sheet, range: sheet.getRange(row, column, rows, columns) };
  }
}
