/**
 * How pydantic's lax mode (vLLM's request models) reads a JSON value, for the fields the meter
 * depends on (reference/vllm.md §3). The gateway accepts only the plain spelling of each field
 * and refuses the others; these readers say, in the refusal, what vLLM would have made of it.
 */

const TRUE_WORDS = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_WORDS = new Set(['0', 'off', 'f', 'false', 'n', 'no']);

/** pydantic `bool | None`: true/false, null (None), or 'invalid'. */
export function laxBool(value: unknown): boolean | null | 'invalid' {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1 ? true : value === 0 ? false : 'invalid';
  if (typeof value === 'string') {
    const word = value.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  return 'invalid';
}

/** pydantic `int | None`: an integer, null, or 'invalid'. */
export function laxInt(value: unknown): number | null | 'invalid' {
  if (value === null || value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isInteger(value) && Math.abs(value) < 2 ** 63 ? value : 'invalid';
  if (typeof value === 'string') {
    const text = value.trim();
    if (/^[+-]?\d+$/.test(text)) return Number(text);
    if (/^[+-]?\d+\.0*$/.test(text)) return Number(text);
  }
  return 'invalid';
}
