// The Generate key dialog in a real browser: headless Chromium loads the HTML exactly as the
// built script hands it to HtmlService, with a stand-in for google.script.run that calls the
// built script's createKeyFromForm in the Apps Script fakes. Everything is done by keyboard.
// Screenshots go to the test's temp folder; UPDATE_SCREENSHOTS=1 writes them to docs/images/.

import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wallClock } from './fakes/values.ts';
import { buildOnce, loadBuilt, rowObject, seedKeys, KEYS_HEADER, type Env } from './harness.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAS_BROWSER = existsSync(CHROMIUM);
const SKIPPED = HAS_BROWSER ? '' : ` (SKIPPED: no Chromium at ${CHROMIUM}; install the Debian package chromium, as .ci/run does, or set CHROMIUM_PATH)`;
if (!HAS_BROWSER) console.warn(`dialog-browser.test.ts${SKIPPED}`);

const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? resolve(import.meta.dirname, '../../docs/images') : null;
const NOW = Date.parse('2099-03-10T20:00:00.000Z'); // 2099-03-11 in Tokyo
const KEY_PATTERN = /^sk-convergence-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** google.script.run and google.script.host as the dialog's iframe sees them; calls go to window.__run. */
const GOOGLE_STAND_IN = `
window.__closed = 0;
function runner(onSuccess, onFailure) {
  return {
    withSuccessHandler: function (fn) { return runner(fn, onFailure); },
    withFailureHandler: function (fn) { return runner(onSuccess, fn); },
    createKeyFromForm: function (form) {
      window.__run('createKeyFromForm', form).then(
        function (result) { if (onSuccess) onSuccess(result); },
        function (error) { if (onFailure) onFailure(new Error(String(error && error.message || error).replace(/^Error: /, ''))); });
    },
  };
}
window.google = { script: { run: runner(null, null), host: { close: function () { window.__closed++; } } } };
`;

describe.skipIf(!HAS_BROWSER)(`the Generate key dialog in Chromium${SKIPPED}`, () => {
  let context: BrowserContext;
  let page: Page;
  let server: Server;
  let origin: string;
  let profile: string;
  let shots: string;
  let html = '';
  let env: Env;
  const calls: unknown[] = [];

  beforeAll(async () => {
    await buildOnce();
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    profile = mkdtempSync(join(tmpdir(), 'cg-chromium-'));
    shots = SHOTS ?? join(profile, 'shots');
    mkdirSync(shots, { recursive: true });
    context = await chromium.launchPersistentContext(join(profile, 'user-data'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync'],
      viewport: { width: 520, height: 600 },
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    await context.addInitScript(GOOGLE_STAND_IN);
    await context.exposeFunction('__run', (name: string, form: unknown) => {
      calls.push(form);
      return env.call(name, form);
    });
    page = context.pages()[0] ?? (await context.newPage());
  }, 30_000);

  afterAll(async () => {
    await context?.close();
    await new Promise((done) => server?.close(done));
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  async function open(dialogHtml: string): Promise<void> {
    html = dialogHtml;
    await page.goto(`${origin}/`);
  }
  const text = (selector: string) => page.locator(selector).textContent();
  const focused = () => page.evaluate(() => document.activeElement?.id ?? '');

  it('is filled in by keyboard, shows a bad rate limit beside its field, then creates the key and copies it', async () => {
    env = await loadBuilt({ timeZone: 'Asia/Tokyo', now: NOW });
    env.call('generateKey');
    await open(env.ui.dialogs[0]!.html);
    // Labels a screen reader reads: each field is found by its accessible name.
    for (const name of ['Client name (required)', 'Rate limit', 'Allowed models', 'Token limit per window', 'Token quota', 'Request quota', 'Contact email']) {
      await expect(page.getByRole('textbox', { name, exact: true }).count()).resolves.toBe(1);
    }
    await expect(page.getByRole('combobox', { name: 'Quota period' }).count()).resolves.toBe(1);
    expect(await focused()).toBe('client_name');
    await page.screenshot({ path: join(shots, 'generate-key-form.png') });

    await page.keyboard.type('Acme Research');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('rate_limit');
    await page.keyboard.type('60 rpm');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('expires_at');
    await page.keyboard.type('12312099'); // month, day, year: the en-US date picker's segments
    expect(await page.locator('#expires_at').inputValue()).toBe('2099-12-31');
    await page.getByRole('textbox', { name: 'Allowed models' }).focus(); // past the picker's own segments
    await page.keyboard.type('llama-3, qwen2');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Tab'); // tpm_limit, token_quota, request_quota
    expect(await focused()).toBe('request_quota');
    await page.keyboard.type('5000');
    await page.keyboard.press('Tab');
    expect(await focused()).toBe('quota_period');
    await page.keyboard.press('ArrowDown'); // Month -> Week
    await page.keyboard.press('Tab');
    await page.keyboard.type('ops@acme.example');
    await page.keyboard.press('Enter');

    // The form's own check: the error beside the field, the field marked and focused, nothing sent.
    expect(await text('#rate_limit-error')).toBe('The rate limit must be a whole number of at least 1, not "60 rpm".');
    expect(await page.locator('#rate_limit').getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator('#rate_limit').getAttribute('aria-describedby')).toBe('rate_limit-hint rate_limit-error');
    expect(await page.locator('#client_name').getAttribute('aria-invalid')).toBeNull();
    expect(await focused()).toBe('rate_limit');
    expect(calls).toEqual([]);
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
    await page.screenshot({ path: join(shots, 'generate-key-error.png') });

    // A refusal from the server (the lock is busy) is shown too, and nothing is written.
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.type('120');
    env.lock.busy = true;
    await page.keyboard.press('Enter');
    await expect.poll(() => text('#form-error')).toContain('Another API Keys action is still running');
    expect(await page.locator('#rate_limit').getAttribute('aria-invalid')).toBeNull();
    expect(env.ss.getSheetByName('API_Keys')).toBeNull();
    env.lock.busy = false;

    await page.keyboard.press('Enter');
    await page.locator('#result').waitFor({ state: 'visible' });
    expect(calls).toHaveLength(2);
    expect(calls[1]).toEqual({
      client_name: 'Acme Research', rate_limit: '120', expires_at: '2099-12-31', allowed_models: 'llama-3, qwen2', tpm_limit: '',
      token_quota: '', request_quota: '5000', quota_period: 'week', contact_email: 'ops@acme.example',
    });
    const [header = [], ...rows] = env.ss.sheet('API_Keys').rows();
    expect(rows).toHaveLength(1);
    const row = rowObject(header, rows[0]!);
    expect(row).toMatchObject({
      client_name: 'Acme Research', rate_limit: 120, is_active: true, allowed_models: 'llama-3,qwen2', request_quota: 5000, quota_period: 'week',
      contact_email: 'ops@acme.example',
    });
    expect(wallClock((row.expires_at as Date).getTime(), 'Asia/Tokyo')).toMatchObject({ year: 2099, month: 12, day: 31, hour: 23, minute: 59, second: 59 });
    const shown = await page.locator('#key').inputValue();
    expect(shown).toMatch(KEY_PATTERN);
    expect(shown).toBe(row.api_key);
    expect(await text('#result-title')).toBe('New API key for Acme Research');
    expect(await text('#result-lines')).toContain('Expires: 2099-12-31 23:59 (Asia/Tokyo)');
    expect(await focused()).toBe('key');
    await page.screenshot({ path: join(shots, 'generate-key-shown.png') });

    await page.keyboard.press('Tab');
    expect(await focused()).toBe('copy');
    await page.keyboard.press('Enter');
    await expect.poll(() => text('#copy-status')).toBe('Copied.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(shown);

    await page.keyboard.press('Escape');
    expect(await page.evaluate(() => (window as unknown as { __closed: number }).__closed)).toBe(1);
  });

  it("Rotate's key dialog shows its Copy status too (review item 5: no top-level var status)", async () => {
    const rotating = await loadBuilt({ timeZone: 'Asia/Tokyo' });
    seedKeys(rotating, [['sk-convergence-aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', 'Acme', new Date(), '', true, 30]], KEYS_HEADER);
    rotating.ss.select('API_Keys', 2);
    rotating.ui.confirm(true);
    rotating.call('rotateSelectedKey');
    await open(rotating.ui.dialogs[0]!.html);
    await page.getByRole('button', { name: 'Copy key' }).click();
    await expect.poll(() => page.locator('[aria-live="polite"]').textContent()).toBe('Copied.');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toMatch(KEY_PATTERN);
  });
});
