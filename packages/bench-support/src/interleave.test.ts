import { describe, expect, it } from 'vitest';
import { runInterleaved } from './interleave.js';
import { rate } from './run-closed-loop.js';

describe('runInterleaved', () => {
  it('alternates slices between systems, rotating the order each round, and sums each system', async () => {
    const order: string[] = [];
    let last = '';
    const operation = (name: string) => async (): Promise<void> => {
      if (name !== last) order.push(name);
      last = name;
      await new Promise((resolve) => setTimeout(resolve, 1));
    };
    const results = await runInterleaved({
      systems: [
        { name: 'a', operation: operation('a') },
        { name: 'b', operation: operation('b') },
        { name: 'c', operation: operation('c') },
      ],
      clients: 2,
      durationMs: 90,
      slices: 3,
      sliceWarmupMs: 0,
    });
    expect(order).toEqual(['a', 'b', 'c', 'b', 'c', 'a', 'c', 'a', 'b']);
    for (const name of ['a', 'b', 'c'] as const) {
      expect(results[name].elapsedMs).toBeCloseTo(90, 6);
      expect(results[name].operations).toBeGreaterThan(0);
      expect(results[name].serverCpuMs).toBeNull();
      expect(rate(results[name])).toBeGreaterThan(0);
    }
  });

  it('sums a server clock over the slices', async () => {
    // A server clock that advances 5 ms at every reading: two readings per slice.
    let reading = 0;
    const results = await runInterleaved({
      systems: [{ name: 'server', operation: () => new Promise((resolve) => setTimeout(resolve, 1)), serverCpuMs: () => (reading += 5) }],
      clients: 1,
      durationMs: 40,
      slices: 4,
      sliceWarmupMs: 0,
    });
    expect(results.server.serverCpuMs).toBe(4 * 5);
  });

  it('refuses options it cannot honour, naming them', async () => {
    const systems = [{ name: 'a', operation: async () => {} }];
    await expect(runInterleaved({ systems, clients: 1, durationMs: 10, slices: 0, sliceWarmupMs: 0 })).rejects.toThrow(/positive integer number of slices, got 0/);
    await expect(runInterleaved({ systems, clients: 1, durationMs: -1, slices: 1, sliceWarmupMs: 0 })).rejects.toThrow(/durationMs >= 0, got -1/);
    await expect(runInterleaved({ systems, clients: 1, durationMs: 10, slices: 1, sliceWarmupMs: -5 })).rejects.toThrow(/sliceWarmupMs >= 0, got -5/);
    await expect(runInterleaved({ systems: [...systems, ...systems], clients: 1, durationMs: 10, slices: 1, sliceWarmupMs: 0 })).rejects.toThrow(/distinct system names, got a, a/);
  });
});
