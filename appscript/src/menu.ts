import { MENU_TITLE } from './ui.ts';

/** Simple trigger: adds the menu. It may run without authorization, so it only builds the menu. */
export function onOpen(_event?: GoogleAppsScript.Events.SheetsOnOpen): void {
  SpreadsheetApp.getUi()
    .createMenu(MENU_TITLE)
    .addItem('Generate key...', 'generateKey')
    .addItem('Revoke selected key', 'revokeSelectedKey')
    .addItem('Rotate selected key', 'rotateSelectedKey')
    .addSeparator()
    .addItem('Refresh usage', 'refreshUsage')
    .addItem('Set up sheet', 'setupSheet')
    .addToUi();
}

/** Editor add-on install: show the menu at once, without a reload. */
export function onInstall(event?: GoogleAppsScript.Events.AddonOnInstall): void {
  onOpen(event as GoogleAppsScript.Events.SheetsOnOpen | undefined);
}
