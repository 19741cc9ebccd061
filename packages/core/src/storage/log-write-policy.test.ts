// Proves when a log write blocks the event loop's thread: never before a pooled write has been
// measured, only while writes are small, fast on average and the loop mostly idle during pooled
// writes, and with a pooled write every `probeIntervalMs` even then, so that the loop keeps being
// measured.
import { describe, expect, it } from 'vitest';
import { LogWritePolicy } from './log-write-policy.js';

/** Writes back to back on a clock of their own, each deciding with the policy and recording what it took. */
class Writes {
  now = 0;
  constructor(readonly policy: LogWritePolicy) {}

  /** Decisions for `count` writes of `bytes`, each taking `ms` with the loop `busy` meanwhile. */
  run(count: number, ms: number, busy: number, bytes = 8192): boolean[] {
    const decisions: boolean[] = [];
    for (let i = 0; i < count; i++) {
      const block = this.policy.shouldBlock(bytes, this.now);
      decisions.push(block);
      if (block) this.policy.recordBlocking(ms);
      else this.policy.recordPooled(ms, busy);
      this.now += ms;
    }
    return decisions;
  }
}

describe('LogWritePolicy', () => {
  it('sends writes through the pool until one has been measured, then blocks all but one every probeIntervalMs', () => {
    const policy = new LogWritePolicy({ probeIntervalMs: 1 });
    expect(policy.shouldBlock(100, 0)).toBe(false);
    expect(policy.shouldBlock(100, 0)).toBe(false);
    policy.recordPooled(0.2, 0.05);
    const writes = new Writes(policy);
    writes.now = 0.25;
    // Writes of 0.25 ms: the one starting a full millisecond after the last pooled write probes.
    expect(writes.run(12, 0.25, 0)).toEqual([true, true, true, false, true, true, true, false, true, true, true, false]);
    expect(policy.stats).toMatchObject({ blockingWrites: 9, pooledWrites: 4 });
    // Probes are spaced in time, not in writes: slower writes probe more often.
    expect(writes.run(6, 0.5, 0)).toEqual([true, true, false, true, false, true]);
  });

  it('stops blocking while the loop is busy during pooled writes, and blocks again once it idles', () => {
    const writes = new Writes(new LogWritePolicy({ probeIntervalMs: 0.25, busyMax: 0.25 }));
    expect(writes.run(1, 0.125, 0)).toEqual([false]);
    expect(writes.run(4, 0.125, 0)).toEqual([true, false, true, false]);
    // The loop turns busy: probes bring the average past 0.25, and writes stay pooled.
    const busy = writes.run(20, 0.125, 1);
    expect(busy.slice(0, 4)).toEqual([true, false, true, false]);
    expect(busy.slice(-10)).toEqual(new Array(10).fill(false));
    expect(writes.policy.stats.averageBusy).toBeGreaterThan(0.25);
    // The loop idles again: pooled writes bring the average down, then writes block again.
    const idle = writes.run(40, 0.125, 0);
    expect(idle.slice(0, 5)).toEqual(new Array(5).fill(false));
    expect(idle.slice(-4)).toEqual([true, false, true, false]);
  });

  it('stops blocking once writes are slow on average, and blocks again once they are fast', () => {
    const writes = new Writes(new LogWritePolicy({ probeIntervalMs: Infinity, blockingMsMax: 1 }));
    expect(writes.run(4, 0.2, 0)).toEqual([false, true, true, true]);
    // A disk that slows down: blocking writes raise the average past 1 ms, and writes go through the pool.
    const slow = writes.run(30, 20, 0);
    expect(slow[0]).toBe(true);
    expect(slow.slice(-10)).toEqual(new Array(10).fill(false));
    expect(writes.policy.stats.averageMs).toBeGreaterThan(1);
    const fast = writes.run(60, 0.2, 0);
    expect(fast.slice(-5)).toEqual(new Array(5).fill(true));
  });

  it('refuses thresholds and probe intervals that are negative or not numbers', () => {
    expect(() => new LogWritePolicy({ busyMax: Number.NaN })).toThrow(/busyMax must be a non-negative number, got NaN/);
    expect(() => new LogWritePolicy({ blockingMsMax: -1 })).toThrow(/blockingMsMax must be a non-negative number, got -1/);
    expect(() => new LogWritePolicy({ blockingBytesMax: -5 })).toThrow(/blockingBytesMax/);
    expect(() => new LogWritePolicy({ probeIntervalMs: -1 })).toThrow(/probeIntervalMs must be a non-negative number, got -1/);
    expect(() => new LogWritePolicy({ probeIntervalMs: Number.NaN })).toThrow(/probeIntervalMs must be a non-negative number, got NaN/);
    expect(() => new LogWritePolicy({ blockingMsMax: Infinity, busyMax: 1, probeIntervalMs: 0 })).not.toThrow();
  });

  it('counts a utilization that could not be measured as a busy loop', () => {
    const policy = new LogWritePolicy({ probeIntervalMs: Infinity });
    expect(policy.shouldBlock(100, 0)).toBe(false);
    policy.recordPooled(0.1, Number.NaN);
    expect(policy.shouldBlock(100, 1)).toBe(false);
    expect(policy.stats.averageBusy).toBe(1);
  });

  it('never blocks a write larger than blockingBytesMax, and never at all with blockingBytesMax 0', () => {
    const policy = new LogWritePolicy({ blockingBytesMax: 1000, probeIntervalMs: Infinity });
    expect(policy.shouldBlock(1000, 0)).toBe(false);
    policy.recordPooled(0.1, 0);
    expect(policy.shouldBlock(1000, 1)).toBe(true);
    expect(policy.shouldBlock(1001, 2)).toBe(false);
    expect(new Writes(new LogWritePolicy({ blockingBytesMax: 0 })).run(10, 0.1, 0)).toEqual(new Array(10).fill(false));
  });
});
