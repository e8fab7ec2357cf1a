import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { keysLoaded, spawnGateway, type GatewayProcess } from '../support/process.ts';

const KEY = 'sk-convergence-99999999-0000-4000-8000-000000000001';
const ROTATED = 'sk-convergence-99999999-0000-4000-8000-000000000002';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function start(env: Record<string, string>): Promise<{ gw: GatewayProcess; url: string }> {
  const gw = spawnGateway(env);
  cleanup.push(() => gw.stop());
  const url = await gw.listening;
  await keysLoaded(url);
  return { gw, url };
}

describe('quota counts of a gateway process', () => {
  it('survive SIGTERM and a restart, and a rotated key of the same client starts from them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-quota-proc-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const keysFile = join(dir, 'keys.csv');
    writeFileSync(keysFile, `api_key,client_name,is_active,token_quota\n${KEY},Acme,TRUE,100000\n`, { mode: 0o600 });
    const vllm: FakeVllm = await startFakeVllm();
    cleanup.push(() => vllm.close());
    // No usage flush before the stop: the count comes back from STATE_DIR (and the usage file the stop flushes).
    const env = { KEYS_FILE: keysFile, UPSTREAM_URL: vllm.url, STATE_DIR: join(dir, 'state'), USAGE_FLUSH_INTERVAL: '3600' };

    const first = await start(env);
    const openai = new OpenAI({ apiKey: KEY, baseURL: `${first.url}/v1`, maxRetries: 0 });
    const answer = await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'count me' }], max_tokens: 30 });
    const spent = answer.usage!.total_tokens;
    expect(await first.gw.stop('SIGTERM')).toBe(0);

    writeFileSync(keysFile, `api_key,client_name,is_active,token_quota\n${KEY},Acme,FALSE,100000\n${ROTATED},Acme,TRUE,100000\n`, { mode: 0o600 });
    const second = await start(env);
    const rotated = new OpenAI({ apiKey: ROTATED, baseURL: `${second.url}/v1`, maxRetries: 0 });
    const me = await rotated.get<{ quota: { tokens: { used: number; limit: number } } }>(new URL('/auth/key', rotated.baseURL).href);
    expect(me.quota.tokens).toEqual({ used: spent, limit: 100_000 });
  });
});
