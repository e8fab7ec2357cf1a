import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFakeVllm, type FakeVllm } from '../../scripts/fake-vllm.ts';
import { keysLoaded, spawnGateway, type GatewayProcess } from '../support/process.ts';
import { bearer, eventually, HEADER } from '../support/stack.ts';

/** The meter where a process of its own is needed: a shutdown, and the memory bound. */
const KEY = 'sk-convergence-14141414-0000-4000-8000-0000000000aa';

interface Running {
  gw: GatewayProcess;
  vllm: FakeVllm;
  url: string;
  dir: string;
  close(): Promise<void>;
}

async function run(env: Record<string, string>, chunkDelayMs = 0): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-meter-'));
  const keysFile = join(dir, 'keys.csv');
  writeFileSync(keysFile, `${HEADER.join(',')}\n${KEY},Acme,,,TRUE,\n`, { mode: 0o600 });
  const vllm = await startFakeVllm({ chunkDelayMs });
  const gw = spawnGateway({ KEYS_FILE: keysFile, UPSTREAM_URL: vllm.url, USAGE_FLUSH_INTERVAL: '3600', ...env });
  const close = async (): Promise<void> => {
    await gw.stop();
    await vllm.close();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const url = await gw.listening;
    await keysLoaded(url);
    return { gw, vllm, url, dir, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function usageRow(dir: string): Record<string, string> {
  const [header, ...rows] = readFileSync(join(dir, 'keys.usage.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  expect(rows).toHaveLength(1);
  return Object.fromEntries(header!.map((h, i) => [h, rows[0]![i]!]));
}

function post(url: string, body: Buffer | string, onData?: (text: string) => void): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve) => {
    const req = request(`${url}/v1/chat/completions`, { method: 'POST', headers: { ...bearer(KEY), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        onData?.(text);
      });
      const done = (): void => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
      res.on('end', done);
      res.on('error', done);
      res.on('close', done);
    });
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end(body);
  });
}

function memoryKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`))!;
  return Number(/\d+/.exec(line)![0]);
}

describe('the meter in a process of its own', () => {
  it('meters the tokens of a stream cut at SHUTDOWN_GRACE, exactly as generated', async () => {
    // 80 ms between tokens against a 0.5 s grace: the cut falls between two tokens.
    const r = await run({ SHUTDOWN_GRACE: '0.5' }, 80);
    try {
      let signalled = false;
      const answer = await post(r.url, JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'a b c' }], max_tokens: 200, stream: true }), () => {
        if (!signalled) {
          signalled = true;
          r.gw.child.kill('SIGTERM');
        }
      });
      expect(answer.status).toBe(200);
      expect(await r.gw.exited).toBe(0);
      await eventually(() => r.vllm.abortedStreams === 1, 'upstream saw the cut');
      const made = r.vllm.tokens;
      expect(made.completion_tokens).toBeGreaterThan(3);
      expect(made.completion_tokens).toBeLessThan(200);
      expect(usageRow(r.dir)).toMatchObject({ requests: '1', prompt_tokens: String(made.prompt_tokens), completion_tokens: String(made.completion_tokens) });
    } finally {
      await r.close();
    }
  });

  it('keeps six concurrent 24 MiB bodies within MAX_BUFFERED_BYTES (peak RSS below idle + 2 x budget + 64 MiB)', async () => {
    const budget = 64 * 1024 * 1024;
    const r = await run({ MAX_BUFFERED_BYTES: String(budget) });
    try {
      const pid = r.gw.child.pid!;
      expect((await post(r.url, JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: 'warm up' }], max_tokens: 1 }))).status).toBe(200);
      const idleKb = memoryKb(pid, 'VmRSS');
      const filler = 'x'.repeat(24 * 1024 * 1024 - 100);
      const body = Buffer.from(JSON.stringify({ model: 'demo-model', messages: [{ role: 'user', content: filler }], max_tokens: 1 }));
      const answers = await Promise.all(Array.from({ length: 6 }, () => post(r.url, body)));
      const peakKb = memoryKb(pid, 'VmHWM');
      // Two fit in the budget at once; the others wait their turn or are told to come back.
      expect(answers.filter((a) => a.status === 200).length).toBeGreaterThanOrEqual(2);
      for (const a of answers.filter((x) => x.status !== 200)) {
        expect(a.status).toBe(503);
        expect(JSON.parse(a.body).error.code).toBe('gateway_busy');
        expect(a.headers['retry-after']).toBe('1');
      }
      const grownMb = (peakKb - idleKb) / 1024;
      expect(grownMb).toBeLessThan((2 * budget) / 1024 / 1024 + 64);
    } finally {
      await r.close();
    }
  }, 60_000);
});
