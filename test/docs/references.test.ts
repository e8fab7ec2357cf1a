import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS } from '../../server/errors.ts';

/**
 * No dead references: every relative link in README.md and docs/*.md (and its #anchor), and every
 * repository file named in the docs, the Dockerfile, deploy/ and .env.example, must exist.
 */
const ROOT = resolve('.');

/** Folders of this repository whose files the docs name; build output (dist/) is not among them. */
const PATH_TOKEN = /(?<![\w./-])((?:server|scripts|deploy|docs|test|\.ci|appscript\/src)\/[\w./-]*[\w/])/g;
/** Top-level files named bare, in backticks. */
const TOP_LEVEL = new Set(['Dockerfile', '.dockerignore', '.gcloudignore', '.env.example', '.npmrc', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md']);
const INSTALL_DIR = /\/opt\/convergence-gateway\/([\w./-]+)/g;
const BARE_MD = /(?<![\w./-])([\w-]+\.md)\b/g;
const LINK = /\[[^\]]*\]\(([^)\s]+)\)/g;

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const seen = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const m = !inFence && /^#{1,6}\s+(.*)$/.exec(line);
    if (!m) continue;
    const slug = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    seen.add(slug);
  }
  return seen;
}

/** The references in `text` (of file `file`, relative to `root`) that point at nothing. */
export function deadReferences(root: string, file: string, text: string): string[] {
  const dead = new Set<string>();
  const here = dirname(join(root, file));
  const isMarkdown = file.endsWith('.md');

  if (isMarkdown) {
    for (const [, target] of text.matchAll(LINK)) {
      if (/^[a-z][a-z+.-]*:/i.test(target!)) continue; // https:, mailto:, file:
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const full = path ? resolve(here, path) : join(root, file);
      if (!existsSync(full)) {
        dead.add(target!);
        continue;
      }
      if (anchor && full.endsWith('.md') && !anchors(readFileSync(full, 'utf8')).has(anchor)) dead.add(target!);
    }
  }
  for (const [, path] of text.matchAll(PATH_TOKEN)) {
    if (!existsSync(join(root, path!))) dead.add(path!);
  }
  for (const [, path] of text.matchAll(INSTALL_DIR)) {
    if (!existsSync(join(root, path!))) dead.add(`/opt/convergence-gateway/${path}`);
  }
  for (const [, name] of text.matchAll(BARE_MD)) {
    if (!existsSync(join(here, name!)) && !existsSync(join(root, name!))) dead.add(name!);
  }
  for (const [, name] of text.matchAll(/`([^`\s]+)`/g)) {
    if (TOP_LEVEL.has(name!) && !existsSync(join(root, name!))) dead.add(name!);
  }
  return [...dead];
}

function filesToCheck(): string[] {
  const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`);
  const deploy = readdirSync(join(ROOT, 'deploy')).map((f) => `deploy/${f}`);
  return ['README.md', ...docs, 'Dockerfile', ...deploy, '.env.example'];
}

describe('references in the docs and deployment files', () => {
  it('finds dead links, anchors, paths and file names (the checker itself)', () => {
    const sample = [
      'See docs-deploy.md for more.', // a file that never existed
      '[the sheet](sheet.md#no-such-heading) and [gone](nowhere.md)',
      'The CLI writes through `server/admin/keys.ts`.', // an old path
      'Documentation=file:///opt/convergence-gateway/MISSING.md',
      '`.gcloudignore-old` is not a top-level name; `Dockerfile` is.',
      '[fine](configuration.md#errors) and `server/keytable/` and https://example.com/x.md',
    ].join('\n');
    expect(deadReferences(ROOT, 'docs/sample.md', sample).sort()).toEqual(
      ['/opt/convergence-gateway/MISSING.md', 'docs-deploy.md', 'nowhere.md', 'server/admin/keys.ts', 'sheet.md#no-such-heading'].sort(),
    );
  });

  it('README.md, docs/, the Dockerfile, deploy/ and .env.example name only things that exist', () => {
    const files = filesToCheck();
    expect(files).toContain('docs/deploy.md');
    const dead = files.flatMap((f) => deadReferences(ROOT, f, readFileSync(join(ROOT, f), 'utf8')).map((r) => `${f}: ${r}`));
    expect(dead).toEqual([]);
  });

  it('the README links every page in docs/, and stays a five-minute read', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const pages = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
    for (const page of pages) expect(readme, page).toContain(`](docs/${page})`);
    expect(readme.split('\n').length).toBeLessThanOrEqual(250);
  });
});

describe('docs/configuration.md, the reference', () => {
  const reference = readFileSync(join(ROOT, 'docs/configuration.md'), 'utf8');

  it('documents every environment variable server/config.ts reads', () => {
    const source = readFileSync(join(ROOT, 'server/config.ts'), 'utf8');
    const schema = source.slice(source.indexOf('z.object({'), source.indexOf('});', source.indexOf('z.object({')));
    const variables = [...schema.matchAll(/^\s+([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
    expect(variables).toContain('STATE_DIR');
    for (const variable of variables) expect(reference, variable).toContain(`\`${variable}\``);
  });

  it('documents every error code of server/errors.ts with its status', () => {
    for (const [code, { status }] of Object.entries(ERRORS)) {
      expect(reference, code).toMatch(new RegExp(`\\| ${status} \\| \`${code}\` \\|`));
    }
  });
});
