/** What a scenario found: figures to print, and invariants that pass or fail. */
export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export interface ScenarioResult {
  name: string;
  seconds: number;
  figures: Array<[string, string | number]>;
  checks: Check[];
}

export class Result implements ScenarioResult {
  readonly figures: Array<[string, string | number]> = [];
  readonly checks: Check[] = [];
  seconds = 0;
  private readonly started = Date.now();
  constructor(readonly name: string) {}

  figure(label: string, value: string | number): void {
    this.figures.push([label, value]);
  }

  check(name: string, pass: boolean, detail = ''): void {
    this.checks.push({ name, pass, detail });
  }

  done(): this {
    this.seconds = (Date.now() - this.started) / 1000;
    return this;
  }

  get passed(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.pass);
  }
}

export function formatResult(r: ScenarioResult): string {
  const width = Math.max(...r.figures.map(([l]) => l.length), 10);
  const lines = [`== ${r.name} (${r.seconds.toFixed(1)} s)`];
  for (const [label, value] of r.figures) lines.push(`   ${label.padEnd(width)}  ${value}`);
  for (const c of r.checks) lines.push(`   ${c.pass ? 'PASS' : 'FAIL'}  ${c.name}${c.detail ? ` (${c.detail})` : ''}`);
  return lines.join('\n');
}

export const tokens = (t: { prompt_tokens: number; completion_tokens: number }): string => `${t.prompt_tokens} prompt + ${t.completion_tokens} completion`;
export const same = (a: { prompt_tokens: number; completion_tokens: number }, b: { prompt_tokens: number; completion_tokens: number }): boolean =>
  a.prompt_tokens === b.prompt_tokens && a.completion_tokens === b.completion_tokens;
