import { beforeAll, describe, expect, it } from 'vitest';
import { colourScaleRule, type FakeConditionalRule, type FakeValidation } from './fakes/rules.ts';
import { KEYS_HEADER, USAGE_HEADER, USAGE_HEADER_V2, buildOnce, loadBuilt, seedKeys, type Env } from './harness.ts';

beforeAll(() => buildOnce());

const TAG = 'convergence-gateway:inactive-or-expired';

function ourRules(env: Env): FakeConditionalRule[] {
  return (env.ss.sheet('API_Keys').conditionalRules as FakeConditionalRule[]).filter((r) => r.formula.includes(TAG));
}

function validation(env: Env, row: number, column: number): FakeValidation | undefined {
  return env.ss.sheet('API_Keys').validationAt(row, column) as FakeValidation | undefined;
}

describe('Set up sheet', () => {
  it('creates both tabs with their headers, validation, the grey-out rule and frozen headers', async () => {
    const env = await loadBuilt();
    env.ui.confirm(true);
    env.call('setupSheet');

    const keys = env.ss.sheet('API_Keys');
    const usage = env.ss.sheet('Usage');
    expect(keys.header()).toEqual(KEYS_HEADER);
    expect(usage.header()).toEqual(USAGE_HEADER_V2);
    expect([keys.frozenRows, usage.frozenRows]).toEqual([1, 1]);

    for (const row of [2, 500, keys.maxRows]) {
      expect(validation(env, row, 5)?.criteria).toBe('CHECKBOX');
      expect(validation(env, row, 6)).toMatchObject({ criteria: 'CUSTOM_FORMULA', values: ['=AND(ISNUMBER(F2), F2>=1, F2=INT(F2))'], allowInvalid: false });
      expect(validation(env, row, 4)).toMatchObject({ criteria: 'DATE_IS_VALID_DATE', allowInvalid: false });
    }
    expect(validation(env, 1, 5)).toBeUndefined(); // the header keeps its text
    for (const column of [1, 2, 3]) expect(validation(env, 2, column)).toBeUndefined();

    const rules = ourRules(env);
    expect(rules).toHaveLength(1);
    const rule = rules[0]!;
    expect(rule.background).toBe('#e0e0e0');
    expect(rule.ranges).toEqual([{ row: 2, column: 1, rows: keys.maxRows - 1, columns: keys.maxColumns }]);
    expect(rule.formula).toBe(
      `=AND(N("${TAG}")=0, LEN($A2)>0, OR(` +
        'AND(LOWER(TRIM($E2&""))<>"true", LOWER(TRIM($E2&""))<>"yes", LOWER(TRIM($E2&""))<>"1"), ' +
        'IFERROR(AND(LEN(TRIM($D2&""))>0, ' +
        'IF(IF(ISNUMBER($D2), $D2, VALUE(SUBSTITUTE(TRIM($D2), "T", " ")))=INT(IF(ISNUMBER($D2), $D2, VALUE(SUBSTITUTE(TRIM($D2), "T", " ")))), ' +
        'IF(ISNUMBER($D2), $D2, VALUE(SUBSTITUTE(TRIM($D2), "T", " ")))+1, IF(ISNUMBER($D2), $D2, VALUE(SUBSTITUTE(TRIM($D2), "T", " "))))<=NOW()), FALSE)))',
    );

    expect(env.scriptApp.triggers.map((t) => [t.getHandlerFunction(), t.getEventType(), t.everyHours ?? t.everyDays])).toEqual([['compactUsage', 'CLOCK', 1], ['refreshUsage', 'CLOCK', 1]]);
    const summary = env.ui.messages('alert')[0]!;
    expect(summary).toContain('API_Keys: created.');
    expect(summary).toContain('Usage: created.');
    expect(summary).toContain('Hourly usage refresh: on.');
    expect(env.lock.acquired).toBe(1);
  });

  it('is safe to run twice: no new columns, rules or triggers, and other rules stay', async () => {
    const env = await loadBuilt();
    env.ui.confirm(true);
    env.call('setupSheet');
    const keys = env.ss.sheet('API_Keys');
    keys.conditionalRules.push(colourScaleRule());
    const before = { header: keys.header(), usage: env.ss.sheet('Usage').header(), validations: keys.validations.size };

    env.call('setupSheet'); // no trigger question this time: the fake Ui would throw on one
    expect(keys.header()).toEqual(before.header);
    expect(env.ss.sheet('Usage').header()).toEqual(before.usage);
    expect(keys.validations.size).toBe(before.validations);
    expect(ourRules(env)).toHaveLength(1);
    expect(keys.conditionalRules).toHaveLength(2);
    expect(env.ss.sheets.map((s) => s.name)).toEqual(['Sheet1', 'API_Keys', 'Usage']);
    expect(env.scriptApp.triggers).toHaveLength(2); // hourly refresh, daily compaction
    expect(env.ui.messages('alert')[1]).toContain('API_Keys: headers complete.');
  });

  it('keeps existing columns and their order, adds the missing ones, and aims rules at them by name', async () => {
    const env = await loadBuilt();
    const header = ['Notes', 'RATE_LIMIT', 'api_key', ' Is_Active ', 'client_name', 'api_key_sha256'];
    seedKeys(env, [['x', 5, 'sk-convergence-some-key-000000000000', true, 'Acme', '']], header);
    env.ss.addSheet('Usage', [['key_id', 'requests', 'my_note']]);
    env.ui.confirm(false);
    env.call('setupSheet');

    const keys = env.ss.sheet('API_Keys');
    expect(keys.header()).toEqual([...header, 'created_at', 'expires_at']);
    expect(keys.rows()[1]).toEqual(['x', 5, 'sk-convergence-some-key-000000000000', true, 'Acme', '', '', '']);
    expect(env.ss.sheet('Usage').header()).toEqual(['key_id', 'requests', 'my_note', 'timestamp', 'client_name', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance', 'flush_id', 'period_start']);
    expect(validation(env, 2, 4)?.criteria).toBe('CHECKBOX');
    expect(validation(env, 2, 2)?.values).toEqual(['=AND(ISNUMBER(B2), B2>=1, B2=INT(B2))']);
    expect(validation(env, 2, 8)?.criteria).toBe('DATE_IS_VALID_DATE');
    const formula = ourRules(env)[0]!.formula;
    expect(formula).toContain('LEN($C2&$F2)>0');
    expect(formula).toContain('LOWER(TRIM($D2&""))<>"true"');
    expect(formula).toContain('IFERROR(AND(LEN(TRIM($H2&""))>0, IF(IF(ISNUMBER($H2), $H2, VALUE(SUBSTITUTE(TRIM($H2), "T", " ")))=INT(');

    expect(env.scriptApp.triggers).toHaveLength(0);
    const summary = env.ui.messages('alert')[0]!;
    expect(summary).toContain('API_Keys: added columns created_at, expires_at.');
    expect(summary).toContain('Hourly usage refresh: off.');
  });

  it('adds sheet columns when the header needs more than the tab has', async () => {
    const env = await loadBuilt();
    const full = Array.from({ length: 26 }, (_, i) => `col${i + 1}`);
    seedKeys(env, [], full);
    env.ui.confirm(false);
    env.call('setupSheet');
    const keys = env.ss.sheet('API_Keys');
    expect(keys.maxColumns).toBe(32);
    expect(keys.header()).toEqual([...full, ...KEYS_HEADER]);
    expect(validation(env, 2, 32)?.values).toEqual(['=AND(ISNUMBER(AF2), AF2>=1, AF2=INT(AF2))']);
  });

  it('says so and changes nothing when the lock is busy', async () => {
    const env = await loadBuilt();
    env.lock.busy = true;
    env.call('setupSheet');
    expect(env.ui.messages('alert')).toEqual([expect.stringContaining('Another API Keys action is still running')]);
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
  });
});

describe('hourly trigger helpers', () => {
  it('installs one refreshUsage trigger (and one daily compactUsage), never two, and removes them', async () => {
    const env = await loadBuilt();
    expect(env.call('installHourlyUsageTrigger')).toBe(true);
    expect(env.call('installHourlyUsageTrigger')).toBe(false);
    expect(env.scriptApp.triggers.map((t) => t.getHandlerFunction())).toEqual(['compactUsage', 'refreshUsage']);
    expect(env.call('removeHourlyUsageTrigger')).toBe(1);
    expect(env.scriptApp.triggers).toHaveLength(0);
  });
});
