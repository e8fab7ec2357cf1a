import type { KeyRowView } from '../../server/keytable/rows.ts';
import { currentPeriods, periodAt } from '../../server/quota/period.ts';
import { totalsKey, type UsageTotals } from '../../server/usage/history.ts';
import { formatExpiry, loadRows, type Context } from './context.ts';

interface QuotaUse {
  period: KeyRowView['quotaPeriod'];
  period_end: string;
  tokens: { used: number; limit: number } | null;
  requests: { used: number; limit: number } | null;
}

/**
 * Each client's use of its quota this period, from the usage rows (the gateway's own seeding
 * reader). It lags what the gateway counts live by the rows not written yet.
 */
async function quotaUse(ctx: Context, views: KeyRowView[]): Promise<((v: KeyRowView) => QuotaUse | null) | null> {
  if (!ctx.history || !views.some((v) => v.tokenQuota !== null || v.requestQuota !== null)) return () => null;
  let totals: UsageTotals;
  let zone: string;
  const now = ctx.now();
  try {
    ({ totals, timeZone: zone } = await (await ctx.history()).totals((z) => currentPeriods(now, z)));
  } catch (err) {
    ctx.print(`Quota use unavailable: cannot read the usage rows (${(err as Error).message}).`);
    return null;
  }
  return (v) => {
    if (v.tokenQuota === null && v.requestQuota === null) return null;
    const period = periodAt(v.quotaPeriod, now, zone);
    const t = totals.get(totalsKey(v.clientName.trim(), period.key)) ?? { tokens: 0, requests: 0 };
    return {
      period: v.quotaPeriod,
      period_end: new Date(period.endMs).toISOString(),
      tokens: v.tokenQuota === null ? null : { used: t.tokens, limit: v.tokenQuota },
      requests: v.requestQuota === null ? null : { used: t.requests, limit: v.requestQuota },
    };
  };
}

function percent(used: number, limit: number): string {
  return `${Math.floor((used / limit) * 100)}%`;
}

function quotaCell(q: QuotaUse | null): string {
  if (!q) return '-';
  const parts = [
    q.tokens ? `${q.tokens.used}/${q.tokens.limit} tokens (${percent(q.tokens.used, q.tokens.limit)})` : null,
    q.requests ? `${q.requests.used}/${q.requests.limit} requests (${percent(q.requests.used, q.requests.limit)})` : null,
  ].filter(Boolean);
  return `${parts.join(', ')} this ${q.period}`;
}

export interface ListOptions {
  json: boolean;
  name?: string;
}

function limitText(v: KeyRowView, defaultLimit: number): string {
  if (v.rateLimit === null) return '-';
  const n = v.rateLimit === 0 ? 'unlimited' : String(v.rateLimit);
  return v.rateLimitIsDefault && defaultLimit === v.rateLimit ? `${n} (default)` : n;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

/** `list`: every key with its status as the gateway sees it now; keys masked, never shown. */
export async function listCommand(ctx: Context, opts: ListOptions): Promise<void> {
  const { data, views: all } = await loadRows(ctx);
  const views = opts.name === undefined ? all : all.filter((v) => v.clientName === opts.name);
  const zone = data.timeZone;
  const useOf = await quotaUse(ctx, views);
  if (opts.json) {
    const keys = views.map((v) => ({
      row: v.row,
      key_id: v.keyId,
      key: v.label,
      hashed: v.hashed,
      client_name: v.clientName,
      status: v.status,
      reason: v.reason,
      rate_limit: v.rateLimit,
      rate_limit_default: v.rateLimitIsDefault,
      expires_at: v.expiresAt === null ? null : new Date(v.expiresAt).toISOString(),
      quota: useOf?.(v) ?? null,
    }));
    ctx.print(JSON.stringify({ source: ctx.table.description, time_zone: zone, keys }, null, 2));
    return;
  }
  if (views.length === 0) {
    ctx.print(`No keys${opts.name === undefined ? '' : ` for client "${opts.name}"`} in ${ctx.table.description}.`);
    return;
  }
  const rows = [['ROW', 'KEY ID', 'KEY', 'CLIENT', 'STATUS', 'LIMIT', `EXPIRES (${zone})`, 'QUOTA USE (usage rows)']];
  for (const v of views) {
    const quota = useOf ? quotaCell(useOf(v)) : v.tokenQuota !== null || v.requestQuota !== null ? '?' : '-';
    rows.push([String(v.row), v.keyId ?? '-', v.label || '-', v.clientName || '-', v.status, limitText(v, ctx.config.RATE_LIMIT_DEFAULT), formatExpiry(v, zone), quota]);
  }
  for (const line of table(rows)) ctx.print(line);
  const counts = (['active', 'expired', 'inactive', 'rejected'] as const)
    .map((s) => [s, views.filter((v) => v.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  ctx.print(`\n${views.length} key${views.length === 1 ? '' : 's'}: ${counts.join(', ')} (${ctx.table.description}).`);
  for (const v of views.filter((x) => x.reason)) ctx.print(`Row ${v.row} is rejected by the gateway: ${v.reason}.`);
}
