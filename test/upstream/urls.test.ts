import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config.ts';
import { parseUpstreamList, upstreamName } from '../../server/upstream/urls.ts';

describe('UPSTREAM_URL', () => {
  it('takes one URL or a comma-separated list', () => {
    expect(loadConfig({}).UPSTREAM_URLS).toEqual(['http://127.0.0.1:8080']);
    expect(loadConfig({ UPSTREAM_URL: 'http://a:8000' }).UPSTREAM_URLS).toEqual(['http://a:8000']);
    expect(loadConfig({ UPSTREAM_URL: ' http://a:8000/ , https://b/vllm,' }).UPSTREAM_URLS).toEqual(['http://a:8000/', 'https://b/vllm']);
  });

  it('refuses bad items and duplicates without quoting a URL that may hold credentials', () => {
    for (const bad of ['http://u:secret@a:1,secret-not-a-url', 'ftp://u:secret@a', 'http://u:secret@a:1/,http://a:1']) {
      let message = '';
      try {
        loadConfig({ UPSTREAM_URL: bad });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message).toMatch(/^invalid configuration: UPSTREAM_URL item \d/);
      expect(message).not.toContain('secret');
    }
    expect(parseUpstreamList(' , ')).toEqual({ ok: false, reason: 'must list at least one URL' });
  });

  it('names an upstream without credentials, query or fragment', () => {
    expect(upstreamName('https://user:pass@gpu1.example:8000/vllm/?token=x#f')).toBe('https://gpu1.example:8000/vllm');
    expect(upstreamName('http://10.0.0.2:8000/')).toBe('http://10.0.0.2:8000');
  });
});
