/** A1 notation as the Sheets API reads it: `'Tab ''x'''!A1:F10`, `Tab!A:F`, `Tab`. 1-based, inclusive. */
export interface A1Range {
  tab: string;
  startRow: number;
  startCol: number;
  endRow: number;
  endCol: number;
}

function columnNumber(letters: string): number {
  let n = 0;
  for (const ch of letters.toUpperCase()) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n;
}

export function columnLetters(n: number): string {
  let s = '';
  while (n > 0) {
    const r = (n - 1) % 26;
    s = String.fromCharCode(65 + r) + s;
    n = Math.floor((n - 1) / 26);
  }
  return s;
}

const CELL = /^([A-Za-z]*)(\d*)$/;

export function parseA1(range: string): A1Range | null {
  let tab: string;
  let rest = '';
  if (range.startsWith("'")) {
    let i = 1;
    tab = '';
    while (i < range.length) {
      if (range[i] === "'" && range[i + 1] === "'") { tab += "'"; i += 2; continue; }
      if (range[i] === "'") break;
      tab += range[i];
      i += 1;
    }
    if (range[i] !== "'") return null;
    rest = range.slice(i + 1);
    if (rest && !rest.startsWith('!')) return null;
    rest = rest.slice(1);
  } else {
    const bang = range.indexOf('!');
    tab = bang < 0 ? range : range.slice(0, bang);
    rest = bang < 0 ? '' : range.slice(bang + 1);
  }
  if (!rest) return { tab, startRow: 1, startCol: 1, endRow: Infinity, endCol: Infinity };
  const [a, b] = rest.split(':');
  const start = CELL.exec(a ?? '');
  const end = CELL.exec(b ?? a ?? '');
  if (!start || !end) return null;
  return {
    tab,
    startCol: start[1] ? columnNumber(start[1]) : 1,
    startRow: start[2] ? Number(start[2]) : 1,
    endCol: end[1] ? columnNumber(end[1]) : Infinity,
    endRow: end[2] ? Number(end[2]) : Infinity,
  };
}

export function formatA1(tab: string, startRow: number, startCol: number, endRow: number, endCol: number): string {
  return `'${tab.replaceAll("'", "''")}'!${columnLetters(startCol)}${startRow}:${columnLetters(endCol)}${endRow}`;
}
