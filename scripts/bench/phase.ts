/**
 * The hook for phases kept in modules of their own (streams, and e.g. a two-upstream phase in
 * scripts/bench/upstreams.ts): bench.ts lists them in PHASES, runs those named by `--phases` after
 * the interleaved saturation/latency rounds, prints their text, adds their checks and stores their
 * result in the JSON under `phases.<name>`.
 */
import type { KeyFile } from './keyfile.ts';
import type { ServerChild } from './processes.ts';
import type { Check } from './report.ts';
import type { Settings } from './targets.ts';

export interface PhaseContext {
  settings: Settings;
  /** The bench's temp folder (removed at exit). */
  dir: string;
  /** 1,000 active keys; `sample` are the keys the load presents. */
  keys: KeyFile;
  /** The shared servers the rounds measured (a phase may start its own instead). */
  standIn: ServerChild;
  gateway: ServerChild;
  say(line: string): void;
}

export interface PhaseOutcome {
  checks: Check[];
  /** Printed after the main tables. */
  text: string;
  /** Stored in the JSON results. */
  result: unknown;
}

export interface PhaseModule {
  /** The name `--phases` selects it by. */
  name: string;
  /** One line for `--help`. */
  describe: string;
  run(ctx: PhaseContext): Promise<PhaseOutcome>;
}
