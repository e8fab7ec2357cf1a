/**
 * The request path as vLLM will route it, computed once. uvicorn percent-decodes the target and
 * Starlette matches routes on the decoded path (reference/vllm.md §2), so the gateway must judge
 * the decoded path and forward a spelling that decodes to exactly that. Anything two readers could
 * disagree on (an encoded `/`, a backslash, NUL, dot or empty segments, bytes that are not UTF-8,
 * a malformed escape) is refused instead of guessed at.
 */
export type CanonicalPath =
  | { ok: true; /** To forward: unreserved escapes decoded, others kept (hex upper case). */ path: string; /** To route on: fully decoded. */ route: string; /** `?...` as sent, or ''. */ query: string }
  | { ok: false; reason: string };

const HEX = /^[0-9A-Fa-f]{2}$/;
const UTF8 = new TextDecoder('utf-8', { fatal: true });

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) ||
    byte === 0x2d || byte === 0x2e || byte === 0x5f || byte === 0x7e
  );
}

const refuse = (reason: string): CanonicalPath => ({ ok: false, reason });

/** Canonicalises a request target (`req.url`). Never throws. */
export function canonicalPath(target: string): CanonicalPath {
  const q = target.indexOf('?');
  const raw = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  if (!raw.startsWith('/')) return refuse('The request path must start with "/".');

  const plain = plainPath(raw);
  let path = plain ? raw : '';
  let route = raw;
  if (!plain) {
    const decoded = decode(raw);
    if (!decoded.ok) return decoded;
    path = decoded.path;
    route = decoded.route;
  }
  // One trailing slash is dropped: vLLM would answer it with a redirect built from Host.
  if (path.length > 1 && path.endsWith('/')) {
    path = path.slice(0, -1);
    route = route.slice(0, -1);
  }
  if (route !== '/') {
    for (const segment of route.slice(1).split('/')) {
      if (segment === '') return refuse('The request path has an empty segment ("//").');
      if (segment === '.' || segment === '..') return refuse('The request path has a "." or ".." segment.');
    }
  }
  return { ok: true, path, route, query };
}

/**
 * Printable ASCII without `%` or a backslash: nothing to decode, the path is its own route (the
 * usual case, read without building either string byte by byte).
 */
function plainPath(raw: string): boolean {
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x5c || c === 0x25) return false;
  }
  return true;
}

/** Decodes percent-escapes: the spelling to forward and the route, or why it is refused. */
function decode(raw: string): { ok: true; path: string; route: string } | { ok: false; reason: string } {
  let path = '';
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw.charCodeAt(i);
    if (c === 0x25 /* % */) {
      const hex = raw.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return { ok: false, reason: 'The request path has a malformed percent-escape.' };
      const byte = parseInt(hex, 16);
      if (byte === 0x2f || byte === 0x5c || byte === 0) return { ok: false, reason: 'The request path encodes "/", "\\" or NUL.' };
      path += isUnreserved(byte) ? String.fromCharCode(byte) : `%${hex.toUpperCase()}`;
      bytes.push(byte);
      i += 2;
      continue;
    }
    // Printable ASCII only, and no backslash: some servers read it as "/".
    if (c <= 0x20 || c >= 0x7f || c === 0x5c) return { ok: false, reason: 'The request path has a character that must be percent-encoded.' };
    path += raw[i];
    bytes.push(c);
  }

  try {
    return { ok: true, path, route: UTF8.decode(Uint8Array.from(bytes)) };
  } catch {
    return { ok: false, reason: 'The request path does not decode to UTF-8.' };
  }
}
