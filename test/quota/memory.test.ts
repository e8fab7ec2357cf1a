import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryQuotaCounts } from '../../server/quota/memory.ts';
import { periodAt } from '../../server/quota/period.ts';
import { QUOTA_STATE_FILE, QuotaStateFile } from '../../server/quota/persist.ts';
import { StateDir } from '../../server/state/files.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function stateDir(lines: string[] = []): StateDir {
  const dir = mkdtempSync(join(tmpdir(), 'cg-quota-unit-'));
  dirs.push(dir);
  return new StateDir(join(dir, 'state'), pino({ level: 'warn' }, { write: (s: string) => void lines.push(s) }));
}

describe('memory quota counts', () => {
  let now = Date.parse('2026-05-20T10:00:00Z');
  const clock = (): number => now;

  it('reserves at admission, admits while reserved + spent fit, and always admits into an untouched period', () => {
    const counts = new MemoryQuotaCounts(clock);
    const day = periodAt('day', now, 'UTC');
    const limits = { tokens: 100, requests: null };
    expect(counts.admitSync('c', day, limits, 100, null)).toMatchObject({ allowed: true, use: { tokensReserved: 100 } });
    expect(counts.admitSync('c', day, limits, 1, null)).toMatchObject({ allowed: false, exceeded: 'tokens', use: { tokensReserved: 100, requests: 1 } });
    expect(counts.admitSync('other', day, limits, 100, null).allowed).toBe(true);
  });

  it('keeps its counts in STATE_DIR (0600, reservations left out), restores them, and drops ended periods', async () => {
    const dir = stateDir();
    const counts = new MemoryQuotaCounts(clock);
    const file = new QuotaStateFile(dir, counts, pino({ level: 'silent' }));
    await file.restore();
    const day = periodAt('day', now, 'UTC');
    const month = periodAt('month', now, 'UTC');
    counts.admitSync('Acme', day, { tokens: null, requests: 5 }, 0, { tokens: 10, requests: 1 });
    counts.admitSync('Acme', month, { tokens: 1_000, requests: null }, 50, null);
    await counts.settle('Acme', month, 50, 30, true);
    counts.admitSync('Acme', month, { tokens: 1_000, requests: null }, 50, null); // still in flight at shutdown
    await file.close();
    const path = join(dir.dir, QUOTA_STATE_FILE);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).not.toContain('Reserved');

    now += 86_400_000; // the next day: the day count has ended, the month's has not
    const restored = new MemoryQuotaCounts(clock);
    await new QuotaStateFile(dir, restored, pino({ level: 'silent' })).restore();
    expect(await restored.peek('Acme', day)).toBeNull();
    expect(await restored.peek('Acme', month)).toEqual({ tokensSpent: 30, tokensReserved: 0, requests: 2 });
    // Restored counts are raised to the Usage record when it is read (other replicas may have spent).
    restored.admitSync('Acme', month, { tokens: 1_000, requests: null }, 0, { tokens: 400, requests: 1 });
    expect(await restored.peek('Acme', month)).toEqual({ tokensSpent: 400, tokensReserved: 0, requests: 3 });
  });

  it('ignores a corrupt or wrong-shaped counts file with a warning', async () => {
    const lines: string[] = [];
    const dir = stateDir(lines);
    await dir.write(QUOTA_STATE_FILE, [{ client: 'x', period: 'day:2026-05-20', endMs: -1, tokensSpent: 'lots', requests: 0, seeded: true }]);
    const counts = new MemoryQuotaCounts(clock);
    await new QuotaStateFile(dir, counts, pino({ level: 'silent' })).restore();
    expect(counts.export()).toEqual([]);
    writeFileSync(join(dir.dir, QUOTA_STATE_FILE), '{"version":1,"written_at":"2026-');
    await new QuotaStateFile(dir, counts, pino({ level: 'silent' })).restore();
    expect(lines.filter((l) => l.includes('corrupt or torn'))).toHaveLength(2);
  });
});
