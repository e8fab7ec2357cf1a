import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_BODY_BYTES } from '../../server/config.ts';

/**
 * The deployment files, checked by the tools that will read them: `systemd-analyze verify` for the
 * units, `nginx -t` for the proxy site. Where a tool is not installed the test says so and skips.
 */
const DEPLOY = resolve('deploy');

/** The tool on PATH, or in the sbin folders (nginx's home on Debian) that a user's PATH may lack. */
function which(tool: string): string | null {
  const found = spawnSync('sh', ['-c', `PATH="$PATH:/usr/sbin:/sbin" command -v ${tool}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
}

const systemdAnalyze = which('systemd-analyze');
const nginx = which('nginx');
const openssl = which('openssl');
const skipped = (tool: string) => ` (skipped: ${tool} is not installed)`;

/** A copy of the unit whose ExecStart= program exists here (vLLM is not installed on a test box). */
function runnableCopy(unit: string, dir: string): string {
  const text = readFileSync(join(DEPLOY, unit), 'utf8').replace(/^ExecStart=(\S+)/m, (line, program: string) =>
    existsSync(program) ? line : 'ExecStart=/bin/true',
  );
  const path = join(dir, unit);
  writeFileSync(path, text);
  return path;
}

function verify(paths: string[]) {
  return spawnSync(systemdAnalyze!, ['verify', ...paths], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_COLOR: '0' } });
}

describe('deploy/*.service', () => {
  const units = readdirSync(DEPLOY).filter((f) => f.endsWith('.service'));

  it.skipIf(!systemdAnalyze)(`pass systemd-analyze verify without a warning${systemdAnalyze ? '' : skipped('systemd-analyze')}`, () => {
    expect(units.sort()).toEqual(['convergence-gateway.service', 'vllm.service']);
    const dir = mkdtempSync(join(tmpdir(), 'cg-units-'));
    const result = verify(units.map((u) => runnableCopy(u, dir)));
    expect(result.stderr.trim()).toBe('');
    expect(result.status).toBe(0);
  });

  it.skipIf(!systemdAnalyze)(`would be caught by systemd-analyze when broken${systemdAnalyze ? '' : skipped('systemd-analyze')}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-units-'));
    const path = runnableCopy('vllm.service', dir);
    writeFileSync(path, readFileSync(path, 'utf8').replace('RestartSec=5', 'RestartSec=five\nRestartSecs=5'));
    const result = verify([path]);
    expect(result.stderr).toMatch(/Unknown key 'RestartSecs'/);
    expect(result.stderr).toMatch(/Failed to parse/);
  });

  it('keep vLLM on loopback, the gateway closed without its settings, and state in the StateDirectory', () => {
    const vllm = readFileSync(join(DEPLOY, 'vllm.service'), 'utf8');
    expect(vllm).toMatch(/^ExecStart=\S+ serve .*--host 127\.0\.0\.1 /m);
    const gateway = readFileSync(join(DEPLOY, 'convergence-gateway.service'), 'utf8');
    expect(gateway).toMatch(/^Environment=AUTH_FALLBACK=closed$/m);
    expect(gateway).toMatch(/^Environment=STATE_DIR=\/var\/lib\/convergence-gateway\/state$/m);
    expect(gateway).toMatch(/^StateDirectory=convergence-gateway$/m);
    expect(gateway).toMatch(/^EnvironmentFile=\/etc\/convergence-gateway\/gateway\.env$/m);
  });
});

describe('deploy/nginx-gateway.conf', () => {
  const site = readFileSync(join(DEPLOY, 'nginx-gateway.conf'), 'utf8');

  it.skipIf(!nginx || !openssl)(`passes nginx -t inside a minimal nginx.conf${nginx && openssl ? '' : skipped(nginx ? 'openssl' : 'nginx')}`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'cg-nginx-'));
    // A throwaway certificate stands in for Let's Encrypt's, which nginx -t opens and parses.
    const cert = spawnSync(openssl!, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=gateway.example.com',
      '-keyout', join(dir, 'privkey.pem'), '-out', join(dir, 'fullchain.pem')], { encoding: 'utf8' });
    expect(cert.status).toBe(0);
    writeFileSync(join(dir, 'site.conf'), site.replaceAll('/etc/letsencrypt/live/gateway.example.com', dir));
    writeFileSync(join(dir, 'nginx.conf'), [
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log;`,
      'events {}',
      'http {',
      '  access_log off;',
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${dir}/${t};`),
      `  include ${dir}/site.conf;`,
      '}',
    ].join('\n'));
    const result = spawnSync(nginx!, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
    expect(result.stderr).toContain('test is successful');
    expect(result.stderr).not.toMatch(/\[warn\]|\[emerg\]/);
    expect(result.status).toBe(0);
  });

  it('streams unbuffered to the gateway on loopback and accepts the bodies the gateway accepts', () => {
    expect(site).toMatch(/proxy_pass http:\/\/127\.0\.0\.1:8000;/);
    expect(site).toMatch(/proxy_buffering off;/);
    const mib = Number(/client_max_body_size (\d+)m;/.exec(site)?.[1]);
    expect(mib * 1024 * 1024).toBe(DEFAULT_MAX_BODY_BYTES);
  });
});
