import { readFile } from 'node:fs/promises';
import { GoogleAuth, JWT } from 'google-auth-library';

export const SHEETS_SCOPE = 'https://www.googleapis.com/auth/spreadsheets';

export type GoogleCredentials =
  | { ok: true; auth: JWT | GoogleAuth; account: string }
  | { ok: false; reason: string };

interface ServiceAccountJson {
  type?: unknown;
  client_email?: unknown;
  private_key?: unknown;
  private_key_id?: unknown;
}

/**
 * A service-account client that signs its own JWT (claim `scope`) instead of exchanging it at
 * Google's token endpoint: one round trip fewer, and the same path works against a local emulator.
 */
export function serviceAccountClient(sa: { client_email: string; private_key: string; private_key_id?: string }): JWT {
  const auth = new JWT({
    email: sa.client_email,
    key: sa.private_key,
    keyId: sa.private_key_id,
    scopes: [SHEETS_SCOPE],
  });
  auth.useJWTAccessWithScope = true;
  return auth;
}

/**
 * Resolves the Google credentials the way DESIGN.md defines "credentials missing": a named file
 * that does not exist or is not a service-account JSON, or no Application Default Credentials.
 * Never throws; a missing credential is a value so the caller can apply AUTH_FALLBACK.
 */
export async function resolveGoogleCredentials(path: string | undefined): Promise<GoogleCredentials> {
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      return { ok: false, reason: `GOOGLE_CREDENTIALS_PATH ${path} cannot be read (${code})` };
    }
    let sa: ServiceAccountJson;
    try {
      sa = JSON.parse(text) as ServiceAccountJson;
    } catch {
      return { ok: false, reason: `GOOGLE_CREDENTIALS_PATH ${path} is not JSON` };
    }
    if (sa?.type !== 'service_account' || typeof sa.client_email !== 'string' || typeof sa.private_key !== 'string') {
      return { ok: false, reason: `GOOGLE_CREDENTIALS_PATH ${path} is not a service-account key (type, client_email, private_key)` };
    }
    const keyId = typeof sa.private_key_id === 'string' ? sa.private_key_id : undefined;
    return {
      ok: true,
      auth: serviceAccountClient({ client_email: sa.client_email, private_key: sa.private_key, private_key_id: keyId }),
      account: sa.client_email,
    };
  }
  try {
    const adc = new GoogleAuth({ scopes: [SHEETS_SCOPE] });
    await adc.getClient();
    const account = await adc.getCredentials().then((c) => c.client_email ?? 'application default credentials', () => 'application default credentials');
    return { ok: true, auth: adc, account };
  } catch (err) {
    return { ok: false, reason: `no Application Default Credentials (${(err as Error).message.split('\n')[0]})` };
  }
}
