/**
 * Extracts a one-line description from a googleapis (gaxios) error, for the log, and a short
 * public class (`sheets_unreachable: ECONNREFUSED`, `sheet_not_shared`, ...) that names no sheet
 * id, URL or path, for `/auth/status`. `reachable` is false when Google never answered (network,
 * timeout) or answered that it could not serve now (429, 5xx): only then may a snapshot stand in.
 */
export function describeGoogleError(err: unknown): { status: number | null; message: string; publicReason: string; reachable: boolean } {
  const e = err as {
    status?: number;
    code?: string | number;
    message?: string;
    response?: { status?: number; data?: { error?: { status?: string; message?: string } } };
  };
  const status = e?.response?.status ?? (typeof e?.status === 'number' ? e.status : null);
  const detail = e?.response?.data?.error;
  if (status !== null) {
    const label = detail?.status ? ` ${detail.status}` : '';
    const message = `Sheets API ${status}${label}: ${detail?.message ?? e.message ?? 'error'}`;
    return { status, message, publicReason: publicClassOf(status), reachable: status !== 429 && status < 500 };
  }
  const code = typeof e?.code === 'string' && /^[A-Z0-9_]+$/.test(e.code) ? e.code : null;
  const message = `Sheets API unreachable: ${code ? `${code}: ` : ''}${e?.message ?? String(err)}`.split('\n')[0]!;
  const timedOut = /timeout/i.test(e?.message ?? '') || code === 'ETIMEDOUT';
  return { status: null, message, publicReason: `sheets_unreachable: ${code ?? (timedOut ? 'timeout' : 'network_error')}`, reachable: false };
}

function publicClassOf(status: number): string {
  if (status === 401) return 'sheets_credentials_rejected';
  if (status === 403) return 'sheet_not_shared';
  if (status === 404) return 'sheet_not_found';
  if (status === 429) return 'sheets_rate_limited';
  if (status >= 500) return `sheets_unavailable: ${status}`;
  return `sheets_error: ${status}`;
}
