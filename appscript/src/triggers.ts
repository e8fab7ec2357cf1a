// Time-driven triggers, once per spreadsheet (review item 7). A trigger belongs to the admin
// who installs it, and ScriptApp.getProjectTriggers() lists only the current admin's, so
// each install is recorded in the document's properties, where every admin sees it. Each
// trigger run refreshes its record; a record no run has refreshed for a while (its admin
// deleted the trigger, or left) no longer counts, so another admin can install one again.

import { USAGE_TRIGGER_HOURS } from './config.ts';

export const REFRESH_HANDLER = 'refreshUsage';
export const COMPACT_HANDLER = 'compactUsage';
export const REMIND_HANDLER = 'sendReminders';
const HOUR_MS = 3_600_000;

interface Schedule {
  everyHours?: number;
  everyDays?: number;
  atHour?: number;
}

const SCHEDULES: Record<string, Schedule> = {
  [REFRESH_HANDLER]: { everyHours: USAGE_TRIGGER_HOURS },
  [COMPACT_HANDLER]: { everyDays: 1, atHour: 3 },
  [REMIND_HANDLER]: { everyDays: 1, atHour: 8 },
};

interface Record_ {
  id: string;
  /** Install or last run (epoch ms). */
  at: number;
}

const propertyOf = (handler: string) => `TRIGGER_${handler}`;

function documentProperties(): GoogleAppsScript.Properties.Properties {
  const props = PropertiesService.getDocumentProperties();
  if (!props) throw new Error('No document properties: the script must be bound to the key spreadsheet.');
  return props;
}

function recorded(handler: string): Record_ | null {
  try {
    const value = JSON.parse(documentProperties().getProperty(propertyOf(handler)) ?? 'null') as Record_ | null;
    return value && typeof value.at === 'number' ? value : null;
  } catch {
    return null;
  }
}

/** A record counts while a run could still be due: twice the period, plus an hour. */
function isCurrent(handler: string, record: Record_): boolean {
  const s = SCHEDULES[handler] ?? {};
  const periodMs = s.everyHours ? s.everyHours * HOUR_MS : (s.everyDays ?? 1) * 24 * HOUR_MS;
  return Date.now() - record.at <= 2 * periodMs + HOUR_MS;
}

function mine(handler: string): GoogleAppsScript.Script.Trigger[] {
  return ScriptApp.getProjectTriggers().filter((t) => t.getHandlerFunction() === handler);
}

/** Is there a trigger for `handler` on this spreadsheet, this admin's or another's? */
export function hasTrigger(handler: string): boolean {
  if (mine(handler).length > 0) return true;
  const record = recorded(handler);
  return record !== null && isCurrent(handler, record);
}

/** Installs the trigger unless this spreadsheet has one; returns whether it did. */
export function installTrigger(handler: string): boolean {
  if (hasTrigger(handler)) return false;
  const s = SCHEDULES[handler];
  if (!s) throw new Error(`No schedule for ${handler}`);
  const clock = ScriptApp.newTrigger(handler).timeBased();
  const trigger = s.everyHours ? clock.everyHours(s.everyHours).create() : clock.everyDays(s.everyDays ?? 1).atHour(s.atHour ?? 0).create();
  documentProperties().setProperty(propertyOf(handler), JSON.stringify({ id: trigger.getUniqueId(), at: Date.now() }));
  return true;
}

/** Removes this admin's triggers for `handler` and, when one was the recorded one, the record. */
export function removeTrigger(handler: string): number {
  const triggers = mine(handler);
  const record = recorded(handler);
  triggers.forEach((t) => ScriptApp.deleteTrigger(t));
  if (record && triggers.some((t) => t.getUniqueId() === record.id)) documentProperties().deleteProperty(propertyOf(handler));
  return triggers.length;
}

/** Called by a trigger run: keeps the record current (and adopts a trigger installed before records existed). */
export function noteTriggerRun(handler: string, event: unknown): void {
  const uid = (event as { triggerUid?: unknown }).triggerUid;
  documentProperties().setProperty(propertyOf(handler), JSON.stringify({ id: String(uid ?? recorded(handler)?.id ?? ''), at: Date.now() }));
}

export function hasHourlyUsageTrigger(): boolean {
  return hasTrigger(REFRESH_HANDLER);
}

/** Refresh usage every hour and compaction every day, as the admin who installs them. False when this sheet has the refresh already. */
export function installHourlyUsageTrigger(): boolean {
  installTrigger(COMPACT_HANDLER);
  return installTrigger(REFRESH_HANDLER);
}

/** Removes this admin's Refresh usage and compaction triggers; returns how many Refresh usage triggers. */
export function removeHourlyUsageTrigger(): number {
  removeTrigger(COMPACT_HANDLER);
  return removeTrigger(REFRESH_HANDLER);
}
