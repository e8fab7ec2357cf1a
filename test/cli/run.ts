import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../scripts/keys/program.ts';
import { FakeSheets, type Cell } from '../support/fake-sheets.ts';
import { writeServiceAccount } from '../support/service-account.ts';
import { HEADER, SHEET_ID, serviceAccount } from '../support/stack.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment a CLI run gets: nothing from the test runner's own. */
export function cliEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: tmpdir(), METADATA_SERVER_DETECTION: 'none', ...extra };
}

/**
 * Runs `scripts/keys.ts` as its own process, as `npm run keys --` does, with only `env`.
 * `fileSizeLimitKb` runs it under `ulimit -f` so that writing a file fails (EFBIG), even as root.
 */
export function runKeys(args: string[], env: Record<string, string>, opts: { fileSizeLimitKb?: number } = {}): Promise<CliRun> {
  const node = [process.execPath, '--import', 'tsx', 'scripts/keys.ts', ...args];
  const [command, ...argv] = opts.fileSizeLimitKb === undefined
    ? node
    : ['/bin/bash', '-c', `ulimit -f ${opts.fileSizeLimitKb} && exec "$@"`, 'keys', ...node];
  const child = spawn(command!, argv, { cwd: ROOT, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The same `main` that scripts/keys.ts runs, inside the test process with its output captured:
 * for follow-up checks, since each process start costs about half a second of CPU (tsx, zod).
 */
export async function inProcess(args: string[], env: Record<string, string>): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

/** The lines a run wrote to stderr (none for a success, exactly one for an error). */
export function stderrLines(run: CliRun): string[] {
  return run.stderr.split('\n').filter((l) => l !== '');
}

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'cg-cli-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface SheetsFixture {
  sheets: FakeSheets;
  env: Record<string, string>;
  close(): Promise<void>;
}

/** The Sheets fake with the spreadsheet shared with a test service account, and the env a CLI run needs for it. */
export async function startSheets(opts: { timeZone?: string; rows?: Cell[][] | null } = {}): Promise<SheetsFixture> {
  const { dir, remove } = tempDir();
  const sa = serviceAccount();
  const sheets = new FakeSheets();
  await sheets.start();
  sheets.addServiceAccount(sa.email, sa.publicKey);
  sheets.createSpreadsheet(SHEET_ID, { timeZone: opts.timeZone ?? 'UTC', sharedWith: [sa.email] });
  if (opts.rows !== null) sheets.setTab(SHEET_ID, 'API_Keys', [HEADER, ...(opts.rows ?? [])]);
  const env = { GOOGLE_SHEET_ID: SHEET_ID, GOOGLE_CREDENTIALS_PATH: writeServiceAccount(dir, sa), SHEETS_API_URL: sheets.url };
  return {
    sheets,
    env,
    async close() {
      await sheets.stop();
      remove();
    },
  };
}

/** Every `sk-convergence-<uuid>` in a text. */
export function keysIn(text: string): string[] {
  return text.match(/sk-convergence-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? [];
}
