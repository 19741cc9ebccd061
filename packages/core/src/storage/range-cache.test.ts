// Proves the range cache's contract: a key is answered only inside a range recorded as complete;
// recorded ranges merge; writes change covered keys and leave uncovered ones unknown; snapshots
// taken by cursors do not see later changes; and eviction keeps the size bounded, dropping whole
// ranges. A randomized part checks it against a plain model of "engine state + covered ranges".
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../runtime/runtime.js';
import { RANGE_CACHE_UNORDERED_KEYS_MAX } from '../limits.js';
import { RangeCache } from './range-cache.js';

const v = (n: number): Uint8Array => new Uint8Array([n]);

describe('RangeCache', () => {
  it('answers only inside covered ranges, including keys known to be absent', () => {
    const cache = new RangeCache(1 << 20);
    cache.fill('b', 'd', [['b', v(1)], ['c', v(2)]]);
    expect(cache.get('a')).toEqual({ covered: false });
    expect(cache.get('b')).toEqual({ covered: true, value: v(1) });
    expect(cache.get('bb')).toEqual({ covered: true, value: null });
    expect(cache.get('d')).toEqual({ covered: false });
    expect(cache.coveredUntil('b')).toBe('d');
    expect(cache.coveredFrom('d')).toBe('b');
    expect(cache.coveredFrom('b')).toBeNull();
  });

  it('merges adjacent and overlapping ranges', () => {
    const cache = new RangeCache(1 << 20);
    cache.fill('a', 'c', []);
    cache.fill('c', 'e', []);
    cache.fill('d', 'g', []);
    expect(cache.coveredUntil('a')).toBe('g');
    expect(cache.coveredFrom('g')).toBe('a');
  });

  it('applies writes to covered keys only', () => {
    const cache = new RangeCache(1 << 20);
    cache.fill('a', 'c', [['a', v(1)]]);
    cache.write('a', null);
    cache.write('b', v(2));
    cache.write('x', v(3));
    expect(cache.get('a')).toEqual({ covered: true, value: null });
    expect(cache.get('b')).toEqual({ covered: true, value: v(2) });
    expect(cache.get('x')).toEqual({ covered: false });
  });

  it('gives cursors a snapshot that later writes do not change', async () => {
    const cache = new RangeCache(1 << 20);
    cache.fill('a', 'z', [['b', v(1)], ['c', v(2)], ['d', v(3)]]);
    const forward = cache.cursor('a', 'z', false);
    const reverse = cache.cursor('a', 'z', true);
    cache.write('c', null);
    cache.write('e', v(4));
    expect((await forward.next(10)).map(([key]) => key)).toEqual(['b', 'c', 'd']);
    expect((await reverse.next(2)).map(([key]) => key)).toEqual(['d', 'c']);
    expect((await reverse.next(2)).map(([key]) => key)).toEqual(['b']);
  });

  it('cursors return exactly the snapshot entries of [begin, end), in order, across calls and later changes (randomized)', async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`range-cache cursor SEED=${seed}`);
    const random = seededRandom(seed);
    const alphabet = ['\x00', 'a', 'b', 'c', '\xff'];
    const randomKey = (): string => {
      let key = '';
      for (let i = 1 + Math.floor(random() * 3); i > 0; i--) key += alphabet[Math.floor(random() * alphabet.length)];
      return key;
    };
    for (let round = 0; round < 300; round++) {
      const cache = new RangeCache(1 << 20);
      const model = new Map<string, Uint8Array>();
      for (let i = Math.floor(random() * 40); i > 0; i--) {
        const key = randomKey();
        model.set(key, v(i));
      }
      cache.fill('', '\xff\xff\xff\xff', [...model.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      let begin = random() < 0.2 ? '' : randomKey();
      let end = random() < 0.2 ? '\xff\xff\xff\xff' : randomKey();
      if (begin > end) [begin, end] = [end, begin];
      const reverse = random() < 0.5;
      const expected = [...model.keys()].filter((key) => key >= begin && key < end).sort();
      if (reverse) expected.reverse();
      const cursor = cache.cursor(begin, end, reverse);
      const seen: string[] = [];
      for (let calls = 0; calls < 100; calls++) {
        // Changes after the cursor was made are not seen by it.
        cache.write(randomKey(), random() < 0.5 ? null : v(200));
        const count = 1 + Math.floor(random() * 5);
        const batch = await cursor.next(count);
        expect(batch.length).toBeLessThanOrEqual(count);
        for (const [key, value] of batch) {
          expect(value).toEqual(model.get(key));
          seen.push(key);
        }
        if (batch.length < count) break;
      }
      expect(seen, `SEED=${seed} round ${round} [${begin}, ${end}) reverse ${reverse}`).toEqual(expected);
      expect(await cursor.next(5)).toEqual([]);
    }
  });

  it('a cursor sees every entry written into its range since the last cursor, however its keys were grouped for ordering (randomized)', async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`range-cache pending SEED=${seed}`);
    const random = seededRandom(seed);
    // Two letters and lengths up to 7: keys share their first bytes in a few dozen groups, so a
    // cursor puts in order only the groups its range may hold and leaves the others pending.
    const randomKey = (): string => {
      let key = '';
      for (let i = 1 + Math.floor(random() * 7); i > 0; i--) key += random() < 0.5 ? 'a' : 'b';
      return key;
    };
    for (let round = 0; round < 40; round++) {
      const cache = new RangeCache(1 << 24);
      const model = new Map<string, Uint8Array>();
      cache.fill('', '\xff', []);
      for (let step = 0; step < 200; step++) {
        for (let i = Math.floor(random() * 20); i > 0; i--) {
          const key = randomKey();
          const value = random() < 0.3 ? null : v(Math.floor(random() * 256));
          cache.write(key, value);
          if (value === null) model.delete(key);
          else model.set(key, value);
        }
        let begin = randomKey();
        let end = random() < 0.1 ? '\xff' : randomKey();
        if (begin > end) [begin, end] = [end, begin];
        const reverse = random() < 0.5;
        const expected = [...model.keys()].filter((key) => key >= begin && key < end).sort();
        if (reverse) expected.reverse();
        const got = await cache.cursor(begin, end, reverse).next(10_000);
        expect(got.map(([key]) => key), `SEED=${seed} round ${round} step ${step} [${begin}, ${end}) reverse ${reverse}`).toEqual(expected);
        for (const [key, value] of got) expect(value).toEqual(model.get(key));
      }
    }
  });

  it('stays within its byte budget by evicting whole ranges', () => {
    const cache = new RangeCache(2_000);
    for (let i = 0; i < 100; i++) {
      const key = `k${String(i).padStart(3, '0')}`;
      cache.fill(key, key + '\x00', [[key, new Uint8Array(20)]]);
      expect(cache.bytes).toBeLessThanOrEqual(2_000);
    }
    const covered = Array.from({ length: 100 }, (_, i) => cache.get(`k${String(i).padStart(3, '0')}`).covered);
    expect(covered.filter(Boolean).length).toBeGreaterThan(5);
    expect(covered.filter((c) => !c).length).toBeGreaterThan(5);
  });

  it('evicts a range larger than its budget from the start, keeping the rest covered and exact', () => {
    const cache = new RangeCache(10_000);
    const key = (i: number): string => `k${String(i).padStart(3, '0')}`;
    const entries = Array.from({ length: 100 }, (_, i): [string, Uint8Array] => [key(i), new Uint8Array(50).fill(i)]);
    cache.fill('k', 'l', entries);
    // Back to 7/8 of the budget, from the range's first key on.
    expect(cache.bytes).toBeLessThanOrEqual(8_750);
    const covered = entries.map(([k]) => cache.get(k).covered);
    const firstKept = covered.indexOf(true);
    expect(firstKept).toBeGreaterThan(0);
    expect(covered.slice(firstKept).every(Boolean)).toBe(true);
    for (const [k, value] of entries.slice(firstKept)) expect(cache.get(k)).toEqual({ covered: true, value });
    // The gap before the first key kept is no longer known, nor is anything below it.
    expect(cache.coveredUntil('k')).toBeNull();
    expect(cache.coveredUntil(key(firstKept))).toBe('l');
  });

  it('spares a range that reads keep using while reads of other keys fill the cache', () => {
    const cache = new RangeCache(5_000);
    const hot = Array.from({ length: 20 }, (_, i): [string, Uint8Array] => [`a${String(i).padStart(2, '0')}`, new Uint8Array(100).fill(i)]);
    cache.fill('a', 'b', hot);
    for (let i = 0; i < 30; i++) {
      expect(cache.coveredUntil('a')).toBe('b'); // a range read over the hot range
      const key = `x${String(i).padStart(2, '0')}`;
      cache.fill(key, key + '\x00', [[key, new Uint8Array(100)]]);
      expect(cache.bytes).toBeLessThanOrEqual(5_000);
    }
    for (const [key, value] of hot) expect(cache.get(key)).toEqual({ covered: true, value });
    expect(cache.get('x00')).toEqual({ covered: false });
    expect(cache.get('x29').covered).toBe(true);
  });

  it('adds new keys past its budget to a range that range reads use, evicting elsewhere', () => {
    // A queue's ready entries: read by range, written by flushes. Another range was only filled.
    const cache = new RangeCache(5_000);
    cache.fill('a', 'b', []);
    cache.fill('x', 'y', Array.from({ length: 20 }, (_, i): [string, Uint8Array] => [`x${String(i).padStart(2, '0')}`, new Uint8Array(100)]));
    for (let i = 0; i < 20; i++) {
      expect(cache.coveredUntil('a')).toBe('b');
      cache.write(`a${String(i).padStart(2, '0')}`, new Uint8Array(100).fill(i));
      expect(cache.bytes).toBeLessThanOrEqual(5_000);
    }
    for (let i = 0; i < 20; i++) expect(cache.get(`a${String(i).padStart(2, '0')}`)).toEqual({ covered: true, value: new Uint8Array(100).fill(i) });
    expect(cache.get('x00')).toEqual({ covered: false });
  });

  it('stays within its byte budget when flushes write new keys into a covered range', () => {
    // New records appended after the last key a range read reached: every flushed key lands in the
    // covered range, which takes them in until an eighth of a budget of new keys has gone in since
    // that read.
    const cache = new RangeCache(10_000);
    const key = (i: number): string => `k${String(i).padStart(4, '0')}`;
    cache.fill('k', 'l', []);
    let last = -1;
    for (let i = 0; i < 1_000; i++) {
      cache.write(key(i), new Uint8Array(50));
      expect(cache.bytes).toBeLessThanOrEqual(10_000);
      if (cache.get(key(i)).covered) last = i;
    }
    // The newest keys taken in are there; the range ends where the first key refused would have
    // gone, and what lies past it is not known any more.
    expect(last).toBeGreaterThan(0);
    expect(cache.get(key(last))).toEqual({ covered: true, value: new Uint8Array(50) });
    expect(cache.get(key(999))).toEqual({ covered: false });
    expect(cache.coveredUntil(key(last))).toBe(key(last + 1));
    expect(cache.get(key(last + 1))).toEqual({ covered: false });
  });

  it('stops covering the gap a new key lands in where no range read went lately, and drops nothing', () => {
    const cache = new RangeCache(1_000);
    const value = new Uint8Array(100);
    // Point reads learned [b, e) (a missing key and the gap after it, up to the next key).
    cache.fill('b', 'e', [['c', value], ['d', value]], false);
    const bytes = cache.bytes;
    cache.write('b', v(1));
    expect(cache.get('b')).toEqual({ covered: false });
    expect(cache.get('bb')).toEqual({ covered: false });
    expect(cache.get('c')).toEqual({ covered: true, value });
    expect(cache.get('cc')).toEqual({ covered: true, value: null });
    expect(cache.get('d')).toEqual({ covered: true, value });
    expect(cache.bytes).toBe(bytes);
    expect(cache.coveredUntil('c')).toBe('e');
  });

  it('adds new keys only to ranges range reads used since it last took in an eighth of its budget', () => {
    const cache = new RangeCache(10_000);
    const value = v(1);
    cache.fill('a', 'b', [], false);
    // No range read ever used [a, b): the key is not added and the gap it lands in is forgotten.
    cache.write('a1', value);
    expect(cache.get('a1')).toEqual({ covered: false });
    expect(cache.coveredUntil('a')).toBe('a1');
    // That read counts as recent until the cache has taken in an eighth of its budget in new keys.
    cache.write('a0', value);
    expect(cache.get('a0')).toEqual({ covered: true, value });
    cache.fill('m', 'n', []);
    for (let i = 0; i < 200; i++) {
      expect(cache.coveredFrom('n')).not.toBeNull(); // a range read over the newest keys
      cache.write(`m${String(i).padStart(3, '0')}`, value);
    }
    expect(cache.get('m199')).toEqual({ covered: true, value });
    cache.write('a00', value);
    expect(cache.get('a00')).toEqual({ covered: false });
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
  });

  it('lets one range read admit an eighth of its budget in new keys', () => {
    // Records appended after the last key of a range read once: the cache takes in what one eviction
    // pass makes room for, then stops covering the rest.
    const cache = new RangeCache(8_000);
    const key = (i: number): string => `k${String(i).padStart(3, '0')}`;
    cache.fill('k', 'l', []);
    let admitted = 0;
    while (admitted < 100) {
      cache.write(key(admitted), v(1));
      if (!cache.get(key(admitted)).covered) break;
      admitted++;
    }
    const entryBytes = 4 + 1 + 64; // key, value and the cache's overhead per entry
    expect(admitted).toBe(Math.ceil(8_000 / 8 / entryBytes));
    expect(cache.get(key(0))).toEqual({ covered: true, value: v(1) });
    // Refused until a range read uses the range again (the refused key's gap, up to k001, is no
    // longer covered).
    cache.write('k000a', v(1));
    expect(cache.get('k000a')).toEqual({ covered: false });
    expect(cache.coveredFrom(key(admitted))).toBe(key(1));
    cache.write('k001a', v(1));
    expect(cache.get('k001a')).toEqual({ covered: true, value: v(1) });
  });

  it('counts a range merged from a read part and a gap a point read learned as unread', () => {
    const cache = new RangeCache(10_000);
    const value = v(1);
    cache.fill('m', 'n', []); // a range read: new keys in [m, n) would be added
    // A point read of a missing key just below learns the gap up to the next key: the two merge.
    cache.fill('l', 'm\x00', [], false);
    // The merged range is not read lately on the strength of [m, n)'s read...
    cache.write('m5', value);
    expect(cache.get('m5')).toEqual({ covered: false });
    expect(cache.get('l5')).toEqual({ covered: true, value: null });
    // ...until a range read uses it again (one range from l on).
    expect(cache.coveredUntil('l')).toBe('m5');
    cache.write('m2', value);
    expect(cache.get('m2')).toEqual({ covered: true, value });
  });

  it('orders the keys it adds in bounded steps, not all at the first eviction', async () => {
    // Within the budget nothing needs key order until a range read or an eviction comes: without
    // the bound, the first of them would order every key added so far in one go.
    const cache = new RangeCache(1 << 30);
    cache.fill('k', 'l', []);
    const key = (i: number): string => `k${String(i).padStart(6, '0')}`;
    for (let i = 0; i < 3 * RANGE_CACHE_UNORDERED_KEYS_MAX; i++) cache.write(key(i), v(1));
    expect(cache.unorderedKeys).toBeLessThan(RANGE_CACHE_UNORDERED_KEYS_MAX);
    const all = await cache.cursor('k', 'l', false).next(1 << 20);
    expect(all.length).toBe(3 * RANGE_CACHE_UNORDERED_KEYS_MAX);
    expect(cache.unorderedKeys).toBe(0);
  });

  it('cursors over covered ranges agree with the model as entries are written, filled and evicted (randomized)', async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`range-cache cursors SEED=${seed}`);
    const random = seededRandom(seed);
    const keys = Array.from({ length: 40 }, (_, i) => String.fromCharCode(97 + (i % 26)) + (i >= 26 ? 'z' : ''));
    const engine = new Map<string, Uint8Array>();
    const sortedEntries = (begin: string, end: string): [string, Uint8Array][] =>
      [...engine].filter(([k]) => k >= begin && k < end).sort(([a], [b]) => (a < b ? -1 : 1));
    let cursorsChecked = 0;
    for (let round = 0; round < 20; round++) {
      const cache = new RangeCache(random() < 0.5 ? 1 << 20 : 300 + Math.floor(random() * 1000));
      for (let step = 0; step < 400; step++) {
        const choice = random();
        const key = keys[Math.floor(random() * keys.length)]!;
        if (choice < 0.45) {
          const value = random() < 0.3 ? null : v(Math.floor(random() * 256));
          if (value === null) engine.delete(key);
          else engine.set(key, value);
          cache.write(key, value);
        } else if (choice < 0.7) {
          const other = keys[Math.floor(random() * keys.length)]!;
          const [begin, end] = key < other ? [key, other] : [other, key + '\x00'];
          cache.fill(begin, end, sortedEntries(begin, end));
        } else {
          // A cursor over a covered range returns the engine's entries as of its creation, even when
          // writes come between its calls.
          const until = cache.coveredUntil(key);
          if (until === null) continue;
          const other = keys[Math.floor(random() * keys.length)]! + '\x00';
          const end = other > key && other < until && random() < 0.5 ? other : until;
          const reverse = random() < 0.5;
          const expected = sortedEntries(key, end);
          if (reverse) expected.reverse();
          const cursor = cache.cursor(key, end, reverse);
          const seen: [string, Uint8Array][] = [];
          for (;;) {
            if (random() < 0.5) {
              const written = keys[Math.floor(random() * keys.length)]!;
              const value = random() < 0.3 ? null : v(200 + Math.floor(random() * 50));
              if (value === null) engine.delete(written);
              else engine.set(written, value);
              cache.write(written, value);
            }
            const batch = await cursor.next(1 + Math.floor(random() * 3));
            if (batch.length === 0) break;
            seen.push(...batch);
          }
          expect(seen, `SEED=${seed} round ${round} step ${step}: cursor [${key}, ${end}) reverse ${reverse}`).toEqual(expected);
          cursorsChecked++;
        }
        const probe = keys[Math.floor(random() * keys.length)]!;
        const known = cache.get(probe);
        if (known.covered) expect(known.value, `SEED=${seed} round ${round} step ${step} key ${probe}`).toEqual(engine.get(probe) ?? null);
      }
      engine.clear();
    }
    expect(cursorsChecked).toBeGreaterThan(100);
  });

  it('agrees with a model of engine state and covered ranges (randomized)', () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`range-cache SEED=${seed}`);
    const random = seededRandom(seed);
    const keys = Array.from({ length: 30 }, (_, i) => String.fromCharCode(97 + (i % 26)) + (i >= 26 ? 'z' : ''));
    const engine = new Map<string, Uint8Array>();
    const budget = random() < 0.5 ? 1 << 20 : 600;
    const cache = new RangeCache(budget);
    for (let step = 0; step < 3_000; step++) {
      expect(cache.bytes, `step ${step}`).toBeLessThanOrEqual(budget);
      const choice = random();
      const key = keys[Math.floor(random() * keys.length)]!;
      if (choice < 0.3) {
        // A flush writes the engine and the cache together.
        const value = random() < 0.3 ? null : v(Math.floor(random() * 256));
        if (value === null) engine.delete(key);
        else engine.set(key, value);
        cache.write(key, value);
      } else if (choice < 0.6) {
        // A read of [begin, end) from the engine fills the cache.
        const other = keys[Math.floor(random() * keys.length)]!;
        const [begin, end] = key < other ? [key, other] : [other, key + '\x00'];
        const entries = [...engine].filter(([k]) => k >= begin && k < end).sort(([a], [b]) => (a < b ? -1 : 1));
        cache.fill(begin, end, entries);
      } else {
        const known = cache.get(key);
        if (known.covered) expect(known.value, `step ${step} key ${key}`).toEqual(engine.get(key) ?? null);
      }
    }
  });
});
