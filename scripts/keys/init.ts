import { reloadNotice, type Context } from './context.ts';

/** `init`: the keys and usage tabs (or files) with their headers. Running it again changes nothing. */
export async function initCommand(ctx: Context): Promise<void> {
  const result = await ctx.table.init();
  ctx.print(`Key source: ${ctx.table.description}`);
  for (const line of result.lines) ctx.print(`  ${line}`);
  if (result.changedKeys) ctx.print(`\n${reloadNotice(ctx.config)}`);
  else ctx.print('Nothing to change.');
}
