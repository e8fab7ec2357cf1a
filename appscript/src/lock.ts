import { LOCK_TIMEOUT_MS } from './config.ts';
import { UserError } from './ui.ts';

/**
 * Runs `work` holding the document lock, so two admins (or the hourly trigger) never
 * interleave their reads and writes of the same rows. Writes are flushed before release.
 * A busy lock is an error for the admin, or, with `onBusy`, whatever it returns (a trigger run
 * that skips quietly).
 */
export function withDocumentLock<T>(work: () => T): T;
export function withDocumentLock<T, B>(work: () => T, onBusy: () => B): T | B;
export function withDocumentLock<T, B>(work: () => T, onBusy?: () => B): T | B {
  const lock = LockService.getDocumentLock();
  if (!lock) throw new Error('No document lock: the script must be bound to the key spreadsheet.');
  if (!lock.tryLock(LOCK_TIMEOUT_MS)) {
    if (onBusy) return onBusy();
    throw new UserError('Another API Keys action is still running in this spreadsheet. Try again in a moment.');
  }
  try {
    const result = work();
    SpreadsheetApp.flush();
    return result;
  } finally {
    lock.releaseLock();
  }
}
