import type { BodyTap } from '../upstream/proxy.ts';
import { inspectSseEvent, usageFromJson, type TokenUsage } from './extract.ts';

/** Answers bigger than this are passed on without being searched for usage. */
const MAX_JSON_TAP_BYTES = 8 * 1024 * 1024;

/** Keeps a copy of a JSON answer (bytes pass unchanged) to read `usage` at the end. */
export class JsonUsageTap implements BodyTap {
  readonly rewrites = false;
  usage: TokenUsage | null = null;
  private chunks: Buffer[] = [];
  private size = 0;

  chunk(data: Buffer): Buffer {
    if (this.size <= MAX_JSON_TAP_BYTES) {
      this.chunks.push(data);
      this.size += data.length;
    }
    return data;
  }

  end(): null {
    if (this.size <= MAX_JSON_TAP_BYTES) this.usage = usageFromJson(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks));
    this.chunks = [];
    return null;
  }
}

const BOUNDARY = /\r?\n\r?\n/g;
/** An event longer than this is not held back to be inspected. */
const MAX_SSE_EVENT_CHARS = 1024 * 1024;

/**
 * Watches a server-sent event stream for the usage chunk. With `hide`, the usage-only event the
 * gateway asked for is dropped and every other byte passes as sent; complete events are passed
 * at once, only an event cut between two TCP chunks waits for its end.
 */
export class SseUsageTap implements BodyTap {
  usage: TokenUsage | null = null;
  private carry = '';

  constructor(private readonly hide: boolean) {}

  get rewrites(): boolean {
    return this.hide;
  }

  chunk(data: Buffer): Buffer {
    const text = this.carry + data.toString('latin1'); // byte-exact round trip
    let out = '';
    let start = 0;
    BOUNDARY.lastIndex = 0;
    for (let m = BOUNDARY.exec(text); m; m = BOUNDARY.exec(text)) {
      const end = m.index + m[0].length;
      const event = text.slice(start, m.index);
      const seen = inspectSseEvent(event);
      if (seen.usage) this.usage = seen.usage;
      if (!(this.hide && seen.usageOnly)) out += text.slice(start, end);
      start = end;
    }
    this.carry = text.slice(start);
    if (this.carry.length > MAX_SSE_EVENT_CHARS) {
      // Not an event stream we understand: pass it on untouched rather than hold it.
      out += this.carry;
      this.carry = '';
    }
    if (!this.hide) return data;
    return Buffer.from(out, 'latin1');
  }

  end(): Buffer | null {
    const rest = this.carry;
    this.carry = '';
    if (!rest) return null;
    const seen = inspectSseEvent(rest);
    if (seen.usage) this.usage = seen.usage;
    if (!this.hide) return null;
    return seen.usageOnly ? null : Buffer.from(rest, 'latin1');
  }
}
