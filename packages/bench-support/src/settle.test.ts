import { describe, expect, it } from 'vitest';
import { settle } from './settle.js';

describe('settle', () => {
  it('returns quiet once a stretch passes with this process idle and no server', async () => {
    const result = await settle({ minMs: 20, maxMs: 10_000, stretchMs: 50 });
    expect(result.quiet).toBe(true);
    expect(result.waitedMs).toBeLessThan(10_000);
  });

  it('keeps waiting while the server is busy and reports when it never went quiet', async () => {
    // A server clock that always advances by as much CPU as wall time passed: one busy core.
    const busyServer = (): number => performance.now();
    const result = await settle({ minMs: 0, maxMs: 120, stretchMs: 30, serverCpuMs: busyServer });
    expect(result.quiet).toBe(false);
    expect(result.waitedMs).toBeGreaterThanOrEqual(120);
  });

  it('ends at the first quiet stretch after a busy one', async () => {
    // Busy for the first three stretches (100 ms of server CPU between any two readings), then idle.
    let readings = 0;
    const server = (): number => {
      readings++;
      return Math.min(readings, 6) * 100;
    };
    // A generous quiet share keeps this process's own CPU (the test runner's) from deciding the outcome.
    const result = await settle({ minMs: 0, maxMs: 60_000, stretchMs: 50, quietShare: 0.5, serverCpuMs: server });
    expect(result.quiet).toBe(true);
    // Two readings per stretch: the fourth stretch is the first whose readings are equal.
    expect(readings).toBe(8);
  });

  it('refuses options that cannot be met, naming them', async () => {
    await expect(settle({ minMs: 100, maxMs: 10 })).rejects.toThrow(/minMs 100 and maxMs 10/);
    await expect(settle({ minMs: -1, maxMs: 10 })).rejects.toThrow(/minMs -1/);
    await expect(settle({ minMs: 0, maxMs: 10, stretchMs: 0 })).rejects.toThrow(/positive stretchMs, got 0/);
  });
});
