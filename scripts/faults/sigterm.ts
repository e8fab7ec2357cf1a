/**
 * Scenario 3, SIGTERM with 200 streams open: 200 slow streams through one gateway, SIGTERM once
 * every one has started, a short SHUTDOWN_GRACE cuts them. The process must exit 0 and the usage
 * it wrote (de-duplicated) must match what the stand-in generated for those streams, cut ones
 * included: prompt tokens exactly, completion tokens short by at most what was in flight at the cut.
 */
import { hasStackTrace, Parts, readUsageFile } from './parts.ts';
import { Result, tokens } from './report.ts';
import { chatBody, send, sleep, Tally } from './traffic.ts';

export interface SigtermOptions {
  streams?: number;
  /** Tokens each stream would generate, one every `chunkDelayMs`. */
  maxTokens?: number;
  chunkDelayMs?: number;
  graceSeconds?: number;
}

export async function sigtermScenario(opts: SigtermOptions = {}): Promise<Result> {
  const count = opts.streams ?? 200;
  const grace = opts.graceSeconds ?? 1;
  const result = new Result(`3. SIGTERM with ${count} streams open (SHUTDOWN_GRACE=${grace})`);
  const parts = new Parts();
  try {
    // Its own process: in this one, busy with 200 clients, it would see each cut late.
    const vllm = await parts.vllmProcess(opts.chunkDelayMs ?? 100);
    const keys = parts.keysFile();
    const { gw, url, rss } = await parts.gateway({ ...keys.env, UPSTREAM_URL: vllm.url, SHUTDOWN_GRACE: String(grace), USAGE_FLUSH_INTERVAL: '3600' });
    const tally = new Tally();
    let started = 0;
    const body = chatBody({ maxTokens: opts.maxTokens ?? 100, stream: true });
    const answers = Array.from({ length: count }, () => {
      let first = true;
      return send(url, body, {
        timeoutMs: 60_000,
        onData: () => {
          if (first) started += 1;
          first = false;
        },
      }).then((a) => tally.add(a));
    });
    const deadline = Date.now() + 30_000;
    while (started < count && Date.now() < deadline) await sleep(20);
    const startedAtSignal = started;
    const signalledAt = Date.now();
    gw.child.kill('SIGTERM');
    const exit = await gw.exited;
    const exitSeconds = (Date.now() - signalledAt) / 1000;
    const peak = rss.stop();
    await Promise.all(answers);
    // The stand-in notices each cut at its next token.
    const settle = Date.now() + 5_000;
    let generated = await vllm.tokens();
    while (generated.abortedStreams + generated.completedStreams < count && Date.now() < settle) {
      await sleep(50);
      generated = await vllm.tokens();
    }
    const usage = readUsageFile(keys.usagePath);
    const cut = generated.abortedStreams;

    result.figure('streams opened / started before SIGTERM', `${count} / ${startedAtSignal}`);
    result.figure('answers by status', tally.statusLine());
    result.figure('streams cut / run to the end (stand-in)', `${cut} / ${generated.completedStreams}`);
    result.figure('exit after SIGTERM', `code ${exit} after ${exitSeconds.toFixed(1)} s`);
    result.figure('tokens the stand-in generated', tokens(generated));
    result.figure('tokens metered (usage file, de-duplicated)', tokens(usage));
    result.figure('usage rows raw / de-duplicated', `${usage.rawRows} / ${usage.dedupRows}; requests counted ${usage.requests}`);
    result.figure('peak RSS', `${peak.toFixed(0)} MB`);
    result.check(`all ${count} streams started before the signal`, startedAtSignal === count, `${startedAtSignal}`);
    result.check('no stack trace in the gateway log', !hasStackTrace([...gw.stdout, ...gw.stderr]));
    result.check('gateway exited 0 within SHUTDOWN_GRACE + a few seconds', exit === 0 && exitSeconds < grace + 10, `code ${exit}, ${exitSeconds.toFixed(1)} s`);
    result.check('streams were cut by the grace limit', cut > 0, `${cut} cut`);
    // A token the upstream sent in the last moments before the cut may still sit unread in the
    // gateway's socket when the grace ends: the cut discards it. So cut streams may be metered
    // short by what arrived in that instant; the suite measures it and holds it under one token
    // per cut stream (never over: nothing is counted that was not generated).
    const missing = generated.completion_tokens - usage.completion_tokens;
    result.figure('completion tokens generated but not metered', `${missing} (${((100 * missing) / Math.max(1, generated.completion_tokens)).toFixed(1)}%, ${(missing / Math.max(1, cut)).toFixed(2)} per cut stream)`);
    result.check('prompt tokens metered = generated', usage.prompt_tokens === generated.prompt_tokens, `${usage.prompt_tokens} vs ${generated.prompt_tokens}`);
    result.check('completion tokens never over-metered, short by under one token per cut stream', missing >= 0 && missing < Math.max(1, cut), `${missing} short over ${cut} cut streams`);
    result.check(`requests counted = ${count}`, usage.requests === count, `${usage.requests}`);
    result.check('every stream answered 200 before the cut', tally.byStatus.get('200') === count, tally.statusLine());
  } catch (err) {
    result.check('scenario ran', false, (err as Error).message);
  } finally {
    await parts.closeAll();
  }
  return result.done();
}
