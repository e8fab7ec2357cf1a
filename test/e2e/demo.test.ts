import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('npm run demo', () => {
  it('creates a 0600 key file with a demo key, serves it, and the printed request works', async () => {
    const keysFile = join(mkdtempSync(join(tmpdir(), 'cg-demo-')), 'keys.csv');
    const env = { PATH: process.env.PATH ?? '', HOME: tmpdir(), KEYS_FILE: keysFile, PORT: '0', METADATA_SERVER_DETECTION: 'none' };
    const first = await run(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--self-test'], { env });
    expect(first.stdout).toContain('Created');
    expect(first.stdout).toMatch(/self-test: 200 The quick brown fox/);
    expect(statSync(keysFile).mode & 0o777).toBe(0o600);
    const key = /sk-convergence-[0-9a-f-]{36}/.exec(readFileSync(keysFile, 'utf8'))![0];
    expect(first.stdout).toContain(`Authorization: Bearer ${key}`);

    // A second run reuses the same key rather than piling up new ones.
    const second = await run(process.execPath, ['--import', 'tsx', 'scripts/demo.ts', '--self-test'], { env });
    expect(second.stdout).not.toContain('Created');
    expect(second.stdout).toContain(key);
    expect(readFileSync(keysFile, 'utf8').match(/sk-convergence-/g)).toHaveLength(1);
  });
});
