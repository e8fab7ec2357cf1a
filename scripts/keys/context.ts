import { DateTime } from 'luxon';
import type { Config } from '../../server/config.ts';
import { HeaderError } from '../../server/keys/rows.ts';
import { viewRows, type KeyRowView } from '../../server/keytable/rows.ts';
import { TableError, type KeyTable, type TableData } from '../../server/keytable/table.ts';
import type { UsageHistory } from '../../server/usage/history.ts';

/** What every command gets: the configuration, the key source, where to print, the clock. */
export interface Context {
  config: Config;
  table: KeyTable;
  /** The usage record (for quota use), opened only by the commands that read it. */
  history?: () => Promise<UsageHistory>;
  /** One line (or block) of normal output, to stdout. */
  print(text?: string): void;
  now(): number;
}

export async function loadRows(ctx: Context): Promise<{ data: TableData; views: KeyRowView[] }> {
  const data = await ctx.table.read();
  try {
    return { data, views: viewRows(data, { now: ctx.now(), defaultRateLimit: ctx.config.RATE_LIMIT_DEFAULT }) };
  } catch (err) {
    if (err instanceof HeaderError) throw new TableError(`${ctx.table.description}: ${err.message}; set it up with: npm run keys -- init`);
    throw err;
  }
}

export function formatInstant(ms: number, timeZone: string): string {
  return DateTime.fromMillis(ms, { zone: timeZone }).toFormat('yyyy-MM-dd HH:mm:ss');
}

/** `2026-12-31` for a day (valid through it), else the instant the key is expired from. */
export function formatExpiry(view: Pick<KeyRowView, 'expiresAt' | 'expiresOnDay'>, timeZone: string): string {
  if (view.expiresAt === null) return 'never';
  if (view.expiresOnDay) return DateTime.fromMillis(view.expiresAt - 1, { zone: timeZone }).toISODate()!;
  return formatInstant(view.expiresAt, timeZone);
}

/** `sk-convergence-…abcd (key id 0123456789abcdef, row 4)`: how messages name a key. */
export function describeKey(view: Pick<KeyRowView, 'label' | 'keyId' | 'row'>): string {
  const parts = [view.keyId ? `key id ${view.keyId}` : null, `row ${view.row}`].filter(Boolean).join(', ');
  return `${view.label || 'key'} (${parts})`;
}

function gatewayUrl(config: Config): string {
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
  return `http://${host}:${config.PORT}`;
}

/** After a write: when the gateway sees it, and how to make it see it now. */
export function reloadNotice(config: Config): string {
  const lines = [
    `The gateway sees this within ${config.API_KEY_CACHE_DURATION} s (API_KEY_CACHE_DURATION) plus one load of the key source.`,
    'To apply it at once, ask the gateway to reload its keys:',
    `  curl -X POST -H "Authorization: Bearer $ADMIN_API_KEY" ${gatewayUrl(config)}/admin/reload-keys`,
  ];
  if (!config.ADMIN_API_KEY) lines.push('  (ADMIN_API_KEY must be set on the gateway: without it /admin/* answers 403)');
  return lines.join('\n');
}

/** Finds rows by client name; when none match exactly, suggests a name that differs only in case. */
export function byName(views: readonly KeyRowView[], name: string): KeyRowView[] {
  const found = views.filter((v) => v.clientName === name);
  if (found.length) return found;
  const near = views.find((v) => v.clientName.toLowerCase() === name.toLowerCase());
  throw new TableError(`no key for client "${name}"${near ? ` (did you mean "${near.clientName}"?)` : ''}; see: npm run keys -- list`);
}

export function byKeyId(views: readonly KeyRowView[], keyId: string): KeyRowView[] {
  const found = views.filter((v) => v.keyId === keyId);
  if (!found.length) throw new TableError(`no key with key id ${keyId}; see: npm run keys -- list`);
  return found;
}
