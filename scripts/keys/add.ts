import { ceilToSecond, resolveExpires } from '../../server/keytable/input.ts';
import { generateKey, keyCells, maskKey } from '../../server/keytable/keys.ts';
import { keyId } from '../../server/keys/keyid.ts';
import type { CellInput } from '../../server/keytable/table.ts';
import { formatExpiry, loadRows, reloadNotice, type Context } from './context.ts';

export interface AddOptions {
  name: string;
  rateLimit?: number;
  expires?: string;
  hashed: boolean;
  quiet: boolean;
  tokenQuota?: number;
  requestQuota?: number;
  quotaPeriod?: 'day' | 'week' | 'month';
}

/** The quota cells of a new row: blank (no column added) for what was not asked for. */
export function quotaCells(opts: Pick<AddOptions, 'tokenQuota' | 'requestQuota' | 'quotaPeriod'>): Record<string, CellInput> {
  return { token_quota: opts.tokenQuota ?? '', request_quota: opts.requestQuota ?? '', quota_period: opts.quotaPeriod ?? '' };
}

/** `tokens 20000, requests 500 per month`, or null without a quota. */
export function quotaText(q: { tokenQuota: number | null; requestQuota: number | null; quotaPeriod: string }, timeZone: string): string | null {
  const parts = [q.tokenQuota !== null ? `${q.tokenQuota} tokens` : null, q.requestQuota !== null ? `${q.requestQuota} requests` : null].filter(Boolean);
  return parts.length ? `${parts.join(' and ')} per ${q.quotaPeriod} (${timeZone}), shared by every key of the client` : null;
}

/** The lines that show a new key once, for add and rotate. */
export function showKey(key: string, hashed: boolean): string {
  const stored = hashed
    ? `The key source holds only its SHA-256 (api_key_sha256) and the hint ${maskKey(key)}: it cannot show the key again.`
    : 'This command never shows it again (list shows it masked).';
  return ['', `  ${key}`, '', `Copy it now. ${stored}`].join('\n');
}

/** `add`: a new active key for a client, printed once. */
export async function addCommand(ctx: Context, opts: AddOptions): Promise<void> {
  const { data } = await loadRows(ctx);
  const now = ctx.now();
  const expiry = opts.expires ? resolveExpires(opts.expires, data.timeZone, now) : null;
  const key = generateKey();
  const result = await ctx.table.apply(data, {
    appends: [{
      ...keyCells(key, opts.hashed),
      client_name: opts.name,
      created_at: { instant: ceilToSecond(now) },
      expires_at: expiry?.cell ?? '',
      is_active: true,
      rate_limit: opts.rateLimit ?? '',
      ...quotaCells(opts),
    }],
  });
  if (opts.quiet) {
    ctx.print(key);
    return;
  }
  const { config } = ctx;
  const row = result.appendedRows[0];
  const window = `per ${config.RATE_LIMIT_WINDOW} s`;
  const limit = opts.rateLimit
    ? `${opts.rateLimit} requests ${window}`
    : config.RATE_LIMIT_DEFAULT === 0 ? 'unlimited (RATE_LIMIT_DEFAULT=0)' : `${config.RATE_LIMIT_DEFAULT} requests ${window} (RATE_LIMIT_DEFAULT)`;
  const expires = expiry ? `${formatExpiry({ expiresAt: expiry.expiresAt, expiresOnDay: expiry.onDay }, data.timeZone)} (${data.timeZone})` : 'never';
  ctx.print(`New key for ${opts.name} in ${ctx.table.description}${row ? `, row ${row}` : ''} (key id ${keyId(key)}):`);
  ctx.print(showKey(key, opts.hashed));
  ctx.print(`Rate limit: ${limit}. Expires: ${expires}.`);
  const quota = quotaText({ tokenQuota: opts.tokenQuota ?? null, requestQuota: opts.requestQuota ?? null, quotaPeriod: opts.quotaPeriod ?? 'month' }, data.timeZone);
  if (quota) ctx.print(`Quota: ${quota}.`);
  if (result.addedColumns.length) ctx.print(`Added columns: ${result.addedColumns.join(', ')}.`);
  ctx.print(`\n${reloadNotice(config)}`);
}
