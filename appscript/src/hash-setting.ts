// The document setting "Store only key hashes": when on, Generate key and Rotate write a new
// key as api_key_sha256 + key_hint and leave api_key blank, so reading the sheet never gives
// anyone a usable key. The menu toggle writes a document property; a script property of the
// same name (Project Settings) is the default for a document that has none.

import { UserError } from './ui.ts';

export const STORE_KEY_HASHES = 'STORE_KEY_HASHES';

function parseSetting(text: string, where: string): boolean {
  const value = text.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false' || value === '') return false;
  throw new UserError(`${where} ${STORE_KEY_HASHES} must be true or false, not "${text.trim()}".`);
}

export function storeKeyHashes(): boolean {
  const own = PropertiesService.getDocumentProperties()?.getProperty(STORE_KEY_HASHES);
  if (own !== null && own !== undefined && own.trim() !== '') return parseSetting(own, 'Document property');
  return parseSetting(PropertiesService.getScriptProperties().getProperty(STORE_KEY_HASHES) ?? '', 'Script property');
}

export function setStoreKeyHashes(on: boolean): void {
  const props = PropertiesService.getDocumentProperties();
  if (!props) throw new Error('No document properties: the script must be bound to the key spreadsheet.');
  props.setProperty(STORE_KEY_HASHES, String(on));
}

export function hashSettingCaption(on: boolean | null): string {
  return on === null ? 'Store only key hashes...' : `Store only key hashes: ${on ? 'on' : 'off'}`;
}
