import type { IncomingHttpHeaders } from 'node:http';

const SCHEME = /^(bearer|apikey)\s+(.+)$/i;

/** The key a client presents: `Authorization: Bearer|ApiKey KEY` (any case) or `X-API-Key`. */
export function presentedKey(headers: IncomingHttpHeaders): string | null {
  const authorization = headers.authorization;
  if (authorization) {
    const match = SCHEME.exec(authorization.trim());
    const key = match?.[2]?.trim();
    if (key) return key;
  }
  const header = headers['x-api-key'];
  const key = (Array.isArray(header) ? header[0] : header)?.trim();
  return key ? key : null;
}
