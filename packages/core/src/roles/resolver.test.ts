// Proves the resolver's invariants: a transaction is rejected as a conflict exactly when a write
// committed after its read version (or by an earlier accepted transaction of its batch) intersects
// one of its read conflict ranges, as too old exactly when its read version is below the window,
// and that pruning old history never changes an answer (checked against a brute-force reference).
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../runtime/runtime.js';
import { AssertionError } from '../util/assert.js';
import type { KeyString } from '../util/bytes.js';
import { Resolver, type Resolution, type ResolveTransaction } from './resolver.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

const point = (key: KeyString): KeyString[] => [key, key + '\x00'];
const tx = (readVersion: number | null, readRanges: KeyString[], writeRanges: KeyString[]): ResolveTransaction => ({
  readVersion,
  readRanges,
  writeRanges,
});

/** Brute force: every write range ever committed, with its version; nothing is ever pruned. */
class ReferenceResolver {
  readonly writes: { begin: KeyString; end: KeyString; version: number }[] = [];
  constructor(readonly windowVersions: number) {}

  resolve(version: number, transactions: readonly ResolveTransaction[]): Resolution[] {
    return transactions.map((t) => {
      if (t.readVersion !== null) {
        if (t.readVersion < version - this.windowVersions) return 'too_old';
        for (let i = this.writes.length - 1; i >= 0 && this.writes[i]!.version > t.readVersion; i--) {
          const w = this.writes[i]!;
          for (let j = 0; j < t.readRanges.length; j += 2) {
            const begin = t.readRanges[j]!;
            const end = t.readRanges[j + 1]!;
            if (begin < w.end && w.begin < end) return 'conflict';
          }
        }
      }
      for (let j = 0; j < t.writeRanges.length; j += 2) {
        const begin = t.writeRanges[j]!;
        const end = t.writeRanges[j + 1]!;
        if (begin < end) this.writes.push({ begin, end, version });
      }
      return 'committed';
    });
  }
}

// Transactions send most point ranges [k, k\0) as conflict points (readPoints, writePoints); the
// resolver must answer the same either way. This moves each point range of `t` to its points with
// probability one half (the reference always sees ranges).
const splitRandom = seededRandom(SEED ^ 0x5bd1e995);
function withPoints(t: ResolveTransaction): ResolveTransaction {
  const split = (ranges: readonly KeyString[]): [KeyString[], KeyString[]] => {
    const kept: KeyString[] = [];
    const points: KeyString[] = [];
    for (let j = 0; j < ranges.length; j += 2) {
      const [begin, end] = [ranges[j]!, ranges[j + 1]!];
      if (end === begin + '\x00' && splitRandom() < 0.5) points.push(begin);
      else kept.push(begin, end);
    }
    return [kept, points];
  };
  const [readRanges, readPoints] = split(t.readRanges);
  const [writeRanges, writePoints] = split(t.writeRanges);
  return { readVersion: t.readVersion, readRanges, readPoints, writeRanges, writePoints };
}

// Resolves a batch with both resolvers; throws (naming `where`, the batch and both answers) when they differ.
function resolveBoth(resolver: Resolver, reference: ReferenceResolver, version: number, batch: ResolveTransaction[], where: string): Resolution[] {
  const expected = reference.resolve(version, batch);
  const actual = resolver.resolve(version, batch.map(withPoints));
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`${where} batch at version ${version}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}; transactions ${JSON.stringify(batch)}`);
  }
  return actual;
}

describe('Resolver', () => {
  it('conflict points stand for their ranges, against points and ranges alike', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    resolver.resolve(10, [{ readVersion: null, readRanges: [], writeRanges: [], writePoints: ['a', 'm'] }]);
    resolver.resolve(11, [{ readVersion: null, readRanges: [], writeRanges: ['p', 'r'] }]);
    const read = (readVersion: number, readRanges: KeyString[], readPoints: KeyString[]): Resolution =>
      resolver.resolve(++version, [{ readVersion, readRanges, readPoints, writeRanges: [] }])[0]!;
    let version = 20;
    expect(read(9, [], ['a'])).toBe('conflict');
    expect(read(10, [], ['a', 'm'])).toBe('committed');
    expect(read(9, ['l', 'n'], [])).toBe('conflict'); // a range read over a point write
    expect(read(9, [], ['a\x00', 'b', 'l'])).toBe('committed'); // keys next to the points
    expect(read(10, [], ['q'])).toBe('conflict'); // a point read inside a range write
    expect(read(11, [], ['q'])).toBe('committed');
    expect(read(10, [], ['r'])).toBe('committed'); // the range's end is outside it
  });

  it('a point write conflicts with a point read only when written after the read version', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    expect(resolver.resolve(10, [tx(null, [], point('k'))])).toEqual(['committed']);
    expect(resolver.resolve(11, [tx(9, point('k'), [])])).toEqual(['conflict']);
    expect(resolver.resolve(12, [tx(10, point('k'), [])])).toEqual(['committed']);
    expect(resolver.resolve(13, [tx(11, point('k'), [])])).toEqual(['committed']);
    // Neighbouring keys are different keys.
    expect(resolver.resolve(14, [tx(9, point('k\x00'), []), tx(9, point('j\xff'), []), tx(9, point('kk'), [])])).toEqual([
      'committed',
      'committed',
      'committed',
    ]);
  });

  it('a range read conflicts with point writes inside [begin, end) and not outside', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    for (const [i, key] of ['b', 'c', 'c\xff\xff', 'a\xff', 'd', 'd\x00'].entries()) {
      resolver.resolve(100 + i, [tx(null, [], point(key))]);
    }
    // Each write above is at version 100 + i: read at 99 sees all of them as newer.
    const cases: [KeyString, KeyString, Resolution][] = [
      ['b', 'd', 'conflict'], // begin is inclusive
      ['b\x00', 'c', 'committed'], // strictly between b and c nothing was written
      ['c\x00', 'd', 'conflict'], // c\xff\xff is inside
      ['c\xff\xff\x00', 'd', 'committed'], // end is exclusive
      ['a', 'a\xff', 'committed'],
      ['a', 'a\xff\x00', 'conflict'],
      ['', 'b', 'conflict'], // a\xff
      ['d\x00\x00', '\xff', 'committed'],
      ['d', 'd\x00', 'conflict'],
    ];
    let version = 200;
    for (const [begin, end, expected] of cases) {
      expect(resolver.resolve(++version, [tx(99, [begin, end], [])]), `[${begin}, ${end})`).toEqual([expected]);
    }
  });

  it('range writes conflict with overlapping reads, not with adjacent ones', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    resolver.resolve(10, [tx(null, [], ['c', 'f'])]);
    expect(resolver.resolve(11, [tx(5, ['a', 'c'], [])])).toEqual(['committed']);
    expect(resolver.resolve(12, [tx(5, ['f', 'z'], [])])).toEqual(['committed']);
    expect(resolver.resolve(13, [tx(5, ['a', 'c\x00'], [])])).toEqual(['conflict']);
    expect(resolver.resolve(14, [tx(5, ['e\xff', 'z'], [])])).toEqual(['conflict']);
    expect(resolver.resolve(15, [tx(5, point('d'), [])])).toEqual(['conflict']);
    expect(resolver.resolve(16, [tx(5, ['a', 'b', 'x', 'y', 'd', 'e'], [])])).toEqual(['conflict']);
  });

  it('an earlier accepted transaction of the batch conflicts a later one; a rejected one does not', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    resolver.resolve(10, [tx(null, [], point('x'))]);
    const results = resolver.resolve(20, [
      tx(15, point('a'), point('b')), // accepted: writes b
      tx(15, point('b'), point('c')), // reads b written earlier in the batch: conflict, c not written
      tx(15, point('c'), []), // c was only written by a rejected transaction
      tx(5, point('x'), point('d')), // conflicts with x@10: d not written
      tx(15, ['d', 'e'], []),
      tx(null, point('b'), point('e')), // no read version: cannot conflict
      tx(15, point('e'), []),
    ]);
    expect(results).toEqual(['committed', 'conflict', 'committed', 'conflict', 'committed', 'committed', 'conflict']);
  });

  it('rejects read versions older than the window as too_old, and their writes are not recorded', () => {
    const resolver = new Resolver({ windowVersions: 100 });
    resolver.resolve(500, [tx(null, [], point('k'))]);
    expect(resolver.resolve(1_000, [tx(899, [], point('w')), tx(900, point('k'), [])])).toEqual(['too_old', 'committed']);
    expect(resolver.resolve(1_001, [tx(950, point('w'), [])])).toEqual(['committed']);
    // The boundary moves with each batch: the oldest accepted read version is version - window.
    expect(resolver.resolve(1_002, [tx(902, [], []), tx(901, [], [])])).toEqual(['committed', 'too_old']);
  });

  it('a transaction without a read version never conflicts, however old its ranges', () => {
    const resolver = new Resolver({ windowVersions: 10 });
    resolver.resolve(100, [tx(null, [], ['', '\xff'])]);
    expect(resolver.resolve(101, [tx(null, ['', '\xff'], ['', '\xff'])])).toEqual(['committed']);
    expect(resolver.resolve(1_000, [tx(null, ['a', 'b'], point('a'))])).toEqual(['committed']);
  });

  it('asserts that batches arrive in increasing version order', () => {
    const resolver = new Resolver();
    resolver.resolve(5, []);
    expect(() => resolver.resolve(5, [])).toThrow(AssertionError);
    expect(() => resolver.resolve(4, [])).toThrow(AssertionError);
  });

  it('agrees with a brute-force reference over random batches, including after pruning (randomized)', () => {
    console.log(`resolver SEED=${SEED}`);
    const random = seededRandom(SEED);
    const alphabet = ['\x00', 'a', 'b', 'c', 'd', 'e', 'f', 'g', '\xff'];
    const randomKey = (): KeyString => {
      // Mostly short keys so that transactions collide; sometimes long ones so the history grows.
      const length = random() < 0.5 ? 1 + Math.floor(random() * 2) : 3 + Math.floor(random() * 3);
      let key = '';
      for (let i = 0; i < length; i++) key += alphabet[Math.floor(random() * alphabet.length)];
      return key;
    };
    const randomRange = (): KeyString[] => {
      if (random() < 0.6) return point(randomKey());
      if (random() < 0.01) return ['', '\xff\xff'];
      let a = randomKey();
      let b = randomKey();
      if (a === b) b = a + '\x00';
      if (a > b) [a, b] = [b, a];
      return [a, b];
    };
    const ranges = (max: number): KeyString[] => {
      const out: KeyString[] = [];
      for (let i = Math.floor(random() * (max + 1)); i > 0; i--) out.push(...randomRange());
      return out;
    };
    // Writes are mostly points (and a few narrow ranges) over many keys, so the history grows past the
    // size that triggers pruning instead of being flattened by wide range writes.
    const writes = (max: number): KeyString[] => {
      const out: KeyString[] = [];
      for (let i = Math.floor(random() * (max + 1)); i > 0; i--) {
        const key = randomKey();
        out.push(...(random() < 0.9 ? point(key) : [key, key + '\x00\xff']));
      }
      return out;
    };

    let transactions = 0;
    let prunes = 0;
    const counts: Record<Resolution, number> = { committed: 0, conflict: 0, too_old: 0 };
    for (let run = 0; run < 4; run++) {
      const windowVersions = 2 + Math.floor(random() * 40);
      const resolver = new Resolver({ windowVersions });
      const reference = new ReferenceResolver(windowVersions);
      let version = Math.floor(random() * 100);
      let previousSize = 0;
      for (let batch = 0; batch < 1500; batch++) {
        version += 1 + Math.floor(random() * 4);
        const batchTransactions: ResolveTransaction[] = [];
        for (let i = Math.floor(random() * 8); i > 0; i--) {
          // A third of the read versions sit at the edge of the window, where pruning decides.
          const r = random();
          const readVersion =
            r < 0.1
              ? null
              : r < 0.4
                ? Math.max(0, version - windowVersions - 1 + Math.floor(random() * 4))
                : Math.max(0, version - 1 - Math.floor(random() * (windowVersions + 6)));
          batchTransactions.push(tx(readVersion, ranges(3), writes(8)));
        }
        const actual = resolveBoth(resolver, reference, version, batchTransactions, `SEED=${SEED} run ${run} window ${windowVersions}`);
        for (const result of actual) counts[result]++;
        transactions += batchTransactions.length;
        // Pruning is the only way the history can halve once it is large: writes here are narrow.
        const pruned = previousSize >= 1024 && resolver.historySize <= previousSize / 2;
        if (pruned) prunes++;
        previousSize = resolver.historySize;
        if (pruned || random() < 0.05) {
          // Probe the edge right after pruning: read each recent write's range at the version just
          // before it, so every probe must conflict unless that version is older than the window.
          version += 1;
          const probes: ResolveTransaction[] = [];
          for (let i = reference.writes.length - 1; i >= 0 && probes.length < 64; i--) {
            const write = reference.writes[i]!;
            if (write.version - 1 < version - windowVersions - 1) break;
            probes.push(tx(write.version - 1, [write.begin, write.end], []));
          }
          const probeExpected = reference.resolve(version, probes);
          const probeActual = resolver.resolve(version, probes);
          if (JSON.stringify(probeActual) !== JSON.stringify(probeExpected)) {
            throw new Error(
              `SEED=${SEED} run ${run} window ${windowVersions} probe batch at version ${version}: expected ${JSON.stringify(probeExpected)}, got ${JSON.stringify(probeActual)}; transactions ${JSON.stringify(probes)}`,
            );
          }
          for (const result of probeActual) counts[result]++;
          transactions += probes.length;
        }
      }
    }
    console.log(`resolver: ${transactions} transactions, ${JSON.stringify(counts)}, ${prunes} prunes`);
    // The comparison is only meaningful if every outcome occurred and pruning actually ran.
    expect(counts.committed).toBeGreaterThan(100);
    expect(counts.conflict).toBeGreaterThan(100);
    expect(counts.too_old).toBeGreaterThan(10);
    expect(prunes).toBeGreaterThan(10);
  });
});

describe('point writes and range reads', () => {
  it('a range read sees point writes of earlier batches and of earlier transactions of its own batch', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    resolver.resolve(10, [tx(null, [], point('m'))]);
    // The range read comes after more point writes, so it must see keys recorded since any earlier range read.
    expect(resolver.resolve(11, [tx(5, ['a', 'b'], [])])).toEqual(['committed']);
    resolver.resolve(12, [tx(null, [], [...point('c'), ...point('q')])]);
    expect(resolver.resolve(13, [tx(11, ['b', 'd'], []), tx(12, ['b', 'd'], []), tx(11, ['d', 'p'], [])])).toEqual([
      'conflict',
      'committed',
      'committed',
    ]);
    expect(
      resolver.resolve(20, [
        tx(15, point('x'), point('f')), // accepted: writes f at 20
        tx(15, ['e', 'g'], []), // f is inside [e, g), written earlier in this batch
        tx(15, ['f\x00', 'g'], []),
        tx(15, point('f'), []),
      ]),
    ).toEqual(['committed', 'conflict', 'committed', 'conflict']);
  });

  it('a point write and a range write of the same key both count, whichever is newer', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    resolver.resolve(10, [tx(null, [], ['a', 'z'])]);
    resolver.resolve(20, [tx(null, [], point('k'))]);
    expect(resolver.resolve(21, [tx(15, point('k'), []), tx(15, point('j'), []), tx(5, point('j'), [])])).toEqual(['conflict', 'committed', 'conflict']);
    resolver.resolve(30, [tx(null, [], ['j', 'l'])]);
    expect(resolver.resolve(31, [tx(25, point('k'), []), tx(25, ['k\x00', 'k\x01'], []), tx(30, ['a', 'z'], [])])).toEqual(['conflict', 'conflict', 'committed']);
  });

  it('orders point-written keys only for range reads, and keeps none that left the window', () => {
    const resolver = new Resolver({ windowVersions: 100 });
    // Pruning first runs once the history passes 1,024 entries (at version 1,025): most keys leave.
    for (let v = 1; v <= 1_100; v++) resolver.resolve(v, [tx(null, [], point(`k${v}`))]);
    // No range read yet: nothing was ordered.
    expect(resolver.indexedPointCount).toBe(0);
    expect(resolver.historySize).toBeLessThan(300);
    expect(resolver.resolve(1_101, [tx(1_099, ['k', 'l'], []), tx(1_050, ['k', 'k1049'], [])])).toEqual(['conflict', 'committed']);
    // Right after a range read every key in the history is ordered, and only those.
    expect(resolver.indexedPointCount).toBe(resolver.historySize);
    for (let v = 1_102; v <= 6_000; v++) resolver.resolve(v, [tx(v - 1, v % 50 === 0 ? ['k', 'l'] : [], point(`k${v}`))]);
    expect(resolver.resolve(6_001, [tx(6_000, ['k', 'l'], [])])).toEqual(['committed']);
    expect(resolver.indexedPointCount).toBe(resolver.historySize);
    expect(resolver.historySize).toBeLessThan(2_000);
  });

  it('agrees with the reference when most writes are points over many keys, across many prunes (randomized)', () => {
    console.log(`resolver points SEED=${SEED}`);
    const random = seededRandom(SEED ^ 0x5eed);
    const alphabet = ['\x00', '\x01', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', '\xfe', '\xff'];
    const randomKey = (): KeyString => {
      const length = 1 + Math.floor(random() * 4);
      let key = '';
      for (let i = 0; i < length; i++) key += alphabet[Math.floor(random() * alphabet.length)];
      return key;
    };
    const randomRange = (): KeyString[] => {
      const r = random();
      if (r < 0.4) return point(randomKey());
      if (r < 0.45) return ['', '\xff\xff'];
      const a = randomKey();
      if (r < 0.6) return [a, a + '\xff']; // a prefix-like range
      let b = randomKey();
      if (a === b) return point(a);
      return a < b ? [a, b] : [b, a];
    };
    let transactions = 0;
    let prunes = 0;
    const counts: Record<Resolution, number> = { committed: 0, conflict: 0, too_old: 0 };
    for (let run = 0; run < 3; run++) {
      const windowVersions = 20 + Math.floor(random() * 200);
      const resolver = new Resolver({ windowVersions });
      const reference = new ReferenceResolver(windowVersions);
      let version = 1 + Math.floor(random() * 100);
      let previousSize = 0;
      for (let batch = 0; batch < 1200; batch++) {
        version += 1 + Math.floor(random() * 3);
        const batchTransactions: ResolveTransaction[] = [];
        for (let i = Math.floor(random() * 6); i > 0; i--) {
          const readVersion = random() < 0.1 ? null : Math.max(0, version - 1 - Math.floor(random() * (windowVersions + 4)));
          const readRanges: KeyString[] = [];
          for (let j = Math.floor(random() * 4); j > 0; j--) readRanges.push(...randomRange());
          const writeRanges: KeyString[] = [];
          for (let j = Math.floor(random() * 12); j > 0; j--) {
            const key = randomKey();
            writeRanges.push(...(random() < 0.95 ? point(key) : [key, key + '\x00\x01']));
          }
          batchTransactions.push(tx(readVersion, readRanges, writeRanges));
        }
        const actual = resolveBoth(resolver, reference, version, batchTransactions, `SEED=${SEED} run ${run} window ${windowVersions}`);
        for (const result of actual) counts[result]++;
        transactions += batchTransactions.length;
        if (previousSize >= 1024 && resolver.historySize <= previousSize / 2) prunes++;
        previousSize = resolver.historySize;
      }
    }
    console.log(`resolver points: ${transactions} transactions, ${JSON.stringify(counts)}, ${prunes} prunes`);
    expect(counts.committed).toBeGreaterThan(100);
    expect(counts.conflict).toBeGreaterThan(100);
    expect(counts.too_old).toBeGreaterThan(10);
    expect(prunes).toBeGreaterThan(3);
  });

  it('agrees with the reference when generations of point writes fill by key count and reads span many of them (randomized)', () => {
    console.log(`resolver generations SEED=${SEED}`);
    const random = seededRandom(SEED ^ 0x9e4e);
    // Many point writes per version over a key space larger than a generation, so generations
    // close at their key limit within a few versions, and a key is often written in several of them.
    const keyCount = 4_000;
    const randomKey = (): KeyString => `key/${Math.floor(random() * keyCount)}`;
    const windowVersions = 100;
    const resolver = new Resolver({ windowVersions });
    const reference = new ReferenceResolver(windowVersions);
    const counts: Record<Resolution, number> = { committed: 0, conflict: 0, too_old: 0 };
    let mostGenerations = 0;
    let pointWrites = 0;
    let version = 1;
    for (let batch = 0; batch < 240; batch++) {
      version += 1 + Math.floor(random() * 2);
      const batchTransactions: ResolveTransaction[] = [];
      for (let i = 1 + Math.floor(random() * 6); i > 0; i--) {
        // Read versions anywhere in the window (so a read checks one generation or dozens), and past
        // it; blind writers (no read version) keep the writes coming however many readers conflict.
        const readVersion = random() < 0.4 ? null : Math.max(0, version - 1 - Math.floor(random() * (windowVersions + 4)));
        const readRanges: KeyString[] = [];
        for (let j = 1 + Math.floor(random() * 3); j > 0; j--) {
          if (random() < 0.7) readRanges.push(...point(randomKey()));
          else {
            const a = randomKey();
            const b = randomKey();
            readRanges.push(...(a < b ? [a, b] : a > b ? [b, a] : point(a)));
          }
        }
        const writeRanges: KeyString[] = [];
        for (let j = Math.floor(random() * 250); j > 0; j--) writeRanges.push(...point(randomKey()));
        pointWrites += writeRanges.length / 2;
        // A few range writes keep the boundary history in play.
        if (random() < 0.05) {
          const key = randomKey();
          writeRanges.push(key, key + '\x00\x01');
        }
        batchTransactions.push(tx(readVersion, readRanges, writeRanges));
      }
      const actual = resolveBoth(resolver, reference, version, batchTransactions, `SEED=${SEED} batch ${batch}`);
      for (const result of actual) counts[result]++;
      mostGenerations = Math.max(mostGenerations, resolver.pointGenerationCount);
    }
    console.log(`resolver generations: ${JSON.stringify(counts)}, at most ${mostGenerations} generations`);
    expect(counts.committed).toBeGreaterThan(50);
    expect(counts.conflict).toBeGreaterThan(50);
    expect(counts.too_old).toBeGreaterThan(5);
    // Generations closed at their key limit: closed only by their span (a quarter of the window),
    // the window and the history kept until the next prune would hold at most about 9 of them.
    expect(mostGenerations).toBeGreaterThan(16);
    // Pruning dropped whole generations: what is left is a small part of everything written.
    expect(resolver.historySize).toBeLessThan(pointWrites / 3);
  });
});

describe('empty read conflict ranges', () => {
  it('never conflict, even where a write landed', () => {
    const resolver = new Resolver({ windowVersions: 1_000 });
    resolver.resolve(10, [{ readVersion: null, readRanges: [], writeRanges: ['a', 'a\x00'] }]);
    expect(resolver.resolve(20, [{ readVersion: 5, readRanges: ['a', 'a'], writeRanges: [] }])).toEqual(['committed']);
    expect(resolver.resolve(30, [{ readVersion: 5, readRanges: ['a', 'a\x00'], writeRanges: [] }])).toEqual(['conflict']);
  });
});
