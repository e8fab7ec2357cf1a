// Review item 7: time-driven triggers are installed once per spreadsheet, not once per admin.
// getProjectTriggers() lists only the current admin's triggers, so the fake keeps one list
// per admin and the script must find another admin's install in the document's properties.

import { beforeAll, describe, expect, it } from 'vitest';
import { HOUR_MS, buildOnce, loadBuilt, seedKeys } from './harness.ts';

beforeAll(() => buildOnce());

const NOW = Date.UTC(2026, 10, 18, 3);

describe('usage triggers, once per spreadsheet', () => {
  it('a second admin running Set up sheet is not offered a second hourly trigger', async () => {
    const env = await loadBuilt({ now: NOW });
    env.ui.confirm(true);
    env.call('setupSheet');
    expect(env.scriptApp.allTriggers().map((t) => [t.getHandlerFunction(), t.owner])).toEqual([
      ['compactUsage', 'admin-a@example.com'], ['refreshUsage', 'admin-a@example.com'],
    ]);

    env.scriptApp.useAccount('admin-b@example.com');
    env.call('setupSheet'); // no question queued: the fake Ui throws if one is asked
    expect(env.ui.messages('alert').at(-1)).toContain('Hourly usage refresh: on.');
    expect(env.call('installHourlyUsageTrigger')).toBe(false);
    expect(env.scriptApp.allTriggers()).toHaveLength(2);
    // Admin B has no trigger to remove, and removing nothing leaves admin A's install on record.
    expect(env.call('removeHourlyUsageTrigger')).toBe(0);
    expect(env.call('installHourlyUsageTrigger')).toBe(false);
  });

  it("an install whose trigger stopped running (its admin removed it or left) lets another admin install one", async () => {
    const env = await loadBuilt({ now: NOW });
    seedKeys(env, []);
    expect(env.call('installHourlyUsageTrigger')).toBe(true);
    const [compact, refresh] = env.scriptApp.triggers;
    env.state.uiAvailable = false;

    // The trigger runs every hour, which keeps the record current.
    for (let h = 1; h <= 5; h++) {
      env.clock!.set(NOW + h * HOUR_MS);
      env.call('refreshUsage', { triggerUid: refresh!.getUniqueId(), authMode: 'FULL' });
    }
    env.scriptApp.useAccount('admin-b@example.com');
    env.clock!.set(NOW + 7 * HOUR_MS);
    expect(env.call('installHourlyUsageTrigger')).toBe(false);

    // Admin A's triggers are gone (deleted from the Triggers page); three hours without a run: B may install.
    env.scriptApp.useAccount('admin-a@example.com');
    env.scriptApp.deleteTrigger(compact!);
    env.scriptApp.deleteTrigger(refresh!);
    env.scriptApp.useAccount('admin-b@example.com');
    env.clock!.set(NOW + 9 * HOUR_MS);
    expect(env.call('installHourlyUsageTrigger')).toBe(true);
    expect(env.scriptApp.allTriggers().map((t) => [t.getHandlerFunction(), t.owner])).toEqual([
      ['refreshUsage', 'admin-b@example.com'],
    ]);
    // Admin A's daily compaction is missed too: once its record is stale, B's hourly run installs one.
    const mine = env.scriptApp.triggers[0]!;
    for (let h = 10; h <= 60; h++) {
      env.clock!.set(NOW + h * HOUR_MS);
      env.call('refreshUsage', { triggerUid: mine.getUniqueId(), authMode: 'FULL' });
    }
    expect(env.scriptApp.allTriggers().map((t) => [t.getHandlerFunction(), t.owner])).toEqual([
      ['refreshUsage', 'admin-b@example.com'], ['compactUsage', 'admin-b@example.com'],
    ]);
  });
});
