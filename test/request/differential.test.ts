import { describe, expect, it } from 'vitest';
import { pyBool, pyInt, pyJsonLoads, pyStr } from '../../scripts/fake-vllm/python.ts';
import { GatewayError } from '../../server/errors.ts';
import { planBody } from '../../server/request/plan.ts';

/**
 * The gateway's reading against the stand-in's Python one, over many small bodies built from
 * the spellings issue 14 used: whenever the gateway accepts a body, vLLM must read the same
 * model, stream flag and budget from the bytes the gateway forwards.
 */
const STREAMS = ['true', 'false', 'null', '1', '0', '"true"', '"yes"', '"Y"', '"off"', '2', '1.0', '[]'];
const MAX = ['5', 'null', '"5"', '5.0', '-1', 'true', '1e2', '99999999999999999999'];
const MODELS = ['"m"', '""', 'null', '3'];
const KEYS = ['stream', 'Stream', 'STREAM'];

function* bodies(): Generator<Buffer> {
  for (const s of STREAMS) for (const m of MAX) for (const model of MODELS) for (const key of KEYS) {
    const text = `{"model":${model},"messages":[{"role":"user","content":"hi"}],"${key}":${s},"max_tokens":${m}}`;
    yield Buffer.from(text);
    yield Buffer.from(`\ufeff${text}`);
    yield Buffer.from(text.replace('"hi"', 'NaN'));
    yield Buffer.from(text.replace('{"model"', `{"stream":false,"model"`));
  }
}

/** What vLLM's ChatCompletionRequest makes of a body, or 'refused'. */
function vllmReads(body: Buffer): { model: string | null; stream: boolean; max: number | null } | 'refused' {
  try {
    const b = pyJsonLoads(body) as Record<string, unknown>;
    return { model: pyStr(b.model, 'model') || null, stream: pyBool(b.stream, 'stream') ?? false, max: pyInt(b.max_tokens, 'max_tokens') };
  } catch {
    return 'refused';
  }
}

describe('the gateway reads what vLLM reads, or refuses', () => {
  it('agrees on every accepted body', () => {
    let accepted = 0;
    let refused = 0;
    for (const body of bodies()) {
      let plan;
      try {
        plan = planBody({ kind: 'chat', body, defaultBudget: 100 });
      } catch (err) {
        expect(err).toBeInstanceOf(GatewayError);
        refused += 1;
        continue;
      }
      accepted += 1;
      const seen = vllmReads(plan.body!);
      if (seen === 'refused') continue; // vLLM answers 400: nothing is generated
      const text = body.toString();
      expect(seen.stream, text).toBe(plan.stream);
      expect(seen.model, text).toBe(plan.model);
      if (seen.max !== null && seen.max >= 0) expect(plan.tokenBudget, text).toBe(seen.max);
    }
    expect(accepted).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(accepted);
  });
});
