import { isUtf8 } from 'node:buffer';

/**
 * A strict reader for request bodies that JavaScript and Python must read alike. It accepts only
 * what both `JSON.parse` and Python's `json.loads` read the same way: UTF-8 without a byte-order
 * mark, no NaN/Infinity, no duplicate keys (both keep the last, but nothing in between should
 * have to), an object at the top. It builds no values: it records where each top-level field's
 * value lies, so the plan parses only the few small fields it needs and the body is forwarded as
 * sent (key order and large integers untouched).
 */
export interface TopField {
  /** Byte offsets of the value in the body. */
  start: number;
  end: number;
  type: 'string' | 'number' | 'object' | 'array' | 'true' | 'false' | 'null';
  /** Arrays: how many elements, and the type of the first. */
  length?: number;
  first?: TopField['type'];
}

export type Scan = { ok: true; fields: Map<string, TopField>; /** offset of the closing `}` */ close: number } | { ok: false; reason: string };

/** Python's recursion limit is 1000; a body nested this deep is refused before it gets near it. */
export const MAX_JSON_DEPTH = 256;

class Refused extends Error {}

const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;

/** The end of a run of digits from `j`, looking no further than `limit`. */
function digits(b: Buffer, j: number, limit: number): number {
  while (j < limit && isDigit(b[j])) j += 1;
  return j;
}

/** Whether `word` (ASCII) is at `at` in `b`. */
function bytesAre(b: Buffer, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k += 1) if (b[at + k] !== word.charCodeAt(k)) return false;
  return true;
}

const isHex = (c: number | undefined): boolean => c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));

const LITERALS = [['true', 'true'], ['false', 'false'], ['null', 'null']] as const;

const WS = (c: number | undefined): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

export function scanJsonObject(buf: Buffer): Scan {
  if (buf.length === 0) return { ok: false, reason: 'The request body is empty; a JSON object is expected.' };
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return { ok: false, reason: 'The request body starts with a byte-order mark; send UTF-8 JSON without one.' };
  if ((buf[0] === 0xff && buf[1] === 0xfe) || (buf[0] === 0xfe && buf[1] === 0xff) || buf.subarray(0, 4).includes(0)) {
    return { ok: false, reason: 'The request body looks like UTF-16 or UTF-32; send UTF-8 JSON.' };
  }
  if (!isUtf8(buf)) return { ok: false, reason: 'The request body is not valid UTF-8.' };
  try {
    return new Scanner(buf).top();
  } catch (err) {
    if (err instanceof Refused) return { ok: false, reason: err.message };
    throw err;
  }
}

class Scanner {
  private i = 0;

  constructor(private readonly b: Buffer) {}

  private fail(what: string): never {
    throw new Refused(`The request body is not valid JSON: ${what} at byte ${this.i}.`);
  }

  private ws(): void {
    while (WS(this.b[this.i])) this.i += 1;
  }

  top(): Scan {
    this.ws();
    if (this.b[this.i] !== 0x7b) throw new Refused('The request body must be a JSON object ({...}).');
    const fields = new Map<string, TopField>();
    const close = this.object(1, fields);
    this.i = close + 1;
    this.ws();
    if (this.i !== this.b.length) this.fail('extra data after the object');
    return { ok: true, fields, close };
  }

  /** Reads an object starting at `{`; returns the offset of its `}`. */
  private object(depth: number, fields: Map<string, TopField> | null): number {
    if (depth > MAX_JSON_DEPTH) throw new Refused(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`);
    const keys = new Set<string>();
    this.i += 1;
    this.ws();
    if (this.b[this.i] === 0x7d) return this.i;
    for (;;) {
      if (this.b[this.i] !== 0x22) this.fail('expected a key');
      const keyStart = this.i;
      this.string();
      const key = this.keyText(keyStart, this.i);
      if (keys.has(key)) throw new Refused(`The request body has ${/^[A-Za-z0-9_.-]{1,64}$/.test(key) ? `the key "${key}"` : 'a key'} more than once.`);
      keys.add(key);
      this.ws();
      if (this.b[this.i] !== 0x3a) this.fail('expected ":"');
      this.i += 1;
      this.ws();
      const field = this.value(depth);
      fields?.set(key, field);
      this.ws();
      const c = this.b[this.i];
      if (c === 0x7d) return this.i;
      if (c !== 0x2c) this.fail('expected "," or "}"');
      this.i += 1;
      this.ws();
    }
  }

  private keyText(start: number, end: number): string {
    const raw = this.b.toString('utf8', start, end);
    return raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  }

  /** Reads one value; leaves `i` just after it. */
  private value(depth: number): TopField {
    const start = this.i;
    const c = this.b[this.i];
    if (c === 0x22) {
      this.string();
      return { start, end: this.i, type: 'string' };
    }
    if (c === 0x7b) {
      this.i = this.object(depth + 1, null) + 1;
      return { start, end: this.i, type: 'object' };
    }
    if (c === 0x5b) return this.array(depth + 1, start);
    if (c === 0x2d || (c !== undefined && c >= 0x30 && c <= 0x39)) {
      this.number();
      return { start, end: this.i, type: 'number' };
    }
    for (const [word, type] of LITERALS) {
      if (bytesAre(this.b, this.i, word)) {
        this.i += word.length;
        return { start, end: this.i, type };
      }
    }
    const rest = this.b.toString('latin1', this.i, this.i + 9);
    if (/^-?(NaN|Infinity)/.test(rest)) throw new Refused('The request body has NaN or Infinity, which JSON does not allow.');
    return this.fail('expected a value');
  }

  private array(depth: number, start: number): TopField {
    if (depth > MAX_JSON_DEPTH) throw new Refused(`The request body is nested deeper than ${MAX_JSON_DEPTH} levels.`);
    this.i += 1;
    this.ws();
    let length = 0;
    let first: TopField['type'] | undefined;
    if (this.b[this.i] === 0x5d) {
      this.i += 1;
      return { start, end: this.i, type: 'array', length };
    }
    for (;;) {
      const v = this.value(depth);
      if (length === 0) first = v.type;
      length += 1;
      this.ws();
      const c = this.b[this.i];
      if (c === 0x5d) {
        this.i += 1;
        return { start, end: this.i, type: 'array', length, first };
      }
      if (c !== 0x2c) this.fail('expected "," or "]"');
      this.i += 1;
      this.ws();
    }
  }

  private string(): void {
    const b = this.b;
    let i = this.i + 1;
    for (;;) {
      // The hot loop: long prompts are mostly plain string bytes.
      let c = b[i];
      while (c !== undefined && c !== 0x22 && c !== 0x5c && c >= 0x20) c = b[++i];
      if (c === 0x22) {
        this.i = i + 1;
        return;
      }
      if (c === undefined) {
        this.i = i;
        this.fail('unterminated string');
      }
      if (c < 0x20) {
        this.i = i;
        this.fail('a control character in a string');
      }
      // A backslash escape.
      const e = b[i + 1];
      if (e === 0x75 /* u */) {
        if (!(isHex(b[i + 2]) && isHex(b[i + 3]) && isHex(b[i + 4]) && isHex(b[i + 5]))) {
          this.i = i;
          this.fail('a malformed \\u escape');
        }
        i += 6;
      } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
      } else {
        this.i = i;
        this.fail('a malformed escape');
      }
    }
  }

  /**
   * Reads `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` byte by byte (a regex over a string of
   * the next 400 bytes cost a conversion per number: token-id prompts are thousands of numbers).
   * Like that regex, it looks at 400 bytes at most, and a digit or `.` right after is refused.
   */
  private number(): void {
    const b = this.b;
    const limit = Math.min(b.length, this.i + 400);
    let j = this.i;
    if (b[j] === 0x2d) j += 1;
    if (j < limit && b[j] === 0x30) j += 1;
    else if (j < limit && b[j]! >= 0x31 && b[j]! <= 0x39) j = digits(b, j + 1, limit);
    else {
      if (/^-(NaN|Infinity)/.test(b.toString('latin1', this.i, this.i + 9))) throw new Refused('The request body has NaN or Infinity, which JSON does not allow.');
      this.fail('a malformed number');
    }
    if (j + 1 < limit && b[j] === 0x2e && isDigit(b[j + 1])) j = digits(b, j + 2, limit);
    if (j < limit && (b[j] === 0x65 || b[j] === 0x45)) {
      let k = j + 1;
      if (k < limit && (b[k] === 0x2b || b[k] === 0x2d)) k += 1;
      if (k < limit && isDigit(b[k])) j = digits(b, k + 1, limit);
    }
    this.i = j;
    const next = b[j];
    if (next !== undefined && ((next >= 0x30 && next <= 0x39) || next === 0x2e)) this.fail('a malformed number');
  }
}
