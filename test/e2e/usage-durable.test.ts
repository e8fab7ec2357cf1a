import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { keysLoaded, spawnGateway, type GatewayProcess } from '../support/process.ts';
import { writeServiceAccount } from '../support/service-account.ts';
import { bearer, HEADER, SHEET_ID, serviceAccount, startSheets, startStack, type Stack } from '../support/stack.ts';
import { rowsAsRecords, totalsByKey } from '../support/usage-reader.ts';

const KEY = 'sk-convergence-dddddddd-0000-4000-8000-000000000001';

let stack: Stack | null = null;
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await stack?.close();
  stack = null;
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function status(url: string): Promise<{ usage: Record<string, unknown> }> {
  return (await fetch(`${url}/auth/status`)).json() as Promise<{ usage: Record<string, unknown> }>;
}

describe('a refused usage write is loud on /auth/status', () => {
  it('shows sheet_full, then sheets_quota_exceeded, with no detail, and keeps the counts', async () => {
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']] });
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${stack.url}/v1`, maxRetries: 0 });
    await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a b' }], max_tokens: 3 });
    stack.sheets.cellLimit = stack.sheets.cells(SHEET_ID); // full: not even a new tab fits
    expect(await stack.gateway.usage!.flush()).toBe(false);
    let body = await status(stack.url);
    expect(body.usage).toMatchObject({ last_error: 'sheet_full', pending_keys: 1 });
    expect(JSON.stringify(body)).not.toContain(SHEET_ID);
    expect(stack.logs.some((l) => l.includes('"error_class":"sheet_full"') && l.includes('Compact usage now'))).toBe(true);

    stack.sheets.cellLimit = 10_000_000;
    stack.sheets.writesPerMinute = 0;
    expect(await stack.gateway.usage!.flush()).toBe(false);
    body = await status(stack.url);
    expect(body.usage).toMatchObject({ last_error: 'sheets_quota_exceeded', pending_keys: 1 });

    stack.sheets.writesPerMinute = 60;
    stack.sheets.writesByMinute.clear();
    expect(await stack.gateway.usage!.flush()).toBe(true);
    expect((await status(stack.url)).usage).toMatchObject({ last_error: null, pending_keys: 0 });
    const totals = totalsByKey(rowsAsRecords(stack.sheets.tab(SHEET_ID, 'Usage')!));
    expect(totals.get(keyId(KEY))).toEqual({ requests: 1, rate_limited: 0, prompt_tokens: 2, completion_tokens: 3 });
  });
});

describe('usage survives a restart during a Sheets outage (STATE_DIR)', () => {
  it('SIGTERM while Sheets is down, restart, Sheets back: the Usage tab holds exactly the requests served, each once', async () => {
    const sheets = await startSheets([HEADER, [KEY, 'Acme', '', '', true, '']]);
    cleanups.push(() => sheets.stop());
    const vllm: FakeVllm = await startFakeVllm();
    cleanups.push(() => vllm.close());
    const dir = mkdtempSync(join(tmpdir(), 'cg-durable-'));
    const stateDir = join(dir, 'state');
    const env = (sheetsUrl: string) => ({
      GOOGLE_SHEET_ID: SHEET_ID, GOOGLE_CREDENTIALS_PATH: writeServiceAccount(dir, serviceAccount()), SHEETS_API_URL: sheetsUrl,
      UPSTREAM_URL: vllm.url, USAGE_FLUSH_INTERVAL: '3600', STATE_DIR: stateDir, SHUTDOWN_GRACE: '1',
    });
    const served = { requests: 0, prompt: 0, completion: 0 };
    const serve = async (gw: GatewayProcess, n: number) => {
      const url = await gw.listening;
      await keysLoaded(url);
      const openai = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
      for (let i = 0; i < n; i += 1) {
        const answer = await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'one two three' }], max_tokens: 2 + i });
        served.requests += 1;
        served.prompt += answer.usage!.prompt_tokens;
        served.completion += answer.usage!.completion_tokens;
      }
      return url;
    };

    const first = spawnGateway(env(sheets.url));
    cleanups.push(() => first.stop());
    await serve(first, 3);
    await sheets.stop(); // the outage
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(first.stdout.some((l) => l.includes('saved in STATE_DIR'))).toBe(true);
    expect(readdirSync(stateDir)).toContain('usage.json');
    expect(sheets.tab(SHEET_ID, 'Usage')).toBeUndefined();

    await sheets.start(); // Sheets is back (on a new port: the restart is told)
    const second = spawnGateway(env(sheets.url));
    cleanups.push(() => second.stop());
    const url = await serve(second, 2);
    // The saved flush goes out at start, with its flush_id; the rest at shutdown.
    expect((await (await fetch(`${url}/auth/status`)).json()).usage).toMatchObject({ last_error: null });
    expect(await second.stop('SIGTERM')).toBe(0);

    const records = rowsAsRecords(sheets.tab(SHEET_ID, 'Usage')!);
    expect(totalsByKey(records).get(keyId(KEY))).toEqual({ requests: served.requests, rate_limited: 0, prompt_tokens: served.prompt, completion_tokens: served.completion });
    expect(records.reduce((n, r) => n + Number(r.requests), 0)).toBe(5); // no copies at all here
    expect(served.requests).toBe(vllm.requests.length);
    expect(JSON.stringify(sheets.tab(SHEET_ID, 'Usage'))).not.toContain(KEY);
  });

  it('starts with a warning, not a crash, when usage.json is torn', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-durable-'));
    const stateDir = join(dir, 'state');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(join(stateDir, 'usage.json'), '{"version":1,"written_at":"2026-', { mode: 0o600 });
    stack = await startStack({ rows: [[KEY, 'Acme', '', '', true, '']], env: { STATE_DIR: stateDir } });
    expect((await fetch(`${stack.url}/v1/models`, { headers: bearer(KEY) })).status).toBe(200);
    expect(stack.logs.some((l) => l.includes('"file":"usage.json"') && l.includes('ignoring it'))).toBe(true);
    expect(await stack.gateway.usage!.flush()).toBe(true);
    expect(totalsByKey(rowsAsRecords(stack.sheets.tab(SHEET_ID, 'Usage')!)).get(keyId(KEY))?.requests).toBe(1);
  });
});
