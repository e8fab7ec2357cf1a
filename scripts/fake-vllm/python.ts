/**
 * The stand-in's reading of a request, done the way vLLM's Python stack does it, on purpose
 * apart from the gateway's own code so a difference between the two shows up in tests:
 * uvicorn's percent-decoding, Python's `json.loads` on bytes, pydantic's lax coercion.
 */

/** urllib.parse.unquote: %XX to bytes (malformed escapes left as they are), UTF-8 with replacement. */
export function unquote(raw: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i += 1) {
    const hex = raw.slice(i + 1, i + 3);
    if (raw[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(raw[i]!, 'utf8')) bytes.push(b);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

export class PyJsonError extends Error {}

/** json.detect_encoding, then decoding as Python would (BOMs consumed, UTF-16/32 accepted). */
function decode(b: Buffer): string {
  const starts = (...sig: number[]): boolean => sig.every((v, i) => b[i] === v);
  if (starts(0x00, 0x00, 0xfe, 0xff)) return utf32(b.subarray(4), false);
  if (starts(0xff, 0xfe, 0x00, 0x00)) return utf32(b.subarray(4), true);
  if (starts(0xfe, 0xff)) return utf16(b.subarray(2), false);
  if (starts(0xff, 0xfe)) return utf16(b.subarray(2), true);
  if (starts(0xef, 0xbb, 0xbf)) return strictUtf8(b.subarray(3));
  if (b.length >= 4) {
    if (!b[0]) return b[1] ? utf16(b, false) : utf32(b, false);
    if (!b[1]) return b[2] || b[3] ? utf16(b, true) : utf32(b, true);
  } else if (b.length === 2) {
    if (!b[0]) return utf16(b, false);
    if (!b[1]) return utf16(b, true);
  }
  return strictUtf8(b);
}

function strictUtf8(b: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(b);
  } catch {
    throw new PyJsonError('UnicodeDecodeError');
  }
}

function utf16(b: Buffer, little: boolean): string {
  const copy = Buffer.from(b);
  if (!little) copy.swap16();
  return copy.toString('utf16le');
}

function utf32(b: Buffer, little: boolean): string {
  let out = '';
  for (let i = 0; i + 3 < b.length; i += 4) out += String.fromCodePoint(little ? b.readUInt32LE(i) : b.readUInt32BE(i));
  return out;
}

/** json.loads(bytes): NaN and ±Infinity accepted, the last duplicate key wins. */
export function pyJsonLoads(body: Buffer): unknown {
  const s = decode(body);
  let i = 0;
  const ws = (): void => {
    while (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r') i += 1;
  };
  const fail = (what: string): never => {
    throw new PyJsonError(`${what} at char ${i}`);
  };
  const value = (): unknown => {
    ws();
    const c = s[i];
    if (c === '{') {
      i += 1;
      const obj: Record<string, unknown> = {};
      ws();
      if (s[i] === '}') return (i += 1), obj;
      for (;;) {
        ws();
        if (s[i] !== '"') fail('Expecting property name');
        const k = str();
        ws();
        if (s[i] !== ':') fail("Expecting ':'");
        i += 1;
        Object.defineProperty(obj, k, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (s[i] === '}') return (i += 1), obj;
        if (s[i] !== ',') fail("Expecting ','");
        i += 1;
      }
    }
    if (c === '[') {
      i += 1;
      const arr: unknown[] = [];
      ws();
      if (s[i] === ']') return (i += 1), arr;
      for (;;) {
        arr.push(value());
        ws();
        if (s[i] === ']') return (i += 1), arr;
        if (s[i] !== ',') fail("Expecting ','");
        i += 1;
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [['true', true], ['false', false], ['null', null], ['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
      if (s.startsWith(word, i)) return (i += word.length), v;
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/.exec(s.slice(i, i + 400));
    if (!m) return fail('Expecting value');
    i += m[0].length;
    return Number(m[0]);
  };
  const str = (): string => {
    const start = i;
    i += 1;
    for (;;) {
      const c = s[i];
      if (c === undefined) fail('Unterminated string');
      if (c === '"') break;
      if (c! < ' ') fail('Invalid control character');
      i += c === '\\' ? 2 : 1;
    }
    i += 1;
    try {
      return JSON.parse(s.slice(start, i)) as string;
    } catch {
      return fail('Invalid \\escape');
    }
  };
  const v = value();
  ws();
  if (i !== s.length) fail('Extra data');
  return v;
}

const TRUE_WORDS = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_WORDS = new Set(['0', 'off', 'f', 'false', 'n', 'no']);

export class ValidationError extends Error {}

/** pydantic lax `bool | None`. */
export function pyBool(v: unknown, field: string): boolean | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string' && TRUE_WORDS.has(v.toLowerCase())) return true;
  if (typeof v === 'string' && FALSE_WORDS.has(v.toLowerCase())) return false;
  throw new ValidationError(`${field}: Input should be a valid boolean`);
}

/** pydantic lax `int | None`. */
export function pyInt(v: unknown, field: string): number | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 2 ** 63) return v;
  if (typeof v === 'string' && /^\s*[+-]?\d+(\.0*)?\s*$/.test(v)) return Math.trunc(Number(v));
  throw new ValidationError(`${field}: Input should be a valid integer`);
}

/** pydantic `str | None` (no coercion from numbers). */
export function pyStr(v: unknown, field: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  throw new ValidationError(`${field}: Input should be a valid string`);
}

/** Python truthiness of a raw JSON value (vLLM's stream_options check runs before coercion). */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true; // NaN included, as in Python
}
