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
}

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

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, code: number, message: string): void {
  sendJson(res, code, { error: { code, message, status: STATUS_TEXT[code] ?? 'UNKNOWN' } });
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

  /** Registers a service account whose JWTs the fake accepts. */
  addServiceAccount(email: string, publicKeyPem: string): void {
    this.keys.set(email, publicKeyPem);
  }

  createSpreadsheet(id: string, opts: { timeZone?: string; title?: string; sharedWith?: string[] } = {}): void {
    this.books.set(id, { title: opts.title ?? id, timeZone: opts.timeZone ?? 'UTC', tabs: new Map(), sharedWith: new Set(opts.sharedWith ?? []) });
  }

  setTab(id: string, tab: string, rows: Cell[][]): void {
    const book = this.book(id);
    const existing = book.tabs.get(tab);
    book.tabs.set(tab, { sheetId: existing?.sheetId ?? book.tabs.size + 1, rows: rows.map((r) => [...r]) });
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

  clearFaults(): void {
    this.faults = [];
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
      return sendError(res, fault.status, `injected fault ${fault.status}`);
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
            properties: { sheetId: t.sheetId, title, index, sheetType: 'GRID', gridProperties: { rowCount: Math.max(1000, t.rows.length), columnCount: 26 } },
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
    let cells = 0;
    values.forEach((row, i) => {
      const r = a1.startRow - 1 + i;
      while (tab.rows.length <= r) tab.rows.push([]);
      row.forEach((cell, j) => {
        const c = a1.startCol - 1 + j;
        const target = tab.rows[r]!;
        while (target.length <= c) target.push('');
        if (cell !== null && cell !== undefined) target[c] = this.parseInput(cell, option);
        cells += 1;
      });
    });
    const width = Math.max(1, ...values.map((r) => r.length));
    return { cells, range: formatA1(a1.tab, a1.startRow, a1.startCol, a1.startRow + values.length - 1, a1.startCol + width - 1) };
  }

  private append(res: ServerResponse, id: string, book: Spreadsheet, range: string, body: Record<string, unknown>, option: string | null): void {
    const a1 = parseA1(range);
    const tab = a1 ? book.tabs.get(a1.tab) : undefined;
    if (!a1 || !tab) return sendError(res, 400, `Unable to parse range: ${range}`);
    const values = (body.values as Cell[][]) ?? [];
    const lastRow = trimRows(tab.rows).length;
    const start = `${formatA1(a1.tab, lastRow + 1, a1.startCol, lastRow + 1, a1.startCol).split(':')[0]}`;
    const written = this.write(book, start, values, option);
    if ('error' in written) return sendError(res, 400, written.error);
    sendJson(res, 200, {
      spreadsheetId: id,
      tableRange: formatA1(a1.tab, 1, 1, Math.max(1, lastRow), 26),
      updates: { spreadsheetId: id, updatedRange: written.range, updatedRows: values.length, updatedColumns: Math.max(0, ...values.map((r) => r.length)), updatedCells: written.cells },
    });
  }

  private update(res: ServerResponse, id: string, book: Spreadsheet, range: string, body: Record<string, unknown>, option: string | null): void {
    const values = (body.values as Cell[][]) ?? [];
    const written = this.write(book, range, values, option);
    if ('error' in written) return sendError(res, 400, written.error);
    sendJson(res, 200, { spreadsheetId: id, updatedRange: written.range, updatedRows: values.length, updatedColumns: Math.max(0, ...values.map((r) => r.length)), updatedCells: written.cells });
  }

  private batchUpdate(res: ServerResponse, id: string, book: Spreadsheet, body: Record<string, unknown>): void {
    const replies: unknown[] = [];
    for (const request of (body.requests as Array<Record<string, { properties?: { title?: string } }>>) ?? []) {
      const title = request.addSheet?.properties?.title;
      if (!request.addSheet || !title) return sendError(res, 400, 'fake supports only addSheet requests with a title');
      if (book.tabs.has(title)) return sendError(res, 400, `Invalid requests[0].addSheet: A sheet with the name "${title}" already exists. Please enter another name.`);
      const sheetId = 1000 + book.tabs.size;
      book.tabs.set(title, { sheetId, rows: [] });
      replies.push({ addSheet: { properties: { sheetId, title, index: book.tabs.size - 1, sheetType: 'GRID', gridProperties: { rowCount: 1000, columnCount: 26 } } } });
    }
    sendJson(res, 200, { spreadsheetId: id, replies });
  }
}
