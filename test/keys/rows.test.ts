import { describe, expect, it } from 'vitest';
import { HeaderError, KeyRowParser, parseKeyRows, parseKeyRowsInSteps, sameRecord } from '../../server/keys/rows.ts';
import { sha256Hex } from '../../server/keys/keyid.ts';

const KEY_A = 'sk-convergence-11111111-1111-4111-8111-111111111111';
const KEY_B = 'sk-convergence-22222222-2222-4222-8222-222222222222';
const opts = { timeZone: 'UTC', defaultRateLimit: 60 };
const HEADER = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit'];

describe('parseKeyRows', () => {
  it('reads headers in any order and case, ignoring unknown columns', () => {
    const { records, rejected } = parseKeyRows(
      [
        ['Rate_Limit', 'notes', 'IS_ACTIVE', ' Client_Name ', 'API_KEY', 'requests'],
        [5, 'x', true, 'Acme', KEY_A, 99],
      ],
      opts,
    );
    expect(rejected).toEqual([]);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ keyHash: sha256Hex(KEY_A), clientName: 'Acme', isActive: true, rateLimit: 5, row: 2, expiresAt: null });
    expect(records[0]!.keyId).toBe(sha256Hex(KEY_A).slice(0, 16));
  });

  it.each([
    [true, true], [false, false], ['TRUE', true], ['false', false], ['Yes', true], ['no', false], ['1', true], ['0', false],
    [1, true], [0, false], ['', false], ['maybe', false], [undefined, false],
  ])('is_active %j is %s', (cell, active) => {
    const { records } = parseKeyRows([HEADER, [KEY_A, 'c', '', '', cell, '']], opts);
    expect(records[0]!.isActive).toBe(active);
  });

  it('uses RATE_LIMIT_DEFAULT for a blank limit and accepts numbers or digit text', () => {
    const { records } = parseKeyRows([HEADER, [KEY_A, 'a', '', '', true, ''], [KEY_B, 'b', '', '', true, ' 7 ']], { timeZone: 'UTC', defaultRateLimit: 0 });
    expect(records.map((r) => r.rateLimit)).toEqual([0, 7]);
  });

  it.each([
    ['blank key', ['', 'c', '', '', true, ''], 'api_key is blank'],
    ['short key', ['sk-short', 'c', '', '', true, ''], 'shorter than 16'],
    ['limit text', [KEY_A, 'c', '', '', true, 'lots'], 'rate_limit'],
    ['limit zero', [KEY_A, 'c', '', '', true, 0], 'rate_limit'],
    ['limit negative', [KEY_A, 'c', '', '', true, -3], 'rate_limit'],
    ['limit fraction', [KEY_A, 'c', '', '', true, 1.5], 'rate_limit'],
    ['bad date', [KEY_A, 'c', '', 'next tuesday', true, ''], 'expires_at'],
    ['impossible date', [KEY_A, 'c', '', '2025-02-30', true, ''], 'expires_at'],
  ])('rejects a row with %s, giving row number and reason but never the key', (_name, row, reason) => {
    const { records, rejected } = parseKeyRows([HEADER, [KEY_B, 'ok', '', '', true, ''], row], opts);
    expect(records).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.row).toBe(3);
    expect(rejected[0]!.reason).toContain(reason);
    expect(JSON.stringify(rejected)).not.toContain(KEY_A);
  });

  it('rejects every row of a duplicated key, and only those', () => {
    const { records, rejected } = parseKeyRows(
      [HEADER, [KEY_A, 'a', '', '', true, ''], [KEY_B, 'b', '', '', true, ''], [` ${KEY_A} `, 'a2', '', '', true, '']],
      opts,
    );
    expect(records.map((r) => r.clientName)).toEqual(['b']);
    expect(rejected.map((r) => r.row)).toEqual([2, 4]);
    expect(rejected[0]!.reason).toContain('rows 2, 4');
  });

  it('parses in steps that yield, with the same result as one go', () => {
    const rows = Array.from({ length: 1_000 }, (_, i) => [`sk-convergence-step-key-${String(i).padStart(6, '0')}`, `c${i}`, '', '', true, '']);
    rows.push([...rows[10]!]);
    const steps = parseKeyRowsInSteps([HEADER, ...rows], opts, 100);
    let yields = 0;
    let step = steps.next();
    while (!step.done) {
      yields += 1;
      step = steps.next();
    }
    expect(yields).toBe(10);
    expect(step.value).toEqual(parseKeyRows([HEADER, ...rows], opts));
    expect(step.value.records).toHaveLength(999);
    expect(step.value.rejected.map((r) => r.row)).toEqual([12, 1002]);
  });

  it('skips wholly empty rows without counting them', () => {
    const { records, rejected } = parseKeyRows([HEADER, [], ['', '', ''], [KEY_A, 'a', '', '', true, '']], opts);
    expect(records[0]!.row).toBe(4);
    expect(rejected).toEqual([]);
  });

  it('refuses a header without api_key, a duplicated column, or an empty tab', () => {
    expect(() => parseKeyRows([['client_name'], ['x']], opts)).toThrow(HeaderError);
    expect(() => parseKeyRows([['api_key', 'API_KEY']], opts)).toThrow(/twice/);
    expect(() => parseKeyRows([], opts)).toThrow(/empty/);
  });

  it('accepts a header alone as an empty key set', () => {
    expect(parseKeyRows([HEADER], opts)).toEqual({ records: [], rejected: [], byHash: new Map(), reused: 0 });
  });

  it('reads optional policy columns and rejects malformed ones', () => {
    const header = [...HEADER, 'allowed_models', 'tpm_limit', 'api_key_sha256'];
    const hashOfB = sha256Hex(KEY_B);
    const { records, rejected } = parseKeyRows(
      [
        header,
        [KEY_A, 'a', '', '', true, '', 'm1, m2', 1000, ''],
        ['', 'b', '', '', true, '', '', '', hashOfB.toUpperCase()],
        ['', 'c', '', '', true, '', '', '', 'abc'],
        [KEY_A + 'x', 'd', '', '', true, '', 'm1,,m2', '', ''],
        [KEY_A + 'y', 'e', '', '', true, '', '', 'many', ''],
      ],
      opts,
    );
    expect(records.map((r) => r.clientName)).toEqual(['a', 'b']);
    expect([...records[0]!.allowedModels!]).toEqual(['m1', 'm2']);
    expect(records[0]!.tpmLimit).toBe(1000);
    expect(records[1]!.keyHash).toBe(hashOfB);
    expect(rejected.map((r) => r.row)).toEqual([4, 5, 6]);
  });

  it('reads quota columns: blank is none (period month), else positive integers and day/week/month', () => {
    const header = [...HEADER, 'Token_Quota', 'request_quota', 'QUOTA_PERIOD'];
    const { records, rejected } = parseKeyRows(
      [
        header,
        [KEY_A, 'a', '', '', true, '', 1000, '', ''],
        [KEY_B, 'b', '', '', true, '', '', ' 20 ', ' Week '],
        [KEY_A + 'c', 'c', '', '', true, '', '', '', 'DAY'],
        [KEY_A + 'd', 'd', '', '', true, '', 0, '', ''],
        [KEY_A + 'e', 'e', '', '', true, '', '1e3', '', ''],
        [KEY_A + 'f', 'f', '', '', true, '', '', -5, ''],
        [KEY_A + 'g', 'g', '', '', true, '', '', '', 'year'],
        [KEY_A + 'h', 'h', '', '', true, '', 12.5, '', ''],
      ],
      opts,
    );
    expect(records.map((r) => [r.clientName, r.tokenQuota, r.requestQuota, r.quotaPeriod])).toEqual([
      ['a', 1000, null, 'month'],
      ['b', null, 20, 'week'],
      ['c', null, null, 'day'],
    ]);
    expect(rejected.map((r) => [r.row, r.reason])).toEqual([
      [5, 'token_quota is not a positive integer'],
      [6, 'token_quota is not a positive integer'],
      [7, 'request_quota is not a positive integer'],
      [8, 'quota_period is not day, week or month'],
      [9, 'token_quota is not a positive integer'],
    ]);
  });
});

describe('input hygiene', () => {
  it('rejects a client_name over 200 characters (it would ride on every answer as a header)', () => {
    const { records, rejected } = parseKeyRows([HEADER, [KEY_A, 'n'.repeat(200), '', '', true, ''], [KEY_B, 'n'.repeat(20_000), '', '', true, '']], opts);
    expect(records.map((r) => r.row)).toEqual([2]);
    expect(rejected).toEqual([{ row: 3, reason: 'client_name is longer than 200 characters' }]);
  });

  it.each([
    ['a non-ASCII letter', 'sk-convergence-café-0000-0000-0000'],
    ['an inner space', 'sk-convergence-aaaa bbbb-cccc-dddd'],
    ['a control character', 'sk-convergence-aaaa\u0007bbbb-cccc-dddd'],
  ])('rejects a key with %s: it could never match a header, so it must not look loaded', (_what, key) => {
    const { records, rejected } = parseKeyRows([HEADER, [key, 'x', '', '', true, '']], opts);
    expect(records).toEqual([]);
    expect(rejected[0]!.reason).toMatch(/printable ASCII/);
    expect(JSON.stringify(rejected)).not.toContain(key);
  });
});

describe('KeyRowParser', () => {
  const KEY_C = 'sk-convergence-33333333-3333-4333-8333-333333333333';
  const table = [
    HEADER,
    [KEY_A, 'Acme', '', '2030-01-01', true, ''],
    [KEY_B, 'Beta', '', '', true, '100'],
    [KEY_C, 'Gamma', '', '', false, ''],
  ];

  it('takes rows one at a time, with the same result as a whole table', () => {
    const parser = new KeyRowParser(opts);
    for (const row of table) parser.push(row);
    expect(parser.finish()).toEqual(parseKeyRows(table, opts));
    expect(() => new KeyRowParser(opts).finish()).toThrow(HeaderError);
  });

  it('keeps the previous record of every unchanged row, and only of those', () => {
    const first = parseKeyRows(table, opts);
    expect(first.reused).toBe(0);
    const changed = [
      HEADER,
      [KEY_A, 'Acme', '', '2030-01-01', true, ''], // unchanged
      [KEY_B, 'Beta', '', '', true, '200'], // new limit
      [KEY_C, 'Gamma', '', '', true, ''], // reactivated
    ];
    const second = parseKeyRows(changed, opts, first.byHash);
    const hashA = sha256Hex(KEY_A);
    const hashB = sha256Hex(KEY_B);
    const hashC = sha256Hex(KEY_C);
    expect(second.reused).toBe(1);
    expect(second.byHash.get(hashA)).toBe(first.byHash.get(hashA));
    expect(second.byHash.get(hashB)).not.toBe(first.byHash.get(hashB));
    expect(second.byHash.get(hashB)!.rateLimit).toBe(200);
    expect(second.byHash.get(hashC)!.isActive).toBe(true);

    // A row that moved is a new record (messages name rows); so is one whose zone reading changed.
    const moved = parseKeyRows([HEADER, changed[2]!, changed[1]!, changed[3]!], opts, second.byHash);
    expect(moved.byHash.get(hashA)).not.toBe(second.byHash.get(hashA));
    expect(moved.byHash.get(hashA)!.row).toBe(3);
    const otherZone = parseKeyRows(changed, { ...opts, timeZone: 'Asia/Tokyo' }, second.byHash);
    expect(otherZone.byHash.get(hashA)!.expiresAt).not.toBe(second.byHash.get(hashA)!.expiresAt);
    expect(otherZone.reused).toBe(2);
  });

  it('compares every field, allowed models included', () => {
    const withModels = (models: string) => parseKeyRows([[...HEADER, 'allowed_models'], [KEY_A, 'Acme', '', '', true, '', models]], opts).records[0]!;
    expect(sameRecord(withModels('a,b'), withModels('b, a'))).toBe(true);
    expect(sameRecord(withModels('a,b'), withModels('a'))).toBe(false);
    expect(sameRecord(withModels('a'), withModels(''))).toBe(false);
    expect(sameRecord(withModels(''), withModels(''))).toBe(true);
  });

  it('rejects every row of a key duplicated across reloads too, never reusing one of them', () => {
    const first = parseKeyRows(table, opts);
    const dup = parseKeyRows([...table, [KEY_A, 'Acme again', '', '', true, '']], opts, first.byHash);
    expect(dup.byHash.has(sha256Hex(KEY_A))).toBe(false);
    expect(dup.rejected.map((r) => r.row)).toEqual([2, 5]);
  });

  it('hands back the previous index itself when nothing changed, and a new one on any change', () => {
    const first = parseKeyRows(table, opts);
    const same = parseKeyRows(table, opts, first.byHash);
    expect(same.byHash).toBe(first.byHash);
    expect(same.reused).toBe(3);
    expect(same.records).toEqual(first.records);

    // A key's row blanked out: every other row unchanged, yet the key set lost one.
    const blanked = parseKeyRows([HEADER, table[1]!, ['', '', '', '', '', ''], table[3]!], opts, first.byHash);
    expect(blanked.byHash).not.toBe(first.byHash);
    expect([...blanked.byHash.keys()]).toEqual([sha256Hex(KEY_A), sha256Hex(KEY_C)]);

    // A bad row added: the key set is the same, the rejection is new.
    const withBad = parseKeyRows([...table, ['short', 'x', '', '', true, '']], opts, first.byHash);
    expect(withBad.byHash).toBe(first.byHash);
    expect(withBad.rejected).toEqual([{ row: 5, reason: expect.stringContaining('shorter') }]);

    // The first key again further down: both rows rejected, though the first was unchanged.
    const dup = parseKeyRows([...table, [KEY_B, 'Beta', '', '', true, '100']], opts, first.byHash);
    expect([...dup.byHash.keys()]).toEqual([sha256Hex(KEY_A), sha256Hex(KEY_C)]);
    expect(dup.rejected.map((r) => r.row)).toEqual([3, 5]);
  });

  it('after a change near the end, merges the unchanged records into the new index in steps', () => {
    const rows = Array.from({ length: 12_000 }, (_, i) => [`sk-convergence-merge-key-${String(i).padStart(6, '0')}`, `c${i}`, '', '', true, '']);
    const first = parseKeyRows([HEADER, ...rows], opts);
    const edited = rows.map((r) => [...r]);
    edited[11_999]![1] = 'renamed';
    edited.push([...rows[3]!]); // and the fourth key again on a new last row
    const parser = new KeyRowParser(opts, first.byHash);
    for (const r of [HEADER, ...edited]) parser.push(r);
    const steps = parser.finishInSteps();
    let yields = 0;
    let step = steps.next();
    while (!step.done) {
      yields += 1;
      step = steps.next();
    }
    expect(yields).toBe(2); // 11,999 unchanged records, 5,000 per step
    const result = step.value;
    expect(result.byHash.size).toBe(11_999);
    expect(result.reused).toBe(11_999);
    expect(result.byHash.get(sha256Hex(rows[0]![0] as string))).toBe(first.byHash.get(sha256Hex(rows[0]![0] as string)));
    expect(result.byHash.get(sha256Hex(rows[11_999]![0] as string))!.clientName).toBe('renamed');
    expect(result.byHash.has(sha256Hex(rows[3]![0] as string))).toBe(false);
    expect(result.rejected).toEqual([
      { row: 5, reason: 'the same key is on rows 5, 12002' },
      { row: 12_002, reason: 'the same key is on rows 5, 12002' },
    ]);
    expect(result.records.map((r) => r.row)).toEqual(result.records.map((r) => r.row).sort((a, b) => a - b));
    const fresh = parseKeyRows([HEADER, ...edited], opts);
    expect(result.records).toEqual(fresh.records);
    expect(result.rejected).toEqual(fresh.rejected);
  });
});


describe('KeyRowParser patching the previous index in place', () => {
  const keyOf = (i: number): string => `sk-convergence-patch-key-${String(i).padStart(6, '0')}`;
  const base = (): unknown[][] => Array.from({ length: 2_000 }, (_, i) => [keyOf(i), `c${i}`, '', '', true, '']);
  const edits: Array<[string, (rows: unknown[][]) => void]> = [
    ['nothing', () => undefined],
    ['a renamed client', (rows) => void (rows[17]![1] = 'renamed')],
    ['a deactivated key', (rows) => void (rows[1_999]![4] = false)],
    ['a blanked row', (rows) => void (rows[40] = ['', '', '', '', '', ''])],
    ['the last rows deleted', (rows) => void rows.splice(1_990)],
    ['a row made invalid', (rows) => void (rows[5]![0] = 'short')],
    ['an unchanged key again on a new row', (rows) => void rows.push([keyOf(3), 'again', '', '', true, ''])],
    ['an unchanged key again on a changed row', (rows) => void (rows[9] = [keyOf(8), 'copy', '', '', true, ''])],
    ['the same new key on two rows', (rows) => void rows.push([keyOf(9_000), 'x', '', '', true, ''], [keyOf(9_000), 'y', '', '', true, ''])],
    ['a key replaced on its row', (rows) => void (rows[100]![0] = keyOf(9_001))],
    ['two rows swapped', (rows) => void ([rows[20], rows[21]] = [rows[21]!, rows[20]!])],
    ['a key on three rows, one unchanged', (rows) => void rows.push([keyOf(4), 'b', '', '', true, ''], [keyOf(4), 'c', '', '', true, ''])],
  ];

  for (const [name, edit] of edits) {
    it(`gives what a fresh parse gives: ${name}`, () => {
      const first = parseKeyRows([HEADER, ...base()], opts);
      const served = first.byHash as Map<string, unknown>;
      const edited = base();
      edit(edited);
      const result = runAll(parseKeyRowsInSteps([HEADER, ...edited], opts, Infinity, first.byHash, true));
      const fresh = parseKeyRows([HEADER, ...edited], opts);
      expect(result.byHash).toBe(served); // small changes are applied to the served index itself
      expect(result.records).toEqual(fresh.records);
      expect(result.rejected).toEqual(fresh.rejected);
      expect([...result.byHash.keys()].sort()).toEqual([...fresh.byHash.keys()].sort());
    });
  }

  it('builds a new index (leaving the served one alone) when too much changed', () => {
    const first = parseKeyRows([HEADER, ...base()], opts);
    const snapshot = new Map(first.byHash);
    const edited = base();
    edited.unshift([keyOf(9_999), 'top', '', '', true, '']); // every row moves down one
    const result = runAll(parseKeyRowsInSteps([HEADER, ...edited], opts, Infinity, first.byHash, true));
    expect(result.byHash).not.toBe(first.byHash);
    expect(first.byHash).toEqual(snapshot);
    expect(result.records).toEqual(parseKeyRows([HEADER, ...edited], opts).records);
  });
});

function runAll<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
