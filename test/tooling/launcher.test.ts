import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * scripts/node22.sh, run for real by /bin/sh with a fake old `node` (and a fake `npm`) first on
 * PATH. The "cached" Node 22 is the node running this test, linked where the launcher looks.
 */
const LAUNCHER = resolve('scripts/node22.sh');
const PACKAGE = `node-${process.platform === 'darwin' ? 'darwin' : 'linux'}-${process.arch === 'arm64' ? 'arm64' : 'x64'}`;

interface Sandbox {
  dir: string;
  bin: string;
  cache: string;
  npmLog: string;
}

function sandbox(): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), 'cg-launcher-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // The few tools the launcher and the fake npm use, without the directories they come from
  // (which hold the machine's own node).
  for (const tool of ['uname', 'mkdir', 'ln']) {
    const found = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (found) symlinkSync(found, join(bin, tool));
  }
  return { dir, bin, cache: join(dir, 'cache'), npmLog: join(dir, 'npm.log') };
}

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

/** A node 20 as the machine has it: it answers --version and nothing else works. */
function fakeOldNode(box: Sandbox): void {
  script(join(box.bin, 'node'), 'if [ "$1" = --version ]; then echo v20.20.2; exit 0; fi\necho "old node ran: $*" >&2\nexit 99');
}

/** An npm that logs its arguments and either fails (offline) or "installs" by linking this node. */
function fakeNpm(box: Sandbox, works: boolean): void {
  const install = works
    ? `prefix=""; prev=""; for a in "$@"; do [ "$prev" = --prefix ] && prefix=$a; prev=$a; done
mkdir -p "$prefix/node_modules/${PACKAGE}/bin" && ln -sf '${process.execPath}' "$prefix/node_modules/${PACKAGE}/bin/node"`
    : 'echo "npm ERR! network" >&2; exit 1';
  script(join(box.bin, 'npm'), `echo "$*" >> '${box.npmLog}'\n${install}`);
}

function launch(box: Sandbox, args: string[], cwd = box.dir) {
  // Only the sandbox's bin on PATH: no real node, no real npm.
  return spawnSync('/bin/sh', [LAUNCHER, ...args], { cwd, encoding: 'utf8', env: { PATH: box.bin, HOME: box.dir, CG_NODE_CACHE: box.cache } });
}

describe('scripts/node22.sh (the launcher every npm script goes through)', () => {
  it('with an old node and no way to fetch Node 22, stops with one line: needed, found, and the fix', () => {
    const box = sandbox();
    fakeOldNode(box);
    fakeNpm(box, false);
    const r = launch(box, ['-p', 'process.version']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('needs Node.js >= 22.12');
    expect(lines[0]).toContain(`found v20.20.2 at ${join(box.bin, 'node')}`);
    expect(lines[0]).toContain(`fix: run \`npm install --prefix ${box.cache} ${PACKAGE}@22\``);
    expect(r.stderr).not.toMatch(/old node ran|at .*\.js:\d+/);
  });

  it('with no node at all, says so in the same one line', () => {
    const box = sandbox();
    fakeNpm(box, false);
    const r = launch(box, ['--version']);
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('found no node on PATH');
  });

  it('with an old node, installs Node 22 into the cache once, saying so, then uses the cached copy', () => {
    const box = sandbox();
    fakeOldNode(box);
    fakeNpm(box, true);
    const first = launch(box, ['-p', 'process.version']);
    expect(first.stderr).toMatch(/^convergence-gateway: needs Node\.js >= 22\.12, found v20\.20\.2 .* installing Node\.js 22 from the npm registry .* done\n$/);
    expect(first.stdout.trim()).toBe(process.version);
    expect(readFileSync(box.npmLog, 'utf8')).toContain(`--prefix ${box.cache} ${PACKAGE}@22`);

    const second = launch(box, ['-p', 'process.version + " " + process.env.PATH.split(":")[0]']);
    expect(second.stderr).toBe('');
    expect(second.stdout.trim()).toBe(`${process.version} ${join(box.cache, 'node_modules', PACKAGE, 'bin')}`);
    expect(readFileSync(box.npmLog, 'utf8').trim().split('\n')).toHaveLength(1);
  });

  it('uses `node` on PATH as it is when it is new enough, without touching the cache', () => {
    const box = sandbox();
    symlinkSync(process.execPath, join(box.bin, 'node'));
    fakeNpm(box, false);
    const r = launch(box, ['-p', 'process.execPath']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(existsSync(box.cache)).toBe(false);
    expect(existsSync(box.npmLog)).toBe(false);
  });

  it('--dotenv reads ./.env when present and prints nothing when it is absent', () => {
    const box = sandbox();
    symlinkSync(process.execPath, join(box.bin, 'node'));
    const absent = launch(box, ['--dotenv', '-p', 'process.env.CG_DOTENV_PROBE ?? "unset"']);
    expect(absent.stderr).toBe('');
    expect(absent.stdout.trim()).toBe('unset');

    writeFileSync(join(box.dir, '.env'), 'CG_DOTENV_PROBE=from-dotenv\n');
    const present = launch(box, ['--dotenv', '-p', 'process.env.CG_DOTENV_PROBE ?? "unset"']);
    expect(present.stderr).toBe('');
    expect(present.stdout.trim()).toBe('from-dotenv');
  });

  it('is what every npm script that runs node goes through', () => {
    const { scripts } = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> };
    for (const name of ['start', 'keys', 'test', 'demo', 'bench', 'typecheck', 'build']) {
      expect(scripts[name], name).toMatch(/^sh scripts\/node22\.sh /);
    }
    for (const [name, command] of Object.entries(scripts)) {
      expect(command, name).not.toMatch(/(^|&& )(node|vitest|tsc|tsx) /);
    }
    expect(scripts.start).toContain('--dotenv');
    expect(scripts.keys).toContain('--dotenv');
  });
});
