import type { EndpointKind } from '../request/endpoints.ts';
import type { BodyTap } from '../upstream/proxy.ts';
import { toTokenUsage, TopLevelFields, type TokenUsage } from './extract.ts';

/** A tap that knows, at any moment, what the answer has spent so far. */
export interface UsageTap extends BodyTap {
  readonly usage: TokenUsage | null;
}

const USAGE_FIELDS: ReadonlySet<string> = new Set(['usage', 'meta']);

/** Reads the top-level `usage` (or `/v2/embed`'s `meta.billed_units`) of a JSON answer as it passes. */
export class JsonUsageTap implements UsageTap {
  readonly rewrites = false;
  private readonly fields = new TopLevelFields(USAGE_FIELDS);

  chunk(data: Buffer): Buffer {
    this.fields.push(data);
    return data;
  }

  end(): null {
    return null;
  }

  get usage(): TokenUsage | null {
    const meta = this.fields.get('meta') as { billed_units?: unknown } | undefined;
    return toTokenUsage(this.fields.get('usage')) ?? toTokenUsage(meta?.billed_units);
  }
}

export interface StreamWants {
  kind: EndpointKind;
  /** The client asked for the final usage chunk / for usage on every chunk. */
  final: boolean;
  perChunk: boolean;
  /** Choices per prompt (`n`). */
  n: number;
}

/** An event longer than this is passed on without being read. */
const MAX_SSE_EVENT_CHARS = 1024 * 1024;
const PER_CHUNK_USAGE = /,"usage":\{[^{}]*\}/;

/** Where the next `\r?\n\r?\n` at or after `from` lies (the leftmost, as the regex would find it). */
function nextBoundary(buf: Buffer, from: number, floor: number): { at: number; end: number } | null {
  for (let lf = buf.indexOf(0x0a, from); lf >= 0; lf = buf.indexOf(0x0a, lf + 1)) {
    let end = -1;
    if (buf[lf + 1] === 0x0a) end = lf + 2;
    else if (buf[lf + 1] === 0x0d && buf[lf + 2] === 0x0a) end = lf + 3;
    if (end < 0) continue;
    return { at: lf > floor && buf[lf - 1] === 0x0d ? lf - 1 : lf, end };
  }
  return null;
}

/** Keeps the event's bytes as they came. */
function keep(out: Buffer[] | null, buf: Buffer, start: number, end: number): true {
  out?.push(buf.subarray(start, end));
  return true;
}

const USAGE_KEY = Buffer.from(',"usage":{');

/** The first `,"usage":{...}` with no brace inside, as PER_CHUNK_USAGE matches it; null if none. */
function perChunkUsage(buf: Buffer, start: number, end: number): { from: number; to: number } | null {
  for (let at = buf.indexOf(USAGE_KEY, start); at >= 0 && at < end; at = buf.indexOf(USAGE_KEY, at + 1)) {
    for (let i = at + USAGE_KEY.length; i < end; i += 1) {
      const c = buf[i];
      if (c === 0x7d) return { from: at, to: i + 1 };
      if (c === 0x7b) break;
    }
  }
  return null;
}

interface Event {
  type?: string;
  usage?: unknown;
  choices?: Array<{ index?: unknown }>;
  response?: { usage?: unknown };
  message?: { usage?: unknown };
}

/**
 * Reads a server-sent event stream for usage as it passes, so an answer cut short still counts
 * what was generated up to the cut:
 * - chat and completions: vLLM was asked for usage on every chunk (per choice index, cumulative)
 *   and at the end; the last seen is kept, and what the client did not ask for is removed;
 * - `/v1/responses`: `response.completed`; cut short, the text deltas seen;
 * - `/v1/messages`: `message_start` (input) and `message_delta` (output); cut short, the deltas.
 * Complete events pass at once; only an event split between two reads waits for its end.
 */
export class SseUsageTap implements UsageTap {
  private carry: Buffer | null = null;
  private final: TokenUsage | null = null;
  /** Per choice index: prompt and completion tokens so far. */
  private readonly choices = new Map<number, TokenUsage>();
  private input = 0;
  private output = 0;
  private deltas = 0;

  constructor(private readonly wants: StreamWants) {}

  get rewrites(): boolean {
    return this.openai && !(this.wants.final && this.wants.perChunk);
  }

  private get openai(): boolean {
    const k = this.wants.kind;
    return k === 'chat' || k === 'completion' || k === 'invocation';
  }

  get usage(): TokenUsage | null {
    if (this.final) return this.final;
    if (this.openai) {
      if (this.choices.size === 0) return null;
      // Prompt tokens once per prompt (choice index / n), completion tokens over every choice.
      const prompts = new Map<number, number>();
      let completion = 0;
      for (const [index, u] of this.choices) {
        prompts.set(Math.floor(index / Math.max(1, this.wants.n)), u.prompt_tokens);
        completion += u.completion_tokens;
      }
      let prompt = 0;
      for (const p of prompts.values()) prompt += p;
      return { prompt_tokens: prompt, completion_tokens: completion };
    }
    if (this.input === 0 && this.output === 0 && this.deltas === 0) return null;
    return { prompt_tokens: this.input, completion_tokens: Math.max(this.output, this.deltas) };
  }

  chunk(data: Buffer): Buffer {
    // Bytes throughout: no string for the chunk, no regex per event. An event is turned into a
    // string only to be parsed (the common vLLM shape, one `data: {...}` line) or, for any other
    // shape, to go through `event` as it always did.
    const buf = this.carry === null ? data : Buffer.concat([this.carry, data]);
    const rewrites = this.rewrites;
    const out: Buffer[] = [];
    let start = 0;
    let from = 0;
    for (;;) {
      const sep = nextBoundary(buf, from, start);
      if (sep === null) break;
      if (this.eventAt(buf, start, sep.at, rewrites ? out : null)) out.push(buf.subarray(sep.at, sep.end));
      start = sep.end;
      from = sep.end;
    }
    this.carry = start < buf.length ? Buffer.from(buf.subarray(start)) : null;
    if (this.carry !== null && this.carry.length > MAX_SSE_EVENT_CHARS) {
      // Not an event stream we understand: pass it on untouched rather than hold it.
      out.push(this.carry);
      this.carry = null;
    }
    if (!rewrites) return data;
    // One piece (a single event kept whole): no copy.
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  end(): Buffer | null {
    const rest = this.carry;
    this.carry = null;
    if (rest === null || rest.length === 0) return null;
    const out: Buffer[] = [];
    this.eventAt(rest, 0, rest.length, this.rewrites ? out : null);
    return out.length === 0 ? null : Buffer.concat(out);
  }

  /**
   * Reads the event in `buf[start, end)` and adds the bytes the client gets of it to `out` (null:
   * the tap rewrites nothing). True when the event is kept (its separator goes on with it).
   */
  private eventAt(buf: Buffer, start: number, end: number, out: Buffer[] | null): boolean {
    const fast = this.fastEvent(buf, start, end, out);
    if (fast !== undefined) return fast && out !== null;
    const kept = this.event(buf.toString('latin1', start, end)); // byte-exact round trip
    if (kept === null || out === null) return false;
    out.push(Buffer.from(kept, 'latin1'));
    return true;
  }

  /**
   * vLLM's events: one line, `data: {...}` (or `data:{...}`). Reads them as `event` would, without
   * strings other than the one JSON.parse needs; undefined for any other shape (`event` reads it).
   */
  private fastEvent(buf: Buffer, start: number, end: number, out: Buffer[] | null): boolean | undefined {
    if (end - start < 7 || buf[start] !== 0x64 || buf[start + 1] !== 0x61 || buf[start + 2] !== 0x74 || buf[start + 3] !== 0x61 || buf[start + 4] !== 0x3a) return undefined;
    const json = buf[start + 5] === 0x7b ? start + 5 : buf[start + 5] === 0x20 && buf[start + 6] === 0x7b ? start + 6 : -1;
    if (json < 0) return undefined;
    const cr = buf.indexOf(0x0d, json);
    const lf = buf.indexOf(0x0a, json);
    if ((cr >= 0 && cr < end) || (lf >= 0 && lf < end)) return undefined;
    let parsed: Event;
    try {
      parsed = JSON.parse(buf.toString('utf8', json, end)) as Event;
    } catch {
      return keep(out, buf, start, end);
    }
    if (!parsed || typeof parsed !== 'object') return keep(out, buf, start, end);
    if (!this.openai) {
      this.otherEvent(parsed);
      return keep(out, buf, start, end);
    }
    const usage = toTokenUsage(parsed.usage);
    if (!usage) return keep(out, buf, start, end);
    if (!Array.isArray(parsed.choices) || parsed.choices.length === 0) return undefined; // the final usage chunk: once a stream
    for (const choice of parsed.choices) {
      const index = typeof choice?.index === 'number' ? choice.index : 0;
      this.choices.set(index, usage);
    }
    if (this.wants.perChunk) return keep(out, buf, start, end);
    // Usage on a content chunk is what the gateway asked for: take it out, keep every other byte.
    const at = perChunkUsage(buf, start, end);
    if (at === null) return undefined; // not where vLLM puts it: `event` re-serialises the chunk
    out?.push(buf.subarray(start, at.from), buf.subarray(at.to, end));
    return true;
  }

  /** Reads one event; returns what the client gets of it (null: nothing). */
  private event(raw: string): string | null {
    // vLLM's chat and completion events are one `data:` line: no splitting needed.
    const lines = raw.startsWith('data:') && !raw.includes('\n') ? [raw] : raw.split(/\r?\n/);
    const dataAt = lines.findIndex((l) => l.startsWith('data:'));
    if (dataAt < 0) return raw;
    const data = lines[dataAt]!.slice(5).trimStart();
    if (data === '[DONE]' || (lines.length > 1 && lines.filter((l) => l.startsWith('data:')).length > 1)) return raw;
    let parsed: Event;
    try {
      parsed = JSON.parse(Buffer.from(data, 'latin1').toString('utf8')) as Event;
    } catch {
      return raw;
    }
    if (!parsed || typeof parsed !== 'object') return raw;
    if (this.openai) return this.openaiEvent(parsed, raw, lines, dataAt);
    this.otherEvent(parsed);
    return raw;
  }

  private openaiEvent(event: Event, raw: string, lines: string[], dataAt: number): string | null {
    const usage = toTokenUsage(event.usage);
    if (!usage) return raw;
    const choices = Array.isArray(event.choices) ? event.choices : [];
    if (choices.length === 0) {
      this.final = usage;
      return this.wants.final ? raw : null;
    }
    for (const choice of choices) {
      const index = typeof choice?.index === 'number' ? choice.index : 0;
      this.choices.set(index, usage);
    }
    if (this.wants.perChunk) return raw;
    // Usage on a content chunk is what the gateway asked for: take it out, keep every other byte.
    const line = lines[dataAt]!;
    let stripped = line.replace(PER_CHUNK_USAGE, '');
    if (stripped === line) {
      const { usage: _drop, ...rest } = JSON.parse(Buffer.from(line.slice(5).trimStart(), 'latin1').toString('utf8')) as Event;
      stripped = `data: ${Buffer.from(JSON.stringify(rest), 'utf8').toString('latin1')}`;
    }
    if (lines.length === 1) return stripped;
    lines[dataAt] = stripped;
    return lines.join('\n');
  }

  private otherEvent(event: Event): void {
    const type = typeof event.type === 'string' ? event.type : '';
    if (this.wants.kind === 'responses') {
      if (type === 'response.completed') this.final = toTokenUsage(event.response?.usage) ?? this.final;
      else if (type.endsWith('.delta') && (type.includes('text') || type.includes('arguments'))) this.deltas += 1;
      return;
    }
    // Anthropic messages.
    if (type === 'message_start') {
      const u = toTokenUsage(event.message?.usage);
      if (u) {
        this.input = u.prompt_tokens;
        this.output = Math.max(this.output, u.completion_tokens);
      }
    } else if (type === 'message_delta') {
      // Its usage is cumulative: the answer's output (and, when present, its input) so far.
      const u = event.usage as Record<string, unknown> | undefined;
      if (u && typeof u.input_tokens === 'number') this.input = toTokenUsage(u)?.prompt_tokens ?? this.input;
      if (u && typeof u.output_tokens === 'number') this.final = { prompt_tokens: this.input, completion_tokens: u.output_tokens };
    } else if (type === 'content_block_delta') {
      this.deltas += 1;
    }
  }
}
