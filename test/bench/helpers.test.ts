import { describe, expect, it } from 'vitest';
import { takeReplies } from '../../scripts/bench/control.ts';
import { warningLines } from '../../scripts/bench/processes.ts';
import { areaOf, summariseProfile, type CpuProfile } from '../../scripts/bench/profile.ts';
import { formatSpread, latency, median, parseList, percentile, spread } from '../../scripts/bench/stats.ts';
import { usageCompletionTokens } from '../../scripts/bench/stream-phase.ts';
import { countEvents, Samples } from '../../scripts/bench/streams.ts';

describe('statistics', () => {
  it('percentile is nearest-rank over unsorted samples', () => {
    const xs = [5, 1, 4, 2, 3, 10, 9, 8, 7, 6];
    expect(percentile(xs, 0.5)).toBe(5);
    expect(percentile(xs, 0.99)).toBe(10);
    expect(percentile(xs, 0)).toBe(1);
    expect(percentile([], 0.5)).toBeNaN();
    expect(latency(Float64Array.from([3, 1, 2]))).toEqual({ p50: 2, p99: 3, max: 3 });
  });

  it('median averages the middle two and ignores non-finite rounds', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([NaN, 7, Infinity])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('spread is median, min and max of the finite rounds', () => {
    expect(spread([0.8, NaN, 0.95, 0.9])).toEqual({ median: 0.9, min: 0.8, max: 0.95, n: 3 });
    expect(spread([NaN])).toEqual({ median: NaN, min: NaN, max: NaN, n: 0 });
    expect(formatSpread(spread([0.8, 0.95, 0.9]))).toBe('0.90 [0.80-0.95]');
    expect(formatSpread(spread([12.345]), 1)).toBe('12.3');
    expect(formatSpread(spread([]))).toBe('-');
  });

  it('parseList takes positive integers only', () => {
    expect(parseList('300,1000', 'streams')).toEqual([300, 1000]);
    expect(parseList(' 50 ', 'streams')).toEqual([50]);
    for (const bad of ['', '300,', '0', '-1', '1.5', 'abc']) expect(() => parseList(bad, 'streams')).toThrow(/--streams/);
  });
});

describe('stream parsing', () => {
  it('counts data events, not counting [DONE]', () => {
    expect(countEvents(Buffer.from('data: {"a":1}\n\n'))).toEqual({ events: 1, done: false });
    expect(countEvents(Buffer.from('data: {"a":1}\n\ndata: {"a":2}\n\ndata: [DONE]\n\n'))).toEqual({ events: 2, done: true });
    expect(countEvents(Buffer.from('data: [DONE]\n\n'))).toEqual({ events: 0, done: true });
    expect(countEvents(Buffer.from(': keep-alive\n\n'))).toEqual({ events: 0, done: false });
  });

  it('Samples grows past its first block and keeps every value', () => {
    const s = new Samples();
    for (let i = 0; i < 5000; i += 1) s.push(i);
    expect(s.length).toBe(5000);
    expect(s.view()[4999]).toBe(4999);
    expect(percentile(s.view(), 0.5)).toBe(2499);
  });

  it('sums completion_tokens of a usage file by header name', () => {
    const csv = '\uFEFFtimestamp,key_id,client_name,requests,rate_limited,prompt_tokens,completion_tokens,instance\r\n'
      + '2026-01-01T00:00:00.000Z,abc,c1,3,0,3,300,i\r\n2026-01-01T00:00:00.000Z,def,c2,1,0,1,100,i\r\n';
    expect(usageCompletionTokens(csv)).toBe(400);
    expect(usageCompletionTokens('')).toBe(0);
    expect(() => usageCompletionTokens('a,b\n1,2\n')).toThrow(/completion_tokens/);
  });
});

describe('child output', () => {
  it('takes complete reply lines out of stderr and keeps the rest, a cut line waiting', () => {
    const r = takeReplies('warn: x\n{"reply":"flush","value":{"flushed":true}}\nother\n{"reply":"st');
    expect(r.replies).toEqual([{ reply: 'flush', value: { flushed: true } }]);
    expect(r.rest).toBe('warn: x\nother\n{"reply":"st');
    expect(takeReplies('{"reply":"stats","value":1}\n')).toEqual({ replies: [{ reply: 'stats', value: 1 }], rest: '' });
    expect(takeReplies('{"reply": broken\n').rest).toBe('{"reply": broken\n');
  });

  it('finds log lines at warn and above', () => {
    const chunk = Buffer.from('{"level":30,"msg":"request"}\n{"level":40,"msg":"slow"}\n{"level":50,"msg":"bad"}\n');
    expect(warningLines(chunk)).toEqual(['{"level":40,"msg":"slow"}', '{"level":50,"msg":"bad"}']);
    expect(warningLines(Buffer.from('{"level":30}\n'))).toEqual([]);
  });
});

describe('profile summary', () => {
  it('names areas by our file, package, or Node internal', () => {
    expect(areaOf('file:///work/x/server/http/boundary.ts', 'handle')).toBe('server/http/boundary.ts');
    expect(areaOf('file:///work/x/node_modules/pino/lib/proto.js', 'write')).toBe('pino');
    expect(areaOf('file:///w/node_modules/@koa/router/lib/router.js', 'x')).toBe('@koa/router');
    expect(areaOf('node:internal/streams/writable', 'write')).toBe('node:internal/streams');
    expect(areaOf('node:net', 'x')).toBe('node:net');
    expect(areaOf('', '(garbage collector)')).toBe('(garbage collector)');
  });

  it('gives self time by area, native code to its caller, and inclusive time counted once per sample', () => {
    const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0 });
    const p: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2, 5] },
        { id: 2, callFrame: frame('handle', 'file:///r/server/http/boundary.ts'), children: [3] },
        { id: 3, callFrame: frame('handle', 'file:///r/server/http/boundary.ts'), children: [4] },
        { id: 4, callFrame: frame('writev', ''), children: [] },
        { id: 5, callFrame: frame('(idle)', ''), children: [] },
      ],
      // The delta before each sample; a sample's time is the next delta (the last gets the mean).
      samples: [4, 3, 5, 4],
      timeDeltas: [0, 1000, 2000, 1000],
      startTime: 0,
      endTime: 4000,
    };
    const s = summariseProfile(p, (name) => name === 'handle');
    expect(s.totalMs).toBe(5);
    expect(s.byArea).toEqual([['server/http/boundary.ts (native)', 2], ['server/http/boundary.ts', 2], ['(idle)', 1]]);
    expect(s.inclusive).toEqual([['handle server/http/boundary.ts', 4]]);
  });
});

describe('strace summary', () => {
  it('reads calls per syscall, with and without an errors column, skipping the total', async () => {
    const { parseStraceSummary } = await import('../../scripts/bench/syscalls.ts');
    const text = `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 93.11    1.989150        1149      1731       118 futex
  2.96    0.063327           3     20000           writev
  0.00    0.000000           0         1           sched_getaffinity
------ ----------- ----------- --------- --------- ----------------
100.00    2.136281          46     45917       168 total
`;
    expect([...parseStraceSummary(text)]).toEqual([['futex', 1731], ['writev', 20000], ['sched_getaffinity', 1]]);
  });
});

describe('RSS per added stream', () => {
  it('is the growth between concurrencies per stream added, not the fixed heap growth', async () => {
    const { marginalKbPerStream } = await import('../../scripts/bench/report.ts');
    const at = (streams: number, kbPerStream: number) => ({ streams, figures: { 'rss KB/stream': spread([kbPerStream]) } });
    // 300 streams: 60,000 KB grown; 1,000 streams: 74,000 KB grown → 20 KB per added stream.
    expect(marginalKbPerStream([at(300, 200), at(1000, 74)])).toBeCloseTo(20);
    expect(marginalKbPerStream([at(300, 200)])).toBeNaN();
  });
});
