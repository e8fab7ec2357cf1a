import { hashSettingCaption, storeKeyHashes } from './hash-setting.ts';
import { remindersCaption, remindersOn } from './reminders.ts';
import { MENU_TITLE } from './ui.ts';

/** The toggle's caption shows the setting; where properties cannot be read, a neutral one. */
function hashToggleCaption(event?: { authMode?: unknown }): string {
  // An add-on's onOpen in AuthMode.NONE may not touch PropertiesService.
  if (event && event.authMode === ScriptApp.AuthMode.NONE) return hashSettingCaption(null);
  try {
    return hashSettingCaption(storeKeyHashes());
  } catch {
    return hashSettingCaption(null);
  }
}

function remindersToggleCaption(event?: { authMode?: unknown }): string {
  if (event && event.authMode === ScriptApp.AuthMode.NONE) return remindersCaption(null);
  try {
    return remindersCaption(remindersOn());
  } catch {
    return remindersCaption(null);
  }
}

/** Builds the menu; adding it again (after a toggle) replaces the one shown. */
export function addMenu(event?: { authMode?: unknown }): void {
  SpreadsheetApp.getUi()
    .createMenu(MENU_TITLE)
    .addItem('Generate key...', 'generateKey')
    .addItem('Revoke selected key', 'revokeSelectedKey')
    .addItem('Rotate selected key', 'rotateSelectedKey')
    .addSeparator()
    .addItem('Refresh usage', 'refreshUsage')
    .addItem('Compact usage now', 'compactUsage')
    .addItem('Set up sheet', 'setupSheet')
    .addSeparator()
    .addItem(remindersToggleCaption(event), 'toggleReminders')
    .addItem(hashToggleCaption(event), 'toggleStoreKeyHashes')
    .addToUi();
}

/** Simple trigger: adds the menu. It may run without authorization, so it only builds the menu. */
export function onOpen(event?: GoogleAppsScript.Events.SheetsOnOpen): void {
  addMenu(event);
}

/** Editor add-on install: show the menu at once, without a reload. */
export function onInstall(event?: GoogleAppsScript.Events.AddonOnInstall): void {
  onOpen(event as GoogleAppsScript.Events.SheetsOnOpen | undefined);
}
