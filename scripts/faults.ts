/**
 * The fault-and-abuse suite (issue 14, docs/security.md "Fault-and-abuse suite"): real parts on
 * 127.0.0.1 only (the gateway as its own process, redis-server, the fake Sheets API, the stand-in
 * vLLM), four scenarios, each bounded in time and count, figures and a PASS/FAIL line per
 * invariant. Exits 1 when an invariant fails.
 *
 *   npm run faults                 all four
 *   npm run faults -- 2 4          only some (by number; 1n: scenario 1 with Redis unpersisted)
 */
import { execSync } from 'node:child_process';
import { cpus } from 'node:os';
import { installCleanup } from './bench/processes.ts';
import { abuseScenario } from './faults/abuse.ts';
import { redisKillScenario } from './faults/redis-kill.ts';
import { formatResult, Result } from './faults/report.ts';
import { sheetsFaultScenario } from './faults/sheets-faults.ts';
import { sigtermScenario } from './faults/sigterm.ts';

const SCENARIOS: Record<string, () => Promise<Result>> = {
  '1': () => redisKillScenario(),
  // The same without persistence: what docs/usage.md warns of, measured (no completeness check).
  '1n': () => redisKillScenario({ aof: false, seconds: 6 }),
  '2': () => sheetsFaultScenario(),
  '3': () => sigtermScenario(),
  '4': () => abuseScenario(),
};

function commit(): string {
  try {
    return execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

/** No scenario may hang the run: past this it fails (its parts are killed when the run exits). */
const SCENARIO_LIMIT_MS = 120_000;

function bounded(id: string, run: () => Promise<Result>): Promise<Result> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<Result>((resolve) => {
    timer = setTimeout(() => {
      const r = new Result(`${id}. (did not finish)`);
      r.check(`finished within ${SCENARIO_LIMIT_MS / 1000} s`, false);
      resolve(r.done());
    }, SCENARIO_LIMIT_MS);
  });
  return Promise.race([run(), late]).finally(() => clearTimeout(timer));
}

installCleanup(); // the stand-in child of scenario 3 is killed on exit or Ctrl-C
const chosen = process.argv.slice(2).filter((a) => a in SCENARIOS);
const started = Date.now();
process.stdout.write(`fault-and-abuse suite: ${new Date().toISOString()}, commit ${commit()}, ${cpus().length} CPUs, node ${process.version}\n\n`);
let failed = 0;
for (const id of chosen.length ? chosen : Object.keys(SCENARIOS)) {
  const result = await bounded(id, SCENARIOS[id]!);
  process.stdout.write(`${formatResult(result)}\n\n`);
  if (!result.passed) failed += 1;
}
process.stdout.write(`${failed === 0 ? 'PASS' : 'FAIL'}: ${failed} scenario(s) failed, ${((Date.now() - started) / 1000).toFixed(0)} s in all\n`);
process.exit(failed === 0 ? 0 : 1);
