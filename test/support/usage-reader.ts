/**
 * A reader of Usage rows as the contract says readers must be (HELPERS.md "Usage tab columns"):
 * columns found by header name, each (flush_id, key_id) pair counted once, a row without a
 * flush_id counted as it is. Test-side, so tests can check what any reader would total.
 */
export interface UsageTotals {
  requests: number;
  rate_limited: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export type UsageCell = string | number | boolean;

export function rowsAsRecords(values: readonly (readonly UsageCell[])[]): Array<Record<string, UsageCell>> {
  const [header, ...rows] = values;
  if (!header) return [];
  const names = header.map((h) => String(h).trim().toLowerCase());
  return rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i] ?? ''])));
}

/** Totals per key_id, de-duplicated by (flush_id, key_id). */
export function totalsByKey(records: ReadonlyArray<Record<string, UsageCell>>): Map<string, UsageTotals> {
  const seen = new Set<string>();
  const out = new Map<string, UsageTotals>();
  for (const r of records) {
    const keyId = String(r.key_id ?? '');
    const flushId = String(r.flush_id ?? '');
    if (flushId) {
      const pair = `${flushId}|${keyId}`;
      if (seen.has(pair)) continue;
      seen.add(pair);
    }
    const t = out.get(keyId) ?? { requests: 0, rate_limited: 0, prompt_tokens: 0, completion_tokens: 0 };
    t.requests += Number(r.requests) || 0;
    t.rate_limited += Number(r.rate_limited) || 0;
    t.prompt_tokens += Number(r.prompt_tokens) || 0;
    t.completion_tokens += Number(r.completion_tokens) || 0;
    out.set(keyId, t);
  }
  return out;
}

export function grandTotal(records: ReadonlyArray<Record<string, UsageCell>>): UsageTotals {
  const all = { requests: 0, rate_limited: 0, prompt_tokens: 0, completion_tokens: 0 };
  for (const t of totalsByKey(records).values()) {
    all.requests += t.requests;
    all.rate_limited += t.rate_limited;
    all.prompt_tokens += t.prompt_tokens;
    all.completion_tokens += t.completion_tokens;
  }
  return all;
}
