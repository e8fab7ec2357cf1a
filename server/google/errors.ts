/** Extracts a one-line, secret-free description from a googleapis (gaxios) error. */
export function describeGoogleError(err: unknown): { status: number | null; message: string } {
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
    return { status, message: `Sheets API ${status}${label}: ${detail?.message ?? e.message ?? 'error'}` };
  }
  const code = typeof e?.code === 'string' ? `${e.code}: ` : '';
  return { status: null, message: `Sheets API unreachable: ${code}${e?.message ?? String(err)}`.split('\n')[0]! };
}
