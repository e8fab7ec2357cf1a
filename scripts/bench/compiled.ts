/**
 * The servers run as production runs them: plain `node` on tsc's output (the Dockerfile runs
 * `node dist/server/main.js`), not under tsx. tsx transpiles with esbuild's keepNames, which
 * adds an `Object.defineProperty` call for every named closure a request creates: a cost the
 * built gateway does not pay, and that the gateway (more closures per request) paid more of than
 * the yardstick (docs/performance.md, "tsx and the build").
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const COMPILE_TIMEOUT_MS = 180_000;

/** Entry as given to startEntry -> its compiled .js. Entries not in it run under tsx. */
const compiled = new Map<string, string>();

/** The compiled file for an entry, or null (run it under tsx). */
export function compiledEntry(file: string): string | null {
  return compiled.get(file) ?? null;
}

/**
 * Compiles `entries` (paths relative to `srcRoot`, or absolute) and everything they import with
 * tsc and the build's settings into `outDir`, beside a package.json and a node_modules link so
 * their imports resolve as in the image. Type errors do not stop it (tsc still emits, as a
 * checkout given to --baseline may not type-check against this node_modules). Returns a note.
 */
export function compileEntries(srcRoot: string, entries: string[], outDir: string): string {
  mkdirSync(outDir, { recursive: true });
  const out = join(outDir, 'out');
  const config = join(outDir, 'tsconfig.json');
  writeFileSync(config, JSON.stringify({
    extends: join(ROOT, 'tsconfig.build.json'),
    compilerOptions: { rootDir: srcRoot, outDir: out, typeRoots: [join(ROOT, 'node_modules/@types')] },
    include: [],
    files: entries.map((e) => resolve(srcRoot, e)),
  }));
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', config], { cwd: srcRoot, encoding: 'utf8', timeout: COMPILE_TIMEOUT_MS });
  if (!existsSync(out)) return `could not compile (${(tsc.stdout + tsc.stderr).trim().split('\n')[0] ?? tsc.error?.message}): running under tsx`;
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  if (!existsSync(join(out, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir');
  const done: string[] = [];
  for (const entry of entries) {
    const js = join(out, relative(srcRoot, resolve(srcRoot, entry))).replace(/\.ts$/, '.js');
    if (!existsSync(js)) continue;
    compiled.set(entry, js);
    done.push(relative(srcRoot, resolve(srcRoot, entry)));
  }
  return `compiled with tsc (tsconfig.build.json), run with plain node: ${done.join(', ') || 'none'}${tsc.status === 0 ? '' : ' (tsc reported type errors)'}`;
}

/** The bench entry of another checkout, given this repository's node_modules so its imports resolve. */
export function baselineEntry(dir: string, gatewayEntry: string): string {
  const entry = join(dir, gatewayEntry);
  if (!existsSync(entry)) throw new Error(`--baseline: ${entry} not found (extract server/ and scripts/ of a commit there)`);
  if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  if (!existsSync(join(dir, 'package.json'))) writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  return entry;
}
