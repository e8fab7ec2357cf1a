import { resolve } from 'node:path';
import type { Config } from '../config.ts';
import { usageFileFor } from '../usage/columns.ts';
import { FileUsageHistory, type UsageHistory } from '../usage/history.ts';
import { FileKeyTable } from './file-table.ts';
import { TableError, type KeyTable } from './table.ts';

/** The key source the gateway would use with this configuration: Sheets, else the file, else an error. */
export async function openKeyTable(config: Config): Promise<KeyTable> {
  if (config.GOOGLE_SHEET_ID) {
    // Loaded only when used: the Google libraries take longer to import than a file command takes to run.
    const [{ resolveGoogleCredentials }, { createSheetsApi }, { SheetsKeyTable }] = await Promise.all([
      import('../google/auth.ts'),
      import('../google/sheets.ts'),
      import('./sheets-table.ts'),
    ]);
    const creds = await resolveGoogleCredentials(config.GOOGLE_CREDENTIALS_PATH);
    if (!creds.ok) throw new TableError(`Google credentials missing: ${creds.reason}`);
    const api = createSheetsApi(creds.auth, config.SHEETS_API_URL);
    return new SheetsKeyTable(api, config.GOOGLE_SHEET_ID, config.GOOGLE_SHEET_NAME, config.USAGE_SHEET_NAME, creds.account);
  }
  if (config.KEYS_FILE) {
    const path = resolve(config.KEYS_FILE);
    return new FileKeyTable(path, usageFileFor(path), config.KEYS_TIMEZONE);
  }
  throw new TableError('no key source configured: set GOOGLE_SHEET_ID (Google Sheets) or KEYS_FILE (a local CSV), as for the gateway');
}

/** The usage record the gateway seeds quota counts from (the Usage tabs, or the usage file), read the same way. */
export async function openUsageHistory(config: Config): Promise<UsageHistory> {
  if (config.GOOGLE_SHEET_ID) {
    const [{ resolveGoogleCredentials }, { createSheetsApi }, { SheetsUsageHistory }, { default: pino }] = await Promise.all([
      import('../google/auth.ts'),
      import('../google/sheets.ts'),
      import('../usage/history.ts'),
      import('pino'),
    ]);
    const creds = await resolveGoogleCredentials(config.GOOGLE_CREDENTIALS_PATH);
    if (!creds.ok) throw new TableError(`Google credentials missing: ${creds.reason}`);
    return new SheetsUsageHistory(createSheetsApi(creds.auth, config.SHEETS_API_URL), config.GOOGLE_SHEET_ID, config.USAGE_SHEET_NAME, pino({ level: 'silent' }));
  }
  if (config.KEYS_FILE) return new FileUsageHistory(usageFileFor(resolve(config.KEYS_FILE)), config.KEYS_TIMEZONE);
  throw new TableError('no key source configured: set GOOGLE_SHEET_ID (Google Sheets) or KEYS_FILE (a local CSV), as for the gateway');
}
