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

const BOUNDARY = /\r?\n\r?\n/g;
/** An event longer than this is passed on without being read. */
const MAX_SSE_EVENT_CHARS = 1024 * 1024;
const PER_CHUNK_USAGE = /,"usage":\{[^{}]*\}/;

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
  private carry = '';
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
    const text = this.carry + data.toString('latin1'); // byte-exact round trip
    let out = '';
    let start = 0;
    BOUNDARY.lastIndex = 0;
    for (let m = BOUNDARY.exec(text); m; m = BOUNDARY.exec(text)) {
      const end = m.index + m[0].length;
      const kept = this.event(text.slice(start, m.index));
      if (kept !== null) out += kept + text.slice(m.index, end);
      start = end;
    }
    this.carry = text.slice(start);
    if (this.carry.length > MAX_SSE_EVENT_CHARS) {
      // Not an event stream we understand: pass it on untouched rather than hold it.
      out += this.carry;
      this.carry = '';
    }
    return this.rewrites ? Buffer.from(out, 'latin1') : data;
  }

  end(): Buffer | null {
    const rest = this.carry;
    this.carry = '';
    if (!rest) return null;
    const kept = this.event(rest);
    if (!this.rewrites) return null;
    return kept === null ? null : Buffer.from(kept, 'latin1');
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
