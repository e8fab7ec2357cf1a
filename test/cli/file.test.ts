import { lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'vitest';
import { csvText, readCsvTable } from '../../server/keys/csv-table.ts';
import { keyId, sha256Hex } from '../../server/keys/keyid.ts';
import { KEY_COLUMNS, parseKeyRows } from '../../server/keys/rows.ts';
import { USAGE_COLUMNS } from '../../server/usage/columns.ts';
import { inProcess, keysIn, runKeys, stderrLines, tempDir } from './run.ts';

const ACTIVE = 'sk-convergence-cccccccc-0000-4000-8000-000000000001';
const EXPIRED = 'sk-convergence-cccccccc-0000-4000-8000-000000000002';
const INACTIVE = 'sk-convergence-cccccccc-0000-4000-8000-000000000003';
const SEEDED = [ACTIVE, EXPIRED, INACTIVE];

/** A temp folder of the test's own for its key file. */
function setup(ctx: TestContext, seeded = false) {
  const tmp = tempDir();
  ctx.onTestFinished(() => tmp.remove());
  const keysFile = join(tmp.dir, 'keys.csv');
  if (seeded) seed(keysFile);
  return { tmp, keysFile, env: { KEYS_FILE: keysFile }, expect: ctx.expect };
}

/** A key file with other columns first and in another order, as admins leave them. */
function seed(keysFile: string): void {
  writeFileSync(keysFile, csvText([
    ['notes', 'Rate_Limit', 'Client_Name', 'API_KEY', 'is_active', 'expires_at', 'created_at'],
    ['keep me', '100', 'Acme', ACTIVE, 'TRUE', '', '2024-01-01'],
    ['', '', 'Old Co', EXPIRED, 'yes', '2020-01-01', ''],
    ['', '', 'Gone Inc', INACTIVE, 'FALSE', '', ''],
  ]), { mode: 0o600 });
}

function parse(rows: unknown[][]) {
  return parseKeyRows(rows, { timeZone: 'UTC', defaultRateLimit: 60 });
}

describe('init', () => {
  it('creates the key and usage files with headers, mode 0600, and changes nothing the second time', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx);
    const first = await runKeys(['init'], env);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(await readCsvTable(keysFile)).toEqual([[...KEY_COLUMNS]]);
    expect(await readCsvTable(join(tmp.dir, 'keys.usage.csv'))).toEqual([[...USAGE_COLUMNS]]);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    expect(first.stdout).toContain('/admin/reload-keys');

    const before = readFileSync(keysFile, 'utf8');
    const mtime = statSync(keysFile).mtimeMs;
    const second = await inProcess(['init'], env);
    expect(second).toMatchObject({ code: 0, stderr: '' });
    expect(second.stdout).toContain('Nothing to change');
    expect(readFileSync(keysFile, 'utf8')).toBe(before);
    expect(statSync(keysFile).mtimeMs).toBe(mtime);
  });

  it('adds missing key columns to an existing file and keeps its rows and extra columns', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx);
    writeFileSync(keysFile, csvText([['api_key', 'notes'], [ACTIVE, 'keep me']]));
    expect((await inProcess(['init'], env)).code).toBe(0);
    const rows = await readCsvTable(keysFile);
    expect(rows[0]).toEqual(['api_key', 'notes', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit']);
    expect(rows[1]).toEqual([ACTIVE, 'keep me']);
  });
});

describe('add', () => {
  it('appends an active key the gateway accepts and prints it once; --quiet prints only the key', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    const run = await runKeys(['add', '--name', 'Beta', '--rate-limit', '7', '--expires', '2099-12-31'], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [key, ...more] = keysIn(run.stdout);
    expect(more).toEqual([]);
    expect(run.stdout).toContain(`key id ${keyId(key!)}`);
    expect(run.stdout).toContain('API_KEY_CACHE_DURATION');
    expect(run.stdout).toContain('curl -X POST -H "Authorization: Bearer $ADMIN_API_KEY" http://127.0.0.1:8000/admin/reload-keys');

    const quiet = await runKeys(['add', '--name', 'Gamma', '--quiet'], env);
    expect(quiet).toMatchObject({ code: 0, stderr: '' });
    expect(quiet.stdout).toMatch(/^sk-convergence-[0-9a-f-]{36}\n$/);

    const rows = await readCsvTable(keysFile);
    expect(rows[0]).toEqual(['notes', 'Rate_Limit', 'Client_Name', 'API_KEY', 'is_active', 'expires_at', 'created_at']);
    expect(rows[1]).toEqual(['keep me', '100', 'Acme', ACTIVE, 'TRUE', '', '2024-01-01']);
    expect(rows[4]).toEqual(['', '7', 'Beta', key, 'TRUE', '2099-12-31', expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)]);
    const { records, rejected } = parse(rows);
    expect(rejected).toEqual([]);
    expect(records.find((r) => r.keyHash === sha256Hex(key!))).toMatchObject({ clientName: 'Beta', isActive: true, rateLimit: 7, expiresAt: Date.parse('2100-01-01T00:00:00Z') });
    expect(records.find((r) => r.keyHash === sha256Hex(quiet.stdout.trim()))).toMatchObject({ clientName: 'Gamma', rateLimit: 60, expiresAt: null });
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
  });

  it('tells the operator to run init when there is no key file', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx);
    const run = await inProcess(['add', '--name', 'Beta'], env);
    expect(run.code).toBe(1);
    expect(stderrLines(run)).toEqual([expect.stringContaining('does not exist; create it with: npm run keys -- init')]);
  });

  it('leaves the file intact when the write fails', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    // Grow the file past 1 KiB so that `ulimit -f 1` stops the temp file's write (EFBIG).
    const rows = await readCsvTable(keysFile);
    for (let i = 0; i < 20; i++) rows.push(['', '', `Filler ${i}`, `sk-convergence-dddddddd-0000-4000-8000-${String(i).padStart(12, '0')}`, 'TRUE', '', '']);
    writeFileSync(keysFile, csvText(rows), { mode: 0o600 });
    const before = readFileSync(keysFile, 'utf8');
    expect(before.length).toBeGreaterThan(1024);

    const run = await runKeys(['add', '--name', 'Beta'], env, { fileSizeLimitKb: 1 });
    expect(run.code).toBe(1);
    expect(stderrLines(run)).toEqual([expect.stringMatching(/^error: cannot write .*keys\.csv: EFBIG \(the file was left as it was\)$/)]);
    expect(run.stdout).toBe('');
    expect(readFileSync(keysFile, 'utf8')).toBe(before);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    expect(parse(await readCsvTable(keysFile)).records).toHaveLength(rows.length - 1);
    // writeFileAtomic (server/keys/csv-table.ts) leaves its partial temp file behind when the
    // write itself fails; reported, not ours to change. The key file is what must stay whole.
    expect(readdirSync(tmp.dir).filter((f) => !/^\.keys\.csv\.[0-9a-f]+\.tmp$/.test(f))).toEqual(['keys.csv']);
  });
});

describe('list', () => {
  it('shows masked keys, clients, statuses, limits and expiry, in a table and as JSON, never a key', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    const table = await runKeys(['list'], env);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^ROW\s+KEY ID\s+KEY\s+CLIENT\s+STATUS\s+LIMIT\s+EXPIRES \(UTC\)\s+QUOTA USE \(usage rows\)$/);
    expect(lines[1]).toMatch(new RegExp(`^2\\s+${keyId(ACTIVE)}\\s+sk-convergence-…0001\\s+Acme\\s+active\\s+100\\s+never\\s+-$`));
    expect(lines[2]).toMatch(/^3\s+[0-9a-f]{16}\s+sk-convergence-…0002\s+Old Co\s+expired\s+60 \(default\)\s+2020-01-01\s+-$/);
    expect(lines[3]).toMatch(/^4\s+[0-9a-f]{16}\s+sk-convergence-…0003\s+Gone Inc\s+inactive\s+60 \(default\)\s+never\s+-$/);
    expect(table.stdout).toContain('3 keys: 1 active, 1 expired, 1 inactive');

    const json = await inProcess(['list', '--json'], env);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { time_zone: string; keys: Array<Record<string, unknown>> };
    expect(parsed.time_zone).toBe('UTC');
    expect(parsed.keys).toEqual([
      { row: 2, key_id: keyId(ACTIVE), key: 'sk-convergence-…0001', hashed: false, client_name: 'Acme', status: 'active', reason: null, rate_limit: 100, rate_limit_default: false, expires_at: null, quota: null },
      expect.objectContaining({ row: 3, client_name: 'Old Co', status: 'expired', expires_at: '2020-01-02T00:00:00.000Z', rate_limit_default: true }),
      expect.objectContaining({ row: 4, client_name: 'Gone Inc', status: 'inactive' }),
    ]);
    for (const key of SEEDED) expect(table.stdout + json.stdout).not.toContain(key);
  });
});

describe('revoke', () => {
  it('by name revokes every active key of the client and says how many', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    await inProcess(['add', '--name', 'Acme', '--quiet'], env);
    const run = await runKeys(['revoke', '--name', 'Acme'], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Revoked 2 keys of client "Acme"');
    expect(keysIn(run.stdout)).toEqual([]);
    const rows = await readCsvTable(keysFile);
    expect(rows.filter((r) => r[2] === 'Acme').map((r) => r[4])).toEqual(['FALSE', 'FALSE']);
    expect(rows[1]![0]).toBe('keep me');
    expect(parse(rows).records.filter((r) => r.isActive).map((r) => r.clientName)).toEqual(['Old Co']);

    const again = await inProcess(['revoke', '--name', 'Acme'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already inactive');
  });

  it('by key id revokes that key only; an unknown id or name fails with one line', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    await inProcess(['add', '--name', 'Acme', '--quiet'], env);
    const run = await runKeys(['revoke', '--key-id', keyId(ACTIVE).toUpperCase()], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Revoked 1 key of key id');
    const { records } = parse(await readCsvTable(keysFile));
    expect(records.filter((r) => r.clientName === 'Acme').map((r) => r.isActive)).toEqual([false, true]);

    const unknown = await inProcess(['revoke', '--key-id', '0000000000000000'], env);
    expect(unknown.code).toBe(1);
    expect(stderrLines(unknown)).toEqual(['error: no key with key id 0000000000000000; see: npm run keys -- list']);
    const near = await inProcess(['revoke', '--name', 'acme'], env);
    expect(stderrLines(near)).toEqual([expect.stringContaining('(did you mean "Acme"?)')]);
  });
});

describe('input hygiene', () => {
  it('revoke through a symlinked KEYS_FILE changes the real file, and the link stays a link', async (ctx) => {
    const { tmp, keysFile, expect } = setup(ctx, true);
    const link = join(tmp.dir, 'linked-keys.csv');
    symlinkSync(keysFile, link);
    const run = await runKeys(['revoke', '--name', 'Acme'], { KEYS_FILE: link });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(parse(await readCsvTable(keysFile)).records.find((r) => r.clientName === 'Acme')?.isActive).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it.for(['=HYPERLINK("x")', '+1', '-cmd', '@SUM(A1)'])('add refuses a client name starting like a formula: %s', async (name, ctx) => {
    const { keysFile, env, expect } = setup(ctx, true);
    const before = readFileSync(keysFile, 'utf8');
    const run = await inProcess(['add', `--name=${name}`], env);
    expect(run.code).toBe(2);
    expect(stderrLines(run)).toEqual([expect.stringContaining('must not start with =, +, - or @')]);
    expect(readFileSync(keysFile, 'utf8')).toBe(before);
  });

  it('list prints control characters in names as escapes, never raw', async (ctx) => {
    const { keysFile, env, expect } = setup(ctx);
    writeFileSync(keysFile, csvText([[...KEY_COLUMNS], [ACTIVE, 'Evil\u001b[2J\u0007Co', '', '', 'TRUE', '']]), { mode: 0o600 });
    const run = await runKeys(['list'], env);
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f]/);
    expect(run.stdout).toContain('Evil\\x1b[2J\\x07Co');
  });
});

describe('rotate', () => {
  it('adds a key for the client with the same limit and expires the old one after the grace period', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    const started = Date.now();
    const run = await runKeys(['rotate', '--name', 'Acme', '--grace', '90m'], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const [key, ...more] = keysIn(run.stdout);
    expect(more).toEqual([]);
    expect(run.stdout).toContain(`The old key sk-convergence-…0001 (key id ${keyId(ACTIVE)}, row 2) keeps working until`);

    const { records, rejected } = parse(await readCsvTable(keysFile));
    expect(rejected).toEqual([]);
    const old = records.find((r) => r.keyHash === sha256Hex(ACTIVE))!;
    expect(old.expiresAt).toBeGreaterThanOrEqual(started + 90 * 60_000);
    expect(old.expiresAt).toBeLessThanOrEqual(Date.now() + 90 * 60_000 + 1000);
    expect(records.find((r) => r.keyHash === sha256Hex(key!))).toMatchObject({ clientName: 'Acme', rateLimit: 100, isActive: true, expiresAt: null });
  });

  it('refuses a client with several active keys unless --key-id picks one', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    const second = (await inProcess(['add', '--name', 'Acme', '--quiet'], env)).stdout.trim();
    const refused = await runKeys(['rotate', '--name', 'Acme'], env);
    expect(refused.code).toBe(1);
    expect(stderrLines(refused)).toEqual([`error: client "Acme" has 2 active keys (key ids ${keyId(ACTIVE)}, ${keyId(second)}); choose one with --key-id`]);

    const picked = await inProcess(['rotate', '--key-id', keyId(second), '--grace', '1h', '--quiet'], env);
    expect(picked.code).toBe(0);
    expect(keysIn(picked.stdout)).toHaveLength(1);

    const expired = await inProcess(['rotate', '--name', 'Old Co'], env);
    expect(expired.code).toBe(1);
    expect(stderrLines(expired)).toEqual([expect.stringContaining('has no active, unexpired key to rotate')]);
  });
});

describe('hashed keys', () => {
  it('add --hashed and rotate --hashed store only the hash and hint; list and revoke work on them', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    const added = (await runKeys(['add', '--name', 'Hidden', '--hashed', '--quiet'], env)).stdout.trim();
    const rotated = await runKeys(['rotate', '--name', 'Acme', '--hashed', '--grace', '1h'], env);
    expect(rotated.code).toBe(0);
    const [newKey] = keysIn(rotated.stdout);
    const text = readFileSync(keysFile, 'utf8');
    expect(text).not.toContain(added);
    expect(text).not.toContain(newKey);
    const rows = await readCsvTable(keysFile);
    expect(rows[0]).toEqual(['notes', 'Rate_Limit', 'Client_Name', 'API_KEY', 'is_active', 'expires_at', 'created_at', 'api_key_sha256', 'key_hint']);
    expect(rows[4]!.slice(7)).toEqual([sha256Hex(added), `sk-convergence-…${added.slice(-4)}`]);
    const { records, rejected } = parse(rows);
    expect(rejected).toEqual([]);
    expect(records.find((r) => r.keyHash === sha256Hex(newKey!))).toMatchObject({ clientName: 'Acme', rateLimit: 100 });

    const list = JSON.parse((await inProcess(['list', '--json', '--name', 'Hidden'], env)).stdout) as { keys: Array<Record<string, unknown>> };
    expect(list.keys).toEqual([expect.objectContaining({ key_id: keyId(added), key: `sk-convergence-…${added.slice(-4)}`, hashed: true, status: 'active' })]);
    const revoked = await inProcess(['revoke', '--key-id', keyId(added)], env);
    expect(revoked.code).toBe(0);
    expect(parse(await readCsvTable(keysFile)).records.find((r) => r.keyId === keyId(added))!.isActive).toBe(false);
  });

  it('hash-existing replaces every plain key by its hash and hint in one rename, and skips short keys', async (ctx) => {
    const { tmp, keysFile, env, expect } = setup(ctx, true);
    const rows = await readCsvTable(keysFile);
    rows.push(['', '', 'Short', 'too-short-key', 'TRUE', '', '']);
    writeFileSync(keysFile, csvText(rows), { mode: 0o600 });
    const before = parse(rows);

    const dry = await inProcess(['hash-existing', '--dry-run'], env);
    expect(dry.stdout).toContain('Would hash 3 keys');
    expect(readFileSync(keysFile, 'utf8')).toBe(csvText(rows));

    const run = await runKeys(['hash-existing'], env);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Hashed 3 keys');
    expect(run.stdout).toContain('Skipped row 5: api_key is shorter than 16 characters');
    const text = readFileSync(keysFile, 'utf8');
    for (const key of SEEDED) expect(text).not.toContain(key);
    expect(readdirSync(tmp.dir)).toEqual(['keys.csv']);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    const after = parse(await readCsvTable(keysFile));
    // The same keys, with the same rights: only the form changed.
    expect(after.records.map(({ row, ...r }) => r)).toEqual(before.records.map(({ row, ...r }) => r));
    expect(after.rejected).toEqual(before.rejected);

    const list = await inProcess(['list'], env);
    expect(list.stdout).toMatch(/2\s+[0-9a-f]{16}\s+sk-convergence-…0001\s+Acme\s+active/);
    expect((await inProcess(['hash-existing'], env)).stdout).toContain('No plain keys to hash');
  });
});
