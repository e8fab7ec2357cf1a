// Email reminders (menu "Email reminders: on/off", daily trigger sendReminders): for key rows
// with a contact_email, one mail 7 days before expires_at, one at 80% and one at 100% of a
// quota in a period. What was sent is written to the row's `notified` column, so a second
// run sends nothing; clearing the cell sends again. A mail names the key by its hint only.

import { cell, ensureColumns } from './columns.ts';
import { rowKeyId } from './key-id.ts';
import { withDocumentLock } from './lock.ts';
import { keyViews, clientsByKey, percentOf, periodUse, type KeyView, type PeriodUse } from './key-view.ts';
import { addMenu } from './menu.ts';
import { DAY_MS, dayStart, formatInZone } from './periods.ts';
import { REMIND_HANDLER, installTrigger, noteTriggerRun, removeTrigger } from './triggers.ts';
import { isTriggerEvent } from './trigger-run.ts';
import { usageContext, withFreshUsage, type UsageContext } from './usage-ingest.ts';
import { UserError, runAction, tell, tryGetUi } from './ui.ts';

const PROPERTY = 'EMAIL_REMINDERS';
export const EXPIRY_NOTICE_DAYS = 7;
const LEVELS = [100, 80] as const;
const TITLE = 'Email reminders';

export function remindersOn(): boolean {
  return (PropertiesService.getDocumentProperties()?.getProperty(PROPERTY) ?? '').trim().toLowerCase() === 'true';
}

export function remindersCaption(on: boolean | null): string {
  return on === null ? 'Email reminders...' : `Email reminders: ${on ? 'on' : 'off'}`;
}

/** Menu item: switches reminders for this spreadsheet and installs or removes the daily trigger. */
export function toggleReminders(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const on = !remindersOn();
    PropertiesService.getDocumentProperties().setProperty(PROPERTY, String(on));
    if (on) installTrigger(REMIND_HANDLER);
    else removeTrigger(REMIND_HANDLER);
    addMenu();
    tell(ui, TITLE, on
      ? 'Email reminders are on: every morning, keys with a contact_email get a mail 7 days before they expire and at 80% and 100% of a quota.'
      : 'Email reminders are off for this spreadsheet.');
  });
}

interface Mail {
  token: string;
  to: string;
  subject: string;
  body: string;
  /** Mails about a client's quota go once per address, however many of its keys list it. */
  shared: boolean;
}

function expiryMail(view: KeyView, ctx: UsageContext): Mail | null {
  const at = view.expiresAt;
  if (typeof at !== 'number' || at - ctx.now > EXPIRY_NOTICE_DAYS * DAY_MS) return null;
  const when = `${formatInZone(new Date(at), ctx.timeZone)} (${ctx.timeZone})`;
  return {
    token: `expiry:${view.keyId}:${new Date(at).toISOString()}`, to: view.contactEmail, shared: false,
    subject: `API key ${view.hint} for ${view.client} expires on ${when}`,
    body: [
      `The API key ${view.hint} of ${view.client} expires on ${when}, in ${Math.ceil((at - ctx.now) / DAY_MS)} days.`,
      'Ask your administrator for a new key before then; requests with an expired key are refused.',
    ].join('\n\n'),
  };
}

function quotaMails(view: KeyView, use: PeriodUse, ctx: UsageContext): Mail[] {
  const mails: Mail[] = [];
  const resets = `${formatInZone(dayStart(use.end, ctx.timeZone), ctx.timeZone)} (${ctx.timeZone})`;
  for (const [kind, used, quota] of [['tokens', use.tokens, view.tokenQuota], ['requests', use.requests, view.requestQuota]] as const) {
    const pct = percentOf(used, quota);
    const level = LEVELS.find((l) => pct !== null && pct >= l);
    if (level === undefined || quota === null) continue;
    mails.push({
      token: `${kind}${level}:${use.start}`, to: view.contactEmail, shared: true,
      subject: `${view.client} has used ${level}% of its ${kind} quota for this ${use.period}`,
      body: [
        `${view.client} has used ${used} of its ${quota} ${kind} for the ${use.period} that began on ${use.start} (${pct}%).`,
        level === 100 ? `Further requests are refused until the quota resets on ${resets}.` : `The quota resets on ${resets}.`,
        `This reminder was sent for the key ${view.hint}.`,
      ].join('\n\n'),
    });
  }
  return mails;
}

/** Tokens still meaningful: this key's current expiry, and quota notices of the current periods. */
function keep(tokens: string[], view: KeyView, use: PeriodUse | null): string[] {
  return tokens.filter((t) => {
    if (t.startsWith('expiry:')) return typeof view.expiresAt === 'number' && t === `expiry:${view.keyId}:${new Date(view.expiresAt).toISOString()}`;
    return use !== null && t.endsWith(`:${use.start}`);
  });
}

/** 100% also stands for 80%: the smaller notice is never sent after the larger one. */
function alreadySent(tokens: readonly string[], token: string): boolean {
  return tokens.includes(token) || tokens.includes(token.replace(/^(tokens|requests)80:/, '$1100:'));
}

/** What one key row is due: its mails, and which of its recorded notices still count. */
interface Due {
  keyId: string;
  /** 0-based data row when the plan was made; rows may move before the notices are written. */
  index: number;
  mails: Mail[];
  client: string;
  keeps: (token: string) => boolean;
  sent: string[];
}

function plan(ctx: UsageContext, views: KeyView[], use: ReturnType<typeof periodUse>): Due[] {
  const dues: Due[] = [];
  for (const view of views) {
    if (view.contactEmail === '' || !view.active || view.expiresAt === undefined) continue;
    if (view.expiresAt !== null && view.expiresAt <= ctx.now) continue;
    const period = view.period ? use(view.client, view.period) : null;
    const before = view.notified === '' ? [] : view.notified.split(/\s+/);
    const tokens = keep(before, view, period);
    const mails = [expiryMail(view, ctx), ...(period ? quotaMails(view, period, ctx) : [])]
      .filter((mail): mail is Mail => mail !== null && !alreadySent(tokens, mail.token));
    const stale = tokens.length !== before.length;
    if (mails.length > 0 || stale) dues.push({ keyId: view.keyId, index: view.index, mails, client: view.client, keeps: (t) => keep([t], view, period).length === 1, sent: [] });
  }
  return dues;
}

function readKeyRows(keys: GoogleAppsScript.Spreadsheet.Sheet) {
  const { columns } = ensureColumns(keys, ['notified']);
  const lastRow = keys.getLastRow();
  const rows = lastRow < 2 ? [] : keys.getRange(2, 1, lastRow - 1, keys.getLastColumn()).getValues();
  return { columns, rows };
}

/**
 * Works out what is due under the document lock, sends outside it (mail is slow, and admins
 * should not wait on it), then writes what was sent under the lock again, to the row that
 * holds the same key id now. A run stopped between sending and writing sends those again.
 */
export function sendRemindersNow(quietIfBusy: boolean): { sent: number } | null {
  const ctx = usageContext();
  const keys = ctx.ss.getSheetByName(ctx.config.keysSheet);
  if (!keys) throw new UserError(`There is no "${ctx.config.keysSheet}" tab yet. Run API Keys > Set up sheet first.`);
  const dues = withFreshUsage(ctx, quietIfBusy, ({ state }) => {
    const { columns, rows } = readKeyRows(keys);
    const views = keyViews(rows, columns, ctx.timeZone);
    return plan(ctx, views, periodUse(state, clientsByKey(state, views), ctx.today));
  });
  if (!dues) return null;

  const sentNow = new Set<string>();
  let sent = 0;
  sending: for (const due of dues) {
    for (const mail of due.mails) {
      const once = `${mail.to.toLowerCase()}\u0000${due.client}\u0000${mail.token}`;
      if (!(mail.shared && sentNow.has(once))) {
        if (MailApp.getRemainingDailyQuota() < 1) break sending; // the rest goes out with tomorrow's run
        MailApp.sendEmail(mail.to, mail.subject, mail.body);
        sentNow.add(once);
        sent++;
      }
      due.sent.push(mail.token);
    }
  }

  withDocumentLock(() => {
    const { columns, rows } = readKeyRows(keys);
    const column = columns.get('notified') as number;
    for (const due of dues) {
      const at = rowKeyId(rows[due.index] ?? [], columns) === due.keyId ? due.index : rows.findIndex((row) => rowKeyId(row, columns) === due.keyId);
      if (at < 0) continue; // the row is gone
      const current = String(cell(rows[at]!, columns, 'notified')).trim();
      const before = current === '' ? [] : current.split(/\s+/);
      const after = [...before.filter(due.keeps), ...due.sent.filter((t) => !before.includes(t))];
      if (after.join(' ') !== before.join(' ')) keys.getRange(at + 2, column).setValue(after.join(' '));
    }
  });
  return { sent };
}

/** Daily trigger (and callable by hand): sends what is due when reminders are on. */
export function sendReminders(event?: unknown): void {
  runAction(() => {
    const trigger = isTriggerEvent(event);
    if (trigger) noteTriggerRun(REMIND_HANDLER, event);
    if (!remindersOn()) return;
    const result = sendRemindersNow(trigger);
    const ui = trigger ? null : tryGetUi();
    if (result && ui) tell(ui, TITLE, `${result.sent} reminder emails sent.`);
  });
}
