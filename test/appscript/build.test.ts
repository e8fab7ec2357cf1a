import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import vm from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { typecheckAppScript, type BuildResult } from '../../appscript/build.ts';
import { buildOnce } from './harness.ts';

const REPO = resolve(import.meta.dirname, '../..');
const GLOBALS = [
  'compactUsage', 'createKeyFromForm', 'generateKey', 'installHourlyUsageTrigger', 'onInstall', 'onOpen', 'refreshUsage',
  'removeHourlyUsageTrigger', 'revokeSelectedKey', 'rotateSelectedKey', 'sendReminders', 'setupSheet', 'toggleReminders',
  'toggleStoreKeyHashes',
];

let result: BuildResult;
let code: string;
beforeAll(async () => {
  result = await buildOnce();
  code = readFileSync(result.codePath, 'utf8');
});

describe('npm run build:appscript', () => {
  it('writes Code.js and the manifest into the rootDir that .clasp.json names', () => {
    const clasp = JSON.parse(readFileSync(resolve(REPO, '.clasp.json'), 'utf8')) as { rootDir: string };
    expect(result.outDir).toBe(resolve(REPO, clasp.rootDir));
    expect(result.codePath).toBe(resolve(REPO, 'appscript/dist/Code.js'));
    expect(readFileSync(result.manifestPath, 'utf8')).toBe(readFileSync(resolve(REPO, 'appscript/appsscript.json'), 'utf8'));
  });

  it('has a V8 manifest with only the scopes the script needs', () => {
    const manifest = JSON.parse(readFileSync(result.manifestPath, 'utf8')) as Record<string, unknown>;
    expect(manifest.runtimeVersion).toBe('V8');
    expect(manifest.oauthScopes).toEqual([
      'https://www.googleapis.com/auth/spreadsheets.currentonly',
      'https://www.googleapis.com/auth/script.container.ui',
      'https://www.googleapis.com/auth/script.scriptapp',
      'https://www.googleapis.com/auth/script.send_mail',
    ]);
  });

  it('declares exactly the global functions Apps Script calls, as top-level function declarations', () => {
    expect(result.globals.toSorted()).toEqual(GLOBALS);
    // Loading the file defines globals only (no service is touched): the functions and the bundle.
    const context = vm.createContext({});
    vm.runInContext(code, context);
    const globals = context as Record<string, unknown>;
    expect(Object.keys(globals).toSorted()).toEqual(['__cg', ...GLOBALS].toSorted());
    for (const name of GLOBALS) {
      expect(typeof globals[name]).toBe('function');
      expect(code).toContain(`\nfunction ${name}() {`);
    }
  });

  it('is a plain script: no modules, no Node, no syntax newer than the target', () => {
    expect(() => new vm.Script(code)).not.toThrow();
    expect(code).not.toMatch(/^\s*(import|export)\s/m);
    expect(code).not.toMatch(/\brequire\(|\bprocess\.|\?\.|\?\?/);
  });

  it('type-checks appscript/src with the Apps Script types and without Node types', () => {
    const tsconfig = JSON.parse(readFileSync(resolve(REPO, 'appscript/tsconfig.json'), 'utf8')) as { compilerOptions: { types: string[] } };
    expect(tsconfig.compilerOptions.types).toEqual(['google-apps-script']);
    expect(() => typecheckAppScript()).not.toThrow();
  });

  it('runs as the npm script', () => {
    const out = execFileSync('npm', ['run', '--silent', 'build:appscript'], { cwd: REPO, encoding: 'utf8' });
    expect(out).toMatch(/Global functions: .*\bcreateKeyFromForm, generateKey\b/);
    expect(readFileSync(result.codePath, 'utf8')).toBe(code);
  });
});
