// Dialog helpers. Expected problems (bad selection, busy lock) are UserErrors and end as a
// plain alert; anything else is a fault and is rethrown, so Apps Script logs it.

import type { Parsed } from './input.ts';

type Ui = GoogleAppsScript.Base.Ui;

export const MENU_TITLE = 'API Keys';

export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** The UI, or null where there is none (a time-driven trigger). */
export function tryGetUi(): Ui | null {
  try {
    return SpreadsheetApp.getUi();
  } catch {
    return null;
  }
}

export function runAction(action: () => void): void {
  try {
    action();
  } catch (error) {
    const ui = error instanceof UserError ? tryGetUi() : null;
    if (!ui) throw error;
    ui.alert(MENU_TITLE, (error as UserError).message, ui.ButtonSet.OK);
  }
}

/**
 * Asks until the answer parses or the admin cancels (null). A bad answer is explained in
 * the next prompt, above the question.
 */
export function ask<T>(ui: Ui, title: string, question: string, parse: (text: string) => Parsed<T>): { value: T } | null {
  let text = question;
  for (;;) {
    const response = ui.prompt(title, text, ui.ButtonSet.OK_CANCEL);
    if (response.getSelectedButton() !== ui.Button.OK) return null;
    const parsed = parse(response.getResponseText());
    if (parsed.ok) return { value: parsed.value };
    text = `${parsed.message}\n\n${question}`;
  }
}

export function confirm(ui: Ui, title: string, question: string): boolean {
  return ui.alert(title, question, ui.ButtonSet.YES_NO) === ui.Button.YES;
}

export function tell(ui: Ui, title: string, message: string): void {
  ui.alert(title, message, ui.ButtonSet.OK);
}
