/** The Usage tab's header, in order (DESIGN.md → Usage). */
export const USAGE_COLUMNS = [
  'timestamp', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance',
] as const;

/** `keys.csv` → `keys.usage.csv`: where the file source's usage rows go. */
export function usageFileFor(keysFile: string): string {
  return keysFile.replace(/(\.csv)?$/i, '.usage.csv');
}
