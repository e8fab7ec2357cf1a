import { setStoreKeyHashes, storeKeyHashes } from './hash-setting.ts';
import { addMenu } from './menu.ts';
import { confirm, runAction, tell } from './ui.ts';

const TITLE = 'Store only key hashes';

const TURN_ON =
  'Turn on "Store only key hashes"? From now on Generate key and Rotate write only the new key\'s SHA-256 ' +
  '(api_key_sha256) and a hint (key_hint), and leave api_key blank: the key is shown once and can never be ' +
  'read from the sheet again. Keys already in the sheet stay as they are; convert them with ' +
  'npm run keys -- hash-existing.';
const TURN_OFF =
  'Turn off "Store only key hashes"? Generate key will write new keys in api_key again, where anyone who can ' +
  'read the sheet can copy and use them. Hashed rows stay hashed, and rotating one still gives a hashed key.';

/** Menu item: switches the document setting after a confirmation, and updates the menu's caption. */
export function toggleStoreKeyHashes(): void {
  runAction(() => {
    const ui = SpreadsheetApp.getUi();
    const on = storeKeyHashes();
    if (!confirm(ui, TITLE, on ? TURN_OFF : TURN_ON)) return;
    setStoreKeyHashes(!on);
    addMenu();
    tell(ui, TITLE, `Store only key hashes is now ${on ? 'off' : 'on'} for this spreadsheet.`);
  });
}
