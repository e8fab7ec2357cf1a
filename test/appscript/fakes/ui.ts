// In-memory Ui (prompts, alerts, modal dialogs, menus) and HtmlService. The test queues the
// admin's answers; a prompt or confirmation nobody queued an answer for throws, so a test
// also pins how many questions an action asks.

class Enum {
  constructor(readonly name: string) {}
  toString() { return this.name; }
}

const Button = {
  OK: new Enum('OK'), CANCEL: new Enum('CANCEL'), YES: new Enum('YES'), NO: new Enum('NO'), CLOSE: new Enum('CLOSE'),
};
const ButtonSet = {
  OK: new Enum('OK'), OK_CANCEL: new Enum('OK_CANCEL'), YES_NO: new Enum('YES_NO'), YES_NO_CANCEL: new Enum('YES_NO_CANCEL'),
};
const QUESTION_SETS = new Set<unknown>([ButtonSet.OK_CANCEL, ButtonSet.YES_NO, ButtonSet.YES_NO_CANCEL]);

type ButtonName = keyof typeof Button;
type Answer = { kind: 'prompt'; button: ButtonName; text: string } | { kind: 'confirm'; button: ButtonName; meanwhile?: () => void };

export interface UiEvent {
  kind: 'prompt' | 'confirm' | 'alert' | 'dialog';
  title: string;
  message: string;
}

export interface MenuItem {
  caption: string;
  handler: string;
}

export class FakeHtmlOutput {
  width = 0;
  height = 0;
  title = '';
  constructor(private readonly content: string) {}
  getContent() { return this.content; }
  setWidth(px: number) { this.width = px; return this; }
  setHeight(px: number) { this.height = px; return this; }
  setTitle(title: string) { this.title = title; return this; }
}

export const fakeHtmlService = {
  createHtmlOutput: (html = '') => new FakeHtmlOutput(String(html)),
};

export class FakeUi {
  readonly Button = Button;
  readonly ButtonSet = ButtonSet;
  readonly events: UiEvent[] = [];
  readonly dialogs: { title: string; html: string; output: FakeHtmlOutput }[] = [];
  readonly menus: { title: string; items: (MenuItem | 'separator')[] }[] = [];
  private readonly answers: Answer[] = [];

  // ---- what the test scripts ----
  answer(...texts: string[]): this {
    for (const text of texts) this.answers.push({ kind: 'prompt', button: 'OK', text });
    return this;
  }
  cancel(button: 'CANCEL' | 'CLOSE' = 'CANCEL'): this {
    this.answers.push({ kind: 'prompt', button, text: '' });
    return this;
  }
  /** `meanwhile` runs while the dialog is open: another admin editing the sheet. */
  confirm(yes: boolean, meanwhile?: () => void): this {
    this.answers.push({ kind: 'confirm', button: yes ? 'YES' : 'NO', meanwhile });
    return this;
  }
  pending(): number { return this.answers.length; }
  messages(kind: UiEvent['kind']): string[] { return this.events.filter((e) => e.kind === kind).map((e) => e.message); }

  // ---- the Ui API ----
  prompt(...args: unknown[]) {
    const { title, message } = this.split(args);
    this.events.push({ kind: 'prompt', title, message });
    const answer = this.next('prompt', message);
    const text = answer.kind === 'prompt' ? answer.text : '';
    return { getResponseText: () => text, getSelectedButton: () => Button[answer.button] };
  }
  alert(...args: unknown[]) {
    const { title, message, buttons } = this.split(args);
    if (!QUESTION_SETS.has(buttons)) {
      this.events.push({ kind: 'alert', title, message });
      return Button.OK;
    }
    this.events.push({ kind: 'confirm', title, message });
    return Button[this.next('confirm', message).button];
  }
  showModalDialog(output: FakeHtmlOutput, title: string): void {
    if (!(output instanceof FakeHtmlOutput)) throw new Error('fake: showModalDialog needs an HtmlOutput');
    this.events.push({ kind: 'dialog', title, message: '' });
    this.dialogs.push({ title, html: output.getContent(), output });
  }
  createMenu(title: string) {
    const items: (MenuItem | 'separator')[] = [];
    const menu = {
      addItem: (caption: string, handler: string) => { items.push({ caption, handler }); return menu; },
      addSeparator: () => { items.push('separator'); return menu; },
      addToUi: () => { this.menus.push({ title, items }); },
    };
    return menu;
  }

  /** (prompt) | (prompt, buttons) | (title, prompt, buttons), as in Apps Script. */
  private split(args: unknown[]): { title: string; message: string; buttons: unknown } {
    if (args.length >= 3) return { title: String(args[0]), message: String(args[1]), buttons: args[2] };
    if (args.length === 2 && args[1] instanceof Enum) return { title: '', message: String(args[0]), buttons: args[1] };
    if (args.length === 2) throw new Error('fake Ui: no (title, prompt) overload; pass a ButtonSet');
    return { title: '', message: String(args[0]), buttons: ButtonSet.OK };
  }
  private next(kind: Answer['kind'], message: string): Answer {
    const answer = this.answers.shift();
    if (!answer) throw new Error(`fake Ui: unexpected ${kind} with no queued answer: ${message}`);
    if (answer.kind !== kind) throw new Error(`fake Ui: the script asked a ${kind}, the test queued a ${answer.kind}: ${message}`);
    if (answer.kind === 'confirm') answer.meanwhile?.();
    return answer;
  }
}
