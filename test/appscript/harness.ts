// Loads the built Apps Script file, the very file `clasp push` uploads, into a vm context
// whose globals are the in-memory fakes, and calls its global functions as Apps Script does.

import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { buildAppScript, type BuildResult } from '../../appscript/build.ts';
import { fakeCharts } from './fakes/charts.ts';
import { fakeMailApp } from './fakes/mail.ts';
import { FakeConditionalFormatRuleBuilder, FakeDataValidationBuilder } from './fakes/rules.ts';
import { fakeLockService, fakePropertiesService, fakeScriptApp, fakeSession, fakeUtilities } from './fakes/services.ts';
import { FakeSpreadsheet } from './fakes/spreadsheet.ts';
import { FakeUi, fakeHtmlService } from './fakes/ui.ts';
import type { DateCtor } from './fakes/values.ts';

export const KEYS_HEADER = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit'];
export const HASHED_KEYS_HEADER = [...KEYS_HEADER, 'api_key_sha256', 'key_hint'];
export const USAGE_HEADER = ['timestamp', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance'];
/** The Usage tab of round 2 (HELPERS.md, shared data contracts). */
export const USAGE_HEADER_V2 = [...USAGE_HEADER, 'flush_id', 'period_start'];
export const DAILY_HEADER = ['day', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens'];
export const HOUR_MS = 3_600_000;

let built: Promise<BuildResult> | undefined;
/** Builds appscript/dist once per test worker. */
export function buildOnce(): Promise<BuildResult> {
  return (built ??= buildAppScript());
}

export interface LoadOptions {
  /** The spreadsheet's time zone; the script's own is UTC, so mixing them up shows. */
  timeZone?: string;
  properties?: Record<string, string>;
  /** Document properties, where the menu keeps "Store only key hashes" (STORE_KEY_HASHES). */
  documentProperties?: Record<string, string>;
  /** Freezes the script's clock (Date.now(), new Date()) at this instant; env.clock moves it. */
  now?: number;
}

/**
 * Replaces the context's Date with one whose "now" the test sets, so time moves without
 * sleeping. Dates with arguments, Date.UTC, Date.parse behave as before.
 */
function installClock(context: vm.Context, now: number) {
  vm.runInContext(`(function () {
    var RealDate = Date, fixed = ${now};
    function FakeDate() {
      var args = Array.prototype.slice.call(arguments);
      if (!new.target) return new RealDate(fixed).toString();
      return args.length === 0 ? new RealDate(fixed) : new (Function.prototype.bind.apply(RealDate, [null].concat(args)))();
    }
    FakeDate.prototype = RealDate.prototype;
    FakeDate.now = function () { return fixed; };
    FakeDate.UTC = RealDate.UTC;
    FakeDate.parse = RealDate.parse;
    globalThis.Date = FakeDate;
    globalThis.__setNow = function (ms) { fixed = ms; };
  })();`, context);
  let current = now;
  return {
    now: () => current,
    set(ms: number) { current = ms; (context as { __setNow: (ms: number) => void }).__setNow(ms); },
    advance(ms: number) { this.set(current + ms); },
  };
}

export type Env = ReturnType<typeof loadScript>;

export function loadScript(code: string, options: LoadOptions = {}) {
  const timeZone = options.timeZone ?? 'Asia/Tokyo';
  const context = vm.createContext({ console });
  const clock = options.now === undefined ? null : installClock(context, options.now);
  const locks = fakeLockService();
  const ss = new FakeSpreadsheet({
    timeZone,
    scriptDate: vm.runInContext('Date', context) as DateCtor,
    lockHeld: () => locks.document.held,
  });
  ss.addSheet('Sheet1');
  const ui = new FakeUi();
  const state = { uiAvailable: true };
  const utilities = fakeUtilities();
  const properties = fakePropertiesService(options.properties);
  for (const [key, value] of Object.entries(options.documentProperties ?? {})) properties.stores.document.setProperty(key, value);
  const scriptApp = fakeScriptApp();
  const mail = fakeMailApp();
  Object.assign(context, {
    SpreadsheetApp: {
      getActiveSpreadsheet: () => ss,
      getActive: () => ss,
      getUi: () => {
        if (!state.uiAvailable) throw new Error('Cannot call SpreadsheetApp.getUi() from this context.');
        return ui;
      },
      flush: () => { ss.flushes++; },
      newDataValidation: () => new FakeDataValidationBuilder(),
      newConditionalFormatRule: () => new FakeConditionalFormatRuleBuilder(),
    },
    Utilities: utilities,
    LockService: locks,
    PropertiesService: properties,
    HtmlService: fakeHtmlService,
    ScriptApp: scriptApp,
    MailApp: mail,
    Charts: fakeCharts,
    Session: fakeSession('UTC'),
  });
  vm.runInContext(code, context, { filename: 'Code.js' });

  /**
   * Calls a global function of the script. Afterwards the lock must be released and every
   * answer the test queued consumed.
   */
  function call(name: string, ...args: unknown[]): unknown {
    const fn = (context as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new Error(`the script has no global function ${name}`);
    const result: unknown = fn(...args);
    if (locks.document.held) throw new Error(`${name} returned holding the document lock`);
    if (ui.pending() > 0) throw new Error(`${name} left ${ui.pending()} queued answers unasked`);
    return result;
  }

  return { context, ss, ui, lock: locks.document, utilities, properties, scriptApp, mail, clock, state, timeZone, call };
}

export async function loadBuilt(options: LoadOptions = {}): Promise<Env> {
  const { codePath } = await buildOnce();
  return loadScript(readFileSync(codePath, 'utf8'), options);
}

/** A keys tab with the contract's header and the given rows. */
export function seedKeys(env: Env, rows: unknown[][] = [], header: string[] = KEYS_HEADER) {
  return env.ss.addSheet('API_Keys', [header, ...rows]);
}

/** The row of the keys tab as an object keyed by (lower-case) header. */
export function rowObject(header: readonly unknown[], row: readonly unknown[]): Record<string, unknown> {
  return Object.fromEntries(header.map((name, i) => [String(name).trim().toLowerCase(), row[i] ?? '']));
}

/** What createKeyFromForm answers the dialog. */
export type FormResult =
  | { ok: true; key: string; row: number; title: string; lines: string[] }
  | { ok: false; errors: Record<string, string> };

/** The Generate key form as the dialog sends it: every field a string, blank unless given. */
export function formOf(fields: Record<string, string>): Record<string, string> {
  const blank = { client_name: '', rate_limit: '', expires_at: '', allowed_models: '', tpm_limit: '', token_quota: '', request_quota: '', quota_period: 'month', contact_email: '' };
  return { ...blank, ...fields };
}

const formKeys = new WeakMap<Env, { key: string; dialogs: number }>();

/** Submits the Generate key form as the dialog does; what it answers, as JSON crosses google.script.run. */
export function submitForm(env: Env, fields: Record<string, string>): FormResult {
  const result = JSON.parse(JSON.stringify(env.call('createKeyFromForm', formOf(fields)))) as FormResult;
  if (result.ok) formKeys.set(env, { key: result.key, dialogs: env.ui.dialogs.length });
  return result;
}

/** Submits the Generate key form; returns the key shown, or throws with the field errors. */
export function createKey(env: Env, fields: Record<string, string>): string {
  const result = submitForm(env, fields);
  if (!result.ok) throw new Error(`the form was refused: ${JSON.stringify(result.errors)}`);
  return result.key;
}

/** Generate key with a client name, and optionally a rate limit and an expiry, as typed. */
export function generate(env: Env, client: string, rateLimit = '', expiresAt = ''): string {
  return createKey(env, { client_name: client, rate_limit: rateLimit, expires_at: expiresAt });
}

/** The key shown last: by the Generate key form, or in the last modal dialog (Rotate's; the textarea's content, unescaped). */
export function shownKey(env: Env): string {
  const fromForm = formKeys.get(env);
  if (fromForm && fromForm.dialogs === env.ui.dialogs.length) return fromForm.key;
  const html = env.ui.dialogs.at(-1)?.html ?? '';
  const match = /<textarea id="key"[^>]*>([^<]*)<\/textarea>/.exec(html);
  if (!match?.[1]) throw new Error('no key dialog was shown');
  return match[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
}
