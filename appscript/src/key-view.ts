// The keys tab as Refresh usage, the dashboard and reminders see it: each key row with its
// client, quota policy, expiry by the gateway's rules, and its client's use in the current
// quota period. A quota belongs to the client: keys with the same trimmed client_name share it.

import { cell, type Columns } from './columns.ts';
import { isActiveValue, maskKey } from './cells.ts';
import { parseExpiry } from './expiry.ts';
import { rowKeyId } from './key-id.ts';
import { parsePeriod, periodEnd, periodStart, type QuotaPeriod } from './periods.ts';
import type { UsageState } from './usage-state.ts';

export interface KeyView {
  /** 0-based index among the data rows (sheet row = index + 2). */
  index: number;
  keyId: string;
  client: string;
  /** How a message names the key: `sk-convergence-…abcd`, or the key id of a hashed row. Never the key. */
  hint: string;
  active: boolean;
  /** First instant the key is expired; null: never; undefined: unparseable. */
  expiresAt: number | null | undefined;
  period: QuotaPeriod | null;
  tokenQuota: number | null;
  requestQuota: number | null;
  contactEmail: string;
  notified: string;
}

export interface PeriodUse {
  period: QuotaPeriod;
  start: string;
  end: string;
  requests: number;
  tokens: number;
}

/** A quota cell: blank or not a positive number is no quota. */
function quotaValue(value: unknown): number | null {
  const text = String(value ?? '').trim();
  if (text === '') return null;
  const n = Number(text);
  return Number.isFinite(n) && n > 0 ? n : null;
}

export function keyViews(rows: readonly unknown[][], columns: Columns, timeZone: string): KeyView[] {
  const views: KeyView[] = [];
  rows.forEach((row, index) => {
    const keyId = rowKeyId(row, columns);
    if (keyId === null) return;
    const key = String(cell(row, columns, 'api_key')).trim();
    const expiry = parseExpiry(cell(row, columns, 'expires_at'), timeZone);
    views.push({
      index, keyId,
      client: String(cell(row, columns, 'client_name')).trim(),
      hint: key !== '' ? maskKey(key) : `key id ${keyId}`,
      active: isActiveValue(cell(row, columns, 'is_active')),
      expiresAt: expiry.ok ? expiry.expiresAt : undefined,
      period: parsePeriod(cell(row, columns, 'quota_period')),
      tokenQuota: quotaValue(cell(row, columns, 'token_quota')),
      requestQuota: quotaValue(cell(row, columns, 'request_quota')),
      contactEmail: String(cell(row, columns, 'contact_email')).trim(),
      notified: String(cell(row, columns, 'notified')).trim(),
    });
  });
  return views;
}

/** Client of every key id in the state: the keys tab's client_name, else what the gateway wrote. */
export function clientsByKey(state: UsageState, views: readonly KeyView[]): Map<string, string> {
  const clients = new Map<string, string>();
  for (const [keyId, totals] of Object.entries(state.keys)) clients.set(keyId, totals.client.trim());
  for (const view of views) clients.set(view.keyId, view.client);
  return clients;
}

/** Per client and period: requests and tokens since the period began (today included). */
export function periodUse(state: UsageState, clients: Map<string, string>, today: string) {
  const cache = new Map<string, PeriodUse>();
  return (client: string, period: QuotaPeriod): PeriodUse => {
    const id = `${period}\u0000${client}`;
    let use = cache.get(id);
    if (!use) {
      use = { period, start: periodStart(today, period), end: periodEnd(today, period), requests: 0, tokens: 0 };
      for (const [day, byKey] of Object.entries(state.days)) {
        if (day < use.start || day > today) continue;
        for (const [keyId, counts] of Object.entries(byKey)) {
          if (clients.get(keyId) !== client) continue;
          use.requests += counts[0];
          use.tokens += counts[2] + counts[3];
        }
      }
      cache.set(id, use);
    }
    return use;
  };
}

/** Percent of a quota used, one decimal; null without a quota. */
export function percentOf(used: number, quota: number | null): number | null {
  return quota === null ? null : Math.round((used / quota) * 1000) / 10;
}
