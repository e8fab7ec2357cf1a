// Running from a time-driven trigger (review item 7): there is no one to tell that the lock
// is busy, and the next run an hour or a day later catches up, so a busy lock ends the run
// quietly instead of failing the execution.

import { withDocumentLock } from './lock.ts';

/** Apps Script passes time-driven triggers an event with a triggerUid; menus pass nothing. */
export function isTriggerEvent(event: unknown): boolean {
  return typeof event === 'object' && event !== null && 'triggerUid' in event;
}

export function underDocumentLock<T>(quietIfBusy: boolean, work: () => T): T | null {
  if (!quietIfBusy) return withDocumentLock(work);
  return withDocumentLock(work, () => {
    console.log('API Keys: another action holds the document lock; this run is skipped, the next one catches up.');
    return null;
  });
}
