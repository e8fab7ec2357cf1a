import { describe, expect, it } from 'vitest';
import { unquote } from '../../scripts/fake-vllm/python.ts';
import { ProxyPaths } from '../../server/request/endpoints.ts';
import { canonicalPath } from '../../server/request/path.ts';

describe('canonicalPath', () => {
  it.each([
    ['/v1/chat/completions', '/v1/chat/completions', '/v1/chat/completions', ''],
    ['/v1/%63hat/completions?x=%2F', '/v1/chat/completions', '/v1/chat/completions', '?x=%2F'],
    ['/v1/%6dodels/', '/v1/models', '/v1/models', ''],
    ['/v1/models/my%20model', '/v1/models/my%20model', '/v1/models/my model', ''],
    ['/v1/models/caf%c3%a9', '/v1/models/caf%C3%A9', '/v1/models/café', ''],
    ['/%7e%2E%5f', '/~._', '/~._', ''],
    ['/', '/', '/', ''],
  ])('%s -> %s', (target, path, route, query) => {
    expect(canonicalPath(target)).toEqual({ ok: true, path, route, query });
  });

  it.each([
    '/v1/chat%2Fcompletions', '/v1/chat%2fcompletions', '/v1%5Cmodels', '/v1\\models', '/v1/models%00', '/v1/models/%E0%A4%A', '/v1/models/%',
    '/v1/models/%zz', '/v1/models/%E0%A4', '/v1/%ff', '//v1/models', '/v1//models', '/v1/models//', '/v1/./models', '/v1/../metrics',
    '/v1/%2e%2e/metrics', '/v1/%2E/models', 'v1/models', 'http://host/v1/models', '*', '/v1/mo dels', '/v1/caf\u00e9',
  ])('refuses %s', (target) => {
    const result = canonicalPath(target);
    expect(result.ok).toBe(false);
  });

  it('routes on what uvicorn decodes, and forwards a spelling that decodes to the same', () => {
    for (const target of ['/v1/%63hat/completions', '/v1/models/a%20b%2Bc', '/v1/models/%C3%A9t%C3%A9', '/v1/%7Efoo']) {
      const c = canonicalPath(target);
      if (!c.ok) throw new Error(target);
      expect(unquote(target)).toBe(c.route);
      expect(unquote(c.path)).toBe(c.route);
    }
  });
});

describe('ProxyPaths', () => {
  it('allows the client API by default, and nothing else', () => {
    const paths = new ProxyPaths();
    for (const route of ['/v1/models', '/v1/chat/completions', '/v1/responses/abc', '/tokenize', '/pooling', '/classify', '/score', '/rerank', '/v2/rerank', '/v2/embed', '/invocations']) {
      expect(paths.allows(route), route).toBe(true);
    }
    for (const route of ['/metrics', '/metrics/x', '/v1/load_lora_adapter', '/v1/unload_lora_adapter', '/v1/load_lora_adapter/x', '/v1foo', '/V1/models', '/v2/chat', '/sleep', '/reset_prefix_cache', '/collective_rpc', '/health', '/admin/reload-keys', '/']) {
      expect(paths.allows(route), route).toBe(false);
    }
  });

  it('PROXY_PATHS replaces the list; LoRA loading needs to be named; /metrics never passes', () => {
    const narrow = new ProxyPaths(' /v1/chat/completions, /v1/models/ ');
    expect(narrow.prefixes).toEqual(['/v1/chat/completions', '/v1/models']);
    expect(narrow.allows('/v1/chat/completions')).toBe(true);
    expect(narrow.allows('/v1/completions')).toBe(false);
    expect(narrow.allows('/tokenize')).toBe(false);
    expect(new ProxyPaths('/v1').allows('/v1/load_lora_adapter')).toBe(false);
    expect(new ProxyPaths('/v1,/v1/load_lora_adapter').allows('/v1/load_lora_adapter')).toBe(true);
    expect(new ProxyPaths('/').allows('/metrics')).toBe(false);
    expect(new ProxyPaths('/').allows('/sleep')).toBe(true);
  });
});
