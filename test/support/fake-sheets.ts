/**
 * A local fake of the Google Sheets API v4 over HTTP: the one fake the tests accept. It speaks the
 * REST shapes the real API does (see shared/reference/google-sheets.md), verifies the self-signed
 * service-account JWT (RS256, iss, exp, scope), enforces sharing, and can inject faults.
 */
import { verify } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DateTime } from 'luxon';
import { formatA1, parseA1 } from './a1.ts';

export type Cell = string | number | boolean;

interface Tab {
  sheetId: number;
  rows: Cell[][];
  /** The grid Google counts cells of: at least this many rows and columns, used or not. */
  rowCount: number;
  columnCount: number;
  /** Widest row written so far (kept, so a cell count does not scan every row). */
  width: number;
}

/** A new tab's grid when nothing else is said: Google's 1000 rows by 26 columns. */
const DEFAULT_GRID = { rowCount: 1000, columnCount: 26 };
/** Google's cell limit per spreadsheet. */
export const GOOGLE_CELL_LIMIT = 10_000_000;
/** Google's write quota: requests a minute per user (service account) per project. */
export const GOOGLE_WRITES_PER_MINUTE = 60;
const WRITE_KINDS = new Set(['values.append', 'values.update', 'values.batchUpdate', 'spreadsheets.batchUpdate']);

interface Spreadsheet {
  title: string;
  timeZone: string;
  tabs: Map<string, Tab>;
  sharedWith: Set<string>;
}

export interface Fault {
  status: number;
  /** How many requests fail; Infinity until cleared. */
  times: number;
  /** Only requests of this kind fail (e.g. 'values.append'); all when unset. */
  kind?: string;
  /**
   * A late success, not a failure: the request is carried out, its answer held this long; a
   * negative value never answers and cuts the connection instead (the answer is lost).
   */
  lateMs?: number;
}

export interface FakeSheetsOptions {
  /** Cells per spreadsheet (Google: 10,000,000); tests scale it down. */
  cellLimit?: number;
  /** Write requests a minute per service account (Google: 60); Infinity turns the quota off. */
  writesPerMinute?: number;
  /** The fake's clock for the write quota's minutes. */
  now?: () => number;
}

export interface SheetsCall {
  kind: string;
  spreadsheetId: string;
  range?: string;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE',
};

/** Answers held back by a late-success fault: sent after this many ms, if the client still listens. */
const held = new WeakMap<ServerResponse, number>();

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const delay = held.get(res);
  if (delay !== undefined) {
    held.delete(res);
    if (delay < 0) return void res.destroy();
    setTimeout(() => {
      if (!res.destroyed && !res.writableEnded) sendJson(res, status, body);
    }, delay).unref();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(code: number, message: string): { error: { code: number; message: string; status: string } } {
  return { error: { code, message, status: STATUS_TEXT[code] ?? 'UNKNOWN' } };
}

function sendError(res: ServerResponse, code: number, message: string): void {
  sendJson(res, code, errorBody(code, message));
}

/** Google's answer to a write over the per-minute quota (message and details as Google sends them). */
function quotaError(): unknown {
  const body = errorBody(
    429,
    "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user' of service 'sheets.googleapis.com' for consumer 'project_number:000000000000'.",
  );
  return {
    error: {
      ...body.error,
      details: [{
        '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
        reason: 'RATE_LIMIT_EXCEEDED',
        domain: 'googleapis.com',
        metadata: { consumer: 'projects/000000000000', quota_limit: 'WriteRequestsPerMinutePerUser', quota_metric: 'sheets.googleapis.com/write_requests', service: 'sheets.googleapis.com' },
      }],
    },
  };
}

/** Rows up to the last one holding a non-blank cell (what an append appends after). */
function usedRows(rows: Cell[][]): number {
  for (let i = rows.length - 1; i >= 0; i -= 1) if (rows[i]!.some((c) => c !== '' && c !== undefined)) return i + 1;
  return 0;
}

function widest(rows: Cell[][]): number {
  return rows.reduce((w, r) => Math.max(w, r.length), 0);
}

function trimRows(rows: Cell[][]): Cell[][] {
  const out = rows.map((r) => {
    const copy = [...r];
    while (copy.length && (copy.at(-1) === '' || copy.at(-1) === undefined)) copy.pop();
    return copy.map((c) => (c === undefined ? '' : c));
  });
  while (out.length && out.at(-1)!.length === 0) out.pop();
  return out;
}

function render(cell: Cell, option: string): Cell {
  if (option === 'UNFORMATTED_VALUE') return cell;
  if (typeof cell === 'boolean') return cell ? 'TRUE' : 'FALSE';
  return String(cell);
}

export class FakeSheets {
  private server: Server | null = null;
  url = '';
  private readonly books = new Map<string, Spreadsheet>();
  private readonly keys = new Map<string, string>(); // client_email -> public key PEM
  readonly calls: SheetsCall[] = [];
  faults: Fault[] = [];
  /** Delay before every answer, to keep a load in flight. */
  delayMs = 0;
  cellLimit: number;
  writesPerMinute: number;
  now: () => number;
  /** Writes accepted per service account and minute (`email|minute` → count), for quota checks. */
  readonly writesByMinute = new Map<string, number>();

  constructor(opts: FakeSheetsOptions = {}) {
    this.cellLimit = opts.cellLimit ?? GOOGLE_CELL_LIMIT;
    this.writesPerMinute = opts.writesPerMinute ?? GOOGLE_WRITES_PER_MINUTE;
    this.now = opts.now ?? Date.now;
  }

  /** The most writes one service account made in any one minute. */
  peakWritesPerMinute(): number {
    return Math.max(0, ...this.writesByMinute.values());
  }

  /** Cells of a spreadsheet as Google counts them: every tab's whole grid. */
  cells(id: string): number {
    let n = 0;
    for (const t of this.book(id).tabs.values()) n += Math.max(t.rows.length, t.rowCount) * Math.max(t.width, t.columnCount);
    return n;
  }

  /** Registers a service account whose JWTs the fake accepts. */
  addServiceAccount(email: string, publicKeyPem: string): void {
    this.keys.set(email, publicKeyPem);
  }

  createSpreadsheet(id: string, opts: { timeZone?: string; title?: string; sharedWith?: string[] } = {}): void {
    this.books.set(id, { title: opts.title ?? id, timeZone: opts.timeZone ?? 'UTC', tabs: new Map(), sharedWith: new Set(opts.sharedWith ?? []) });
  }

  /** Sets a tab's rows (its grid: `grid`, else what it had, else 1000 x 26). */
  setTab(id: string, tab: string, rows: Cell[][], grid?: { rowCount: number; columnCount: number }): void {
    const book = this.book(id);
    const existing = book.tabs.get(tab);
    const size = grid ?? (existing ? { rowCount: existing.rowCount, columnCount: existing.columnCount } : DEFAULT_GRID);
    const copy = rows.map((r) => [...r]);
    book.tabs.set(tab, { sheetId: existing?.sheetId ?? book.tabs.size + 1, rows: copy, ...size, width: widest(copy) });
  }

  tab(id: string, tab: string): Cell[][] | undefined {
    return this.books.get(id)?.tabs.get(tab)?.rows;
  }

  share(id: string, email: string): void {
    this.book(id).sharedWith.add(email);
  }

  unshare(id: string, email: string): void {
    this.book(id).sharedWith.delete(email);
  }

  count(kind: string): number {
    return this.calls.filter((c) => c.kind === kind).length;
  }

  fail(status: number, times = Infinity, kind?: string): void {
    this.faults.push({ status, times, kind });
  }

  /**
   * The next `times` requests of `kind` are carried out (an append lands) but answered only after
   * `lateMs`: a client with a shorter timeout sees a failure that in fact succeeded.
   */
  lateSuccess(lateMs: number, times = 1, kind = 'values.append'): void {
    this.faults.push({ status: 200, times, kind, lateMs });
  }

  /**
   * The next `times` requests of `kind` are carried out (an append lands) but the connection is
   * cut instead of answering: the client sees a network failure for a write that succeeded.
   */
  lostAnswer(times = 1, kind = 'values.append'): void {
    this.faults.push({ status: 200, times, kind, lateMs: -1 });
  }

  /** Counts a write against the per-minute quota; false (and nothing counted) when it is spent. */
  private spendWrite(who: string): boolean {
    const slot = `${who}|${Math.floor(this.now() / 60_000)}`;
    const used = this.writesByMinute.get(slot) ?? 0;
    if (used >= this.writesPerMinute) return false;
    this.writesByMinute.set(slot, used + 1);
    return true;
  }

  /**
   * An append without HTTP, through the same limits (cells, write quota): for simulations that
   * make tens of thousands of appends. Answers as the HTTP API would: status and body.
   */
  appendDirect(id: string, tab: string, values: Cell[][], who: string): { status: number; body: unknown } {
    if (!this.spendWrite(who)) return { status: 429, body: quotaError() };
    const book = this.book(id);
    return this.appendResult(id, book, `${tab}!A1`, { values }, 'RAW');
  }

  clearFaults(): void {
    this.faults = [];
  }

  private cellsOf(book: Spreadsheet): number {
    let n = 0;
    for (const t of book.tabs.values()) n += Math.max(t.rows.length, t.rowCount) * Math.max(t.width, t.columnCount);
    return n;
  }

  private book(id: string): Spreadsheet {
    const book = this.books.get(id);
    if (!book) throw new Error(`fake has no spreadsheet ${id}`);
    return book;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => sendError(res, 500, `fake error: ${err.message}`));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** The identity in a valid self-signed JWT, or null. */
  private authenticate(req: IncomingMessage): string | null {
    const header = req.headers.authorization ?? '';
    const token = /^Bearer (.+)$/.exec(header)?.[1];
    if (!token) return null;
    const [h, p, s] = token.split('.');
    if (!h || !p || !s) return null;
    try {
      const head = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss?: string; exp?: number; scope?: string };
      const pem = claims.iss ? this.keys.get(claims.iss) : undefined;
      if (head.alg !== 'RS256' || !pem) return null;
      if (!verify('sha256', Buffer.from(`${h}.${p}`), pem, Buffer.from(s, 'base64url'))) return null;
      if (!claims.exp || claims.exp * 1000 < Date.now()) return null;
      if (!String(claims.scope ?? '').split(' ').some((sc) => sc.startsWith('https://www.googleapis.com/auth/spreadsheets'))) return null;
      return claims.iss!;
    } catch {
      return null;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = await new Promise<string>((resolve) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => resolve(text));
    });
    const m = /^\/v4\/spreadsheets\/([^/:]+)(.*)$/.exec(url.pathname);
    if (!m) return sendError(res, 404, 'Requested entity was not found.');
    const id = decodeURIComponent(m[1]!);
    const rest = m[2]!;
    const kind = this.kindOf(req.method ?? 'GET', rest);
    const rangeMatch = /^\/values\/([^:]+)/.exec(rest);
    this.calls.push({ kind, spreadsheetId: id, range: rangeMatch ? decodeURIComponent(rangeMatch[1]!) : undefined });
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));

    const who = this.authenticate(req);
    if (!who) return sendError(res, 401, 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.');
    const fault = this.faults.find((f) => f.times > 0 && (!f.kind || f.kind === kind));
    if (fault) {
      fault.times -= 1;
      if (fault.lateMs === undefined) return sendError(res, fault.status, `injected fault ${fault.status}`);
      held.set(res, fault.lateMs);
    }
    if (WRITE_KINDS.has(kind) && !this.spendWrite(who)) {
      const e = quotaError();
      return sendJson(res, 429, e);
    }
    const book = this.books.get(id);
    if (!book) return sendError(res, 404, 'Requested entity was not found.');
    if (!book.sharedWith.has(who)) return sendError(res, 403, 'The caller does not have permission');
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};

    switch (kind) {
      case 'spreadsheets.get':
        return sendJson(res, 200, {
          spreadsheetId: id,
          properties: { title: book.title, locale: 'en_US', timeZone: book.timeZone },
          sheets: [...book.tabs.entries()].map(([title, t], index) => ({
            properties: { sheetId: t.sheetId, title, index, sheetType: 'GRID', gridProperties: { rowCount: Math.max(t.rowCount, t.rows.length), columnCount: Math.max(t.columnCount, t.width) } },
          })),
        });
      case 'spreadsheets.batchUpdate':
        return this.batchUpdate(res, id, book, body);
      case 'values.get':
        return this.valuesGet(res, book, decodeURIComponent(rangeMatch![1]!), url.searchParams.get('valueRenderOption') ?? 'FORMATTED_VALUE');
      case 'values.batchGet': {
        const option = url.searchParams.get('valueRenderOption') ?? 'FORMATTED_VALUE';
        const ranges = url.searchParams.getAll('ranges');
        const valueRanges = [];
        for (const r of ranges) {
          const got = this.read(book, r, option);
          if ('error' in got) return sendError(res, 400, got.error);
          valueRanges.push(got);
        }
        return sendJson(res, 200, { spreadsheetId: id, valueRanges });
      }
      case 'values.append':
        return this.append(res, id, book, decodeURIComponent(rangeMatch![1]!), body, url.searchParams.get('valueInputOption'));
      case 'values.update':
        return this.update(res, id, book, decodeURIComponent(rangeMatch![1]!), body, url.searchParams.get('valueInputOption'));
      case 'values.batchUpdate': {
        const option = String(body.valueInputOption ?? '');
        let cells = 0;
        for (const d of (body.data as Array<{ range: string; values: Cell[][] }>) ?? []) {
          const r = this.write(book, d.range, d.values, option);
          if ('error' in r) return sendError(res, 400, r.error);
          cells += r.cells;
        }
        return sendJson(res, 200, { spreadsheetId: id, totalUpdatedCells: cells });
      }
      default:
        return sendError(res, 404, `fake does not implement ${req.method} ${rest}`);
    }
  }

  private kindOf(method: string, rest: string): string {
    if (rest === '' && method === 'GET') return 'spreadsheets.get';
    if (rest === ':batchUpdate') return 'spreadsheets.batchUpdate';
    if (rest === '/values:batchGet') return 'values.batchGet';
    if (rest === '/values:batchUpdate') return 'values.batchUpdate';
    if (rest.startsWith('/values/') && rest.endsWith(':append')) return 'values.append';
    if (rest.startsWith('/values/') && method === 'PUT') return 'values.update';
    if (rest.startsWith('/values/') && method === 'GET') return 'values.get';
    return `unknown ${method} ${rest}`;
  }

  private read(book: Spreadsheet, range: string, option: string): { range: string; majorDimension: 'ROWS'; values?: Cell[][] } | { error: string } {
    const a1 = parseA1(range);
    const tab = a1 ? book.tabs.get(a1.tab) : undefined;
    if (!a1 || !tab) return { error: `Unable to parse range: ${range}` };
    const rows = tab.rows
      .slice(a1.startRow - 1, a1.endRow === Infinity ? undefined : a1.endRow)
      .map((r) => r.slice(a1.startCol - 1, a1.endCol === Infinity ? undefined : a1.endCol).map((c) => render(c, option)));
    const values = trimRows(rows);
    const width = Math.max(1, ...values.map((r) => r.length));
    const out = { range: formatA1(a1.tab, a1.startRow, a1.startCol, a1.startRow + Math.max(0, values.length - 1), a1.startCol + width - 1), majorDimension: 'ROWS' as const };
    return values.length ? { ...out, values } : out;
  }

  private valuesGet(res: ServerResponse, book: Spreadsheet, range: string, option: string): void {
    const got = this.read(book, range, option);
    if ('error' in got) return sendError(res, 400, got.error);
    sendJson(res, 200, got);
  }

  /** What Sheets does with USER_ENTERED text: booleans, numbers and dates become typed cells. */
  private parseInput(cell: Cell, option: string | null): Cell {
    if (option !== 'USER_ENTERED' || typeof cell !== 'string') return cell;
    if (cell.startsWith("'")) return cell.slice(1); // a leading apostrophe keeps text as text
    const t = cell.trim();
    if (/^(true|false)$/i.test(t)) return t.toLowerCase() === 'true';
    if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
    const date = /^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$/.test(t) ? DateTime.fromSQL(t, { zone: 'UTC' }) : null;
    if (date?.isValid) {
      const epoch = DateTime.fromObject({ year: 1899, month: 12, day: 30 }, { zone: 'UTC' });
      return date.diff(epoch, 'days').days;
    }
    return cell;
  }

  private write(book: Spreadsheet, range: string, values: Cell[][], option: string | null): { cells: number; range: string } | { error: string } {
    const a1 = parseA1(range);
    const tab = a1 ? book.tabs.get(a1.tab) : undefined;
    if (!a1 || !tab) return { error: `Unable to parse range: ${range}` };
    if (option !== 'RAW' && option !== 'USER_ENTERED') return { error: "Invalid valueInputOption: ''" };
    // Google refuses a write that would grow the grid past the spreadsheet's cell limit.
    const rowsAfter = Math.max(tab.rows.length, tab.rowCount, a1.startRow - 1 + values.length);
    const colsAfter = Math.max(tab.width, tab.columnCount, a1.startCol - 1 + widest(values));
    const before = Math.max(tab.rows.length, tab.rowCount) * Math.max(tab.width, tab.columnCount);
    if (this.cellsOf(book) - before + rowsAfter * colsAfter > this.cellLimit) {
      return { error: `This action would increase the number of cells in the workbook above the limit of ${this.cellLimit} cells.` };
    }
    let cells = 0;
    values.forEach((row, i) => {
      const r = a1.startRow - 1 + i;
      if (r === tab.rows.length && a1.startCol === 1) {
        // A new row at the end (an append): the same cells, built in one go.
        tab.rows.push(option === 'RAW' && row.every((cell) => cell !== null && cell !== undefined) ? row.slice() : row.map((cell) => (cell === null || cell === undefined ? '' : this.parseInput(cell, option))));
        cells += row.length;
        return;
      }
      while (tab.rows.length <= r) tab.rows.push([]);
      row.forEach((cell, j) => {
        const c = a1.startCol - 1 + j;
        const target = tab.rows[r]!;
        while (target.length <= c) target.push('');
        if (cell !== null && cell !== undefined) target[c] = this.parseInput(cell, option);
        cells += 1;
      });
    });
    const width = Math.max(1, widest(values));
    tab.width = Math.max(tab.width, a1.startCol - 1 + widest(values));
    return { cells, range: formatA1(a1.tab, a1.startRow, a1.startCol, a1.startRow + values.length - 1, a1.startCol + width - 1) };
  }

  private append(res: ServerResponse, id: string, book: Spreadsheet, range: string, body: Record<string, unknown>, option: string | null): void {
    const result = this.appendResult(id, book, range, body, option);
    sendJson(res, result.status, result.body);
  }

  private appendResult(id: string, book: Spreadsheet, range: string, body: Record<string, unknown>, option: string | null): { status: number; body: unknown } {
    const a1 = parseA1(range);
    const tab = a1 ? book.tabs.get(a1.tab) : undefined;
    if (!a1 || !tab) return { status: 400, body: errorBody(400, `Unable to parse range: ${range}`) };
    const values = (body.values as Cell[][]) ?? [];
    const lastRow = usedRows(tab.rows);
    const start = `${formatA1(a1.tab, lastRow + 1, a1.startCol, lastRow + 1, a1.startCol).split(':')[0]}`;
    const written = this.write(book, start, values, option);
    if ('error' in written) return { status: 400, body: errorBody(400, written.error) };
    return {
      status: 200,
      body: {
        spreadsheetId: id,
        tableRange: formatA1(a1.tab, 1, 1, Math.max(1, lastRow), 26),
        updates: { spreadsheetId: id, updatedRange: written.range, updatedRows: values.length, updatedColumns: Math.max(0, ...values.map((r) => r.length)), updatedCells: written.cells },
      },
    };
  }

  private update(res: ServerResponse, id: string, book: Spreadsheet, range: string, body: Record<string, unknown>, option: string | null): void {
    const values = (body.values as Cell[][]) ?? [];
    const written = this.write(book, range, values, option);
    if ('error' in written) return sendError(res, 400, written.error);
    sendJson(res, 200, { spreadsheetId: id, updatedRange: written.range, updatedRows: values.length, updatedColumns: Math.max(0, ...values.map((r) => r.length)), updatedCells: written.cells });
  }

  private batchUpdate(res: ServerResponse, id: string, book: Spreadsheet, body: Record<string, unknown>): void {
    const replies: unknown[] = [];
    for (const request of (body.requests as Array<Record<string, { properties?: { title?: string; gridProperties?: { rowCount?: number; columnCount?: number } } }>>) ?? []) {
      const title = request.addSheet?.properties?.title;
      const grid = request.addSheet?.properties?.gridProperties;
      const size = { rowCount: grid?.rowCount ?? DEFAULT_GRID.rowCount, columnCount: grid?.columnCount ?? DEFAULT_GRID.columnCount };
      if (!request.addSheet || !title) return sendError(res, 400, 'fake supports only addSheet requests with a title');
      if (book.tabs.has(title)) return sendError(res, 400, `Invalid requests[0].addSheet: A sheet with the name "${title}" already exists. Please enter another name.`);
      const sheetId = 1000 + book.tabs.size;
      if (this.cellsOf(book) + size.rowCount * size.columnCount > this.cellLimit) {
        return sendError(res, 400, `Invalid requests[0].addSheet: This action would increase the number of cells in the workbook above the limit of ${this.cellLimit} cells.`);
      }
      book.tabs.set(title, { sheetId, rows: [], ...size, width: 0 });
      replies.push({ addSheet: { properties: { sheetId, title, index: book.tabs.size - 1, sheetType: 'GRID', gridProperties: size } } });
    }
    sendJson(res, 200, { spreadsheetId: id, replies });
  }
}
