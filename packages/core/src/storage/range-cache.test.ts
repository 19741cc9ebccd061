// Proves the range cache's contract: a key is answered only inside a range recorded as complete;
// recorded ranges merge; writes change covered keys and leave uncovered ones unknown; snapshots
// taken by cursors do not see later changes; and eviction keeps the size bounded, dropping whole
// ranges. A randomized part checks it against a plain model of "engine state + covered ranges".
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../runtime/runtime.js';
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

  it('agrees with a model of engine state and covered ranges (randomized)', () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`range-cache SEED=${seed}`);
    const random = seededRandom(seed);
    const keys = Array.from({ length: 30 }, (_, i) => String.fromCharCode(97 + (i % 26)) + (i >= 26 ? 'z' : ''));
    const engine = new Map<string, Uint8Array>();
    const cache = new RangeCache(random() < 0.5 ? 1 << 20 : 600);
    for (let step = 0; step < 3_000; step++) {
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
