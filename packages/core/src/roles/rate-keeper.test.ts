import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { open } from '../api/database.js';
import { ManualRuntime } from '../runtime/manual-runtime.js';
import type { StorageEngine } from '../storage/storage-engine.js';
import { RateKeeper } from './rate-keeper.js';

const TARGET_MS = 1_000;
const TARGET = 1_000_000; // versions: a millisecond is a thousand versions
const WINDOW = 5_000_000;

// Open-loop demand: every millisecond `perMs` transactions ask to start. The storage server's
// newest version moves 1,000 versions a millisecond and its durable version `kept` times as fast
// (starting on time, at the window's oldest version). Counts the starts and remembers the order in
// which waiting transactions started.
class Demand {
  readonly runtime = new ManualRuntime();
  readonly storage = {
    version: WINDOW,
    durableVersion: 0,
    windowBytes: 0,
    get durabilityLag(): number {
      return this.version - WINDOW - this.durableVersion;
    },
  };
  kept = 1;
  readonly keeper = new RateKeeper({ runtime: this.runtime, storage: this.storage, lagTargetMs: TARGET_MS, intervalMs: 250 });
  started = 0;
  readonly order: number[] = [];
  #next = 0;

  get lag(): number {
    return this.storage.durabilityLag;
  }

  async run(ms: number, perMs: number): Promise<number> {
    const before = this.started;
    for (let t = 0; t < ms; t++) {
      this.storage.version += 1_000;
      this.storage.durableVersion = Math.min(this.storage.version - WINDOW, this.storage.durableVersion + 1_000 * this.kept);
      this.runtime.advance(1);
      for (let i = 0; i < perMs; i++) {
        const id = this.#next++;
        const waiting = this.keeper.admit();
        if (waiting === null) this.started++;
        else
          waiting.then(
            () => {
              this.started++;
              this.order.push(id);
            },
            () => {},
          );
      }
      await Promise.resolve();
      await Promise.resolve();
    }
    return this.started - before;
  }
}

describe('RateKeeper', () => {
  it('starts every transaction at once while durability keeps up with the window', async () => {
    const demand = new Demand();
    expect(await demand.run(1_000, 10)).toBe(10_000);
    expect(demand.keeper.limit).toBe(Infinity);
    demand.keeper.close();
  });

  it('past the lag target starts fewer each step, none at twice it, then recovers in order', async () => {
    const demand = new Demand();
    await demand.run(250, 10); // 10,000 a second
    // The engine keeps up with half the versions: the lag grows half a millisecond a millisecond.
    demand.kept = 0.5;
    while (demand.lag + 125_000 <= TARGET) expect(await demand.run(250, 10)).toBe(2_500);
    while (demand.lag <= TARGET) await demand.run(250, 10);
    const steps: number[] = [];
    while (demand.lag < 2 * TARGET) steps.push(await demand.run(250, 10));
    // From the second step past the target on, each starts half of the one before (what the engine
    // kept up with), until none start at twice the target.
    expect(steps.length).toBeGreaterThan(3);
    for (let i = 2; i < steps.length; i++) expect(steps[i]).toBeLessThanOrEqual(Math.ceil(steps[i - 1]! / 2) + 1);
    await demand.run(250, 10);
    expect(demand.keeper.limit).toBe(0);
    expect(await demand.run(500, 10)).toBe(0);
    // The engine catches up: back under the target the rate climbs again from a few a second,
    // waiting transactions first, in the order they asked; under half the target the limit is lifted.
    demand.kept = 1.5;
    while (demand.lag > TARGET) await demand.run(250, 0);
    const queued = demand.keeper.waiting;
    expect(queued).toBeGreaterThan(0);
    const recovering = await demand.run(250, 0);
    expect(recovering).toBeLessThan(queued);
    while (demand.lag > TARGET / 2) await demand.run(250, 0);
    await demand.run(251, 0);
    expect(demand.keeper.limit).toBe(Infinity);
    expect(demand.keeper.waiting).toBe(0);
    expect(demand.order).toEqual([...demand.order].sort((a, b) => a - b));
    demand.keeper.close();
  });

  it('fails waiting transactions with database_closed when closed', async () => {
    const demand = new Demand();
    demand.kept = 0;
    while (demand.keeper.limit !== 0) await demand.run(250, 1);
    const waiting = demand.keeper.admit();
    expect(waiting).not.toBeNull();
    demand.keeper.close();
    await expect(waiting).rejects.toMatchObject({ code: 'database_closed' });
    await expect(demand.keeper.admit()).rejects.toMatchObject({ code: 'database_closed' });
  });
});

describe('the rate keeper in a database whose engine cannot keep up', () => {
  const directories: string[] = [];
  afterEach(async () => {
    for (const directory of directories.splice(0)) await rm(directory, { recursive: true, force: true });
  });

  // Four writers of 100 keys a transaction for `seconds` against an engine whose every commit takes
  // 10 ms (at most ~100,000 keys a second reach it, below what the writers commit into the
  // window); returns the most keys ever committed but not yet in the engine.
  async function load(bytesTarget: number, seconds: number): Promise<number> {
    const directory = await mkdtemp(path.join(os.tmpdir(), 'strata-rate-keeper-'));
    directories.push(directory);
    let engineKeys = 0;
    const slow = (engine: StorageEngine): StorageEngine => ({
      get durableVersion() {
        return engine.durableVersion;
      },
      get: (key) => engine.get(key),
      cursor: (begin, end, reverse) => engine.cursor(begin, end, reverse),
      async commit(entries, version) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        await engine.commit(entries, version);
        engineKeys += entries.length;
      },
      sync: () => engine.sync(),
      close: () => engine.close(),
    });
    const db = await open({ path: directory, mvccWindowMs: 200, testing: { wrapEngine: slow, rateKeeperBytesTarget: bytesTarget } });
    const value = new Uint8Array(100);
    const key = (writer: number, n: number, i: number): Uint8Array => new TextEncoder().encode(`w${writer}/${String(n).padStart(6, '0')}/${String(i).padStart(3, '0')}`);
    let committed = 0;
    let backlog = 0;
    const stopAt = performance.now() + seconds * 1_000;
    await Promise.all(
      Array.from({ length: 4 }, async (_, writer) => {
        for (let n = 0; performance.now() < stopAt; n++) {
          await db.transact((tx) => {
            for (let i = 0; i < 100; i++) tx.set(key(writer, n, i), value);
          });
          committed += 100;
          backlog = Math.max(backlog, committed - engineKeys);
        }
      }),
    );
    // Nothing was lost: every committed transaction's keys are there.
    const rows = await db.transact((tx) => tx.getRangeAll(new TextEncoder().encode('w'), new TextEncoder().encode('x'), { limit: committed + 1 }));
    expect(rows.length).toBe(committed);
    await db.close();
    return backlog;
  }

  it('holds writers back once the engine falls behind, keeping the window within twice its bytes target, and loses nothing', async () => {
    const bytesTarget = 1024 * 1024;
    // Each key holds 13 + 100 bytes and the window counts 100 more for it; the writers' four
    // transactions in flight may go past the bound when it is reached.
    const bound = (2 * bytesTarget) / 213 + 4 * 100;
    const backlog = await load(bytesTarget, 1.5);
    expect(backlog).toBeLessThanOrEqual(bound);
  }, 60_000);
});
