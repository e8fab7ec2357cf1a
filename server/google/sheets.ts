import { sheets, type sheets_v4 } from '@googleapis/sheets';
import type { GoogleAuth, JWT } from 'google-auth-library';

export type SheetsApi = sheets_v4.Sheets;

export function createSheetsApi(auth: JWT | GoogleAuth, rootUrl: string): SheetsApi {
  return sheets({ version: 'v4', auth, rootUrl: rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/` });
}
