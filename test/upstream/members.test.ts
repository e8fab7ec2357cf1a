import { describe, expect, it } from 'vitest';
import { backoffMs, Member, MemberSet, type ModelEntry } from '../../server/upstream/members.ts';

const models = (...ids: string[]): Map<string, ModelEntry> => new Map(ids.map((id) => [id, { id, object: 'model' }]));

function threeUp(): { set: MemberSet; a: Member; b: Member; c: Member } {
  const [a, b, c] = [new Member('http://a'), new Member('http://b'), new Member('http://c')];
  const set = new MemberSet([a, b, c]);
  set.checkPassed(a, models('m1'));
  set.checkPassed(b, models('m1'));
  set.checkPassed(c, models('m2'));
  return { set, a, b, c };
}

describe('choosing an upstream', () => {
  it('sends a model only to upstreams serving it, the least busy first, ties in turn', () => {
    const { set, a, b, c } = threeUp();
    const picks = Array.from({ length: 6 }, () => set.choose('m1'));
    expect(picks).toEqual([a, b, a, b, a, b]);
    expect(set.choose('m2')).toBe(c);
    a.inFlight = 3;
    b.inFlight = 1;
    expect(set.choose('m1')).toBe(b);
    expect(set.choose('m1')).toBe(b);
    b.inFlight = 4;
    expect(set.choose('m1')).toBe(a);
  });

  it('sends a request naming no model to any healthy upstream', () => {
    const { set, a, b, c } = threeUp();
    expect(new Set([set.choose(null), set.choose(null), set.choose(null)])).toEqual(new Set([a, b, c]));
  });

  it('denies a model nobody serves, but says unavailable while an upstream has never answered', () => {
    const { set } = threeUp();
    expect(set.choose('nope')).toBe('model_not_found');
    const fresh = new MemberSet([new Member('http://x'), new Member('http://y')]);
    fresh.checkPassed(fresh.members[0]!, models('m1'));
    expect(fresh.choose('nope')).toBe('upstream_unavailable');
    expect(fresh.choose('m1')).toBe(fresh.members[0]);
  });

  it('skips a down upstream and the one that just failed; with none left the model is unavailable', () => {
    const { set, a, b, c } = threeUp();
    expect(set.markDown(a, 0)).toBe(true);
    expect(set.markDown(a, 0)).toBe(false);
    expect([set.choose('m1'), set.choose('m1')]).toEqual([b, b]);
    expect(set.choose('m1', b)).toBe('upstream_unavailable');
    set.markDown(c, 0);
    expect(set.choose('m2')).toBe('upstream_unavailable');
  });
});

describe('health', () => {
  it('probes after 1 s, doubling per failed probe up to 30 s, and resets when a probe passes', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(backoffMs)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    const { set, a } = threeUp();
    set.markDown(a, 10_000);
    expect(a.probeAt).toBe(11_000);
    set.checkFailed(a, 11_000);
    expect(a.probeAt).toBe(13_000);
    set.checkFailed(a, 13_000);
    expect(a.probeAt).toBe(17_000);
    expect(set.checkPassed(a, models('m1', 'm3'))).toBe(true);
    expect(a.healthy).toBe(true);
    expect(set.choose('m3')).toBe(a);
    set.markDown(a, 50_000);
    expect(a.probeAt).toBe(51_000);
  });

  it('lists the healthy upstreams models once each', () => {
    const { set, a, c } = threeUp();
    set.checkPassed(a, models('m1', 'shared'));
    set.checkPassed(c, models('m2', 'shared'));
    expect(set.union().map((m) => m.id)).toEqual(['m1', 'shared', 'm2']);
    set.markDown(c, 0);
    expect(set.union().map((m) => m.id)).toEqual(['m1', 'shared']);
  });
});
