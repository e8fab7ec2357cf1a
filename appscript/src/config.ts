// Names and defaults shared by every menu action. The tab names and headers are the
// gateway's contract (DESIGN.md, "The keys tab"); script properties can rename the tabs
// the same way GOOGLE_SHEET_NAME / USAGE_SHEET_NAME do on the gateway.

import { UserError } from './ui.ts';

export const KEY_PREFIX = 'sk-convergence-';
export const DEFAULT_RATE_LIMIT = 60;
const DEFAULT_GRACE_HOURS = 24;
export const LOCK_TIMEOUT_MS = 30_000;
export const USAGE_TRIGGER_HOURS = 1;

export const KEYS_HEADERS = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit'] as const;
export const USAGE_HEADERS = [
  'timestamp', 'key_id', 'client_name', 'requests', 'rate_limited', 'prompt_tokens', 'completion_tokens', 'instance', 'flush_id', 'period_start',
] as const;
/** Columns refreshUsage keeps on the keys tab, in this order when it creates them. */
export const USAGE_TOTAL_HEADERS = ['last_used_at', 'requests', 'prompt_tokens', 'completion_tokens'] as const;
/** Columns of a hashed row (DESIGN.md, optional policy columns): the row holds no api_key. */
export const HASH_HEADER = 'api_key_sha256';
/** Informational: `sk-convergence-…abcd`, so admins can tell hashed keys apart. The gateway ignores it. */
export const HINT_HEADER = 'key_hint';
/** The keys tab's headers when new keys are stored hashed, in this order when created. */
export const HASHED_KEYS_HEADERS = [...KEYS_HEADERS, HASH_HEADER, HINT_HEADER] as const;

export interface Settings {
  keysSheet: string;
  usageSheet: string;
  graceHours: number;
}

/** Reads the optional script properties KEYS_SHEET_NAME, USAGE_SHEET_NAME, ROTATE_GRACE_HOURS. */
export function settings(): Settings {
  const props = PropertiesService.getScriptProperties();
  const text = (name: string) => (props.getProperty(name) ?? '').trim();
  const grace = text('ROTATE_GRACE_HOURS');
  const graceHours = grace === '' ? DEFAULT_GRACE_HOURS : Number(grace);
  if (!Number.isFinite(graceHours) || graceHours < 0) {
    throw new UserError(`Script property ROTATE_GRACE_HOURS must be a number of hours >= 0, not "${grace}".`);
  }
  return {
    keysSheet: text('KEYS_SHEET_NAME') || 'API_Keys',
    usageSheet: text('USAGE_SHEET_NAME') || 'Usage',
    graceHours,
  };
}
