// Dialog helpers. Expected problems (bad selection, busy lock) are UserErrors and end as a
// plain alert; anything else is a fault and is rethrown, so Apps Script logs it.

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

export function confirm(ui: Ui, title: string, question: string): boolean {
  return ui.alert(title, question, ui.ButtonSet.YES_NO) === ui.Button.YES;
}

export function tell(ui: Ui, title: string, message: string): void {
  ui.alert(title, message, ui.ButtonSet.OK);
}
