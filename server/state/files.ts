import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm, chmod, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';

/**
 * Durable local state (`STATE_DIR`): a folder of mode 0700 holding small JSON files of mode 0600,
 * each written whole (temp file, fsync, rename) so a crash leaves the old file or the new one,
 * never half of either. A file that is torn, corrupt or of the wrong shape is ignored with a
 * warning: it is never trusted and never a crash.
 */
export class StateDir {
  private ready: Promise<void> | null = null;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  private ensure(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const info = await stat(this.dir);
      // mkdir's mode does not apply to a folder that already existed.
      if ((info.mode & 0o077) !== 0) await chmod(this.dir, 0o700);
    })().catch((err: unknown) => {
      this.ready = null;
      throw err;
    });
    return this.ready;
  }

  /** Writes `name` atomically with mode 0600. Throws on I/O failure (the caller decides). */
  async write(name: string, value: unknown): Promise<void> {
    await this.ensure();
    const target = join(this.dir, name);
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify({ version: 1, written_at: new Date().toISOString(), value }));
      await handle.sync();
    } catch (err) {
      await handle.close();
      await rm(temp, { force: true });
      throw err;
    }
    await handle.close();
    try {
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /**
   * Reads `name` and checks it with `accept` (return the typed value, or null when the shape is
   * wrong). A missing file is null quietly; an unreadable, torn or wrong-shaped one is null with
   * a warning that names the file (never its contents).
   */
  async read<T>(name: string, accept: (value: unknown) => T | null): Promise<{ value: T; writtenAt: string } | null> {
    let text: string;
    try {
      text = await readFile(join(this.dir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ file: name, code: (err as NodeJS.ErrnoException).code }, 'state file unreadable; ignoring it');
      return null;
    }
    try {
      const parsed = JSON.parse(text) as { version?: unknown; written_at?: unknown; value?: unknown };
      if (parsed?.version !== 1 || typeof parsed.written_at !== 'string' || Number.isNaN(Date.parse(parsed.written_at))) throw new Error('bad envelope');
      const value = accept(parsed.value);
      if (value === null) throw new Error('bad shape');
      return { value, writtenAt: parsed.written_at };
    } catch (err) {
      this.log.warn({ file: name, reason: (err as Error).message }, 'state file is corrupt or torn; ignoring it');
      return null;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(join(this.dir, name), { force: true });
  }
}
