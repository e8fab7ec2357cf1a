/**
 * Scenario 1, Redis killed under load: two gateways share a redis-server (limits, quotas, usage);
 * steady chat traffic with streams through both; redis-server is killed (SIGKILL) a third of the
 * way in and started again two thirds in. The gateways must keep serving (per-replica limits),
 * answer no 5xx of their own, never crash, and count usage at most once.
 */
import { hasStackTrace, Parts, readUsageFile } from './parts.ts';
import { startLoad } from './load.ts';
import { Result, tokens } from './report.ts';
import { sleep } from './traffic.ts';

export interface RedisKillOptions {
  seconds?: number;
  workers?: number;
  /** Redis with an fsynced append-only file (default), as docs/usage.md asks; false: none. */
  aof?: boolean;
}

export async function redisKillScenario(opts: RedisKillOptions = {}): Promise<Result> {
  const seconds = opts.seconds ?? 9;
  const aof = opts.aof ?? true;
  const result = new Result(`1${aof ? '' : 'n'}. Redis killed (SIGKILL) under load and restarted, 2 gateways, Redis ${aof ? 'with AOF (appendfsync always)' : 'without persistence'}`);
  const parts = new Parts();
  try {
    const vllm = await parts.vllm({ chunkDelayMs: 20 });
    const redis = await parts.redis({ aof });
    const keys = parts.keysFile();
    const env = { ...keys.env, UPSTREAM_URL: vllm.url, REDIS_URL: redis.url, USAGE_FLUSH_INTERVAL: '1', USAGE_ROW_PERIOD: '2', SHUTDOWN_GRACE: '5' };
    const a = await parts.gateway({ ...env, INSTANCE_ID: 'faults-a' });
    const b = await parts.gateway({ ...env, INSTANCE_ID: 'faults-b' });
    let exitedEarly = 0;
    for (const g of [a, b]) void g.gw.exited.then(() => void (stopping || (exitedEarly += 1)));
    let stopping = false;
    const phases = { before: 0, down: 0, after: 0 };
    let phase: keyof typeof phases = 'before';
    const load = startLoad({ urls: [a.url, b.url], workers: opts.workers ?? 6, streamEvery: 4, maxTokens: 16, maxRequests: 20_000, onAnswer: (x) => void (x.status === 200 && (phases[phase] += 1)) });
    await sleep((seconds * 1000) / 3);
    await redis.kill();
    phase = 'down';
    await sleep((seconds * 1000) / 3);
    await redis.restart();
    phase = 'after';
    await sleep((seconds * 1000) / 3);
    await load.stop();
    const statusAfter = (await (await fetch(`${a.url}/auth/status`)).json()) as { rate_limiter?: unknown };
    stopping = true;
    for (const g of [a, b]) g.gw.child.kill('SIGTERM');
    const exits = await Promise.all([a.gw.exited, b.gw.exited]);
    const peaks = [a.rss.stop(), b.rss.stop()];
    await sleep(200);
    const usage = readUsageFile(keys.usagePath);
    const generated = vllm.tokens;
    const tally = load.tally;

    result.figure('requests sent', tally.sent);
    result.figure('answers by status', tally.statusLine());
    result.figure('served before / while down / after restart', `${phases.before} / ${phases.down} / ${phases.after}`);
    result.figure('slowest answer', `${load.slowestMs} ms`);
    result.figure('rate limiter after the restart (gateway a)', JSON.stringify(statusAfter.rate_limiter));
    result.figure('tokens answered to clients', tokens(tally.tokens));
    result.figure('tokens the stand-in generated', tokens(generated));
    result.figure('tokens metered (usage file, de-duplicated)', tokens(usage));
    result.figure('usage rows raw / de-duplicated', `${usage.rawRows} / ${usage.dedupRows}; requests counted ${usage.requests}, served ${tally.served}`);
    result.figure('peak RSS a / b', `${peaks[0]!.toFixed(0)} / ${peaks[1]!.toFixed(0)} MB`);
    result.check('no stack trace in either gateway log', !hasStackTrace([...a.gw.stdout, ...a.gw.stderr, ...b.gw.stdout, ...b.gw.stderr]));
    result.check('served while Redis was down', phases.down > 0, `${phases.down}`);
    result.check('no 5xx of the gateway, no dropped connection', tally.gatewayFaults.length === 0, tally.gatewayFaults.slice(0, 3).join('; '));
    result.check('neither gateway crashed; both exited 0 on SIGTERM', exitedEarly === 0 && exits.every((e) => e === 0), `early exits ${exitedEarly}, codes ${exits.join(', ')}`);
    result.check('usage counted at most once', usage.requests <= tally.served && usage.completion_tokens <= generated.completion_tokens && usage.prompt_tokens <= generated.prompt_tokens, `${usage.requests} <= ${tally.served}`);
    // Without persistence, counts pushed to Redis and not yet written die with it (docs/usage.md).
    if (aof) result.check('usage complete: metered = generated, counted = served', usage.requests === tally.served && usage.completion_tokens === generated.completion_tokens && usage.prompt_tokens === generated.prompt_tokens, `${tokens(usage)} vs ${tokens(generated)}`);
  } catch (err) {
    result.check('scenario ran', false, (err as Error).message);
  } finally {
    await parts.closeAll();
  }
  return result.done();
}
