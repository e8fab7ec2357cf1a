// In-memory EmbeddedChartBuilder / EmbeddedChart, enough to check what a chart reads: its
// type, its ranges (as A1 notation), its options and where it sits. Charts.ChartType as enum.

import type { FakeRange, FakeSheet } from './spreadsheet.ts';

export const ChartType = {
  AREA: 'AREA', BAR: 'BAR', COLUMN: 'COLUMN', COMBO: 'COMBO', LINE: 'LINE', PIE: 'PIE', SCATTER: 'SCATTER', TABLE: 'TABLE',
} as const;

export const fakeCharts = { ChartType };

interface Position {
  row: number;
  column: number;
  offsetX: number;
  offsetY: number;
}

let nextChartId = 1;

export class FakeEmbeddedChart {
  constructor(
    readonly sheet: FakeSheet,
    private readonly id: number,
    readonly type: string,
    readonly ranges: readonly FakeRange[],
    readonly options: ReadonlyMap<string, unknown>,
    readonly position: Position,
    /** Header rows of the ranges, when the script said (setNumHeaders); null: Sheets guesses. */
    readonly numHeaders: number | null = null,
  ) {}
  getChartId(): number { return this.id; }
  getRanges(): FakeRange[] { return [...this.ranges]; }
  getOptions() { return { get: (name: string) => this.options.get(name) ?? null }; }
  getContainerInfo() {
    const p = this.position;
    return { getAnchorRow: () => p.row, getAnchorColumn: () => p.column, getOffsetX: () => p.offsetX, getOffsetY: () => p.offsetY };
  }
  modify(): FakeChartBuilder { return new FakeChartBuilder(this.sheet, this); }

  // ---- test helpers ----
  /** The ranges as `Tab!A1:B2`. */
  rangeNotations(): string[] { return this.ranges.map((r) => `${r.getSheet().getName()}!${r.getA1Notation()}`); }
  title(): unknown { return this.options.get('title'); }
}

export class FakeChartBuilder {
  private type: string | null;
  private ranges: FakeRange[];
  private readonly options: Map<string, unknown>;
  private position: Position;
  private numHeaders: number | null;

  constructor(private readonly sheet: FakeSheet, private readonly from: FakeEmbeddedChart | null) {
    this.numHeaders = from?.numHeaders ?? null;
    this.type = from?.type ?? null;
    this.ranges = [...(from?.ranges ?? [])];
    this.options = new Map(from?.options ?? []);
    this.position = { ...(from?.position ?? { row: 1, column: 1, offsetX: 0, offsetY: 0 }) };
  }
  addRange(range: FakeRange): this {
    if (typeof range?.getA1Notation !== 'function') throw new Error('fake: addRange needs a Range');
    this.ranges.push(range);
    return this;
  }
  removeRange(range: FakeRange): this {
    this.ranges = this.ranges.filter((r) => r.getA1Notation() !== range.getA1Notation() || r.getSheet() !== range.getSheet());
    return this;
  }
  clearRanges(): this { this.ranges = []; return this; }
  getRanges(): FakeRange[] { return [...this.ranges]; }
  setChartType(type: string): this {
    if (!Object.values(ChartType).includes(type as never)) throw new Error(`fake: unknown chart type ${String(type)}`);
    this.type = type;
    return this;
  }
  getChartType(): string | null { return this.type; }
  setOption(name: string, value: unknown): this { this.options.set(name, value); return this; }
  setNumHeaders(headers: number): this {
    if (!Number.isInteger(headers) || headers < 0) throw new Error('fake: setNumHeaders takes a whole number');
    this.numHeaders = headers;
    return this;
  }
  setPosition(row: number, column: number, offsetX: number, offsetY: number): this {
    if (![row, column, offsetX, offsetY].every(Number.isInteger) || row < 1 || column < 1) throw new Error('fake: bad chart position');
    this.position = { row, column, offsetX, offsetY };
    return this;
  }
  build(): FakeEmbeddedChart {
    if (this.type === null) throw new Error('fake: a chart needs a type (setChartType)');
    if (this.ranges.length === 0) throw new Error('fake: a chart needs at least one range');
    const id = this.from ? this.from.getChartId() : nextChartId++;
    return new FakeEmbeddedChart(this.sheet, id, this.type, [...this.ranges], new Map(this.options), { ...this.position }, this.numHeaders);
  }
}
