import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnce, loadBuilt } from './harness.ts';

beforeAll(() => buildOnce());

const ITEMS = [
  { caption: 'Generate key...', handler: 'generateKey' },
  { caption: 'Revoke selected key', handler: 'revokeSelectedKey' },
  { caption: 'Rotate selected key', handler: 'rotateSelectedKey' },
  'separator',
  { caption: 'Refresh usage', handler: 'refreshUsage' },
  { caption: 'Set up sheet', handler: 'setupSheet' },
];

describe('the API Keys menu', () => {
  it.each(['onOpen', 'onInstall'])('%s adds it, and every item calls a global function', async (fn) => {
    const env = await loadBuilt();
    env.call(fn, { authMode: 'LIMITED' });
    expect(env.ui.menus).toEqual([{ title: 'API Keys', items: ITEMS }]);
    for (const item of ITEMS) {
      if (typeof item === 'object') expect(typeof (env.context as Record<string, unknown>)[item.handler]).toBe('function');
    }
    expect(env.ss.writes).toEqual([]);
    expect(env.lock.acquired).toBe(0);
  });
});
