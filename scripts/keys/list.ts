import type { KeyRowView } from '../../server/keytable/rows.ts';
import { formatExpiry, loadRows, type Context } from './context.ts';

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
    }));
    ctx.print(JSON.stringify({ source: ctx.table.description, time_zone: zone, keys }, null, 2));
    return;
  }
  if (views.length === 0) {
    ctx.print(`No keys${opts.name === undefined ? '' : ` for client "${opts.name}"`} in ${ctx.table.description}.`);
    return;
  }
  const rows = [['ROW', 'KEY ID', 'KEY', 'CLIENT', 'STATUS', 'LIMIT', `EXPIRES (${zone})`]];
  for (const v of views) {
    rows.push([String(v.row), v.keyId ?? '-', v.label || '-', v.clientName || '-', v.status, limitText(v, ctx.config.RATE_LIMIT_DEFAULT), formatExpiry(v, zone)]);
  }
  for (const line of table(rows)) ctx.print(line);
  const counts = (['active', 'expired', 'inactive', 'rejected'] as const)
    .map((s) => [s, views.filter((v) => v.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  ctx.print(`\n${views.length} key${views.length === 1 ? '' : 's'}: ${counts.join(', ')} (${ctx.table.description}).`);
  for (const v of views.filter((x) => x.reason)) ctx.print(`Row ${v.row} is rejected by the gateway: ${v.reason}.`);
}
