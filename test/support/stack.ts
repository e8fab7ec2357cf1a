import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../server/config.ts';
import { startGateway, type Gateway } from '../../server/gateway.ts';
import { createLogger } from '../../server/log.ts';
import { startFakeVllm, type FakeVllm, type FakeVllmOptions } from '../../scripts/fake-vllm.ts';
import { FakeSheets, type Cell } from './fake-sheets.ts';
import { makeServiceAccount, writeServiceAccount, type ServiceAccount } from './service-account.ts';

export const SHEET_ID = 'sheet-under-test';
export const HEADER: Cell[] = ['api_key', 'client_name', 'created_at', 'expires_at', 'is_active', 'rate_limit'];

let account: ServiceAccount | null = null;
/** One RSA key per test file: generating one takes a moment. */
export function serviceAccount(): ServiceAccount {
  account ??= makeServiceAccount();
  return account;
}

/**
 * A started fake Sheets API with the test spreadsheet: its keys tab holds `keysTab` (header
 * included), shared with the test's service account unless `shared` is false.
 */
export async function startSheets(keysTab: Cell[][], opts: { timeZone?: string; shared?: boolean; fake?: ConstructorParameters<typeof FakeSheets>[0] } = {}): Promise<FakeSheets> {
  const sa = serviceAccount();
  const sheets = new FakeSheets(opts.fake);
  await sheets.start();
  sheets.addServiceAccount(sa.email, sa.publicKey);
  sheets.createSpreadsheet(SHEET_ID, { timeZone: opts.timeZone ?? 'UTC', sharedWith: opts.shared === false ? [] : [sa.email] });
  sheets.setTab(SHEET_ID, 'API_Keys', keysTab);
  return sheets;
}

export interface StackOptions {
  rows?: Cell[][];
  timeZone?: string;
  /** Share the sheet with the service account (default true). */
  shared?: boolean;
  env?: Record<string, string>;
  vllm?: FakeVllmOptions;
  /** Skip waiting for the first key load. */
  noWait?: boolean;
  /** The gateway's clock (moved by tests, never slept). */
  now?: () => number;
  /** A fake Sheets API already running (a second replica, a restart): used as it is, and left running. */
  sheets?: FakeSheets;
  /** STATE_DIR (default: a folder in the test's temp folder, removed at close). */
  stateDir?: string;
}

export interface Stack {
  url: string;
  gateway: Gateway;
  sheets: FakeSheets;
  vllm: FakeVllm;
  logs: string[];
  dir: string;
  credentialsPath: string;
  close(): Promise<void>;
}

/** The real gateway on a real socket, in front of the stand-in vLLM, reading the fake Sheets API. */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'cg-test-'));
  const sa = serviceAccount();
  const ownSheets = !opts.sheets;
  const sheets = opts.sheets ?? (await startSheets([HEADER, ...(opts.rows ?? [])], { timeZone: opts.timeZone, shared: opts.shared }));
  const vllm = await startFakeVllm(opts.vllm);
  const credentialsPath = writeServiceAccount(dir, sa);
  const logs: string[] = [];
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    UPSTREAM_URL: vllm.url,
    GOOGLE_SHEET_ID: SHEET_ID,
    GOOGLE_CREDENTIALS_PATH: credentialsPath,
    SHEETS_API_URL: sheets.url,
    LOG_LEVEL: 'debug',
    // Durable state goes to the test's own folder, never ./state in the repo.
    STATE_DIR: opts.stateDir ?? join(dir, 'state'),
    ...opts.env,
  });
  const gateway = await startGateway(config, createLogger(config.LOG_LEVEL, { write: (line: string) => void logs.push(line) }), { now: opts.now });
  if (!opts.noWait) await gateway.ready;
  return {
    url: gateway.url,
    gateway,
    sheets,
    vllm,
    logs,
    dir,
    credentialsPath,
    async close() {
      await gateway.close();
      await vllm.close();
      if (ownSheets) await sheets.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls until `check` holds; fails with `what` after `ms`. For events, not for timing claims. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for: ${what}`);
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}
