// Entry point of the bundle. Every export becomes a global function of the Apps Script
// project (appscript/build.ts writes one top-level stub per export).

export { onInstall, onOpen } from './menu.ts';
export { createKeyFromForm, generateKey } from './generate.ts';
export { revokeSelectedKey } from './revoke.ts';
export { rotateSelectedKey } from './rotate.ts';
export { refreshUsage } from './usage.ts';
export { setupSheet } from './setup.ts';
export { toggleStoreKeyHashes } from './hash-toggle.ts';
export { installHourlyUsageTrigger, removeHourlyUsageTrigger } from './triggers.ts';
export { compactUsage } from './compaction.ts';
export { sendReminders, toggleReminders } from './reminders.ts';
