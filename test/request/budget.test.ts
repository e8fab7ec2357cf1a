import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../server/errors.ts';
import { BufferBudget } from '../../server/request/budget.ts';

describe('BufferBudget', () => {
  it('holds at most its capacity; later bodies wait in order and get the room as it frees', async () => {
    const budget = new BufferBudget(100, 1_000);
    const a = await budget.take(60);
    const b = await budget.take(40);
    expect(budget.held).toBe(100);
    const order: string[] = [];
    const c = budget.take(50).then((r) => (order.push('c'), r));
    const d = budget.take(10).then((r) => (order.push('d'), r)); // fits, but waits behind c
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    a();
    a(); // idempotent
    const [rc, rd] = await Promise.all([c, d]);
    expect(order).toEqual(['c', 'd']);
    expect(budget.held).toBe(100);
    b();
    rc();
    rd();
    expect(budget.held).toBe(0);
  });

  it('answers 503 gateway_busy with Retry-After when no room frees in time, and never for a body it cannot hold', async () => {
    const budget = new BufferBudget(100, 30);
    const a = await budget.take(100);
    const err = await budget.take(1).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('gateway_busy');
    expect((err as GatewayError).headers['Retry-After']).toBe('1');
    await expect(budget.take(101)).rejects.toMatchObject({ code: 'gateway_busy' });
    a();
    expect(budget.held).toBe(0);
    (await budget.take(100))();
  });
});
