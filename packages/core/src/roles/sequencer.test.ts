// Proves the sequencer's invariants: commit versions strictly increase, track a (fake) clock at
// about one million per second without going backwards when it stalls or steps back, never exceed
// the durable version lease, resume above every version a crashed predecessor could have handed
// out, and the committed version only grows to versions handed out.
import { describe, expect, it } from 'vitest';
import type { Runtime, Timer } from '../runtime/runtime.js';
import { seededRandom } from '../runtime/runtime.js';
import { MemoryLeaseStore, type LeaseStore } from '../storage/version-lease.js';
import { AssertionError } from '../util/assert.js';
import { Sequencer } from './sequencer.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

/** A runtime whose clock only moves when the test moves it. */
class ManualRuntime implements Runtime {
  nowMs = 5_000;
  now(): number {
    return this.nowMs;
  }
  random(): number {
    return 0.5;
  }
  setTimer(): Timer {
    throw new Error('the sequencer sets no timers');
  }
  sleep(): Promise<void> {
    throw new Error('the sequencer does not sleep');
  }
  defer(callback: () => void): void {
    queueMicrotask(callback);
  }
}

/** A lease store that records which leases are durable, and can hold or fail writes. */
class RecordingLeaseStore implements LeaseStore {
  durable = 0;
  writes = 0;
  hold = false;
  fail = false;
  readonly held: (() => void)[] = [];
  async read(): Promise<number> {
    return this.durable;
  }
  async write(version: number): Promise<void> {
    this.writes++;
    if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    if (this.fail) throw new Error('EIO: simulated lease write failure');
    this.durable = version;
  }
}

/** Takes a version, waiting for the lease when the sequencer asks for it. */
async function next(sequencer: Sequencer): Promise<number> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const version = sequencer.nextCommitVersion();
    if (version !== null) return version;
    await sequencer.leaseExtended();
  }
  throw new Error('the lease never allowed another version');
}

describe('Sequencer', () => {
  it('starts just above the recovered version, after making a lease durable', async () => {
    const runtime = new ManualRuntime();
    const lease = new RecordingLeaseStore();
    const sequencer = await Sequencer.start({ runtime, recoveredVersion: 1_000, lease, leaseVersions: 500 });
    expect(lease.durable).toBe(1_500);
    expect(sequencer.leaseVersion).toBe(1_500);
    expect(sequencer.committedVersion).toBe(1_000);
    expect(sequencer.lastCommitVersion).toBe(1_000);
    expect(sequencer.nextCommitVersion()).toBe(1_001);
    expect(sequencer.nextCommitVersion()).toBe(1_002);
    expect(sequencer.lastCommitVersion).toBe(1_002);
  });

  it('advances about one million versions per second of clock', async () => {
    const runtime = new ManualRuntime();
    const sequencer = await Sequencer.start({ runtime, recoveredVersion: 0, lease: new MemoryLeaseStore() });
    runtime.nowMs += 1_000;
    expect(sequencer.clockVersion()).toBe(1_000_000);
    expect(sequencer.nextCommitVersion()).toBe(1_000_000);
    runtime.nowMs += 2.5;
    expect(sequencer.nextCommitVersion()).toBe(1_002_500);
    const custom = await Sequencer.start({ runtime, recoveredVersion: 10, lease: new MemoryLeaseStore(), versionsPerSecond: 1_000 });
    runtime.nowMs += 3_000;
    expect(custom.nextCommitVersion()).toBe(3_010);
  });

  it('never goes backwards when the clock stalls or steps back, and catches up with the clock later', async () => {
    const runtime = new ManualRuntime();
    const sequencer = await Sequencer.start({ runtime, recoveredVersion: 0, lease: new MemoryLeaseStore() });
    runtime.nowMs += 1;
    const first = await next(sequencer);
    expect(first).toBe(1_000);
    for (let i = 1; i <= 5_000; i++) expect(await next(sequencer)).toBe(first + i);
    runtime.nowMs -= 500;
    expect(await next(sequencer)).toBe(first + 5_001);
    runtime.nowMs += 10_000;
    expect(await next(sequencer)).toBe(9_501_000);
    expect(sequencer.lastCommitVersion).toBe(9_501_000);
  });

  it('hands out no version above the durable lease, and waits for the lease rather than exceed it', async () => {
    const runtime = new ManualRuntime();
    const lease = new RecordingLeaseStore();
    const sequencer = await Sequencer.start({ runtime, recoveredVersion: 0, lease, leaseVersions: 1_000 });
    lease.hold = true;
    // The clock jumps past the lease: no version until the extension is durable.
    runtime.nowMs += 3; // 3,000 versions
    expect(sequencer.nextCommitVersion()).toBeNull();
    expect(sequencer.nextCommitVersion()).toBeNull();
    expect(lease.writes).toBe(2); // start, then one extension however often it is asked
    expect(sequencer.lastCommitVersion).toBe(0);
    lease.hold = false;
    lease.held.shift()!();
    await sequencer.leaseExtended();
    expect(lease.durable).toBeGreaterThanOrEqual(3_000);
    const version = sequencer.nextCommitVersion();
    expect(version).toBe(3_000);
    expect(version!).toBeLessThanOrEqual(lease.durable);
  });

  it('commit versions strictly increase, follow the clock and stay within the durable lease (randomized)', async () => {
    console.log(`sequencer SEED=${SEED}`);
    const random = seededRandom(SEED);
    const runtime = new ManualRuntime();
    const lease = new RecordingLeaseStore();
    const sequencer = await Sequencer.start({ runtime, recoveredVersion: Math.floor(random() * 1e9), lease, leaseVersions: 5_000 });
    let last = sequencer.lastCommitVersion;
    let waits = 0;
    for (let i = 0; i < 10_000; i++) {
      const step = random();
      if (step < 0.3) runtime.nowMs += random() * 5;
      else if (step < 0.32) runtime.nowMs -= random() * 5;
      const version = sequencer.nextCommitVersion();
      if (version === null) {
        waits++;
        await sequencer.leaseExtended();
        continue;
      }
      expect(version).toBeGreaterThan(last);
      expect(version).toBeGreaterThanOrEqual(sequencer.clockVersion());
      expect(version).toBeLessThanOrEqual(lease.durable);
      expect(Number.isSafeInteger(version)).toBe(true);
      last = version;
      if (random() < 0.3) sequencer.reportCommitted(version);
    }
    expect(waits).toBeGreaterThan(0);
  });

  it('a sequencer started after a crash hands out only versions above any its predecessor could have used', async () => {
    console.log(`sequencer restart SEED=${SEED}`);
    const random = seededRandom(SEED + 1);
    const lease = new RecordingLeaseStore();
    let recovered = 0;
    let highest = 0;
    for (let generation = 0; generation < 20; generation++) {
      // Each process has its own clock, which may read lower than the previous one.
      const runtime = new ManualRuntime();
      runtime.nowMs = random() * 1_000;
      const sequencer = await Sequencer.start({ runtime, recoveredVersion: recovered, lease, leaseVersions: 1_000 + Math.floor(random() * 10_000) });
      for (let i = Math.floor(random() * 200); i > 0; i--) {
        if (random() < 0.2) runtime.nowMs += random() * 10;
        const version = await next(sequencer);
        expect(version).toBeGreaterThan(highest);
        highest = version;
        if (random() < 0.5) {
          sequencer.reportCommitted(version);
          recovered = version;
        }
      }
      // Crash: only the lease store survives, and recovery knows the last committed version.
    }
  });

  it('reports a failed lease write and stops handing out versions beyond the lease', async () => {
    const runtime = new ManualRuntime();
    const lease = new RecordingLeaseStore();
    const failures: unknown[] = [];
    const sequencer = await Sequencer.start({ runtime, recoveredVersion: 0, lease, leaseVersions: 1_000, onFailure: (e) => failures.push(e) });
    lease.fail = true;
    runtime.nowMs += 0.8; // 800 versions: past half the lease, so an extension starts
    expect(sequencer.nextCommitVersion()).toBe(800);
    await expect(sequencer.leaseExtended()).rejects.toThrow('EIO');
    expect(failures).toHaveLength(1);
    expect(sequencer.nextCommitVersion()).toBe(801);
    runtime.nowMs += 1; // the clock passes the lease (1,000)
    expect(sequencer.nextCommitVersion()).toBeNull();
    expect(sequencer.lastCommitVersion).toBe(801);
  });

  it('reportCommitted accepts handed-out versions in order and asserts otherwise', async () => {
    const runtime = new ManualRuntime();
    const sequencer = await Sequencer.start({ runtime, recoveredVersion: 100, lease: new MemoryLeaseStore() });
    const a = await next(sequencer);
    const b = await next(sequencer);
    sequencer.reportCommitted(a);
    expect(sequencer.committedVersion).toBe(a);
    sequencer.reportCommitted(a);
    expect(sequencer.committedVersion).toBe(a);
    expect(() => sequencer.reportCommitted(b + 1)).toThrow(AssertionError);
    expect(sequencer.committedVersion).toBe(a);
    sequencer.reportCommitted(b);
    expect(sequencer.committedVersion).toBe(b);
    expect(() => sequencer.reportCommitted(a)).toThrow(AssertionError);
    expect(sequencer.committedVersion).toBe(b);
  });
});
