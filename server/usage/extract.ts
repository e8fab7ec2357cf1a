/** Token counts as the OpenAI API reports them in `usage`. */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

/**
 * Reads a `usage` object in any of the shapes vLLM answers with (reference/vllm.md §5): OpenAI
 * (`prompt_tokens`, `completion_tokens`), Responses (`input_tokens`, `output_tokens`), Anthropic
 * (`input_tokens` without the cached part, plus `cache_read_input_tokens` and
 * `cache_creation_input_tokens`, all of which the prompt cost), Cohere's `billed_units`
 * (`input_tokens`, `image_tokens`).
 */
export function toTokenUsage(usage: unknown): TokenUsage | null {
  if (!usage || typeof usage !== 'object' || Array.isArray(usage)) return null;
  const u = usage as Record<string, unknown>;
  if (u.prompt_tokens === undefined && u.completion_tokens === undefined && u.input_tokens === undefined && u.output_tokens === undefined) return null;
  const prompt = u.prompt_tokens !== undefined
    ? count(u.prompt_tokens)
    : count(u.input_tokens) + count(u.cache_read_input_tokens) + count(u.cache_creation_input_tokens) + count(u.image_tokens);
  const completion = u.completion_tokens !== undefined ? count(u.completion_tokens) : count(u.output_tokens);
  return { prompt_tokens: prompt, completion_tokens: completion };
}

/** A key's bytes as UTF-8 text; plain ASCII (every key vLLM sends) without a Buffer. */
function keyText(bytes: number[]): string {
  for (const b of bytes) if (b >= 0x80) return Buffer.from(bytes).toString('utf8');
  return String.fromCharCode(...bytes);
}

/** Captured top-level values bigger than this are not kept (usage objects are tiny). */
const MAX_CAPTURE_BYTES = 64 * 1024;

/**
 * Picks named top-level fields out of a JSON answer as it streams past, holding only their
 * bytes: the answer itself (embeddings can be many MB) is never held whole. Tracks strings and
 * nesting, so a `"usage"` inside the model's output or a nested object is not taken for it.
 */
export class TopLevelFields {
  private depth = 0;
  private inString = false;
  private escaped = false;
  private expectKey = false;
  private key: number[] | null = null;
  private lastKey = '';
  private capture: Buffer[] | null = null;
  private captureSize = 0;
  readonly values = new Map<string, string>();

  constructor(private readonly wanted: ReadonlySet<string>) {}

  push(chunk: Buffer): void {
    let from = this.capture ? 0 : -1;
    // Where the next backslash is (-1: none left in the chunk), found once per chunk and again
    // only when passed, so skipping strings stays linear however many strings there are.
    let backslash = chunk.indexOf(0x5c);
    for (let i = 0; i < chunk.length; i += 1) {
      if (this.inString && !this.escaped && this.key === null) {
        // Inside a string that is not a top-level key only `"` and `\` matter: jump to the
        // nearer of the two with memchr instead of looking at every byte (answers are mostly text).
        let stop = chunk.indexOf(0x22, i);
        if (backslash !== -1 && backslash < i) backslash = chunk.indexOf(0x5c, i);
        if (backslash !== -1 && (stop === -1 || backslash < stop)) stop = backslash;
        if (stop === -1) break;
        i = stop;
      }
      const c = chunk[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          if (this.key) {
            this.lastKey = keyText(this.key);
            this.key = null;
          }
        } else if (this.key && this.key.length < 64) this.key.push(c);
        continue;
      }
      if (c === 0x22) {
        this.inString = true;
        if (this.depth === 1 && this.expectKey) this.key = [];
      } else if (c === 0x7b || c === 0x5b) {
        this.depth += 1;
        if (this.depth === 1) this.expectKey = true;
      } else if (c === 0x7d || c === 0x5d) {
        if (this.depth === 1 && this.capture) from = this.endCapture(chunk, from, i);
        this.depth -= 1;
      } else if (this.depth === 1 && c === 0x3a /* : */) {
        this.expectKey = false;
        if (this.wanted.has(this.lastKey)) {
          this.capture = [];
          this.captureSize = 0;
          from = i + 1;
        }
      } else if (this.depth === 1 && c === 0x2c /* , */) {
        if (this.capture) from = this.endCapture(chunk, from, i);
        this.expectKey = true;
      }
    }
    if (this.capture && from >= 0) this.keep(chunk.subarray(from));
  }

  private keep(part: Buffer): void {
    this.captureSize += part.length;
    if (this.captureSize <= MAX_CAPTURE_BYTES) this.capture!.push(Buffer.from(part));
  }

  private endCapture(chunk: Buffer, from: number, at: number): number {
    if (from >= 0) this.keep(chunk.subarray(from, at));
    if (this.captureSize <= MAX_CAPTURE_BYTES) this.values.set(this.lastKey, Buffer.concat(this.capture!).toString('utf8'));
    this.capture = null;
    return -1;
  }

  /** A captured field, parsed; undefined when absent or unreadable. */
  get(name: string): unknown {
    const text = this.values.get(name);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return undefined;
    }
  }
}
