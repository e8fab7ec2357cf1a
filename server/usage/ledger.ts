import type { KeyRecord } from '../keys/types.ts';

export interface UsageCounts {
  requests: number;
  rate_limited: number;
  prompt_tokens: number;
  completion_tokens: number;
}

export interface UsageEntry extends UsageCounts {
  keyId: string;
  clientName: string;
}

/** Usage per key since the last successful flush. Taken whole by a flush, merged back if it fails. */
export class UsageLedger {
  private entries = new Map<string, UsageEntry>();

  add(key: Pick<KeyRecord, 'keyId' | 'clientName'>, delta: Partial<UsageCounts>): void {
    let entry = this.entries.get(key.keyId);
    if (!entry) {
      entry = { keyId: key.keyId, clientName: key.clientName, requests: 0, rate_limited: 0, prompt_tokens: 0, completion_tokens: 0 };
      this.entries.set(key.keyId, entry);
    }
    entry.requests += delta.requests ?? 0;
    entry.rate_limited += delta.rate_limited ?? 0;
    entry.prompt_tokens += delta.prompt_tokens ?? 0;
    entry.completion_tokens += delta.completion_tokens ?? 0;
  }

  /** Everything counted so far; the ledger starts empty again. */
  take(): UsageEntry[] {
    const taken = [...this.entries.values()];
    this.entries = new Map();
    return taken;
  }

  /** Puts back entries whose flush failed, adding them to whatever was counted since. */
  restore(entries: readonly UsageEntry[]): void {
    for (const e of entries) this.add(e, e);
  }

  get pendingKeys(): number {
    return this.entries.size;
  }

  snapshot(): UsageEntry[] {
    return [...this.entries.values()].map((e) => ({ ...e }));
  }
}
