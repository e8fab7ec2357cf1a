/**
 * System calls per request, counted with `strace -c -f` on the yardstick and on the gateway
 * (LOG_LEVEL=info and warn) while a fixed number of requests is served: unlike timings, counts do
 * not move with other load on the machine.
 *
 *   node --import tsx scripts/bench/syscalls.ts [requests]     # needs strace and ptrace rights
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { writeKeyFile } from './keyfile.ts';
import { chatRequests } from './load.ts';
import { installCleanup, makeTempDir, startEntry } from './processes.ts';
import { ENTRY, gatewayEnv } from './targets.ts';

/** `strace -c` summary rows: syscall name → calls. */
export function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m && m[2] !== 'total') calls.set(m[2]!, Number(m[1]));
  }
  return calls;
}

const run = (url: string, keys: string[], amount: number): Promise<autocannon.Result> =>
  new Promise((resolve, reject) => {
    autocannon({ url, connections: 50, amount, requests: chatRequests(keys) }, (err, r) => (err ? reject(err) : resolve(r)));
  });

async function main(): Promise<void> {
  installCleanup();
  const amount = Number(process.argv[2] ?? 10_000);
  const dir = makeTempDir();
  const keys = writeKeyFile(dir, 1_000);
  const standIn = await startEntry(ENTRY.standIn, { CHUNK_DELAY_MS: '1' });
  const targets = {
    yardstick: await startEntry(ENTRY.nodeProxy, { KEYS_FILE: keys.path, UPSTREAM_URL: standIn.url, PORT: '0' }),
    'gateway (info)': await startEntry(ENTRY.gateway, gatewayEnv(keys.path, standIn.url, '', 'info')),
    'gateway (warn)': await startEntry(ENTRY.gateway, gatewayEnv(keys.path, standIn.url, '', 'warn')),
  };
  const rows: Array<[string, Map<string, number>, number]> = [];
  for (const [name, child] of Object.entries(targets)) {
    await run(child.url, keys.sample, 3_000);
    const out = join(dir, `${child.pid}.strace`);
    const strace = spawn('strace', ['-c', '-f', '-p', String(child.pid), '-o', out], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1_000));
    const r = await run(child.url, keys.sample, amount);
    const exited = new Promise((r2) => strace.once('exit', r2));
    strace.kill('SIGINT');
    await exited;
    rows.push([name, parseStraceSummary(readFileSync(out, 'utf8')), r['2xx']]);
  }
  const names = [...new Set(rows.flatMap(([, m]) => [...m.keys()]))].filter((n) => rows.some(([, m, ok]) => (m.get(n) ?? 0) / ok >= 0.01));
  process.stdout.write(`system calls per 2xx answer (${amount} requests, 50 connections)\n${'syscall'.padEnd(14)}${rows.map(([n]) => ` ${n.padStart(17)}`).join('')}\n`);
  for (const n of names.sort()) process.stdout.write(`${n.padEnd(14)}${rows.map(([, m, ok]) => ((m.get(n) ?? 0) / ok).toFixed(2).padStart(18)).join('')}\n`);
  process.stdout.write(`${'2xx'.padEnd(14)}${rows.map(([, , ok]) => String(ok).padStart(18)).join('')}\n`);
  process.exit(0);
}

if (process.argv[1]?.endsWith('syscalls.ts')) void main();
