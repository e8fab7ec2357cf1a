const SAFE = /^[\x20-\x24\x26-\x7e]*$/;
const encoder = new TextEncoder();

/**
 * Makes a client name safe for a header: every character outside printable ASCII, and `%`, is
 * percent-encoded as UTF-8 (`Café` → `Caf%C3%A9`). CR/LF can never reach the header.
 */
export function encodeClientName(name: string): string {
  if (SAFE.test(name)) return name;
  let out = '';
  for (const ch of name.toWellFormed()) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e && ch !== '%') {
      out += ch;
      continue;
    }
    for (const byte of encoder.encode(ch)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
