import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { isDate } from './fakes/values.ts';
import { USAGE_HEADER, buildOnce, loadBuilt, rowObject, seedKeys, type Env } from './harness.ts';

beforeAll(() => buildOnce());

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const idOf = (key: string) => sha256(key).slice(0, 16);

const KEY_A = 'sk-convergence-11111111-1111-4111-8111-111111111111';
const KEY_B = 'sk-convergence-22222222-2222-4222-8222-222222222222';
const KEY_C = 'sk-convergence-33333333-3333-4333-8333-333333333333';
const HASHED = 'sk-convergence-44444444-4444-4444-8444-444444444444';
const TOTALS = ['last_used_at', 'requests', 'prompt_tokens', 'completion_tokens'];
const PERIOD = ['period_requests', 'period_tokens', 'token_quota_used_pct', 'request_quota_used_pct'];

function seedUsage(env: Env) {
  return env.ss.addSheet('Usage', [
    USAGE_HEADER,
    ['2025-03-01T10:00:00.000Z', idOf(KEY_A), 'Acme', 5, 0, 100, 50, 'gw-1'],
    ['2025-03-01T10:01:00.000Z', idOf(KEY_A), 'Acme', 3, 1, 30, 20, 'gw-2'],
    // A later flush that only counted refused requests: not a use.
    ['2025-03-01T12:00:00.000Z', idOf(KEY_A), 'Acme', 0, 4, 0, 0, 'gw-1'],
    [new Date('2025-03-02T08:00:00Z'), idOf(KEY_B).toUpperCase(), 'Beta', 1, 0, 7, 3, 'gw-1'],
    ['2025-03-03T00:00:00.000Z', idOf(HASHED), 'Hashed', 2, 0, 10, 10, 'gw-1'],
    ['2025-03-03T00:00:00.000Z', 'ffffffffffffffff', 'Gone', 9, 0, 9, 9, 'gw-1'],
    ['garbage', idOf(KEY_B), 'Beta', '2', '', 'x', 1, 'gw-3'],
  ]);
}

function seedKeyTab(env: Env, header = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'api_key_sha256']) {
  const rows = [
    { api_key: KEY_A, client_name: 'Acme' },
    { api_key: KEY_B, client_name: 'Beta' },
    { api_key: '', client_name: '' },
    { api_key: `  ${KEY_C}  `, client_name: 'Gamma' },
    { api_key: '', client_name: 'Hashed', api_key_sha256: sha256(HASHED).toUpperCase() },
  ];
  return seedKeys(env, rows.map((r) => header.map((h) => (r as Record<string, string>)[h.toLowerCase()] ?? '')), header);
}

function totalsByClient(env: Env): Record<string, Record<string, unknown>> {
  const [header = [], ...rows] = env.ss.sheet('API_Keys').rows();
  const out: Record<string, Record<string, unknown>> = {};
  rows.forEach((row, i) => {
    const obj = rowObject(header, row);
    const totals = Object.fromEntries(TOTALS.map((t) => [t, isDate(obj[t]) ? (obj[t] as Date).toISOString() : obj[t]]));
    out[String(obj.client_name) || `blank row ${i + 2}`] = totals;
  });
  return out;
}

const EXPECTED = {
  Acme: { last_used_at: '2025-03-01T10:01:00.000Z', requests: 8, prompt_tokens: 130, completion_tokens: 70 },
  Beta: { last_used_at: '2025-03-02T08:00:00.000Z', requests: 3, prompt_tokens: 7, completion_tokens: 4 },
  'blank row 4': { last_used_at: '', requests: '', prompt_tokens: '', completion_tokens: '' },
  Gamma: { last_used_at: '', requests: 0, prompt_tokens: 0, completion_tokens: 0 },
  Hashed: { last_used_at: '2025-03-03T00:00:00.000Z', requests: 2, prompt_tokens: 10, completion_tokens: 10 },
};

describe('Refresh usage', () => {
  it('sums Usage rows by key id into new columns on the keys tab, under the lock', async () => {
    const env = await loadBuilt();
    seedKeyTab(env);
    seedUsage(env);
    env.call('refreshUsage');
    expect(env.ss.sheet('API_Keys').header().slice(-8)).toEqual([...TOTALS, ...PERIOD]);
    expect(totalsByClient(env)).toEqual(EXPECTED);
    expect(env.lock.acquired).toBe(1);
    expect(env.ss.sheet('Usage').rows()).toHaveLength(8);
    expect(env.ui.messages('alert')).toEqual(['Usage totals updated for 4 keys (7 new usage rows read); the Dashboard is rebuilt.']);
  });

  it('never adds twice: a second run gives the same totals with one setValues on the keys tab, and reads no old row', async () => {
    const env = await loadBuilt();
    seedKeyTab(env);
    const usage = seedUsage(env);
    env.call('refreshUsage');
    env.ss.writes.length = 0;
    env.ss.reads.length = 0;
    env.call('refreshUsage');
    expect(totalsByClient(env)).toEqual(EXPECTED);
    expect(env.ss.writes.filter((w) => w.sheet === 'API_Keys')).toEqual([{ sheet: 'API_Keys', op: 'setValues', row: 2, column: 8, rows: 5, columns: 8 }]);
    // Nothing new: the state tab is left alone, and of Usage only the header and the last row read are read again.
    expect(env.ss.writes.filter((w) => w.sheet === 'Usage (state)')).toEqual([]);
    expect(env.ss.cellsRead('Usage')).toBe(2 * USAGE_HEADER.length);

    usage.seed([...usage.rows(), ['2025-04-01T00:00:00.000Z', idOf(KEY_C), 'Gamma', 1, 0, 2, 3, 'gw-1']]);
    env.call('refreshUsage');
    expect(totalsByClient(env).Gamma).toEqual({ last_used_at: '2025-04-01T00:00:00.000Z', requests: 1, prompt_tokens: 2, completion_tokens: 3 });
    expect(totalsByClient(env).Acme).toEqual(EXPECTED.Acme);
  });

  it('writes existing usage columns wherever they are, one setValues per run of adjacent columns', async () => {
    const env = await loadBuilt();
    const header = ['Requests', 'client_name', 'notes', 'API_KEY', 'prompt_tokens', 'completion_tokens', 'rate_limit', ' Last_Used_At ', 'is_active', 'api_key_sha256'];
    seedKeyTab(env, header);
    seedUsage(env);
    env.call('refreshUsage');
    const sheet = env.ss.sheet('API_Keys');
    expect(sheet.header()).toEqual([...header, ...PERIOD]);
    expect(totalsByClient(env)).toEqual(EXPECTED);
    const writes = env.ss.writes.filter((w) => w.sheet === 'API_Keys' && w.row > 1).map(({ op, row, column, rows, columns }) => ({ op, row, column, rows, columns }));
    expect(writes).toEqual([
      { op: 'setValues', row: 2, column: 1, rows: 5, columns: 1 },
      { op: 'setValues', row: 2, column: 5, rows: 5, columns: 2 },
      { op: 'setValues', row: 2, column: 8, rows: 5, columns: 1 },
      { op: 'setValues', row: 2, column: 11, rows: 5, columns: 4 },
    ]);
    expect(sheet.rows()[1]!.slice(1, 4)).toEqual(['Acme', '', KEY_A]);
  });

  it('runs without a UI, as the hourly trigger does', async () => {
    const env = await loadBuilt();
    seedKeyTab(env);
    seedUsage(env);
    env.state.uiAvailable = false;
    env.call('refreshUsage', { triggerUid: '1', authMode: 'FULL' });
    expect(totalsByClient(env)).toEqual(EXPECTED);
    expect(env.ui.events).toEqual([]);
  });

  // Review item 7: an hourly run that finds another action running is skipped; the next one catches up.
  it('exits quietly under a trigger when the lock is busy, and alerts from the menu', async () => {
    const env = await loadBuilt();
    seedKeyTab(env);
    seedUsage(env);
    env.lock.busy = true;
    env.state.uiAvailable = false;
    expect(env.call('refreshUsage', { triggerUid: '7', authMode: 'FULL' })).toBeUndefined();
    expect(env.ss.writes).toEqual([]);
    env.state.uiAvailable = true;
    env.call('refreshUsage');
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('Another API Keys action is still running')]);
    env.lock.busy = false;
    env.state.uiAvailable = false;
    env.call('refreshUsage', { triggerUid: '7', authMode: 'FULL' });
    expect(totalsByClient(env)).toEqual(EXPECTED);
  });

  it('zeroes the totals when there is no Usage tab', async () => {
    const env = await loadBuilt();
    seedKeyTab(env);
    env.call('refreshUsage');
    expect(totalsByClient(env).Acme).toEqual({ last_used_at: '', requests: 0, prompt_tokens: 0, completion_tokens: 0 });
  });

  it('asks for Set up sheet when there is no keys tab, and for key_id when Usage lacks it', async () => {
    const env = await loadBuilt();
    env.call('refreshUsage');
    expect(env.ui.messages('alert').at(-1)).toContain('There is no "API_Keys" tab yet. Run API Keys > Set up sheet first.');
    seedKeyTab(env);
    env.ss.addSheet('Usage', [['timestamp', 'key', 'requests'], ['2025-01-01T00:00:00Z', 'x', 1]]);
    env.call('refreshUsage');
    expect(env.ui.messages('alert').at(-1)).toBe('The "Usage" tab has no key_id column.');
    expect(env.ss.sheet('API_Keys').header()).not.toContain('requests');
  });

  it('reads the tab names from script properties', async () => {
    const env = await loadBuilt({ properties: { KEYS_SHEET_NAME: 'Keys', USAGE_SHEET_NAME: 'Counts' } });
    env.ss.addSheet('Keys', [['api_key', 'client_name'], [KEY_A, 'Acme']]);
    env.ss.addSheet('Counts', [USAGE_HEADER, ['2025-03-01T10:00:00.000Z', idOf(KEY_A), 'Acme', 5, 0, 100, 50, 'gw-1']]);
    env.call('refreshUsage');
    expect(env.ss.sheet('Keys').rows()[1]!.slice(3, 6)).toEqual([5, 100, 50]);
  });
});
