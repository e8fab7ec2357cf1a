import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { FileKeySource } from '../../server/keys/file-source.ts';

function logged() {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, log: pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) }) };
}

describe('FileKeySource permissions', () => {
  it.each([[0o644, true], [0o640, true], [0o600, false], [0o400, false]])('mode %s warns: %s (once, never with a key)', async (mode, warns) => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-keyfile-'));
    const path = join(dir, 'keys.csv');
    writeFileSync(path, 'api_key,client_name,is_active\nsk-convergence-secret-0000000001,Acme,TRUE\n');
    chmodSync(path, mode);
    const { lines, log } = logged();
    const source = new FileKeySource(path, 'UTC', log);
    await source.load();
    await source.load();
    const warnings = lines.filter((l) => String(l.msg).includes('readable by other users'));
    expect(warnings).toHaveLength(warns ? 1 : 0);
    if (warns) expect(warnings[0]!.msg).toContain(`chmod 600 ${path}`);
    expect(JSON.stringify(lines)).not.toContain('secret');
  });
});
