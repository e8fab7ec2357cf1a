import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface GatewayProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the URL from the "gateway listening" log line. */
  listening: Promise<string>;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs `server/main.ts` as its own process, exactly as `npm start` does, with only the given env. */
export function spawnGateway(env: Record<string, string>): GatewayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', METADATA_SERVER_DETECTION: 'none', PORT: '0', HOST: '127.0.0.1', STATE_DIR: 'none', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  let resolveUrl: (url: string) => void;
  let rejectUrl: (err: Error) => void;
  const listening = new Promise<string>((resolve, reject) => {
    resolveUrl = resolve;
    rejectUrl = reject;
  });
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    partial += chunk.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      stdout.push(line);
      if (line.includes('"gateway listening"')) resolveUrl(JSON.parse(line).url);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then((code) => rejectUrl(new Error(`gateway exited with ${code}: ${stderr.join('')}`)));
  listening.catch(() => undefined); // a test that expects an exit need not await this
  return {
    child,
    stdout,
    stderr,
    listening,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Waits until a gateway has loaded keys (it listens before the first load finishes). */
export async function keysLoaded(url: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const status = (await (await fetch(`${url}/auth/status`)).json()) as { keys_loaded: number };
    if (status.keys_loaded > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no keys loaded by ${url} within ${ms} ms`);
}
