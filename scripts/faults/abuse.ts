/**
 * Scenario 4, oversized and malformed input: concurrent 24 MiB bodies against a small
 * MAX_BUFFERED_BYTES, bodies JavaScript and Python read differently, broken percent-escapes, and
 * vLLM's operational routes. Every answer must be a clear 4xx (or 503 gateway_busy), never a 500;
 * the gateway logs no stack trace; nothing reaches the stand-in's operational routes; whatever was
 * served is metered exactly as generated.
 */
import { Parts, hasStackTrace, readUsageFile } from './parts.ts';
import { Result, same, tokens } from './report.ts';
import { send, Tally, type Answer } from './traffic.ts';

const MiB = 1024 * 1024;
const CHAT = '"model":"demo-model","messages":[{"role":"user","content":"a b c"}]';

interface Probe {
  name: string;
  method?: string;
  path?: string;
  body?: Buffer | string | null;
  headers?: Record<string, string>;
  /** vLLM reads it as the gateway does, so serving it (metered) is a right answer too. */
  mayServe?: boolean;
}

export const PROBES: Probe[] = [
  { name: 'truncated JSON', body: `{${CHAT},"max_tokens":` },
  { name: 'JSON array, not an object', body: '[1,2,3]' },
  { name: 'empty body', body: '' },
  { name: 'UTF-8 BOM before the object', body: `\uFEFF{${CHAT},"max_tokens":3}` },
  { name: 'UTF-16 body', body: Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`{${CHAT},"max_tokens":3}`, 'utf16le')]) },
  { name: 'NaN max_tokens', body: `{${CHAT},"max_tokens":NaN}` },
  { name: 'Infinity max_tokens', body: `{${CHAT},"max_tokens":Infinity}` },
  { name: 'duplicate max_tokens (last wins in Python)', body: `{${CHAT},"max_tokens":2,"max_tokens":900}` },
  { name: 'duplicate model', body: `{"model":"other","messages":[{"role":"user","content":"a"}],"model":"demo-model","max_tokens":2}` },
  { name: 'duplicate stream', body: `{${CHAT},"max_tokens":2,"stream":false,"stream":true}` },
  { name: 'stream "yes"', body: `{${CHAT},"max_tokens":3,"stream":"yes"}`, mayServe: true },
  { name: 'stream 1', body: `{${CHAT},"max_tokens":3,"stream":1}`, mayServe: true },
  { name: 'stream "true"', body: `{${CHAT},"max_tokens":3,"stream":"true"}`, mayServe: true },
  { name: 'stream "on"', body: `{${CHAT},"max_tokens":3,"stream":"on"}`, mayServe: true },
  { name: 'max_tokens "7"', body: `{${CHAT},"max_tokens":"7"}`, mayServe: true },
  { name: 'max_tokens 7.0', body: `{${CHAT},"max_tokens":7.0}`, mayServe: true },
  { name: 'Stream (wrong case) key', body: `{${CHAT},"max_tokens":3,"Stream":true}`, mayServe: true },
  { name: 'bad escape in a JSON string', body: `{"model":"demo-model","messages":[{"role":"user","content":"\\x41"}],"max_tokens":2}` },
  { name: 'lone surrogate escape', body: `{"model":"demo-model","messages":[{"role":"user","content":"\\ud800"}],"max_tokens":2}`, mayServe: true },
  { name: 'nesting 100000 deep', body: `{${CHAT},"max_tokens":2,"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}` },
  { name: 'text/plain content type', body: `{${CHAT},"max_tokens":2}`, headers: { 'content-type': 'text/plain' }, mayServe: true },
  { name: 'body over MAX_REQUEST_BODY_BYTES', body: Buffer.alloc(26 * MiB, 0x20) },
  { name: 'GET /v1/models/%E0%A4%A', method: 'GET', path: '/v1/models/%E0%A4%A', body: null },
  { name: 'GET /v1/models/%', method: 'GET', path: '/v1/models/%', body: null },
  { name: 'POST /v1/chat%2Fcompletions', path: '/v1/chat%2Fcompletions', body: `{${CHAT},"max_tokens":2}` },
  { name: 'POST /v1/chat/completions%00', path: '/v1/chat/completions%00', body: `{${CHAT},"max_tokens":2}` },
  { name: 'POST /v1/%2e%2e/metrics', path: '/v1/%2e%2e/metrics', body: '{}' },
  { name: 'GET /v1/../metrics', method: 'GET', path: '/v1/../metrics', body: null },
  { name: 'GET //metrics', method: 'GET', path: '//metrics', body: null },
  { name: 'GET /metrics/', method: 'GET', path: '/metrics/', body: null },
  { name: 'GET /metrics/x', method: 'GET', path: '/metrics/x', body: null },
  { name: 'GET /metrics%2F', method: 'GET', path: '/metrics%2F', body: null },
  { name: 'GET /%6Detrics', method: 'GET', path: '/%6Detrics', body: null },
  { name: 'POST /metrics', path: '/metrics', body: '{}' },
  { name: 'POST /sleep?level=1', path: '/sleep?level=1', body: '{}' },
  { name: 'POST /%73leep', path: '/%73leep', body: '{}' },
  { name: 'POST /wake_up', path: '/wake_up', body: '{}' },
  { name: 'POST /collective_rpc', path: '/collective_rpc', body: '{"method":"execute_model"}' },
  { name: 'POST /v1/load_lora_adapter', path: '/v1/load_lora_adapter', body: '{"lora_name":"x","lora_path":"/tmp"}' },
  { name: 'POST /scale_elastic_ep', path: '/scale_elastic_ep', body: '{}' },
];

export interface AbuseOptions {
  /** Concurrent big bodies (6) and their size (24 MiB). */
  bigBodies?: number;
  bigMiB?: number;
  /** MAX_BUFFERED_BYTES for the run (64 MiB: room for two of them). */
  budgetMiB?: number;
}

/** A clear answer: a 4xx, or 503 gateway_busy with Retry-After; 200 only where `mayServe`. */
function clear(a: Answer, mayServe: boolean): boolean {
  if (a.status === 200) return mayServe && !a.cut;
  if (a.status === 503) return a.code === 'gateway_busy' && a.headers['retry-after'] !== undefined;
  return a.status >= 400 && a.status < 500;
}

export async function abuseScenario(opts: AbuseOptions = {}): Promise<Result> {
  const result = new Result('4. oversized and malformed bodies');
  const bigBodies = opts.bigBodies ?? 6;
  const bigMiB = opts.bigMiB ?? 24;
  const budget = (opts.budgetMiB ?? 64) * MiB;
  const parts = new Parts();
  try {
    const vllm = await parts.vllm();
    const keys = parts.keysFile();
    const { gw, url, rss } = await parts.gateway({ ...keys.env, UPSTREAM_URL: vllm.url, MAX_BUFFERED_BYTES: String(budget), USAGE_FLUSH_INTERVAL: '3600', SHUTDOWN_GRACE: '2' });
    const tally = new Tally();
    tally.add(await send(url, `{${CHAT},"max_tokens":1}`)); // warm: the idle RSS is taken after one request
    const idleMb = rss.nowMb();

    // The big bodies at once: two fit the budget, the others wait their turn or hear 503.
    const filler = 'x'.repeat(bigMiB * MiB - 200);
    const big = Buffer.from(JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: filler }], max_tokens: 1 }));
    const bigAnswers = await Promise.all(Array.from({ length: bigBodies }, () => send(url, big)));
    const bigPeak = rss.read();
    const unclear: string[] = [];
    for (const a of bigAnswers) {
      tally.add(a);
      if (!clear(a, true)) unclear.push(`big body: ${a.status} ${a.code}`);
    }
    const outcome = new Map<string, string[]>();
    for (const p of PROBES) {
      const a = tally.add(await send(url, p.body ?? null, { method: p.method, path: p.path, headers: p.headers }));
      if (!clear(a, p.mayServe ?? false)) unclear.push(`${p.name}: ${a.status} ${a.code || a.body.slice(0, 80)}`);
      const label = `${a.status} ${a.code || (a.status === 200 ? 'served' : 'from the stand-in')}`;
      outcome.set(label, [...(outcome.get(label) ?? []), p.name]);
    }
    // The probes again, all at once, to see them hold under concurrency too.
    const again = await Promise.all(PROBES.map((p) => send(url, p.body ?? null, { method: p.method, path: p.path, headers: p.headers })));
    again.forEach((a, i) => {
      tally.add(a);
      if (!clear(a, PROBES[i]!.mayServe ?? false)) unclear.push(`${PROBES[i]!.name} (concurrent): ${a.status} ${a.code}`);
    });
    await new Promise((r) => setTimeout(r, 200)); // the stand-in's tally settles after its last answer
    gw.child.kill('SIGTERM');
    const exit = await gw.exited;
    const peak = rss.stop();
    const usage = readUsageFile(keys.usagePath);
    const generated = vllm.tokens;
    const log = [...gw.stdout, ...gw.stderr];

    const boundMb = idleMb + (2 * budget) / MiB + 64;
    result.figure('requests sent', `${tally.sent} (warm-up, ${bigBodies} big, ${PROBES.length} probes one by one, then all at once)`);
    result.figure('answers by status', tally.statusLine());
    result.figure(`${bigBodies} x ${bigMiB} MiB bodies`, bigAnswers.map((a) => `${a.status}${a.code ? ` ${a.code}` : ''}`).join(', '));
    result.figure('probes one by one:', '');
    for (const [label, names] of [...outcome.entries()].sort()) result.figure(`  ${label}`, names.join('; '));
    result.figure('tokens metered (usage file)', tokens(usage));
    result.figure('tokens the stand-in generated', tokens(generated));
    // The gateway counts every request it forwarded, those vLLM refused (400) included.
    const forwarded = vllm.requests.filter((r) => r.path === '/v1/chat/completions').length;
    result.figure('usage rows raw / de-duplicated', `${usage.rawRows} / ${usage.dedupRows}; requests counted ${usage.requests}, forwarded ${forwarded}, served ${tally.served}`);
    result.figure('RSS idle / peak with big bodies / peak', `${idleMb.toFixed(0)} / ${bigPeak.toFixed(0)} / ${peak.toFixed(0)} MB (bound ${boundMb.toFixed(0)} MB)`);
    result.figure('stand-in ops routes reached', vllm.opsCalls.length ? vllm.opsCalls.join(', ') : 'none');
    result.check('every answer a clear 4xx or 503 gateway_busy (200 only where vLLM reads alike)', unclear.length === 0, unclear.slice(0, 6).join('; '));
    result.check('no 500 (no 5xx but gateway_busy) and no dropped connection', tally.gatewayFaults.length === 0, tally.gatewayFaults.slice(0, 3).join('; '));
    result.check('no stack trace in the gateway log', !hasStackTrace(log), log.filter((l) => hasStackTrace([l])).slice(0, 1).join('').slice(0, 300));
    result.check('nothing reached the stand-in ops routes', vllm.opsCalls.length === 0, vllm.opsCalls.join(', '));
    result.check('peak RSS within idle + 2 x MAX_BUFFERED_BYTES + 64 MiB', peak <= boundMb, `${peak.toFixed(0)} <= ${boundMb.toFixed(0)} MB`);
    result.check('at least two big bodies served', bigAnswers.filter((a) => a.status === 200).length >= Math.min(2, bigBodies));
    result.check('tokens metered equal tokens generated', same(usage, generated), `${tokens(usage)} vs ${tokens(generated)}`);
    result.check('requests counted equal requests forwarded to the stand-in', usage.requests === forwarded, `${usage.requests} vs ${forwarded}`);
    result.check('gateway exited 0 on SIGTERM', exit === 0, `exit ${exit}`);
  } catch (err) {
    result.check('scenario ran', false, (err as Error).message);
  } finally {
    await parts.closeAll();
  }
  return result.done();
}
