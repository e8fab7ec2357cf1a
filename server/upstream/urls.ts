/** Parses `UPSTREAM_URL`, a comma-separated list of base URLs, and names upstreams without their credentials. */

export type UrlList = { ok: true; urls: string[] } | { ok: false; reason: string };

/**
 * Splits and checks the list. A reason never quotes a URL: one may carry credentials
 * (`http://user:secret@host`), and config errors are printed.
 */
export function parseUpstreamList(text: string): UrlList {
  const items = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) return { ok: false, reason: 'must list at least one URL' };
  const seen = new Set<string>();
  for (const [i, item] of items.entries()) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      return { ok: false, reason: `item ${i + 1} is not a URL` };
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: `item ${i + 1} must be an http or https URL` };
    const name = upstreamName(item);
    if (seen.has(name)) return { ok: false, reason: `item ${i + 1} is listed twice` };
    seen.add(name);
  }
  return { ok: true, urls: items };
}

/** The URL as shown in logs, metrics and /admin/upstreams: origin and path, no credentials, query or fragment. */
export function upstreamName(raw: string): string {
  const url = new URL(raw);
  return url.origin + url.pathname.replace(/\/+$/, '');
}
