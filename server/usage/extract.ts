/** Token counts as the OpenAI API reports them in `usage`. */
export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.floor(value) : 0;
}

export function toTokenUsage(usage: unknown): TokenUsage | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  return { prompt_tokens: count(u.prompt_tokens), completion_tokens: count(u.completion_tokens) };
}

const USAGE_KEY = Buffer.from('"usage"');

/**
 * Finds the top-level `usage` object of a JSON answer without parsing the whole body: vLLM puts
 * it last, so the last `"usage"` followed by an object is it. Falls back to a full parse.
 */
export function usageFromJson(body: Buffer): TokenUsage | null {
  const at = body.lastIndexOf(USAGE_KEY);
  if (at < 0) return null;
  const open = body.indexOf(0x7b /* { */, at + USAGE_KEY.length);
  if (open >= 0 && body.subarray(at + USAGE_KEY.length, open).toString().trim() === ':') {
    let depth = 0;
    for (let i = open; i < body.length; i += 1) {
      const c = body[i];
      if (c === 0x7b) depth += 1;
      else if (c === 0x7d && --depth === 0) {
        try {
          return toTokenUsage(JSON.parse(body.subarray(open, i + 1).toString()));
        } catch {
          break;
        }
      }
    }
  }
  try {
    return toTokenUsage((JSON.parse(body.toString()) as { usage?: unknown }).usage);
  } catch {
    return null;
  }
}

const HAS_USAGE_OBJECT = /"usage"\s*:\s*\{/;

export interface SseEvent {
  usage: TokenUsage | null;
  /** A usage-only chunk (`choices: []`): what the gateway asked for and may hide. */
  usageOnly: boolean;
}

/** Reads one server-sent event (its raw text without the blank line) for usage. */
export function inspectSseEvent(event: string): SseEvent {
  if (!HAS_USAGE_OBJECT.test(event)) return { usage: null, usageOnly: false };
  const data = event
    .split(/\r?\n/)
    .filter((line) => line.startsWith('data:'))
    .map((line) => line.slice(5).trimStart())
    .join('\n');
  try {
    const parsed = JSON.parse(data) as { usage?: unknown; choices?: unknown };
    const usage = toTokenUsage(parsed.usage);
    return { usage, usageOnly: usage !== null && Array.isArray(parsed.choices) && parsed.choices.length === 0 };
  } catch {
    return { usage: null, usageOnly: false };
  }
}
