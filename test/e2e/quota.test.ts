import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keyId } from '../../server/keys/keyid.ts';
import { FakeSheets, type Cell } from '../support/fake-sheets.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { bearer, SHEET_ID, serviceAccount, startStack, type Stack, type StackOptions } from '../support/stack.ts';

const A1 = 'sk-convergence-aaaaaaaa-0000-4000-8000-0000000000a1';
const A2 = 'sk-convergence-aaaaaaaa-0000-4000-8000-0000000000a2';
const B = 'sk-convergence-bbbbbbbb-0000-4000-8000-0000000000b1';
const QUOTA_HEADER: Cell[] = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'token_quota', 'request_quota', 'quota_period'];

const stacks: Stack[] = [];
const folders: string[] = [];
const sheetsList: FakeSheets[] = [];
afterEach(async () => {
  for (const s of stacks.splice(0)) await s.close();
  for (const s of sheetsList.splice(0)) await s.stop();
  for (const d of folders.splice(0)) rmSync(d, { recursive: true, force: true });
});

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis.stop();
});

async function sheetWith(rows: Cell[][], timeZone = 'UTC'): Promise<FakeSheets> {
  const sheets = new FakeSheets();
  await sheets.start();
  sheetsList.push(sheets);
  const sa = serviceAccount();
  sheets.addServiceAccount(sa.email, sa.publicKey);
  sheets.createSpreadsheet(SHEET_ID, { timeZone, sharedWith: [sa.email] });
  sheets.setTab(SHEET_ID, 'API_Keys', [QUOTA_HEADER, ...rows]);
  return sheets;
}

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cg-quota-'));
  folders.push(dir);
  return dir;
}

async function gateway(opts: StackOptions): Promise<Stack> {
  const s = await startStack(opts);
  stacks.push(s);
  return s;
}

/** A chat completion spending 1 prompt token and `completion` completion tokens (the stand-in's rule). */
function chat(s: Stack, key: string, completion = 200): Promise<Response> {
  return fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...bearer(key), 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: completion }),
  });
}

async function standing(s: Stack, key: string): Promise<Record<string, any>> {
  const res = await fetch(`${s.url}/auth/key`, { headers: bearer(key) });
  expect(res.status).toBe(200);
  return res.json() as Promise<Record<string, any>>;
}

describe('token quota shared by a client', () => {
  it('answers 429 quota_exceeded once two keys of one client together spent it; another client is untouched', async () => {
    const sheets = await sheetWith([
      [A1, 'Acme', '', '', true, '', 1000, '', ''],
      [A2, ' Acme ', '', '', true, '', 1000, '', 'month'],
      [B, 'Beta', '', '', true, '', 1000, '', ''],
    ]);
    const s = await gateway({ sheets, env: { TOKEN_RESERVE_DEFAULT: '1' } });
    let spent = 0;
    for (let i = 0; spent < 1000; i += 1) {
      const res = await chat(s, i % 2 ? A2 : A1);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { usage: { total_tokens: number } };
      spent += body.usage.total_tokens;
      expect(Number(res.headers.get('x-quota-reset'))).toBeGreaterThan(0);
      expect(res.headers.get('x-quota-remaining-requests')).toBeNull();
    }
    for (const key of [A1, A2]) {
      const res = await chat(s, key);
      expect(res.status).toBe(429);
      expect((await res.json()).error.code).toBe('quota_exceeded');
      expect(res.headers.get('x-quota-remaining-tokens')).toBe('0');
      const retry = Number(res.headers.get('retry-after'));
      const now = new Date();
      const monthEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
      expect(Math.abs(retry - (monthEnd - Date.now()) / 1000)).toBeLessThan(5);
      expect(res.headers.get('x-quota-reset')).toBe(String(retry));
    }
    expect((await chat(s, B)).status).toBe(200);
    const mine = await standing(s, A2);
    expect(mine.quota).toMatchObject({ period: 'month', tokens: { used: spent, limit: 1000 }, requests: null });
  });
});
