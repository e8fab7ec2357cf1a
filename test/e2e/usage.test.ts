import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';
import { USAGE_COLUMNS } from '../../server/usage/columns.ts';
import { startFakeVllm } from '../../scripts/fake-vllm.ts';
import type { FakeSheets } from '../support/fake-sheets.ts';
import { keysLoaded, spawnGateway } from '../support/process.ts';
import { bearer, eventually, HEADER, SHEET_ID, serviceAccount, startSheets, startStack, type Stack } from '../support/stack.ts';
import { writeServiceAccount } from '../support/service-account.ts';

const KEY = 'sk-convergence-eeeeeeee-0000-4000-8000-000000000001';
const OTHER = 'sk-convergence-eeeeeeee-0000-4000-8000-000000000002';

let stack: Stack | null = null;
afterEach(async () => {
  await stack?.close();
  stack = null;
});

function client(key = KEY): OpenAI {
  return new OpenAI({ apiKey: key, baseURL: `${stack!.url}/v1`, maxRetries: 0 });
}

async function rawStream(body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${stack!.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...bearer(KEY), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  return res.text();
}

type Row = Record<string, string | number | boolean>;
function usageRows(sheets: FakeSheets): Row[] {
  const [header, ...rows] = sheets.tab(SHEET_ID, 'Usage') ?? [];
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [String(h), r[i]!])));
}

describe('usage accounting', () => {
  it('counts requests, rate limits and tokens of JSON answers and streams, one append per flush', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, 4], [OTHER, 'Beta', '', '', true, '']], env: { INSTANCE_ID: 'replica-a' } });
    await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 4 });
    const hidden = await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a b c' }], max_tokens: 3, stream: true });
    for await (const _ of hidden) { /* drain */ }
    const kept = await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'x' }], max_tokens: 5, stream: true, stream_options: { include_usage: true } });
    let seenUsage = null;
    for await (const chunk of kept) if (chunk.usage) seenUsage = chunk.usage;
    expect(seenUsage).toMatchObject({ prompt_tokens: 1, completion_tokens: 5 });
    await client().completions.create({ model: 'demo-model', prompt: 'one two', max_tokens: 2 });
    expect((await fetch(`${stack.url}/v1/models`, { headers: bearer(KEY) })).status).toBe(429);
    await client(OTHER).models.list();

    expect(stack.sheets.tab(SHEET_ID, 'Usage')).toBeUndefined();
    expect(await stack.gateway.usage!.flush()).toBe(true);
    expect(stack.sheets.count('values.append')).toBe(1);
    expect(stack.sheets.tab(SHEET_ID, 'Usage')![0]).toEqual([...USAGE_COLUMNS]);
    const rows = usageRows(stack.sheets);
    expect(rows).toHaveLength(2);
    const acme = rows.find((r) => r.client_name === 'Acme')!;
    expect(acme).toMatchObject({ key_id: keyId(KEY), requests: 4, rate_limited: 1, prompt_tokens: 2 + 3 + 1 + 2, completion_tokens: 4 + 3 + 5 + 2, instance: 'replica-a' });
    expect(Date.parse(String(acme.timestamp))).toBeGreaterThan(Date.now() - 60_000);
    expect(String(acme.timestamp)).toMatch(/Z$/);
    expect(rows.find((r) => r.client_name === 'Beta')).toMatchObject({ key_id: keyId(OTHER), requests: 1, prompt_tokens: 0 });
    expect(JSON.stringify(stack.sheets.tab(SHEET_ID, 'Usage'))).not.toContain(KEY);

    // Nothing new: no empty rows appended.
    expect(await stack.gateway.usage!.flush()).toBe(true);
    expect(stack.sheets.count('values.append')).toBe(1);
  });

  it('hides the usage it asked for (per-chunk usage, the usage chunk) and leaves every other byte as sent', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    // Usage on content chunks (not on the final `"choices":[]` chunk).
    const perChunk = /(?<!\[\]),"usage":\{[^{}]*\}/g;
    const text = await rawStream({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true });
    const sent = JSON.parse(stack.vllm.requests.at(-1)!.body);
    expect(sent.stream_options).toEqual({ include_usage: true, continuous_usage_stats: true });
    const upstream = stack.vllm.streams.at(-1)!;
    const events = upstream.split('\n\n').filter(Boolean);
    const usageEvent = events.find((e) => e.includes('"choices":[]'))!;
    expect(usageEvent).toContain('"usage"');
    expect(events.filter((e) => e.includes('"usage"'))).toHaveLength(4);
    expect(text).toBe(upstream.replace(`${usageEvent}\n\n`, '').replace(perChunk, ''));
    expect(text).not.toContain('usage');

    const asked = await rawStream({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true, stream_options: { include_usage: true } });
    expect(asked).toBe(stack.vllm.streams.at(-1)!.replace(perChunk, ''));
    expect(asked).toContain('"choices":[]');

    const all = await rawStream({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3, stream: true, stream_options: { continuous_usage_stats: true, include_usage: true } });
    expect(all).toBe(stack.vllm.streams.at(-1));
    expect(JSON.parse(stack.vllm.requests.at(-1)!.body).stream_options).toEqual({ continuous_usage_stats: true, include_usage: true });
  });

  it('keeps the counts through a failed flush and writes it, and newer counts, in one append once it works', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    for (let i = 0; i < 3; i += 1) await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a' }], max_tokens: 2 });
    stack.sheets.fail(500, 1, 'values.append');
    expect(await stack.gateway.usage!.flush()).toBe(false);
    expect(usageRows(stack.sheets)).toHaveLength(0);
    const status = await (await fetch(`${stack.url}/auth/status`)).json();
    expect(status.usage).toEqual({ pending_keys: 1, pending_flushes: 1, flush_failures: 1, last_error: 'sheets_unreachable' });
    await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a' }], max_tokens: 2 });
    const appendsBefore = stack.sheets.count('values.append');
    expect(await stack.gateway.usage!.flush()).toBe(true);
    // The failed flush is resent as it was (same flush_id, same rows), with the newer counts as a
    // second flush in the same append: a flush that may have landed is never changed.
    expect(stack.sheets.count('values.append')).toBe(appendsBefore + 1);
    const rows = usageRows(stack.sheets);
    expect(rows.map((r) => r.requests)).toEqual([3, 1]);
    expect(new Set(rows.map((r) => r.flush_id)).size).toBe(2);
    expect(rows.reduce((n, r) => n + Number(r.prompt_tokens), 0)).toBe(4);
    expect(rows.reduce((n, r) => n + Number(r.completion_tokens), 0)).toBe(8);
  });

  it('retries a failed flush by itself with backoff', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { USAGE_FLUSH_INTERVAL: '1', USAGE_ROW_PERIOD: '1' } });
    stack.sheets.fail(503, 2, 'values.append');
    await client().models.list();
    await eventually(() => usageRows(stack!.sheets).length === 1, 'usage written after retries', 8_000);
    expect(usageRows(stack.sheets)[0]).toMatchObject({ requests: 1 });
    expect(stack.sheets.count('values.append')).toBe(3);
  });

  it('writes the file source usage to keys.usage.csv (mode 0600)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-usage-'));
    const keysFile = join(dir, 'keys.csv');
    writeFileSync(keysFile, `${HEADER.join(',')}\n${KEY},"Acme, Inc",,,TRUE,\n`);
    stack = await startStack({ env: { GOOGLE_SHEET_ID: '', KEYS_FILE: keysFile } });
    await client().chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a b' }], max_tokens: 3 });
    expect(await stack.gateway.usage!.flush()).toBe(true);
    const usageFile = join(dir, 'keys.usage.csv');
    const lines = readFileSync(usageFile, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(USAGE_COLUMNS.join(','));
    expect(lines[1]).toMatch(new RegExp(`^[^,]+Z,${keyId(KEY)},"Acme, Inc",1,0,2,3,`));
    expect(statSync(usageFile).mode & 0o777).toBe(0o600);
  });
});

/** The gateway as its own process (so it can get SIGTERM), reading the Sheets fake. */
async function spawnedStack(chunkDelayMs: number, env: Record<string, string>) {
  const sheets = await startSheets([HEADER, [KEY, 'Acme', '', '', true, '']]);
  const vllm = await startFakeVllm({ chunkDelayMs });
  const dir = mkdtempSync(join(tmpdir(), 'cg-term-'));
  const gw = spawnGateway({
    GOOGLE_SHEET_ID: SHEET_ID, GOOGLE_CREDENTIALS_PATH: writeServiceAccount(dir, serviceAccount()), SHEETS_API_URL: sheets.url,
    UPSTREAM_URL: vllm.url, USAGE_FLUSH_INTERVAL: '3600', ...env,
  });
  const close = async (): Promise<void> => {
    await gw.stop();
    await vllm.close();
    await sheets.stop();
  };
  try {
    const url = await gw.listening;
    await keysLoaded(url);
    return { sheets, gw, close, openai: new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 }), url };
  } catch (err) {
    await close();
    throw err;
  }
}

function onlyUsageRow(sheets: FakeSheets): Row {
  const [header, ...rows] = sheets.tab(SHEET_ID, 'Usage')!;
  expect(header).toEqual([...USAGE_COLUMNS]);
  expect(rows).toHaveLength(1);
  return Object.fromEntries(header!.map((h, i) => [String(h), rows[0]![i]!]));
}

describe('SIGTERM', () => {
  it('counts a stream cut at SHUTDOWN_GRACE before the last flush', async () => {
    const { sheets, gw, openai, close } = await spawnedStack(50, { SHUTDOWN_GRACE: '0.5' });
    try {
      const stream = await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a' }], max_tokens: 200, stream: true });
      let chunks = 0;
      try {
        for await (const _ of stream) {
          chunks += 1;
          if (chunks === 1) gw.child.kill('SIGTERM');
        }
      } catch {
        // cut by the gateway at the grace limit
      }
      expect(chunks).toBeLessThan(200);
      expect(await gw.exited).toBe(0);
      expect(onlyUsageRow(sheets)).toMatchObject({ requests: 1 });
    } finally {
      await close();
    }
  });

  it('stops accepting, lets a stream in flight finish, flushes usage, exits 0', async () => {
    const { sheets, gw, openai, close, url } = await spawnedStack(40, {});
    try {
      await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a' }], max_tokens: 1 });
      const stream = await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a b' }], max_tokens: 15, stream: true });
      let chunks = 0;
      for await (const _ of stream) {
        chunks += 1;
        if (chunks === 1) {
          gw.child.kill('SIGTERM');
          await eventually(() => gw.stdout.some((l) => l.includes('shutting down')), 'shutdown began');
          await expect(fetch(`${url}/health`)).rejects.toThrow();
        }
      }
      expect(chunks).toBe(15);
      expect(await gw.exited).toBe(0);
      expect(onlyUsageRow(sheets)).toMatchObject({ requests: 2, prompt_tokens: 3, completion_tokens: 16 });
    } finally {
      await close();
    }
  });
});
