import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, loadBuilt } from './harness.ts';

beforeAll(() => buildOnce());

const toggle = (state: string) => ({ caption: `Store only key hashes${state}`, handler: 'toggleStoreKeyHashes' });
const items = (state: string) => [
  { caption: 'Generate key...', handler: 'generateKey' },
  { caption: 'Revoke selected key', handler: 'revokeSelectedKey' },
  { caption: 'Rotate selected key', handler: 'rotateSelectedKey' },
  'separator',
  { caption: 'Refresh usage', handler: 'refreshUsage' },
  { caption: 'Compact usage now', handler: 'compactUsage' },
  { caption: 'Set up sheet', handler: 'setupSheet' },
  'separator',
  { caption: `Email reminders${state}`, handler: 'toggleReminders' },
  toggle(state),
];

describe('the API Keys menu', () => {
  it.each(['onOpen', 'onInstall'])('%s adds it, and every item calls a global function', async (fn) => {
    const env = await loadBuilt();
    env.call(fn, { authMode: 'LIMITED' });
    expect(env.ui.menus).toEqual([{ title: 'API Keys', items: items(': off') }]);
    for (const item of items(': off')) {
      if (typeof item === 'object') expect(typeof (env.context as Record<string, unknown>)[item.handler]).toBe('function');
    }
    expect(env.ss.writes).toEqual([]);
    expect(env.lock.acquired).toBe(0);
  });

  it('shows "Store only key hashes" as on when the document says so, or the script property does', async () => {
    const fromDocument = await loadBuilt({ documentProperties: { STORE_KEY_HASHES: 'true' } });
    fromDocument.call('onOpen', { authMode: 'LIMITED' });
    expect(fromDocument.ui.menus[0]!.items.at(-1)).toEqual(toggle(': on'));

    const fromScript = await loadBuilt({ properties: { STORE_KEY_HASHES: ' TRUE ' } });
    fromScript.call('onOpen', { authMode: 'LIMITED' });
    expect(fromScript.ui.menus[0]!.items.at(-1)).toEqual(toggle(': on'));

    // The document's own setting wins over the project-wide default.
    const both = await loadBuilt({ properties: { STORE_KEY_HASHES: 'true' }, documentProperties: { STORE_KEY_HASHES: 'false' } });
    both.call('onOpen', { authMode: 'LIMITED' });
    expect(both.ui.menus[0]!.items.at(-1)).toEqual(toggle(': off'));
  });

  it('does not read properties in AuthMode.NONE, and never fails on a bad value', async () => {
    const none = await loadBuilt({ documentProperties: { STORE_KEY_HASHES: 'true' } });
    none.call('onOpen', { authMode: 'NONE' });
    expect(none.ui.menus[0]!.items).toEqual(items('...'));

    const bad = await loadBuilt({ properties: { STORE_KEY_HASHES: 'maybe' } });
    bad.call('onOpen', { authMode: 'LIMITED' });
    expect(bad.ui.menus[0]!.items.at(-1)).toEqual(toggle('...'));
  });
});
