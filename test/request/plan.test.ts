import { describe, expect, it } from 'vitest';
import { pyJsonLoads } from '../../scripts/fake-vllm/python.ts';
import { GatewayError } from '../../server/errors.ts';
import { scanJsonObject } from '../../server/request/json.ts';
import { planBody, type BodyPlan } from '../../server/request/plan.ts';
import type { EndpointKind } from '../../server/request/endpoints.ts';

function plan(body: string | Buffer, kind: EndpointKind = 'chat', defaultBudget = 256): BodyPlan {
  return planBody({ kind, body: Buffer.isBuffer(body) ? body : Buffer.from(body), defaultBudget });
}

function refusal(body: string | Buffer, kind: EndpointKind = 'chat'): string {
  try {
    plan(body, kind);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('invalid_request_body');
    return (err as GatewayError).message;
  }
  throw new Error(`accepted: ${String(body)}`);
}

describe('the strict JSON reader', () => {
  it('accepts exactly what JSON.parse and Python read alike', () => {
    for (const text of ['{}', ' {"a":[1,2.5e3,-0,{"b":null}],"c":"\\u00e9\\n","d":true} ', '{"a":"\\ud800"}', '{"big":123456789012345678901234567890}']) {
      const scan = scanJsonObject(Buffer.from(text));
      expect(scan.ok, text).toBe(true);
      expect(JSON.stringify(JSON.parse(text)), text).toBe(JSON.stringify(pyJsonLoads(Buffer.from(text))));
    }
  });

  it.each([
    ['', /empty/],
    ['[1]', /object/],
    ['"x"', /object/],
    ['{"a":1}{', /extra data/],
    ['{"a":1,}', /expected a key/],
    ["{'a':1}", /expected a key/],
    ['{"a":01}', /malformed number/],
    ['{"a":1.}', /malformed number/],
    ['{"a":NaN}', /NaN or Infinity/],
    ['{"a":-Infinity}', /NaN or Infinity/],
    ['{"a":Infinity}', /NaN or Infinity/],
    ['{"a":"\t"}', /control character/],
    ['{"a":"\\x41"}', /malformed escape/],
    ['{"a":"\\u12"}', /malformed \\u escape/],
    ['{"a":1,"a":2}', /"a" more than once/],
    ['{"x":{"a":1,"\\u0061":2}}', /"a" more than once/],
    ['{"<i>":1,"<i>":2}', /has a key more than once/],
    ['{"a":tru}', /expected a value/],
  ])('refuses %j', (text, reason) => {
    const scan = scanJsonObject(Buffer.from(text));
    expect(scan.ok).toBe(false);
    if (!scan.ok) expect(scan.reason).toMatch(reason);
  });

  it('refuses a byte-order mark, UTF-16, UTF-32 and bytes that are not UTF-8', () => {
    const body = '{"model":"m"}';
    for (const bytes of [
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body)]),
      Buffer.from(`\ufeff${body}`, 'utf16le'),
      Buffer.from(body, 'utf16le'),
      Buffer.from(body, 'utf16le').swap16(),
      Buffer.from([0, 0, 0, 0x7b, 0, 0, 0, 0x7d]),
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
    ]) {
      expect(scanJsonObject(bytes).ok).toBe(false);
      // Python would have read all but the last.
    }
    expect(pyJsonLoads(Buffer.from(`\ufeff${body}`, 'utf16le'))).toEqual({ model: 'm' });
  });

  it('refuses nesting Python could not parse', () => {
    expect(scanJsonObject(Buffer.from(`{"a":${'['.repeat(300)}${']'.repeat(300)}}`)).ok).toBe(false);
    expect(scanJsonObject(Buffer.from(`{"a":${'['.repeat(200)}${']'.repeat(200)}}`)).ok).toBe(true);
  });
});

describe('planBody', () => {
  it('reads model, stream and the budget as vLLM does', () => {
    expect(plan('{"model":"m","messages":[],"max_tokens":10,"n":3}')).toMatchObject({ model: 'm', stream: false, tokenBudget: 30, n: 3 });
    expect(plan('{"messages":[],"max_completion_tokens":7,"max_tokens":100}')).toMatchObject({ model: null, tokenBudget: 7 });
    expect(plan('{"model":"","messages":[],"max_tokens":null}', 'chat', 99)).toMatchObject({ model: null, tokenBudget: 99 });
    expect(plan('{"prompt":"x"}', 'completion')).toMatchObject({ tokenBudget: 16 });
    expect(plan('{"prompt":["a","b","c"],"max_tokens":5,"n":2}', 'completion')).toMatchObject({ tokenBudget: 30 });
    expect(plan('{"prompt":[1,2,3],"max_tokens":5}', 'completion')).toMatchObject({ tokenBudget: 5 });
    expect(plan('{"prompt":[[1,2],[3]],"max_tokens":5}', 'completion')).toMatchObject({ tokenBudget: 10 });
    expect(plan('{"input":"x","max_output_tokens":12,"stream":true}', 'responses')).toMatchObject({ tokenBudget: 12, stream: true });
    expect(plan('{"model":"m","max_tokens":9,"messages":[]}', 'messages')).toMatchObject({ tokenBudget: 9 });
    expect(plan('{"input":"x"}', 'pooling', 40)).toMatchObject({ tokenBudget: 40, stream: false });
    expect(plan('{"messages":[],"max_tokens":4}', 'invocation')).toMatchObject({ kind: 'chat', tokenBudget: 4 });
    expect(plan('{"prompt":"x"}', 'invocation')).toMatchObject({ kind: 'completion', tokenBudget: 16 });
    expect(plan('{"input":"x"}', 'invocation')).toMatchObject({ kind: 'pooling' });
    expect(planBody({ kind: 'invocation', body: Buffer.from('{"model":"a","prompt":"x"}'), defaultBudget: 1, adapterModel: 'lora-b' }).model).toBe('lora-b');
  });

  it.each([
    ['{"stream":1}', /"stream" must be true or false, not the number given \(vLLM would read it as true\)/],
    ['{"stream":"true"}', /not a string \(vLLM would read it as true\)/],
    ['{"stream":"YES"}', /read it as true/],
    ['{"stream":"on"}', /read it as true/],
    ['{"stream":"no"}', /read it as false/],
    ['{"stream":2}', /vLLM would refuse it/],
    ['{"Stream":true}', /"Stream" differs from "stream" only in letter case/],
    ['{"MAX_TOKENS":5}', /"MAX_TOKENS" differs from "max_tokens"/],
    ['{"max_tokens":"10"}', /"max_tokens" must be a whole number, not a string \(vLLM would read it as 10\)/],
    ['{"max_tokens":10.0}', /read it as 10/],
    ['{"max_tokens":1e3}', /"max_tokens" must be a whole number/],
    ['{"max_tokens":true}', /read it as 1/],
    ['{"max_tokens":99999999999999999999}', /whole number/],
    ['{"n":" 2"}', /"n" must be a whole number/],
    ['{"stream":true,"stream_options":{"include_usage":"yes"}}', /"stream_options.include_usage" must be true or false/],
    ['{"stream":true,"stream_options":{"Include_Usage":true}}', /differs from "include_usage" only in letter case/],
    ['{"<b>Stream</b>":true,"Stream":1}', /^The key "Stream" differs/],
    ['{"stream":true,"stream_options":"x"}', /"stream_options" must be an object/],
    ['{"stream":true,"stream":false}', /more than once/],
  ])('refuses %s, saying what vLLM would make of it', (body, message) => {
    expect(refusal(body)).toMatch(message);
  });

  it('asks a stream for usage on every chunk, changing only stream_options', () => {
    const body = '{"z":1, "stream":true ,"big":12345678901234567890123,"model":"m","messages":[]}';
    const p = plan(body);
    expect(p.clientUsage).toEqual({ final: false, perChunk: false });
    expect(p.body!.toString()).toBe('{"z":1, "stream":true ,"big":12345678901234567890123,"model":"m","messages":[],"stream_options":{"include_usage":true,"continuous_usage_stats":true}}');

    const asked = plan('{"stream":true,"stream_options":{"x":1,"include_usage":true},"model":"m"}');
    expect(asked.clientUsage).toEqual({ final: true, perChunk: false });
    expect(asked.body!.toString()).toBe('{"stream":true,"stream_options":{"x":1,"include_usage":true,"continuous_usage_stats":true},"model":"m"}');
    expect(plan('{"stream":true,"stream_options":null}').body!.toString()).toBe('{"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}');
    expect(plan('{"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}}').clientUsage).toEqual({ final: true, perChunk: true });
    // Not a stream, or not a kind that takes stream_options: forwarded as sent.
    for (const [text, kind] of [['{"stream":false,"x":1.50}', 'chat'], ['{"stream":true,"x":1.50}', 'responses']] as const) {
      expect(plan(text, kind).body!.toString()).toBe(text);
    }
  });

  it('reads the forwarded body to the same values in Python', () => {
    const p = plan('{"model":"m","stream":true,"messages":[{"role":"user","content":"h\\u00e9"}],"max_tokens":3}');
    expect(pyJsonLoads(p.body!)).toEqual({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hé' }], max_tokens: 3, stream_options: { include_usage: true, continuous_usage_stats: true } });
  });
});
