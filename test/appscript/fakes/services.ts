// In-memory Utilities, LockService, PropertiesService, ScriptApp and Session.

import { createHash, randomUUID } from 'node:crypto';
import { formatDate } from './values.ts';

const DigestAlgorithm = { MD5: 'md5', SHA_1: 'sha1', SHA_256: 'sha256', SHA_384: 'sha384', SHA_512: 'sha512' } as const;
const Charset = { US_ASCII: 'US_ASCII', UTF_8: 'UTF_8' } as const;

/** Java bytes, as Apps Script returns them: -128..127. */
export function toSignedBytes(bytes: Uint8Array): number[] {
  return Array.from(bytes, (b) => (b > 127 ? b - 256 : b));
}

export function fakeUtilities() {
  return {
    DigestAlgorithm,
    Charset,
    uuids: [] as string[],
    getUuid(): string {
      const uuid = randomUUID();
      this.uuids.push(uuid);
      return uuid;
    },
    computeDigest(algorithm: string, value: string | number[], charset?: string): number[] {
      if (!Object.values(DigestAlgorithm).includes(algorithm as never)) throw new Error(`fake: unknown digest ${algorithm}`);
      let input: Buffer;
      if (typeof value === 'string') {
        if (charset !== Charset.UTF_8 && charset !== Charset.US_ASCII) throw new Error('fake: pass Utilities.Charset explicitly');
        input = Buffer.from(value, charset === Charset.UTF_8 ? 'utf8' : 'latin1');
      } else {
        input = Buffer.from(value.map((b) => b & 0xff));
      }
      return toSignedBytes(createHash(algorithm).update(input).digest());
    },
    formatDate,
  };
}

export class FakeLock {
  held = false;
  acquired = 0;
  released = 0;
  /** Set to make the next tryLock time out, as when another admin holds the lock. */
  busy = false;
  /** Runs once, at the next tryLock, before it is decided: another run getting in first. */
  beforeNextTryLock: (() => void) | null = null;
  tryLock(_timeoutMs: number): boolean {
    const meanwhile = this.beforeNextTryLock;
    this.beforeNextTryLock = null;
    meanwhile?.();
    if (this.busy) return false;
    this.held = true;
    this.acquired++;
    return true;
  }
  waitLock(timeoutMs: number): void {
    if (!this.tryLock(timeoutMs)) throw new Error('Lock timeout: another process was holding the lock for too long.');
  }
  hasLock(): boolean { return this.held; }
  releaseLock(): void {
    if (this.held) this.released++;
    this.held = false;
  }
}

export function fakeLockService() {
  const document = new FakeLock();
  const script = new FakeLock();
  const user = new FakeLock();
  return { document, getDocumentLock: () => document, getScriptLock: () => script, getUserLock: () => user };
}

export class FakeProperties {
  private readonly map = new Map<string, string>();
  constructor(initial: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(initial)) this.map.set(k, v);
  }
  getProperty(key: string): string | null { return this.map.get(key) ?? null; }
  getProperties(): Record<string, string> { return Object.fromEntries(this.map); }
  setProperty(key: string, value: string) { this.map.set(key, String(value)); return this; }
  deleteProperty(key: string) { this.map.delete(key); return this; }
}

export function fakePropertiesService(script: Record<string, string> = {}) {
  const stores = { script: new FakeProperties(script), document: new FakeProperties(), user: new FakeProperties() };
  return {
    stores,
    getScriptProperties: () => stores.script,
    getDocumentProperties: () => stores.document,
    getUserProperties: () => stores.user,
  };
}

export interface FakeTrigger {
  getHandlerFunction(): string;
  getEventType(): string;
  getUniqueId(): string;
  everyHours: number | null;
  everyDays: number | null;
  atHour: number | null;
  /** The admin who installed it. */
  owner: string;
}

/**
 * Triggers belong to the admin who installs them, and getProjectTriggers() returns only the
 * current admin's: `useAccount(name)` switches admins; `triggers` is the current one's list,
 * `allTriggers()` every admin's.
 */
export function fakeScriptApp() {
  const byOwner = new Map<string, FakeTrigger[]>();
  let user = 'admin-a@example.com';
  let next = 1;
  const EventType = { CLOCK: 'CLOCK', ON_OPEN: 'ON_OPEN', ON_EDIT: 'ON_EDIT' };
  const mine = () => {
    let list = byOwner.get(user);
    if (!list) byOwner.set(user, (list = []));
    return list;
  };
  return {
    EventType,
    AuthMode: { NONE: 'NONE', LIMITED: 'LIMITED', FULL: 'FULL' },
    get triggers() { return mine(); },
    allTriggers: () => [...byOwner.values()].flat(),
    useAccount(name: string) { user = name; },
    getProjectTriggers: () => [...mine()],
    deleteTrigger(trigger: FakeTrigger) {
      const list = mine();
      const i = list.indexOf(trigger);
      if (i < 0) throw new Error('fake: no such trigger (or another admin owns it)');
      list.splice(i, 1);
    },
    newTrigger(handler: string) {
      return {
        timeBased() {
          const schedule = { everyHours: null as number | null, everyDays: null as number | null, atHour: null as number | null };
          const clock = {
            everyHours(n: number) { schedule.everyHours = n; return clock; },
            everyDays(n: number) { schedule.everyDays = n; return clock; },
            atHour(h: number) {
              if (!Number.isInteger(h) || h < 0 || h > 23) throw new Error('fake: atHour takes 0-23');
              schedule.atHour = h;
              return clock;
            },
            create(): FakeTrigger {
              if (schedule.everyHours === null && schedule.everyDays === null) throw new Error('fake: a clock trigger needs a schedule');
              if (schedule.atHour !== null && schedule.everyDays === null) throw new Error('fake: atHour needs everyDays');
              const id = String(next++);
              const trigger = {
                getHandlerFunction: () => handler, getEventType: () => EventType.CLOCK, getUniqueId: () => id, ...schedule, owner: user,
              };
              mine().push(trigger);
              return trigger;
            },
          };
          return clock;
        },
      };
    },
  };
}

export function fakeSession(scriptTimeZone: string) {
  return { getScriptTimeZone: () => scriptTimeZone };
}
