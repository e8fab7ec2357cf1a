import { HASH_COLUMN, HINT_COLUMN } from '../../server/keytable/keys.ts';
import type { RowUpdate } from '../../server/keytable/table.ts';
import { MIN_KEY_LENGTH } from '../../server/keys/rows.ts';
import { describeKey, loadRows, reloadNotice, type Context } from './context.ts';

export interface HashOptions {
  dryRun: boolean;
}

/**
 * `hash-existing`: every plain api_key replaced by its SHA-256 and a hint, in one write (one
 * rename of the file, one batched Sheets update). Clients keep their keys: the gateway looks keys
 * up by hash either way.
 */
export async function hashExistingCommand(ctx: Context, opts: HashOptions): Promise<void> {
  const { data, views } = await loadRows(ctx);
  const updates: RowUpdate[] = [];
  const skipped: string[] = [];
  for (const v of views.filter((x) => x.plainKeyLength > 0)) {
    // A hashed row has no length rule: hashing a short key would let it in.
    if (v.plainKeyLength < MIN_KEY_LENGTH) {
      skipped.push(`row ${v.row}: api_key is shorter than ${MIN_KEY_LENGTH} characters (rejected either way; replace it)`);
    } else if (v.storedHash && v.storedHash !== v.keyHash) {
      skipped.push(`row ${v.row}: api_key and api_key_sha256 disagree; keep the right one by hand`);
    } else {
      updates.push({ row: v.row, cells: { api_key: '', [HASH_COLUMN]: v.keyHash!, [HINT_COLUMN]: v.label } });
    }
  }
  const rowsOf = (n: number) => `${n} key${n === 1 ? '' : 's'}`;
  if (updates.length === 0) {
    ctx.print(`No plain keys to hash in ${ctx.table.description}.`);
  } else if (opts.dryRun) {
    ctx.print(`Would hash ${rowsOf(updates.length)} in ${ctx.table.description} (dry run, nothing written):`);
    for (const u of updates) ctx.print(`  ${describeKey(views.find((v) => v.row === u.row)!)}`);
  } else {
    const result = await ctx.table.apply(data, { updates });
    ctx.print(`Hashed ${rowsOf(updates.length)} in ${ctx.table.description}: api_key cleared, ${HASH_COLUMN} and ${HINT_COLUMN} written.`);
    if (result.addedColumns.length) ctx.print(`Added columns: ${result.addedColumns.join(', ')}.`);
    ctx.print('Clients keep using the same keys; the key source no longer holds them.');
  }
  for (const line of skipped) ctx.print(`Skipped ${line}.`);
  if (updates.length && !opts.dryRun) ctx.print(`\n${reloadNotice(ctx.config)}`);
}
