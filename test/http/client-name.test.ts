import { describe, expect, it } from 'vitest';
import { encodeClientName } from '../../server/http/client-name.ts';
import { presentedKey } from '../../server/http/credentials.ts';

describe('encodeClientName', () => {
  it('percent-encodes non-ASCII as UTF-8 and % itself', () => {
    expect(encodeClientName('Café')).toBe('Caf%C3%A9');
    expect(encodeClientName('100% Acme')).toBe('100%25 Acme');
    expect(encodeClientName('東京')).toBe('%E6%9D%B1%E4%BA%AC');
    expect(encodeClientName('plain name-1')).toBe('plain name-1');
  });

  it('can never produce a header break or a control character', () => {
    const out = encodeClientName('evil\r\nSet-Cookie: x=1\t\u0000\u{1F600}\uD800');
    expect(out).toBe('evil%0D%0ASet-Cookie: x=1%09%00%F0%9F%98%80%EF%BF%BD');
    expect(out).toMatch(/^[\x20-\x7e]*$/);
  });
});

describe('presentedKey', () => {
  it.each([
    [{ authorization: 'Bearer abc' }, 'abc'],
    [{ authorization: 'bearer   abc  ' }, 'abc'],
    [{ authorization: 'ApiKey abc' }, 'abc'],
    [{ authorization: 'APIKEY abc' }, 'abc'],
    [{ 'x-api-key': ' abc ' }, 'abc'],
    [{ authorization: 'Basic Zm9vOmJhcg==' }, null],
    [{ authorization: 'Basic Zm9v', 'x-api-key': 'k' }, 'k'],
    [{ authorization: 'Bearer ' }, null],
    [{}, null],
  ])('%j gives %j', (headers, key) => {
    expect(presentedKey(headers)).toBe(key);
  });
});
