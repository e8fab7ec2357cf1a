// appscript/src/expiry.ts reads expires_at by the gateway's rules: the same inputs give the
// same instants as server/keys/dates.ts (luxon), in zones with and without DST.

import vm from 'node:vm';
import { build } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseExpiry as gatewayParse } from '../../server/keys/dates.ts';
import { fakeUtilities } from './fakes/services.ts';

type Parse = (value: unknown, zone: string) => { ok: boolean; expiresAt?: number | null };
let scriptParse: Parse;

beforeAll(async () => {
  // The module alone, bundled as the build does, run in a vm with the fake Utilities.
  const out = await build({
    stdin: { contents: "export { parseExpiry } from './expiry.ts';", resolveDir: new URL('../../appscript/src/', import.meta.url).pathname, loader: 'ts' },
    bundle: true, format: 'iife', globalName: 'expiry', platform: 'neutral', target: 'es2019', write: false,
  });
  const context = vm.createContext({ Utilities: fakeUtilities() });
  vm.runInContext(out.outputFiles[0]!.text, context);
  scriptParse = (context as { expiry: { parseExpiry: Parse } }).expiry.parseExpiry;
});

const ZONES = ['Asia/Tokyo', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'UTC'];
const VALUES: unknown[] = [
  '', '   ', null, undefined,
  '2026-03-08', '2026-11-01', '2026-02-29', '2024-02-29', '2026-13-01',
  // 02:30 on 8 March does not exist in New York (moved forward, as luxon does). An hour that happens twice
  // (1 November, 01:30) is left out: luxon picks by the offset in force when it runs.
  '2026-03-08 02:30', '2026-03-29 02:30', '2026-12-31 23:59:59', '2026-12-31T23:59', '2026-12-31T23:59:59.250',
  '2026-12-31 10:00Z', '2026-12-31T10:00:00+09:00', '2026-12-31T10:00:00-0330', '2026-12-31 24:00', '2026-12-31 10:60',
  '46000', '46000.75', 46000, 46000.5, 43831.5, -1, 3_000_000, 45000.123456,
  'next tuesday', '10:00', '2026/12/31', true,
  new Date(Date.UTC(2026, 5, 1, 12)),
];

describe('expires_at by the gateway rules', () => {
  it.each(ZONES)('gives the gateway\'s instant for every input in %s', (zone) => {
    for (const value of VALUES) {
      const gateway = gatewayParse(value, zone);
      const script = scriptParse(value instanceof Date ? new Date(value.getTime()) : value, zone);
      const label = `${JSON.stringify(value)} in ${zone}`;
      expect(script.ok, label).toBe(gateway.ok);
      if (gateway.ok) expect(script.expiresAt, label).toBe(gateway.expiresAt);
    }
  });
});
