import { USAGE_TRIGGER_HOURS } from './config.ts';

const HANDLER = 'refreshUsage';

export function hasHourlyUsageTrigger(): boolean {
  return ScriptApp.getProjectTriggers().some((t) => t.getHandlerFunction() === HANDLER);
}

/** Runs Refresh usage every hour, as the admin who installs it. Returns false when one is already there. */
export function installHourlyUsageTrigger(): boolean {
  if (hasHourlyUsageTrigger()) return false;
  ScriptApp.newTrigger(HANDLER).timeBased().everyHours(USAGE_TRIGGER_HOURS).create();
  return true;
}

/** Removes this admin's Refresh usage triggers; returns how many. */
export function removeHourlyUsageTrigger(): number {
  const mine = ScriptApp.getProjectTriggers().filter((t) => t.getHandlerFunction() === HANDLER);
  mine.forEach((t) => ScriptApp.deleteTrigger(t));
  return mine.length;
}
