/**
 * The Usage tab's header, in order (HELPERS.md "Usage tab columns"). Readers find columns by
 * name and count each (`flush_id`, `key_id`) pair once; `period_start` is the start of the period
 * (an hour by default) a row's counts cover.
 */
export const USAGE_COLUMNS = [
  'timestamp', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance',
  'flush_id', 'period_start',
] as const;

/** `keys.csv` → `keys.usage.csv`: where the file source's usage rows go. */
export function usageFileFor(keysFile: string): string {
  return keysFile.replace(/(\.csv)?$/i, '.usage.csv');
}
