/**
 * A throwaway redis-server on a loopback port, no persistence: for the tests and the benchmark.
 * `spawnFn` lets the benchmark start it pinned and tracked for cleanup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export type SpawnRedis = (command: string, args: string[]) => ChildProcess;

const plainSpawn: SpawnRedis = (command, args) => spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

export function requireRedisServer(why: string): void {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error(`redis-server is not on PATH: ${why} (apt-get install redis-server; .ci/run does)`);
  }
}

/**
 * Starts redis-server on `port` and resolves once it accepts connections. `extraArgs` come last, so
 * they override the defaults (the fault suite turns on the append-only file).
 */
export function launchRedis(port: number, spawnFn: SpawnRedis = plainSpawn, extraArgs: string[] = []): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', ...extraArgs];
  const child = spawnFn('redis-server', args);
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 5_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout!.removeAllListeners('data');
        child.stdout!.resume();
        child.stderr?.resume();
        resolve(child);
      }
    });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`redis-server could not be started: ${err.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${out}`));
    });
  });
}
