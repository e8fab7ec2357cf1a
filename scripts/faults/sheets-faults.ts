/**
 * Scenario 2, Sheets 429s and appends that land but answer after the timeout: the gateway writes
 * usage every second (USAGE_FLUSH_INTERVAL=1, USAGE_ROW_PERIOD=1) under load while appends fail
 * with 429 (it backs off 15-45 s); SIGTERM then makes it flush at once: one more 429, then an
 * append that lands but answers after the gateway's 15 s Sheets timeout, so the same rows are
 * sent again. A reader that counts each (flush_id, key_id) once must find exactly what was served.
 */
import { hasStackTrace, Parts, readUsage, SHEET_ID } from './parts.ts';
import { startLoad } from './load.ts';
import { Result, same, tokens } from './report.ts';
import { sleep } from './traffic.ts';

/** The gateway's Sheets timeout (server/keys/sheets-source.ts) plus a margin. */
const LATE_MS = 16_000;

export interface SheetsFaultOptions {
  /** Seconds of load (while the 429s are answered). */
  seconds?: number;
  workers?: number;
  /**
   * How a landed append fails: `late` answers after the 15 s timeout (the real case, 16 s per
   * run); `lost` cuts the connection once the rows are in (the same fault for the gateway, at once).
   */
  landedFailure?: 'late' | 'lost';
}

export async function sheetsFaultScenario(opts: SheetsFaultOptions = {}): Promise<Result> {
  const landed = opts.landedFailure ?? 'late';
  const result = new Result(`2. Sheets 429s and appends that land but fail (${landed === 'late' ? 'answered after the timeout' : 'answer lost'})`);
  const parts = new Parts();
  try {
    const vllm = await parts.vllm({ chunkDelayMs: 5 });
    // The write quota off: the 429s are the injected ones, so the run's length is known.
    const { sheets, env } = await parts.sheets({ writesPerMinute: Infinity });
    // The first append is refused for quota (the gateway then backs off 15-45 s).
    sheets.fail(429, 1, 'values.append');
    const { gw, url, rss } = await parts.gateway({ ...env, UPSTREAM_URL: vllm.url, USAGE_FLUSH_INTERVAL: '1', USAGE_ROW_PERIOD: '1', SHUTDOWN_GRACE: '2' });
    const load = startLoad({ urls: [url], workers: opts.workers ?? 4, streamEvery: 3, maxTokens: 12, maxRequests: 5_000 });
    await sleep((opts.seconds ?? 4) * 1000);
    await load.stop();
    const refusedBefore = sheets.calls.filter((c) => c.kind === 'values.append').length;
    // At shutdown the gateway flushes up to three times: a 429, then a try that lands but fails
    // for the gateway, then the same rows (same flush_ids) again.
    // The shutdown's flush tries (three) meet one more 429, then the landed-but-failed append.
    sheets.fail(429, 1, 'values.append');
    if (landed === 'late') sheets.lateSuccess(LATE_MS, 1);
    else sheets.lostAnswer(1);
    await sleep(100);
    gw.child.kill('SIGTERM');
    const exit = await gw.exited;
    const peak = rss.stop();
    if (landed === 'late') await sleep(LATE_MS - 15_000 + 500); // the held answer has gone out (or not) by now
    const appends = sheets.count('values.append');
    const usage = readUsage(sheets.tab(SHEET_ID, 'Usage'));
    const generated = vllm.tokens;
    const tally = load.tally;

    result.figure('requests sent', tally.sent);
    result.figure('answers by status', tally.statusLine());
    result.figure('Sheets appends tried', `${appends}: ${refusedBefore} during the load (429), then at shutdown 1 refused (429), 1 ${landed === 'late' ? `landed, answered after ${LATE_MS / 1000} s` : 'landed, answer lost'}, ${appends - refusedBefore - 2} clean`);
    result.figure('usage rows raw / de-duplicated', `${usage.rawRows} / ${usage.dedupRows}`);
    result.figure('requests served / counted (de-duplicated)', `${tally.served} / ${usage.requests}`);
    result.figure('tokens answered to clients', tokens(tally.tokens));
    result.figure('tokens the stand-in generated', tokens(generated));
    result.figure('tokens metered (Usage tab, de-duplicated)', tokens(usage));
    result.figure('peak RSS', `${peak.toFixed(0)} MB`);
    result.check('two 429s and a landed-but-failed append happened (duplicate rows in the tab)', appends >= 4 && usage.rawRows > usage.dedupRows, `${appends} appends, ${usage.rawRows} raw rows`);
    result.check('requests counted once = requests served', usage.requests === tally.served, `${usage.requests} vs ${tally.served}`);
    result.check('tokens metered = tokens generated = tokens answered', same(usage, generated) && same(generated, tally.tokens), `${tokens(usage)} / ${tokens(generated)} / ${tokens(tally.tokens)}`);
    result.check('every request served (no 5xx)', tally.served === tally.sent && tally.gatewayFaults.length === 0, tally.statusLine());
    result.check('no stack trace in the gateway log', !hasStackTrace([...gw.stdout, ...gw.stderr]));
    result.check('gateway exited 0 on SIGTERM', exit === 0, `exit ${exit}`);
  } catch (err) {
    result.check('scenario ran', false, (err as Error).message);
  } finally {
    await parts.closeAll();
  }
  return result.done();
}
