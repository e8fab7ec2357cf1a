/**
 * The fault-and-abuse suite (`npm run faults`, docs/security.md) reduced to fit the test run: the
 * same scenario code against the real gateway process, the fake Sheets API and the stand-in vLLM.
 * Sheets faults: a 429 during load and at shutdown, then an append that lands and whose answer is
 * lost (the suite holds it past the 15 s timeout instead; for the gateway both are a landed write
 * it did not hear of). Abuse: six 24 MiB bodies against a 64 MiB MAX_BUFFERED_BYTES, and every probe.
 */
import { describe, expect, it } from 'vitest';
import { abuseScenario } from '../../scripts/faults/abuse.ts';
import { formatResult } from '../../scripts/faults/report.ts';
import { sheetsFaultScenario } from '../../scripts/faults/sheets-faults.ts';

function failures(r: Awaited<ReturnType<typeof abuseScenario>>): string[] {
  return r.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.detail}\n${formatResult(r)}`);
}

describe('the fault-and-abuse suite, reduced', () => {
  it('counts usage exactly once through 429s and an append that landed unheard; refuses every malformed or oversized body clearly', async () => {
    // Both at once: each starts its own gateway process, and the run stays short.
    const [sheets, abuse] = await Promise.all([sheetsFaultScenario({ landedFailure: 'lost', seconds: 1.5, workers: 2 }), abuseScenario()]);
    expect(failures(sheets)).toEqual([]);
    expect(sheets.checks.length).toBeGreaterThanOrEqual(5);
    expect(failures(abuse)).toEqual([]);
    expect(abuse.checks.length).toBeGreaterThanOrEqual(9);
  }, 60_000);
});
