/**
 * A line protocol between the bench and its server children, apart from the HTTP being measured:
 * the bench writes a command name on the child's stdin; the child answers on stderr with one JSON
 * line `{"reply": <command>, "value": ...}` (stdout carries the gateway's log, as in production).
 */
import { createInterface } from 'node:readline';

export const REPLY_PREFIX = '{"reply":';

export type ControlHandlers = Record<string, () => unknown>;

/** In a child: answers the bench's commands; unknown commands get `{"error": ...}`. */
export function serveControl(handlers: ControlHandlers): void {
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    const handler = handlers[command];
    Promise.resolve(handler ? handler() : { error: `unknown command ${command}` }).then(
      (value) => process.stderr.write(`${JSON.stringify({ reply: command, value })}\n`),
      (err: unknown) => process.stderr.write(`${JSON.stringify({ reply: command, value: { error: String(err) } })}\n`),
    );
  });
  // The bench went away: nothing is left to answer.
  lines.on('close', () => undefined);
}

/** In the bench: the complete reply lines in `text` (a child's stderr), parsed; the rest of the text left over. */
export function takeReplies(text: string): { replies: Array<{ reply: string; value: unknown }>; rest: string } {
  const replies: Array<{ reply: string; value: unknown }> = [];
  const kept: string[] = [];
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  for (const line of lines) {
    if (line.startsWith(REPLY_PREFIX)) {
      try {
        replies.push(JSON.parse(line) as { reply: string; value: unknown });
        continue;
      } catch {
        // not a reply after all: keep it as stderr
      }
    }
    kept.push(line);
  }
  // A reply cut in the middle waits for the rest of its line.
  return { replies, rest: (kept.length > 0 ? `${kept.join('\n')}\n` : '') + tail };
}

/**
 * `profile-start` / `profile-stop`: V8's CPU profiler (what `node --cpu-prof` runs) around just
 * the loaded window, so start-up (tsx transpiling, module loading) stays out of the profile.
 * `profile-stop` writes the profile to the file named by BENCH_PROFILE_FILE and answers its path.
 */
export async function profilerCommands(): Promise<ControlHandlers> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  return {
    'profile-start': async () => {
      await session.post('Profiler.start');
      return { started: true };
    },
    'profile-stop': async () => {
      const { profile } = await session.post('Profiler.stop');
      const file = process.env.BENCH_PROFILE_FILE;
      if (!file) return { error: 'BENCH_PROFILE_FILE is not set' };
      writeFileSync(file, JSON.stringify(profile));
      return { file };
    },
  };
}
