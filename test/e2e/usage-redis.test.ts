import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';
import { USAGE_REDIS_KEYS } from '../../server/usage/shared.ts';
import { startFakeVllm } from '../../scripts/fake-vllm.ts';
import { keysLoaded, spawnGateway } from '../support/process.ts';
import { startRedis } from '../support/redis.ts';
import { writeServiceAccount } from '../support/service-account.ts';
import { eventually, HEADER, SHEET_ID, serviceAccount, startSheets } from '../support/stack.ts';
import { rowsAsRecords, totalsByKey } from '../support/usage-reader.ts';

const KEY = 'sk-convergence-cccccccc-0000-4000-8000-000000000001';
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('usage with REDIS_URL (spawned replicas)', () => {
  it('two replicas hand their counts to Redis; the Usage tab ends with every request served, each once', async () => {
    const sheets = await startSheets([HEADER, [KEY, 'Acme', '', '', true, '']]);
    cleanups.push(() => sheets.stop());
    const vllm = await startFakeVllm();
    cleanups.push(() => vllm.close());
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const dir = mkdtempSync(join(tmpdir(), 'cg-usage-redis-'));
    const replicas = ['a', 'b'].map((name) => spawnGateway({
      GOOGLE_SHEET_ID: SHEET_ID, GOOGLE_CREDENTIALS_PATH: writeServiceAccount(dir, serviceAccount()), SHEETS_API_URL: sheets.url,
      UPSTREAM_URL: vllm.url, REDIS_URL: redis.url, USAGE_FLUSH_INTERVAL: '1', INSTANCE_ID: name, STATE_DIR: join(dir, `state-${name}`),
    }));
    for (const r of replicas) cleanups.push(() => r.stop());
    const served = { requests: 0, prompt_tokens: 0, completion_tokens: 0 };
    for (const r of replicas) {
      const url = await r.listening;
      await keysLoaded(url);
      const openai = new OpenAI({ apiKey: KEY, baseURL: `${url}/v1`, maxRetries: 0 });
      for (let i = 0; i < 3; i += 1) {
        const answer = await openai.chat.completions.create({ model: 'demo-model', messages: [{ role: 'user', content: 'a b c' }], max_tokens: 1 + i });
        served.requests += 1;
        served.prompt_tokens += answer.usage!.prompt_tokens;
        served.completion_tokens += answer.usage!.completion_tokens;
      }
    }
    // Both replicas push within a flush interval; nothing is written while the hour is open.
    const probe = new Redis(redis.url);
    cleanups.push(async () => probe.disconnect());
    const inRedis = async (): Promise<number> => {
      let n = 0;
      for (const hash of await probe.keys(`${USAGE_REDIS_KEYS.PERIOD_PREFIX}*`)) n += Number((await probe.hget(hash, `r:${keyId(KEY)}`)) ?? 0);
      return n;
    };
    await eventually(async () => (await inRedis()) === served.requests, 'both replicas pushed their counts to Redis');
    expect(sheets.tab(SHEET_ID, 'Usage')).toBeUndefined();
    for (const r of replicas) expect(await r.stop('SIGTERM')).toBe(0);
    const records = rowsAsRecords(sheets.tab(SHEET_ID, 'Usage')!);
    expect(totalsByKey(records).get(keyId(KEY))).toEqual({ ...served, rate_limited: 0 });
    // One writer: the replica that stopped first was not the holder, or wrote for both.
    expect(sheets.count('values.append')).toBe(1);
    expect(records).toHaveLength(1);
  });
});
