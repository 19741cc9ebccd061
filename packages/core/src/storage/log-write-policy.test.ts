// Proves when a log write blocks the event loop's thread: never before a pooled write has been
// measured, only while writes are small, fast on average and the loop mostly idle during pooled
// writes, and with a pooled write every `probeEvery` even then, so that the loop keeps being measured.
import { describe, expect, it } from 'vitest';
import { LogWritePolicy } from './log-write-policy.js';

/** Decisions for `count` writes of `bytes`, each recorded as taking `ms` with the loop `busy` meanwhile. */
function run(policy: LogWritePolicy, count: number, ms: number, busy: number, bytes = 8192): boolean[] {
  const decisions: boolean[] = [];
  for (let i = 0; i < count; i++) {
    const block = policy.shouldBlock(bytes);
    decisions.push(block);
    if (block) policy.recordBlocking(ms);
    else policy.recordPooled(ms, busy);
  }
  return decisions;
}

describe('LogWritePolicy', () => {
  it('sends writes through the pool until one has been measured, then blocks all but one in probeEvery', () => {
    const policy = new LogWritePolicy({ probeEvery: 4 });
    expect(policy.shouldBlock(100)).toBe(false);
    expect(policy.shouldBlock(100)).toBe(false);
    policy.recordPooled(0.2, 0.05);
    expect(run(policy, 12, 0.1, 0)).toEqual([true, true, true, false, true, true, true, false, true, true, true, false]);
    expect(policy.stats).toMatchObject({ blockingWrites: 9, pooledWrites: 4 });
  });

  it('stops blocking while the loop is busy during pooled writes, and blocks again once it idles', () => {
    const policy = new LogWritePolicy({ probeEvery: 2, busyMax: 0.25 });
    policy.recordPooled(0.2, 0);
    expect(run(policy, 4, 0.1, 0)).toEqual([true, false, true, false]);
    // Every pooled write now finds the loop busy: the average climbs past 0.25 and writes stay pooled.
    const busy = run(policy, 20, 0.1, 1);
    expect(busy.slice(-10)).toEqual(new Array(10).fill(false));
    expect(policy.stats.averageBusy).toBeGreaterThan(0.25);
    // The loop idles again: pooled writes bring the average down, then writes block again.
    const idle = run(policy, 40, 0.1, 0);
    expect(idle.slice(0, 5)).toEqual(new Array(5).fill(false));
    expect(idle.slice(-4)).toEqual([true, false, true, false]);
  });

  it('stops blocking once writes are slow on average, and blocks again once they are fast', () => {
    const policy = new LogWritePolicy({ probeEvery: 1000, blockingMsMax: 1 });
    policy.recordPooled(0.2, 0);
    expect(run(policy, 3, 0.2, 0)).toEqual([true, true, true]);
    // A disk that slows down: blocking writes raise the average past 1 ms, and writes go through the pool.
    const slow = run(policy, 30, 20, 0);
    expect(slow[0]).toBe(true);
    expect(slow.slice(-10)).toEqual(new Array(10).fill(false));
    expect(policy.stats.averageMs).toBeGreaterThan(1);
    const fast = run(policy, 60, 0.2, 0);
    expect(fast.slice(-5)).toEqual(new Array(5).fill(true));
  });

  it('refuses thresholds that are negative or not numbers, and a probeEvery that is not a positive integer', () => {
    expect(() => new LogWritePolicy({ busyMax: Number.NaN })).toThrow(/busyMax must be a non-negative number, got NaN/);
    expect(() => new LogWritePolicy({ blockingMsMax: -1 })).toThrow(/blockingMsMax must be a non-negative number, got -1/);
    expect(() => new LogWritePolicy({ blockingBytesMax: -5 })).toThrow(/blockingBytesMax/);
    expect(() => new LogWritePolicy({ probeEvery: 0 })).toThrow(/probeEvery must be a positive integer, got 0/);
    expect(() => new LogWritePolicy({ probeEvery: 2.5 })).toThrow(/probeEvery must be a positive integer, got 2.5/);
    expect(() => new LogWritePolicy({ blockingMsMax: Infinity, busyMax: 1, probeEvery: 1 })).not.toThrow();
  });

  it('counts a utilization that could not be measured as a busy loop', () => {
    const policy = new LogWritePolicy({ probeEvery: 1000 });
    policy.recordPooled(0.1, Number.NaN);
    expect(policy.shouldBlock(100)).toBe(false);
    expect(policy.stats.averageBusy).toBe(1);
  });

  it('never blocks a write larger than blockingBytesMax, and never at all with blockingBytesMax 0', () => {
    const policy = new LogWritePolicy({ blockingBytesMax: 1000, probeEvery: 1000 });
    policy.recordPooled(0.1, 0);
    expect(policy.shouldBlock(1000)).toBe(true);
    expect(policy.shouldBlock(1001)).toBe(false);
    const never = new LogWritePolicy({ blockingBytesMax: 0 });
    never.recordPooled(0.1, 0);
    expect(run(never, 10, 0.1, 0)).toEqual(new Array(10).fill(false));
  });
});
