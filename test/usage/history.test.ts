import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { currentPeriods, periodAt } from '../../server/quota/period.ts';
import { FileUsageHistory, totalsKey, UsageTally } from '../../server/usage/history.ts';

const HEADER = ['timestamp', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance', 'flush_id', 'period_start'];
const NOW = Date.parse('2026-05-20T10:00:00Z');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('reading usage back', () => {
  it('counts each (flush_id, key_id) once, rows without flush_id as they are, and skips days already compacted', () => {
    const periods = currentPeriods(NOW, 'UTC');
    const tally = new UsageTally(periods, 'UTC');
    tally.addDaily([
      ['key_id', 'day', 'client_name', 'requests', 'prompt_tokens', 'completion_tokens'],
      ['k1', '2026-05-02', 'Acme', 4, 100, 100],
    ]);
    tally.addRaw([
      HEADER,
      ['2026-05-20T09:00:00Z', 'k1', 'Acme', 1, 0, 5, 5, 'a', 'f1', '2026-05-20T08:00:00Z'],
      ['2026-05-20T09:01:00Z', 'k1', 'Acme', 1, 0, 5, 5, 'a', 'f1', '2026-05-20T08:00:00Z'], // retried: once
      ['2026-05-20T09:00:00Z', 'k2', ' Acme ', 1, 0, 1, 1, 'a', 'f1', '2026-05-20T08:00:00Z'], // same flush, other key
      ['2026-05-19T09:00:00Z', 'k1', 'Acme', 2, 0, 3, 3, 'old', '', ''], // no flush_id: as it is
      ['2026-05-19T09:00:00Z', 'k1', 'Acme', 2, 0, 3, 3, 'old', '', ''],
      ['2026-05-02T13:00:00Z', 'k1', 'Acme', 9, 0, 900, 0, 'a', 'f9', ''], // its day is compacted already
      ['2026-04-30T23:00:00Z', 'k1', 'Acme', 9, 0, 900, 0, 'a', 'f8', ''], // April
      ['not a time', 'k1', 'Acme', 9, 0, 900, 0, 'a', 'f7', ''],
    ]);
    const totals = tally.result();
    const [day, week, month] = periods;
    expect(totals.get(totalsKey('Acme', day!.key))).toEqual({ tokens: 12, requests: 2 });
    expect(totals.get(totalsKey('Acme', week!.key))).toEqual({ tokens: 24, requests: 6 });
    expect(totals.get(totalsKey('Acme', month!.key))).toEqual({ tokens: 224, requests: 10 });
  });

  it('reads the usage file beside KEYS_FILE in its zone; no file means nothing spent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-history-'));
    dirs.push(dir);
    const path = join(dir, 'keys.usage.csv');
    const history = new FileUsageHistory(path, 'America/Los_Angeles');
    const day = (zone: string) => [periodAt('day', NOW, zone)];
    expect((await history.totals(day)).totals.size).toBe(0);
    writeFileSync(path, `\uFEFF${HEADER.join(',')}\n2026-05-20T06:59:00Z,k1,Acme,1,0,10,10,a,f1,\n2026-05-20T07:00:00Z,k1,Acme,1,0,1,2,a,f2,\n`);
    const { totals, timeZone } = await history.totals(day);
    expect(timeZone).toBe('America/Los_Angeles');
    // Midnight in Los Angeles is 07:00 UTC: only the second row is on 20 May there.
    expect(totals.get(totalsKey('Acme', day('America/Los_Angeles')[0]!.key))).toEqual({ tokens: 3, requests: 1 });
  });
});
