/**
 * Why a usage write failed, as a class safe for the public `/auth/status` (no sheet id, URL, path
 * or key), with what an operator should do about it (logged, never public).
 */
export type UsageErrorClass =
  | 'sheet_full'
  | 'sheets_quota_exceeded'
  | 'sheets_unreachable'
  | 'sheet_not_shared'
  | 'sheet_not_found'
  | 'sheets_error'
  | 'usage_file_unwritable';

export const USAGE_ERROR_ADVICE: Record<UsageErrorClass, string> = {
  sheet_full:
    'the spreadsheet is at Google\'s 10,000,000-cell limit: run "Compact usage now" in the sheet (API Keys menu), delete unused columns and old tabs, or move the Usage tab to a new spreadsheet; the counts are kept and re-sent',
  sheets_quota_exceeded:
    'Google refused the write for its per-minute write quota (60 a minute per service account): other writers share it; the gateway backs off and merges pending flushes into one append; raise USAGE_FLUSH_INTERVAL or use REDIS_URL so one replica writes for all',
  sheets_unreachable: 'Google Sheets did not answer (network or timeout): the counts are kept and re-sent with the same flush_id',
  sheet_not_shared: 'the service account may no longer write to the spreadsheet: share it with the service account as Editor',
  sheet_not_found: 'the spreadsheet was not found: check GOOGLE_SHEET_ID',
  sheets_error: 'Google Sheets refused the write: see the detail in this line; the counts are kept and re-sent',
  usage_file_unwritable: 'the usage file beside KEYS_FILE cannot be written: check its folder, permissions and disk space',
};

/** A usage write that failed; `detail` goes to the log only. */
export class UsageWriteError extends Error {
  constructor(
    readonly errorClass: UsageErrorClass,
    readonly detail: string,
  ) {
    super(`${errorClass}: ${detail}`);
  }
}

/** Classifies a Sheets API failure by its HTTP status and Google's message. */
export function classifySheetsFailure(status: number | null, message: string): UsageErrorClass {
  if (status === null) return 'sheets_unreachable';
  if (status === 400 && /above the limit of [\d,]+ cells|cell limit/i.test(message)) return 'sheet_full';
  if (status === 429) return 'sheets_quota_exceeded';
  if (status === 403) return 'sheet_not_shared';
  if (status === 404) return 'sheet_not_found';
  if (status >= 500) return 'sheets_unreachable';
  return 'sheets_error';
}
