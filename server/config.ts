import { hostname } from 'node:os';
import { z } from 'zod';
import { isValidTimeZone } from './keys/dates.ts';
import { DEFAULT_CACHE_TTL_SECONDS } from './keys/store.ts';
import { DEFAULT_USAGE_ROW_PERIOD_MS } from './usage/ledger.ts';
import { parseUpstreamList } from './upstream/urls.ts';

/** OpenAI accepts audio uploads up to 25 MB; JSON chat bodies are far smaller. */
export const DEFAULT_MAX_BODY_BYTES = 25 * 1024 * 1024;
export const DEFAULT_UPSTREAM_TIMEOUT_SECONDS = 600;
export const DEFAULT_SHUTDOWN_GRACE_SECONDS = 30;
/** Node's own default: headers larger than this get 431. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** A client must send its request headers within this time (slowloris). */
export const DEFAULT_CLIENT_HEADERS_TIMEOUT_SECONDS = 15;
/** ... and its whole request, body included, within this time; answers (streams) are not limited. */
export const DEFAULT_CLIENT_REQUEST_TIMEOUT_SECONDS = 120;
/** Tokens reserved at admission for a request that names no output budget. */
export const DEFAULT_TOKEN_RESERVE = 256;
/** Bodies held for inspection, across all requests at once. */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024 * 1024;
/** A key-set snapshot older than this is not served when the source is unreachable at start (7 days). */
export const DEFAULT_SNAPSHOT_MAX_AGE_SECONDS = 604_800;
export const DEFAULT_UPSTREAM_DISCOVERY_INTERVAL_SECONDS = 30;

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const optionalText = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v ? v : undefined));

const int = (min: number) => z.coerce.number().int().min(min);
const url = z.url({ protocol: /^https?$/ });

/** One base URL or several, comma-separated (each an upstream serving some models). */
const upstreamList = z.string().superRefine((text, ctx) => {
  const list = parseUpstreamList(text);
  if (!list.ok) ctx.addIssue({ code: 'custom', message: list.reason });
});

const base = z.object({
  PORT: int(0).max(65535).default(8000),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  UPSTREAM_URL: upstreamList.default('http://127.0.0.1:8080'),
  UPSTREAM_API_KEY: optionalText,
  UPSTREAM_TIMEOUT: z.coerce.number().positive().default(DEFAULT_UPSTREAM_TIMEOUT_SECONDS),
  AUTH_ENABLED: bool.default(true),
  AUTH_FALLBACK: z.enum(['open', 'closed']).default('open'),
  GOOGLE_SHEET_ID: optionalText,
  GOOGLE_SHEET_NAME: z.string().trim().min(1).default('API_Keys'),
  GOOGLE_CREDENTIALS_PATH: optionalText,
  SHEETS_API_URL: url.default('https://sheets.googleapis.com/'),
  KEYS_FILE: optionalText,
  KEYS_TIMEZONE: z.string().trim().refine(isValidTimeZone, 'must be an IANA time zone such as Europe/Berlin').default('UTC'),
  API_KEY_CACHE_DURATION: int(1).default(DEFAULT_CACHE_TTL_SECONDS),
  RATE_LIMIT_DEFAULT: int(0).default(60),
  RATE_LIMIT_WINDOW: int(1).default(60),
  REDIS_URL: optionalText,
  USAGE_SHEET_NAME: z.string().trim().min(1).default('Usage'),
  USAGE_FLUSH_INTERVAL: int(1).default(60),
  /** Seconds one usage row covers per key and flusher (docs/usage.md). */
  USAGE_ROW_PERIOD: int(1).default(DEFAULT_USAGE_ROW_PERIOD_MS / 1000),
  ADMIN_API_KEY: optionalText,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  MAX_REQUEST_BODY_BYTES: int(1).default(DEFAULT_MAX_BODY_BYTES),
  SHUTDOWN_GRACE: z.coerce.number().min(0).default(DEFAULT_SHUTDOWN_GRACE_SECONDS),
  INSTANCE_ID: z.string().trim().min(1).default(hostname()),
  METRICS_PORT: int(0).max(65535).optional(),
  METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),
  MAX_HEADER_BYTES: int(1024).default(DEFAULT_MAX_HEADER_BYTES),
  CLIENT_HEADERS_TIMEOUT: z.coerce.number().positive().default(DEFAULT_CLIENT_HEADERS_TIMEOUT_SECONDS),
  CLIENT_REQUEST_TIMEOUT: z.coerce.number().positive().default(DEFAULT_CLIENT_REQUEST_TIMEOUT_SECONDS),
  // Round 2: the meter, quotas, durable state, several upstreams.
  /** Comma-separated path prefixes proxied to vLLM; unset means the default client-API list. */
  PROXY_PATHS: optionalText,
  TOKEN_RESERVE_DEFAULT: int(1).default(DEFAULT_TOKEN_RESERVE),
  MAX_BUFFERED_BYTES: int(1).default(DEFAULT_MAX_BUFFERED_BYTES),
  /** Durable local state; `none` turns it off. */
  STATE_DIR: z.string().trim().min(1).default('./state').transform((v) => (v.toLowerCase() === 'none' ? null : v)),
  SNAPSHOT_MAX_AGE: int(0).default(DEFAULT_SNAPSHOT_MAX_AGE_SECONDS),
  UPSTREAM_DISCOVERY_INTERVAL: z.coerce.number().positive().default(DEFAULT_UPSTREAM_DISCOVERY_INTERVAL_SECONDS),
});

/** UPSTREAM_URLS: UPSTREAM_URL split into its base URLs (never log either: URLs may hold credentials). */
const schema = base.transform((c) => ({ ...c, UPSTREAM_URLS: (parseUpstreamList(c.UPSTREAM_URL) as { urls: string[] }).urls }));

export type Config = z.infer<typeof schema>;

export class ConfigError extends Error {}

/** Reads the configuration from an environment-like object; blank values count as unset. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(base.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value;
  }
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new ConfigError(`invalid configuration: ${String(first.path[0])} ${first.message}`);
  }
  return parsed.data;
}
