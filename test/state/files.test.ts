import { mkdtemp, readFile, stat, writeFile, chmod, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { StateDir } from '../../server/state/files.ts';

const isCounts = (v: unknown): { n: number } | null => (v && typeof v === 'object' && typeof (v as { n?: unknown }).n === 'number' ? (v as { n: number }) : null);

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  return { log, lines };
}

describe('StateDir', () => {
  it('writes files 0600 in a 0700 folder and reads them back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cg-state-'));
    const dir = join(root, 'state');
    const state = new StateDir(dir, capture().log);
    await state.write('counts.json', { n: 3 });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'counts.json'))).mode & 0o777).toBe(0o600);
    expect((await state.read('counts.json', isCounts))?.value).toEqual({ n: 3 });
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('tightens a folder that exists with wider permissions', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cg-state-'));
    await chmod(dir, 0o755);
    await new StateDir(dir, capture().log).write('a.json', { n: 1 });
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
  });

  it('ignores a missing file quietly, and a torn, corrupt or wrong-shaped one with a warning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cg-state-'));
    const { log, lines } = capture();
    const state = new StateDir(dir, log);
    expect(await state.read('none.json', isCounts)).toBeNull();
    expect(lines).toHaveLength(0);
    await state.write('counts.json', { n: 7 });
    const whole = await readFile(join(dir, 'counts.json'), 'utf8');
    await writeFile(join(dir, 'counts.json'), whole.slice(0, whole.length - 5));
    expect(await state.read('counts.json', isCounts)).toBeNull();
    await state.write('counts.json', { n: 'seven' });
    expect(await state.read('counts.json', isCounts)).toBeNull();
    expect(lines.map((l) => l.file)).toEqual(['counts.json', 'counts.json']);
    expect(JSON.stringify(lines)).not.toContain('seven');
  });
});
