// Proves that reads served from the storage server's cache of durable data stay exact: after a
// range read fills the cache, later flushes that set, clear and clear ranges of durable keys are
// seen by cached point and range reads, forward and reverse, and match an uncached server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MutationType, type Mutation } from '../api/mutation.js';
import { nodeRuntime } from '../runtime/runtime.js';
import { LevelEngine } from '../storage/level-engine.js';
import { MemoryEngine, type EngineCursor, type StorageEngine } from '../storage/storage-engine.js';
import { StorageServer } from './storage-server.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

const set = (key: string, value: number): Mutation => ({ type: MutationType.set, key, param: new Uint8Array([value]) });
const clear = (key: string): Mutation => ({ type: MutationType.clear, key, param: null });
const clearRange = (begin: string, end: string): Mutation => ({ type: MutationType.clearRange, key: begin, param: end });

// Values compare by their bytes: the engine hands out Buffers, the cache the arrays it was given.
const bytes = (value: Uint8Array | null): number[] | null => (value === null ? null : [...value]);
const plain = (result: { entries: [string, Uint8Array][]; more: boolean }): unknown => ({
  more: result.more,
  entries: result.entries.map(([key, value]) => [key, bytes(value)]),
});

async function server(cacheBytes: number): Promise<StorageServer> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-cache-'));
  directories.push(directory);
  return new StorageServer({ runtime: nodeRuntime, engine: await LevelEngine.open(directory), windowVersions: 1, cacheBytes, durabilityIntervalMs: 60_000 });
}

describe('the storage server cache of durable data', () => {
  it('serves cached ranges and points that follow every flush', async () => {
    const cached = await server(1 << 20);
    const uncached = await server(0);
    let version = 0;
    const apply = async (mutations: Mutation[]): Promise<void> => {
      version += 10;
      for (const s of [cached, uncached]) {
        s.apply({ version, mutations });
        await s.makeDurable(version);
      }
    };
    const same = async (): Promise<void> => {
      for (const [begin, end, limit, reverse] of [
        ['a', 'z', 100, false],
        ['a', 'z', 100, true],
        ['c', 'm', 3, false],
        ['c', 'm', 3, true],
      ] as const) {
        const [x, y] = await Promise.all([cached.getRange(begin, end, version, limit, reverse), uncached.getRange(begin, end, version, limit, reverse)]);
        expect(plain(x), `${begin}..${end} limit ${limit}${reverse ? ' reverse' : ''} at ${version}`).toEqual(plain(y));
      }
      for (const key of ['a', 'c', 'd', 'f', 'k', 'q']) expect(bytes(await cached.get(key, version))).toEqual(bytes(await uncached.get(key, version)));
    };
    await apply(['a', 'c', 'e', 'g', 'i', 'k', 'm', 'o', 'q'].map((key, i) => set(key, i)));
    await same(); // fills the cache from the engine
    await same(); // answered from the cache
    await apply([set('d', 40), clear('e'), set('c', 41)]);
    await same();
    await apply([clearRange('f', 'l'), set('h', 42)]);
    await same();
    await apply([clearRange('a', 'z')]);
    await same();
    await cached.close();
    await uncached.close();
  });

  it('answers a cached range read that started before a flush with the state at its version', async () => {
    const s = await server(1 << 20);
    s.apply({ version: 10, mutations: ['a', 'b', 'c'].map((key, i) => set(key, i)) });
    await s.makeDurable(10);
    await s.getRange('a', 'z', 10, 100, false); // fill the cache
    s.apply({ version: 20, mutations: [clear('b'), set('d', 9)] });
    const during = s.getRange('a', 'z', 20, 100, false);
    const flush = s.makeDurable(20);
    const [result] = await Promise.all([during, flush]);
    expect(result.entries.map(([key]) => key)).toEqual(['a', 'c', 'd']);
    expect((await s.getRange('a', 'z', 20, 100, false)).entries.map(([key]) => key)).toEqual(['a', 'c', 'd']);
    await s.close();
  });

  it('learns from a point read of a missing key that the gap up to the next key is empty', async () => {
    const engine = new CountingEngine();
    const s = new StorageServer({ runtime: nodeRuntime, engine, windowVersions: 1, cacheBytes: 1 << 20, durabilityIntervalMs: 60_000 });
    s.apply({ version: 10, mutations: [set('a', 1), set('m', 2)] });
    await s.makeDurable(10);
    expect(await s.get('c', 10)).toBeNull();
    expect(engine.reads).toBe(2); // the key, then the entry after it
    // Keys in the gap [c, m], and m itself, come from the cache.
    expect(await s.get('d', 10)).toBeNull();
    expect(await s.get('l', 10)).toBeNull();
    expect(bytes(await s.get('m', 10))).toEqual([2]);
    expect(engine.reads).toBe(2);
    // Past the entry the engine returned, the cache knows nothing.
    expect(await s.get('n', 10)).toBeNull();
    expect(engine.reads).toBe(4);
    // A key later written into a gap only point reads learned does not join the cache (nothing says
    // anyone will read it): the cache stops covering from it up to the next cached entry, m.
    s.apply({ version: 20, mutations: [set('f', 3)] });
    s.apply({ version: 30, mutations: [] });
    await s.makeDurable(20);
    expect(await s.get('e', 30)).toBeNull();
    expect(engine.reads).toBe(4);
    expect(bytes(await s.get('f', 30))).toEqual([3]);
    expect(engine.reads).toBe(5);
    expect(bytes(await s.get('m', 30))).toEqual([2]);
    expect(engine.reads).toBe(5);
    await s.close();
  });

  it('writes no delete for a key set and cleared within the window where the engine holds nothing', async () => {
    const engine = new CountingEngine();
    const s = new StorageServer({ runtime: nodeRuntime, engine, windowVersions: 1, cacheBytes: 1 << 20, durabilityIntervalMs: 60_000 });
    s.apply({ version: 10, mutations: [set('a', 1), set('z', 2)] });
    await s.makeDurable(10);
    await s.getRange('a', '{', 10, 100, false); // the cache now covers a..z
    s.apply({ version: 20, mutations: [set('m', 3), set('n', 4)] });
    s.apply({ version: 30, mutations: [clear('m'), clear('a')] });
    await s.makeDurable(30);
    // 'm' came and went: nothing to write. 'a' was in the engine: its delete is written.
    expect(engine.committed.map(([key, value]) => [key, value === null ? null : [...value]])).toEqual([
      ['n', [4]],
      ['a', null],
    ]);
    expect((await s.getRange('a', '{', 30, 100, false)).entries.map(([key]) => key)).toEqual(['n', 'z']);
    await s.close();
  });

  it('lets a point read of a key the committing flush does not write go ahead of the commit', async () => {
    const engine = new CountingEngine();
    const s = new StorageServer({ runtime: nodeRuntime, engine, windowVersions: 1, cacheBytes: 1 << 20, durabilityIntervalMs: 60_000 });
    s.apply({ version: 10, mutations: [set('a', 1), set('b', 2)] });
    await s.makeDurable(10);
    // 'b' gets an atomic add, which a reader can only apply to the engine's value of 'b'.
    s.apply({ version: 20, mutations: [{ type: MutationType.add, key: 'b', param: new Uint8Array([5]) }] });
    s.apply({ version: 30, mutations: [] });
    engine.holdCommits();
    const flush = s.makeDurable(20);
    await engine.commitStarted;
    let bSettled = false;
    const a = s.get('a', 30);
    const b = Promise.resolve(s.get('b', 30)).then((value) => {
      bSettled = true;
      return value;
    });
    // 'a' is not in the commit: answered while the commit is still held.
    expect(bytes(await a)).toEqual([1]);
    expect(bSettled).toBe(false);
    engine.releaseCommits();
    await flush;
    expect(bytes(await b)).toEqual([7]);
    await s.close();
  });

  // While a flush commits, a point read of a key it does not write goes ahead and may see the
  // engine's old state or its new one, and its answer may arrive after the flush has ended (and
  // updated the cache): the gap it learns must hold in both states.
  for (const seen of ['old', 'new'] as const) {
    it(`learns the gap after a missing key while a flush commits, up to the flush's first key in it (the read sees the ${seen} state)`, async () => {
      const engine = new CountingEngine();
      const s = new StorageServer({ runtime: nodeRuntime, engine, windowVersions: 1, cacheBytes: 1 << 20, durabilityIntervalMs: 60_000 });
      s.apply({ version: 10, mutations: [set('a', 1), set('z', 2)] });
      await s.makeDurable(10);
      s.apply({ version: 20, mutations: [set('m', 3), set('x', 4)] });
      s.apply({ version: 30, mutations: [] });
      engine.holdCommits(seen === 'new');
      const flush = s.makeDurable(20);
      await engine.commitStarted;
      const reads = engine.reads;
      engine.holdCursors();
      const c = s.get('c', 30);
      await engine.cursorHeld; // the entry after c is read (z in the old state, m in the new one)
      engine.releaseCommits();
      await flush;
      engine.releaseCursors();
      expect(await c).toBeNull();
      expect(engine.reads).toBe(reads + 2); // the key, then the entry after it
      // [c, m) is empty in both states: answered from the cache.
      expect(await s.get('d', 30)).toBeNull();
      expect(await s.get('l', 30)).toBeNull();
      expect(engine.reads).toBe(reads + 2);
      s.apply({ version: 40, mutations: [] });
      await s.makeDurable(40); // the window no longer holds m or x
      // The keys the flush wrote, and those past them, are read exact.
      expect(bytes(await s.get('m', 40))).toEqual([3]);
      expect(await s.get('n', 40)).toBeNull();
      expect(bytes(await s.get('x', 40))).toEqual([4]);
      expect(bytes(await s.get('z', 40))).toEqual([2]);
      expect(engine.reads).toBeGreaterThan(reads + 2);
      await s.close();
    });
  }
});

/** A MemoryEngine that counts the reads it serves and can hold its commits until released. */
class CountingEngine implements StorageEngine {
  readonly #inner = new MemoryEngine();
  reads = 0;
  #held: Promise<void> | null = null;
  #release: () => void = () => {};
  #started: () => void = () => {};
  commitStarted: Promise<void> = Promise.resolve();

  get durableVersion(): number {
    return this.#inner.durableVersion;
  }

  get(key: string): Promise<Uint8Array | null> {
    this.reads++;
    return this.#inner.get(key);
  }

  cursor(begin: string, end: string, reverse: boolean): EngineCursor {
    this.reads++;
    const inner = this.#inner.cursor(begin, end, reverse);
    const held = this.#cursorsHeld;
    if (held === null) return inner;
    // Answers from the state the cursor was made in, once released.
    return {
      next: async (count) => {
        const answer = await inner.next(count);
        this.#cursorStarted();
        await held;
        return answer;
      },
      close: () => inner.close(),
    };
  }

  #cursorsHeld: Promise<void> | null = null;
  #releaseCursors: () => void = () => {};
  #cursorStarted: () => void = () => {};
  cursorHeld: Promise<void> = Promise.resolve();

  /** Holds the answers of the next cursors' reads until {@link CountingEngine.releaseCursors}. */
  holdCursors(): void {
    this.#cursorsHeld = new Promise((resolve) => (this.#releaseCursors = resolve));
    this.cursorHeld = new Promise((resolve) => (this.#cursorStarted = resolve));
  }

  releaseCursors(): void {
    this.#releaseCursors();
    this.#cursorsHeld = null;
  }

  /**
   * Holds the next commits until {@link CountingEngine.releaseCommits}: before they change anything,
   * or with `applied`, after (their writes already visible to reads, the commit not yet returned).
   */
  holdCommits(applied = false): void {
    this.#held = new Promise((resolve) => (this.#release = resolve));
    this.commitStarted = new Promise((resolve) => (this.#started = resolve));
    this.#applyBeforeHold = applied;
  }

  #applyBeforeHold = false;

  releaseCommits(): void {
    this.#release();
    this.#held = null;
  }

  /** The entries of the last commit. */
  committed: [string, Uint8Array | null][] = [];

  async commit(entries: readonly [string, Uint8Array | null][], durableVersion: number): Promise<void> {
    this.committed = [...entries];
    if (this.#held === null) return this.#inner.commit(entries, durableVersion);
    if (this.#applyBeforeHold) await this.#inner.commit(entries, durableVersion);
    this.#started();
    await this.#held;
    if (!this.#applyBeforeHold) await this.#inner.commit(entries, durableVersion);
  }

  sync(): Promise<void> {
    return this.#inner.sync();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
