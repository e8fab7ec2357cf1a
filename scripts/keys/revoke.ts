import { describeKey, reloadNotice, type Context, loadRows } from './context.ts';
import { select, type Selector } from './select.ts';

/** `revoke`: is_active FALSE on every key the selector names (all keys of a client with --name). */
export async function revokeCommand(ctx: Context, sel: Selector): Promise<void> {
  const { data, views } = await loadRows(ctx);
  const matches = select(views, sel, 'revoke');
  const who = sel.name !== undefined ? `client "${sel.name}"` : `key id ${sel.keyId}`;
  const targets = matches.filter((v) => v.isActive);
  if (targets.length === 0) {
    ctx.print(`Nothing to revoke: ${matches.length === 1 ? 'the key' : `all ${matches.length} keys`} of ${who} ${matches.length === 1 ? 'is' : 'are'} already inactive.`);
    return;
  }
  await ctx.table.apply(data, { updates: targets.map((v) => ({ row: v.row, cells: { is_active: false } })) });
  ctx.print(`Revoked ${targets.length} key${targets.length === 1 ? '' : 's'} of ${who} in ${ctx.table.description} (is_active set to FALSE):`);
  for (const v of targets) ctx.print(`  ${describeKey(v)}${v.clientName && sel.name === undefined ? `, client ${v.clientName}` : ''}`);
  const already = matches.length - targets.length;
  if (already) ctx.print(`${already} more ${already === 1 ? 'was' : 'were'} already inactive.`);
  ctx.print(`\n${reloadNotice(ctx.config)}`);
}
