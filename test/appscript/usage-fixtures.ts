// Rows of the Usage tab as the gateway writes them (round 2: flush_id, period_start), and
// sums computed here, independently of the script, to compare its totals against.

import { createHash } from 'node:crypto';
import { HOUR_MS, USAGE_HEADER_V2, rowObject, type Env } from './harness.ts';
import { wallClock } from './fakes/values.ts';

export const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
export const idOf = (key: string) => sha256(key).slice(0, 16);
export const keyOf = (n: number) => `sk-convergence-${String(n).padStart(8, '0')}-1111-4111-8111-111111111111`;
export const DAY_MS = 24 * HOUR_MS;

export interface Flush {
  /** Start of the hour the counts cover (epoch ms). */
  hour: number;
  key: string;
  client: string;
  requests: number;
  prompt: number;
  completion: number;
  flushId: string;
  rateLimited?: number;
  /** When it was written; default: the end of the hour. */
  writtenAt?: number;
}

export function usageRow(f: Flush): unknown[] {
  return [
    new Date(f.writtenAt ?? f.hour + HOUR_MS).toISOString(), idOf(f.key), f.client, f.requests, f.rateLimited ?? 0,
    f.prompt, f.completion, 'gw-1', f.flushId, new Date(f.hour).toISOString(),
  ];
}

export function addUsageTab(env: Env, flushes: Flush[] = []) {
  return env.ss.addSheet('Usage', [USAGE_HEADER_V2, ...flushes.map(usageRow)]);
}

/** YYYY-MM-DD of an instant in a zone (Intl, not the script's code). */
export function dayIn(ms: number, timeZone: string): string {
  const w = wallClock(ms, timeZone);
  return `${w.year}-${String(w.month).padStart(2, '0')}-${String(w.day).padStart(2, '0')}`;
}

export interface Sum {
  requests: number;
  prompt: number;
  completion: number;
}

/** Sums of flushes by key id, each (flush_id, key) once; `where` picks flushes. */
export function sumByKey(flushes: Flush[], where: (f: Flush) => boolean = () => true): Map<string, Sum> {
  const seen = new Set<string>();
  const out = new Map<string, Sum>();
  for (const f of flushes) {
    const pair = `${f.flushId}|${idOf(f.key)}`;
    if (seen.has(pair) || !where(f)) continue;
    seen.add(pair);
    const s = out.get(idOf(f.key)) ?? { requests: 0, prompt: 0, completion: 0 };
    s.requests += f.requests;
    s.prompt += f.prompt;
    s.completion += f.completion;
    out.set(idOf(f.key), s);
  }
  return out;
}

/** The keys tab as objects keyed by header. */
export function keyRows(env: Env, sheet = 'API_Keys'): Record<string, unknown>[] {
  const [header = [], ...rows] = env.ss.sheet(sheet).rows();
  return rows.map((row) => rowObject(header, row));
}

/** Totals of a tab with requests/prompt_tokens/completion_tokens by key_id (raw rows deduplicated by flush_id). */
export function tabSums(env: Env, name: string): Map<string, Sum> {
  const sheet = env.ss.getSheetByName(name);
  const out = new Map<string, Sum>();
  if (!sheet) return out;
  const [header = [], ...rows] = sheet.rows();
  const seen = new Set<string>();
  for (const row of rows) {
    const r = rowObject(header, row);
    const keyId = String(r.key_id);
    if (r.flush_id) {
      const pair = `${String(r.flush_id)}|${keyId}`;
      if (seen.has(pair)) continue;
      seen.add(pair);
    }
    const s = out.get(keyId) ?? { requests: 0, prompt: 0, completion: 0 };
    s.requests += Number(r.requests);
    s.prompt += Number(r.prompt_tokens);
    s.completion += Number(r.completion_tokens);
    out.set(keyId, s);
  }
  return out;
}

export function addSums(...maps: Map<string, Sum>[]): Map<string, Sum> {
  const out = new Map<string, Sum>();
  for (const map of maps) {
    for (const [k, s] of map) {
      const t = out.get(k) ?? { requests: 0, prompt: 0, completion: 0 };
      out.set(k, { requests: t.requests + s.requests, prompt: t.prompt + s.prompt, completion: t.completion + s.completion });
    }
  }
  return out;
}
