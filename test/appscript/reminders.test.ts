// Email reminders: opt-in per spreadsheet, a daily trigger; once 7 days before expiry, once
// at 80% and once at 100% of a quota per period; never without contact_email; never the key.

import { beforeAll, describe, expect, it } from 'vitest';
import { instantOfWall } from './fakes/values.ts';
import { HOUR_MS, buildOnce, loadBuilt, seedKeys, type Env } from './harness.ts';
import { DAY_MS, addUsageTab, keyOf, keyRows, sha256, usageRow, type Flush } from './usage-fixtures.ts';

beforeAll(() => buildOnce());

const TZ = 'Asia/Tokyo';
const NOW = instantOfWall('2026-11-18T08:00:00', TZ);
const TRIGGER = { triggerUid: '3', authMode: 'FULL' };
const HEADER = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit', 'token_quota', 'request_quota', 'quota_period', 'contact_email', 'api_key_sha256', 'key_hint'];
const HASHED = keyOf(2);

function seed(env: Env) {
  seedKeys(env, [
    [keyOf(1), 'Acme', '', new Date(NOW + 10 * DAY_MS), true, 60, 1000, '', 'month', 'ops@acme.example', '', ''],
    ['', 'Beta', '', '2026-11-24', true, 60, '', '', '', 'dev@beta.example', sha256(HASHED), 'sk-convergence-…1111'], // through 24 Nov: 6 days and 16 h
    [keyOf(3), 'Gamma', '', new Date(NOW + 2 * DAY_MS), true, 60, 10, 1, 'day', '', '', ''], // no contact_email
    [keyOf(4), 'Delta', '', new Date(NOW + 2 * DAY_MS), false, 60, '', '', '', 'x@delta.example', '', ''], // revoked
    [keyOf(5), ' Acme', '', '', 'TRUE', 60, 1000, '', 'month', 'ops@acme.example', '', ''], // Acme's second key, same address
  ], HEADER);
  return addUsageTab(env);
}

const use = (hour: number, n: number, client: string, tokens: number, id: string): Flush =>
  ({ hour, key: keyOf(n), client, requests: 1, prompt: tokens, completion: 0, flushId: id });

function subjects(env: Env): string[] {
  return env.mail.sent.map((m) => `${m.to}: ${m.subject}`);
}

describe('Email reminders', () => {
  it('are off until the menu turns them on, which installs one daily trigger for the sheet', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW });
    seed(env).gatewayAppend([usageRow(use(NOW - HOUR_MS, 1, 'Acme', 950, 'u1'))]);
    env.state.uiAvailable = false;
    env.call('sendReminders'); // by hand, not from a trigger (a trigger's run would show one exists)
    expect(env.mail.sent).toEqual([]);
    env.state.uiAvailable = true;

    env.call('toggleReminders');
    expect(env.ui.messages('alert').at(-1)).toContain('Email reminders are on');
    expect(env.ui.menus.at(-1)!.items).toContainEqual({ caption: 'Email reminders: on', handler: 'toggleReminders' });
    expect(env.scriptApp.triggers.map((t) => [t.getHandlerFunction(), t.everyDays, t.atHour])).toEqual([['sendReminders', 1, 8]]);
    // Another admin turning it off and on again does not add a second trigger for the sheet.
    env.scriptApp.useAccount('admin-b@example.com');
    env.call('toggleReminders');
    env.call('toggleReminders');
    expect(env.scriptApp.allTriggers()).toHaveLength(1);
    env.scriptApp.useAccount('admin-a@example.com');
    env.call('toggleReminders');
    expect(env.ui.menus.at(-1)!.items).toContainEqual({ caption: 'Email reminders: off', handler: 'toggleReminders' });
    expect(env.scriptApp.allTriggers()).toHaveLength(0);
  });

  it('sends each reminder once, across days and runs, never without contact_email, never a key', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW, documentProperties: { EMAIL_REMINDERS: 'true' } });
    const usage = seed(env);
    usage.gatewayAppend([usageRow(use(NOW - 2 * HOUR_MS, 1, 'Acme', 500, 'u1')), usageRow(use(NOW - HOUR_MS, 5, 'Acme', 350, 'u2'))]);
    usage.gatewayAppend([usageRow(use(NOW - HOUR_MS, 3, 'Gamma', 99, 'u3'))]); // 990% of Gamma's quota, but no address
    env.state.uiAvailable = false;
    const run = () => env.call('sendReminders', TRIGGER);

    run();
    expect(subjects(env)).toEqual([
      'ops@acme.example: Acme has used 80% of its tokens quota for this month',
      // A hashed row is named by its key id (key_hint is a cell anyone may edit).
      `dev@beta.example: API key key id ${sha256(HASHED).slice(0, 16)} for Beta expires on 2026-11-25 00:00 (Asia/Tokyo)`,
    ]);
    run();
    expect(env.mail.sent).toHaveLength(2);

    // Four days later Acme's first key is within 7 days of its expiry; Acme passes its quota.
    env.clock!.set(NOW + 4 * DAY_MS);
    usage.gatewayAppend([usageRow(use(NOW + 3 * DAY_MS, 5, 'Acme', 200, 'u4'))]);
    run();
    run();
    expect(subjects(env).slice(2)).toEqual([
      expect.stringMatching(/^ops@acme\.example: API key sk-convergence-…1111 for Acme expires on 2026-11-28 08:00/),
      'ops@acme.example: Acme has used 100% of its tokens quota for this month',
    ]);

    // A new month: the quota starts again, and the 80% notice may go once more (through the key that has not expired).
    env.clock!.set(instantOfWall('2026-12-02T08:00:00', TZ));
    run();
    expect(env.mail.sent).toHaveLength(4);
    usage.gatewayAppend([usageRow(use(instantOfWall('2026-12-01T09:00:00', TZ), 5, 'Acme', 800, 'u5'))]);
    run();
    run();
    expect(subjects(env).slice(4)).toEqual(['ops@acme.example: Acme has used 80% of its tokens quota for this month']);
    expect(env.mail.sent.at(-1)!.body).toContain('sk-convergence-…1111');

    for (const mail of env.mail.sent) {
      for (const n of [1, 2, 3, 4, 5]) expect(`${mail.subject}\n${mail.body}`).not.toContain(keyOf(n));
    }
    expect(env.mail.sent.map((m) => m.to)).not.toContain('x@delta.example');
    const rows = keyRows(env);
    expect(rows[2]!.notified).toBe('');
    expect(rows[3]!.notified).toBe('');
    expect(String(rows[4]!.notified)).toBe('tokens80:2026-12-01');
  });

  it('sends without holding the document lock, and records on the key\'s row even if rows moved meanwhile', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW, documentProperties: { EMAIL_REMINDERS: 'true' } });
    seed(env);
    const keysTab = env.ss.sheet('API_Keys');
    const send = env.mail.sendEmail.bind(env.mail);
    const lockedWhileSending: boolean[] = [];
    env.mail.sendEmail = (...args: unknown[]) => {
      lockedWhileSending.push(env.lock.held);
      // An admin sorts the tab while the mail goes out: Beta's row moves to the top.
      const [header, ...rows] = keysTab.rows();
      keysTab.seed([header!, rows[1]!, rows[0]!, ...rows.slice(2)]);
      send(...args);
    };
    env.state.uiAvailable = false;
    env.call('sendReminders', TRIGGER);
    expect(lockedWhileSending).toEqual([false]);
    const rows = keyRows(env);
    expect(rows[0]!.client_name).toBe('Beta');
    expect(String(rows[0]!.notified)).toMatch(/^expiry:[0-9a-f]{16}:2026-11-24T15:00:00\.000Z$/);
    expect(rows[1]!.notified).toBe('');
    env.call('sendReminders', TRIGGER);
    expect(env.mail.sent).toHaveLength(1);
  });

  it('names a hashed key by its key id, and sends nothing for an expiry it cannot read', async () => {
    const env = await loadBuilt({ timeZone: TZ, now: NOW, documentProperties: { EMAIL_REMINDERS: 'true' } });
    seedKeys(env, [
      ['', 'Beta', '', 46348.5, true, 60, '', '', '', 'dev@beta.example', sha256(HASHED), ''], // serial: 2026-11-22 12:00 in Tokyo
      [keyOf(6), 'Eps', '', 'next tuesday', true, 60, '', '', '', 'e@eps.example', '', ''],
    ], HEADER);
    env.state.uiAvailable = false;
    env.call('sendReminders', TRIGGER);
    expect(subjects(env)).toEqual([`dev@beta.example: API key key id ${sha256(HASHED).slice(0, 16)} for Beta expires on 2026-11-22 12:00 (Asia/Tokyo)`]);
  });
});
