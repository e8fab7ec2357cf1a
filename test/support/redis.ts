import type { ChildProcess } from 'node:child_process';
import { freePort, launchRedis, requireRedisServer } from '../../scripts/redis-server.ts';

export interface RedisServer {
  port: number;
  url: string;
  /** Kills it hard (SIGKILL), as a crash would. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real, throwaway redis-server on a free loopback port: no persistence, unless `args` asks for
 * it (the fault suite's `--appendonly yes`).
 */
export async function startRedis(args: string[] = []): Promise<RedisServer> {
  requireRedisServer('these tests need a real Redis');
  const port = await freePort();
  let child: ChildProcess | null = await launchRedis(port, undefined, args);
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill(signal);
    });
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => exit('SIGKILL'),
    restart: async () => {
      child = await launchRedis(port, undefined, args);
    },
    stop: () => exit('SIGTERM'),
  };
}
