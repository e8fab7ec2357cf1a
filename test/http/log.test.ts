import { describe, expect, it } from 'vitest';
import { createLogger, isoTimeCache, LineBatcher } from '../../server/log.ts';

describe('isoTimeCache', () => {
  it('prints what pino.stdTimeFunctions.isoTime prints, across seconds, days and leap years', () => {
    let now = 0;
    const time = isoTimeCache(() => now);
    const samples = [0, 1, 9, 10, 99, 100, 999, 1000, 1001, 59_999, 86_399_999, 951_782_400_000, 1_767_225_599_999, 1_767_225_600_000, 1_764_630_431_123];
    for (const ms of [...samples, ...samples.reverse()]) {
      now = ms;
      expect(time()).toBe(`,"time":"${new Date(ms).toISOString()}"`);
    }
  });
});

describe('LineBatcher', () => {
  it('writes the lines of one turn in one write, in order', () => {
    const writes: string[] = [];
    const scheduled: Array<() => void> = [];
    const b = new LineBatcher({ write: (t) => writes.push(t) }, (f) => scheduled.push(f));
    b.write('a\n');
    b.write('b\n');
    b.write('c\n');
    expect(writes).toEqual([]);
    expect(scheduled).toHaveLength(1);
    scheduled.shift()!();
    expect(writes).toEqual(['a\nb\nc\n']);
    b.write('d\n');
    expect(scheduled).toHaveLength(1);
    scheduled.shift()!();
    expect(writes).toEqual(['a\nb\nc\n', 'd\n']);
  });

  it('writes at once past 64 KB waiting, and flush() empties it', () => {
    const writes: string[] = [];
    const b = new LineBatcher({ write: (t) => writes.push(t) }, () => undefined);
    const line = `${'x'.repeat(1023)}\n`;
    for (let i = 0; i < 64; i += 1) b.write(line);
    expect(writes).toHaveLength(1);
    expect(writes[0]).toHaveLength(64 * 1024);
    b.write('tail\n');
    b.flush();
    b.flush();
    expect(writes).toEqual([line.repeat(64), 'tail\n']);
  });

  it('carries pino lines with the time and severity fields', () => {
    const writes: string[] = [];
    const b = new LineBatcher({ write: (t) => writes.push(t) }, () => undefined);
    const log = createLogger('info', b);
    log.info({ key: 'sk-secret', path: '/v1/models' }, 'request');
    log.warn('second');
    b.flush();
    const [first, second] = writes[0]!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ level: 30, severity: 'INFO', key: '[redacted]', path: '/v1/models', msg: 'request' });
    expect(Date.parse(String(first!.time))).not.toBeNaN();
    expect(second).toMatchObject({ severity: 'WARNING', msg: 'second' });
  });
});
