import { ceilToSecond } from '../../server/keytable/input.ts';
import { generateKey, keyCells } from '../../server/keytable/keys.ts';
import { headerNames, isBlankCell } from '../../server/keytable/header.ts';
import type { KeyRowView } from '../../server/keytable/rows.ts';
import { TableError, type CellInput, type TableData } from '../../server/keytable/table.ts';
import { keyId } from '../../server/keys/keyid.ts';
import { showKey } from './add.ts';
import { describeKey, formatInstant, loadRows, reloadNotice, type Context } from './context.ts';
import { select, type Selector } from './select.ts';

export const DEFAULT_GRACE = '24h';

export interface RotateOptions extends Selector {
  graceMs: number;
  hashed: boolean;
  quiet: boolean;
  /** New quota values for the new key's row; unset: copied from the old row. */
  tokenQuota?: number;
  requestQuota?: number;
  quotaPeriod?: 'day' | 'week' | 'month';
}

/** Policy cells the new key inherits from the old row, as they are. */
const COPIED = ['rate_limit', 'allowed_models', 'tpm_limit', 'token_quota', 'request_quota', 'quota_period'] as const;

/** The quota options given, as cells that replace the copied ones. */
function quotaOverrides(opts: RotateOptions): Record<string, CellInput> {
  const out: Record<string, CellInput> = {};
  if (opts.tokenQuota !== undefined) out.token_quota = opts.tokenQuota;
  if (opts.requestQuota !== undefined) out.request_quota = opts.requestQuota;
  if (opts.quotaPeriod !== undefined) out.quota_period = opts.quotaPeriod;
  return out;
}

function copiedCells(data: TableData, row: number): Record<string, CellInput> {
  const names = headerNames(data.values);
  const cells = data.values[row - 1] ?? [];
  const out: Record<string, CellInput> = {};
  for (const name of COPIED) {
    const value = cells[names.indexOf(name)];
    if (names.includes(name) && !isBlankCell(value)) out[name] = typeof value === 'number' || typeof value === 'boolean' ? value : String(value);
  }
  return out;
}

/** The one key to rotate: active and unexpired, else a message saying why not. */
function pick(matches: KeyRowView[], sel: Selector): KeyRowView {
  const active = matches.filter((v) => v.status === 'active');
  if (sel.keyId !== undefined) {
    const v = matches[0]!;
    if (active.length !== 1) {
      throw new TableError(`the key with key id ${sel.keyId} is ${v.status}${v.reason ? ` (${v.reason})` : ''}: only an active, unexpired key can be rotated; give the client a new one with add`);
    }
    return active[0]!;
  }
  if (active.length === 0) {
    throw new TableError(`client "${sel.name}" has no active, unexpired key to rotate (${matches.length} inactive, expired or rejected); give it a new one with add`);
  }
  if (active.length > 1) {
    const ids = active.map((v) => v.keyId).join(', ');
    throw new TableError(`client "${sel.name}" has ${active.length} active keys (key ids ${ids}); choose one with --key-id`);
  }
  return active[0]!;
}

/**
 * `rotate`: a new key for the client (same limits, same expiry) and the old one expires after the
 * grace period, so clients switch without downtime. Rotation never lengthens the old key's life.
 */
export async function rotateCommand(ctx: Context, opts: RotateOptions): Promise<void> {
  const { data, views } = await loadRows(ctx);
  const old = pick(select(views, opts, 'rotate'), opts);
  const now = ctx.now();
  const graceEnd = ceilToSecond(now + opts.graceMs);
  const keepsOwnExpiry = old.expiresAt !== null && old.expiresAt <= graceEnd;
  const oldEnds = keepsOwnExpiry ? old.expiresAt! : graceEnd;
  const hashed = opts.hashed || old.hashed;
  const key = generateKey();
  const result = await ctx.table.apply(data, {
    appends: [{
      ...copiedCells(data, old.row),
      ...quotaOverrides(opts),
      ...keyCells(key, hashed),
      client_name: old.clientName,
      created_at: { instant: ceilToSecond(now) },
      expires_at: old.expiry,
      is_active: true,
    }],
    updates: keepsOwnExpiry ? [] : [{ row: old.row, cells: { expires_at: { instant: graceEnd } } }],
  });
  if (opts.quiet) {
    ctx.print(key);
    return;
  }
  const zone = data.timeZone;
  const row = result.appendedRows[0];
  ctx.print(`New key for ${old.clientName} in ${ctx.table.description}${row ? `, row ${row}` : ''} (key id ${keyId(key)}):`);
  ctx.print(showKey(key, hashed));
  const until = `${formatInstant(oldEnds, zone)} (${zone})`;
  ctx.print(`The old key ${describeKey(old)} keeps working until ${until}${keepsOwnExpiry ? ', its own expiry' : ''}; then it is expired.`);
  if (old.tokenQuota !== null || old.requestQuota !== null || opts.tokenQuota !== undefined || opts.requestQuota !== undefined) {
    ctx.print('The quota belongs to the client: both keys share the count of this period, the new key starts with nothing fresh.');
  }
  ctx.print(`\n${reloadNotice(ctx.config)}`);
  if (opts.graceMs < ctx.config.API_KEY_CACHE_DURATION * 1000) {
    ctx.print('Note: the grace period is shorter than API_KEY_CACHE_DURATION: reload the gateway now, or the old key may expire before the gateway knows the new one.');
  }
}
