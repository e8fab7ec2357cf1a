import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvText } from '../../server/keys/csv-table.ts';
import { KEY_COLUMNS } from '../../server/keys/rows.ts';
import { inProcess, runKeys, stderrLines, tempDir, type CliRun } from './run.ts';

const KEY = 'sk-convergence-abababab-0000-4000-8000-000000000001';

const tmp = tempDir();
const keysFile = join(tmp.dir, 'keys.csv');
const FILE = { KEYS_FILE: keysFile };
let original = '';

beforeAll(() => {
  original = csvText([[...KEY_COLUMNS], [KEY, 'Acme', '', '', 'TRUE', '']]);
  writeFileSync(keysFile, original, { mode: 0o600 });
});
afterAll(() => {
  // Nothing above got far enough to write.
  expect(readFileSync(keysFile, 'utf8')).toBe(original);
  tmp.remove();
});

const cases: Array<[string, string[], Record<string, string>, RegExp, number]> = [
  ['no command', [], FILE, /^error: missing command .*--help$/, 2],
  ['an unknown command', ['frobnicate'], FILE, /^error: unknown command 'frobnicate'$/, 2],
  ['a mistyped command', ['lsit'], FILE, /^error: unknown command 'lsit' \(Did you mean list\?\)$/, 2],
  ['an unknown option', ['list', '--colour'], FILE, /^error: unknown option '--colour'/, 2],
  ['add without --name', ['add'], FILE, /^error: required option '--name <name>' not specified$/, 2],
  ['a blank name', ['add', '--name', '  '], FILE, /^error: --name: the client name must not be blank$/, 2],
  ['a rate limit that is not a number', ['add', '--name', 'x', '--rate-limit', 'fast'], FILE, /^error: --rate-limit: .*positive whole number/, 2],
  ['a rate limit of 0', ['add', '--name', 'x', '--rate-limit', '0'], FILE, /^error: --rate-limit: /, 2],
  ['an impossible date', ['add', '--name', 'x', '--expires', '2030-02-30'], FILE, /^error: --expires: the expiry must be YYYY-MM-DD/, 2],
  ['a word for a date', ['add', '--name', 'x', '--expires', 'tomorrow'], FILE, /^error: --expires: /, 2],
  ['a date in the past', ['add', '--name', 'x', '--expires', '2020-01-01'], FILE, /^error: the expiry 2020-01-01 \(UTC\) is in the past$/, 2],
  ['a grace without unit', ['rotate', '--name', 'Acme', '--grace', '24'], FILE, /^error: --grace: .*3600s, 90m, 24h or 7d$/, 2],
  ['a grace in years', ['rotate', '--name', 'Acme', '--grace', '1y'], FILE, /^error: --grace: /, 2],
  ['revoke without a selector', ['revoke'], FILE, /^error: revoke needs either --name or --key-id/, 2],
  ['rotate with both selectors', ['rotate', '--name', 'Acme', '--key-id', '0123456789abcdef'], FILE, /^error: rotate needs either --name or --key-id/, 2],
  ['a key given as --key-id', ['revoke', '--key-id', KEY], FILE, /^error: --key-id: the key id must be the 16 hex characters that list shows$/, 2],
  ['a key given as an argument', ['revoke', KEY], FILE, /^error: too many arguments for 'revoke'.*\[redacted\]/, 2],
  ['no key source configured', ['list'], {}, /^error: no key source configured: set GOOGLE_SHEET_ID .* or KEYS_FILE/, 1],
  ['a missing credentials file', ['list'], { GOOGLE_SHEET_ID: 'x', GOOGLE_CREDENTIALS_PATH: join(tmp.dir, 'nope.json') }, /^error: Google credentials missing: GOOGLE_CREDENTIALS_PATH .* cannot be read \(ENOENT\)$/, 1],
  ['a bad configuration value', ['list'], { ...FILE, RATE_LIMIT_DEFAULT: 'lots' }, /^error: invalid configuration: RATE_LIMIT_DEFAULT /, 1],
];

function expectOneLineError(run: CliRun, message: RegExp, code: number): void {
  expect(run.code).toBe(code);
  expect(run.stdout).toBe('');
  expect(stderrLines(run)).toEqual([expect.stringMatching(message)]);
  expect(run.stderr).not.toContain(KEY);
}

describe('malformed input', () => {
  it('as a process: exit code != 0 and exactly one line on stderr', async () => {
    const picked = ['add without --name', 'a rate limit that is not a number', 'an impossible date', 'a grace without unit', 'an unknown command', 'no key source configured'];
    const runs = await Promise.all(picked.map((name) => {
      const [, args, env, message, code] = cases.find((c) => c[0] === name)!;
      return runKeys(args, env).then((run) => ({ name, run, message, code }));
    }));
    for (const { name, run, message, code } of runs) {
      expect(run.code, name).toBe(code);
      expectOneLineError(run, message, code);
    }
  });

  it.each(cases)('%s: exit != 0, one line on stderr, nothing on stdout', async (_, args, env, message, code) => {
    expectOneLineError(await inProcess(args, env), message, code);
  });

  it('--help works for every command without a key source', async () => {
    expect((await runKeys(['add', '--help'], {})).stdout).toContain('Usage: npm run keys -- add [options]');
    for (const command of ['init', 'add', 'list', 'revoke', 'rotate', 'hash-existing']) {
      const run = await inProcess([command, '--help'], {});
      expect(run.code, command).toBe(0);
      expect(run.stdout).toContain(`Usage: npm run keys -- ${command}`);
      expect(run.stdout).toContain('Example');
    }
  });
});
