/**
 * Resolver: decides which transactions of a batch conflict.
 *
 * Invariants:
 * 1. A transaction with read version r in a batch at commit version c is rejected as a conflict iff
 *    a write committed in (r, c), or by an earlier accepted transaction of the same batch,
 *    intersects one of its read conflict ranges.
 * 2. A transaction whose read version is older than the MVCC window (r < c - window) is rejected
 *    as too old: the history that would prove it safe has been pruned.
 * 3. Batches are resolved in strictly increasing version order.
 *
 * Writes are kept in two structures, both recording for each part of the key space the version of
 * its newest write. Point writes `[k, k\0)` (nearly every write) go to generations: hash maps from
 * key to version, each covering a stretch of consecutive versions (at most
 * RESOLVER_POINT_GENERATION_KEYS_MAX keys and a quarter of the window), oldest first; one map of the
 * whole window (hundreds of thousands of keys) would miss the processor's caches on every write. A
 * point read checks only the generations that hold a version newer than its read version, usually
 * the newest one or two, each with one hash lookup in a small map; range reads walk each
 * generation's keys in order, sorted only when a range read needs them. Pruning drops whole
 * generations older than the window, with no work per key. Other writes go to the range history,
 * an ordered map of key-space boundaries: the entry at boundary b holds the version of the newest
 * range write to the segment from b up to the next boundary. Versions only grow, so writing a range
 * replaces the segments inside it. A read conflicts when either structure holds a version newer
 * than its read version inside one of its ranges. Entries older than the window are dropped
 * (generations of points) or merged away (segments).
 */
import { BTree } from '../util/btree.js';
import { MVCC_WINDOW_VERSIONS, RESOLVER_POINT_GENERATION_KEYS_MAX } from '../limits.js';
import { keyAfter, lowerBound, type KeyString } from '../util/bytes.js';
import { assert } from '../util/assert.js';

/**
 * One transaction as the resolver sees it. Ranges are flat arrays `[begin0, end0, begin1, end1, ...]`;
 * points are keys `k` standing for the range `[k, k\0)`, kept apart because nearly every conflict
 * range is one and a key is cheaper to handle than a range to recognise as a point.
 */
export interface ResolveTransaction {
  /** The read version, or `null` for a transaction that read nothing (it cannot conflict). */
  readVersion: number | null;
  readRanges: readonly KeyString[];
  /** Keys read (absent means none). */
  readPoints?: readonly KeyString[];
  writeRanges: readonly KeyString[];
  /** Keys written (absent means none). */
  writePoints?: readonly KeyString[];
}

/** The outcome for one transaction of a batch. */
export type Resolution = 'committed' | 'conflict' | 'too_old';

/** Construction options of {@link Resolver}. */
export interface ResolverOptions {
  /** Versions of history kept (default: the five-second MVCC window). */
  windowVersions?: number;
}

/** Point writes of a stretch of consecutive versions. */
interface PointGeneration {
  /** The version of its first write. */
  readonly firstVersion: number;
  /** The version of its newest write. */
  lastVersion: number;
  /** Key -> version of its newest point write in this generation. */
  readonly versions: Map<KeyString, number>;
  /** The keys of `versions`, in the order they were first written in this generation. */
  readonly keys: KeyString[];
  /** The first `sortedCount` of `keys`, in key order; null until a range read needs them. */
  sorted: KeyString[] | null;
  sortedCount: number;
}

/** Conflict detection over a window of committed write ranges. */
export class Resolver {
  readonly #windowVersions: number;
  // Boundary -> version of the newest range write to [boundary, next boundary). Absent means "older than the window".
  readonly #ranges = new BTree<KeyString, number>();
  // Point writes by generation, oldest first (see the module comment). A key absent from every
  // generation was last point-written before the window (or only range-written, which #ranges holds).
  #generations: PointGeneration[] = [];
  // The most versions one generation spans: a quarter of the window, so pruning can drop most of
  // what left the window.
  readonly #generationVersionsMax: number;
  #pointCount = 0;
  #lastVersion = 0;
  #oldestVersion = 0;
  #sizeAfterPrune = 0;

  constructor(options: ResolverOptions = {}) {
    this.#windowVersions = options.windowVersions ?? MVCC_WINDOW_VERSIONS;
    this.#generationVersionsMax = Math.max(1, Math.floor(this.#windowVersions / 4));
  }

  /**
   * Resolves one batch at `version`: checks each transaction in order and records the writes of
   * those accepted, so later transactions of the batch see them.
   */
  resolve(version: number, transactions: readonly ResolveTransaction[]): Resolution[] {
    assert(version > this.#lastVersion, `resolver batches arrive in version order (${version} <= ${this.#lastVersion})`);
    this.#lastVersion = version;
    this.#oldestVersion = Math.max(this.#oldestVersion, version - this.#windowVersions);
    const results: Resolution[] = new Array(transactions.length);
    for (let i = 0; i < transactions.length; i++) {
      const transaction = transactions[i]!;
      const readVersion = transaction.readVersion;
      if (readVersion !== null) {
        if (readVersion < this.#oldestVersion) {
          results[i] = 'too_old';
          continue;
        }
        const points = transaction.readPoints;
        if ((points !== undefined && this.#pointsConflict(points, readVersion)) || this.#conflicts(transaction.readRanges, readVersion)) {
          results[i] = 'conflict';
          continue;
        }
      }
      const points = transaction.writePoints;
      if (points !== undefined) for (let j = 0; j < points.length; j++) this.#recordPoint(points[j]!, version);
      const writes = transaction.writeRanges;
      for (let j = 0; j < writes.length; j += 2) this.#recordWrite(writes[j]!, writes[j + 1]!, version);
      results[i] = 'committed';
    }
    if (this.historySize > 2 * this.#sizeAfterPrune + 1024) this.#prune();
    return results;
  }

  /** Number of entries in the history: point writes (per generation) plus range boundaries (for tests and metrics). */
  get historySize(): number {
    return this.#pointCount + this.#ranges.size;
  }

  /** Number of generations of point writes held (for tests and metrics). */
  get pointGenerationCount(): number {
    return this.#generations.length;
  }

  /** Number of point-written keys already in key order for range reads (for tests and metrics). */
  get indexedPointCount(): number {
    let count = 0;
    for (const generation of this.#generations) count += generation.sorted === null ? 0 : generation.sortedCount;
    return count;
  }

  #conflicts(ranges: readonly KeyString[], readVersion: number): boolean {
    const history = this.#ranges;
    const generations = this.#generations;
    for (let j = 0; j < ranges.length; j += 2) {
      const begin = ranges[j]!;
      const end = ranges[j + 1]!;
      // Points first: a point is never empty, and comparing `end` (usually `begin` plus a zero byte,
      // made by concatenation) with `begin` costs as much as recognising it as a point.
      if (isPoint(begin, end)) {
        if (this.#pointConflicts(begin, readVersion)) return true;
        continue;
      }
      if (begin >= end) continue; // an empty range reads nothing
      if (history.size > 0) {
        // The segment holding `begin` starts at or before it.
        const floor = history.getPairOrNextLower(begin);
        if (floor !== undefined && floor[1] > readVersion) return true;
        const inside = history.entries(keyAfter(begin));
        for (let step = inside.next(); !step.done && step.value[0] < end; step = inside.next()) {
          if (step.value[1] > readVersion) return true;
        }
      }
      if (generations.length > 0) {
        // Every generation is put in order on a range read, so the order is built once per key.
        this.#sortGenerations();
        for (let g = generations.length - 1; g >= 0; g--) {
          const generation = generations[g]!;
          if (generation.lastVersion <= readVersion) break;
          const sorted = generation.sorted!;
          const versions = generation.versions;
          for (let k = lowerBound(sorted, begin); k < sorted.length && sorted[k]! < end; k++) {
            if (versions.get(sorted[k]!)! > readVersion) return true;
          }
        }
      }
    }
    return false;
  }

  #pointsConflict(keys: readonly KeyString[], readVersion: number): boolean {
    for (let j = 0; j < keys.length; j++) if (this.#pointConflicts(keys[j]!, readVersion)) return true;
    return false;
  }

  // Whether a write newer than `readVersion` intersects [key, key\0): only a point write of `key`
  // itself, or a range write covering it.
  #pointConflicts(key: KeyString, readVersion: number): boolean {
    // Generations are in version order: those at or below the read version cannot conflict.
    const generations = this.#generations;
    for (let g = generations.length - 1; g >= 0; g--) {
      const generation = generations[g]!;
      if (generation.lastVersion <= readVersion) break;
      const pointVersion = generation.versions.get(key);
      if (pointVersion !== undefined && pointVersion > readVersion) return true;
    }
    const history = this.#ranges;
    if (history.size > 0) {
      const floor = history.getPairOrNextLower(key);
      if (floor !== undefined && floor[1] > readVersion) return true;
    }
    return false;
  }

  // Puts the keys of every generation in order (only the keys added since, in effect: the sort
  // finds the sorted prefix as one run).
  #sortGenerations(): void {
    for (const generation of this.#generations) {
      if (generation.sorted !== null && generation.sortedCount === generation.keys.length) continue;
      generation.sorted = generation.sorted === null ? generation.keys.slice() : generation.sorted.concat(generation.keys.slice(generation.sortedCount));
      generation.sorted.sort();
      generation.sortedCount = generation.keys.length;
    }
  }

  #versionAt(key: KeyString): number {
    const floor = this.#ranges.getPairOrNextLower(key);
    return floor === undefined ? 0 : floor[1];
  }

  #recordWrite(begin: KeyString, end: KeyString, version: number): void {
    if (isPoint(begin, end)) {
      this.#recordPoint(begin, version);
      return;
    }
    if (begin >= end) return;
    const history = this.#ranges;
    const hasEnd = history.has(end);
    const versionAtEnd = hasEnd ? 0 : this.#versionAt(end);
    history.deleteRange(begin, end, false);
    history.set(begin, version);
    if (!hasEnd) history.set(end, versionAtEnd);
  }

  #recordPoint(key: KeyString, version: number): void {
    const generations = this.#generations;
    let generation = generations.length === 0 ? undefined : generations[generations.length - 1];
    if (generation === undefined || generation.keys.length >= RESOLVER_POINT_GENERATION_KEYS_MAX || version - generation.firstVersion >= this.#generationVersionsMax) {
      generation = { firstVersion: version, lastVersion: version, versions: new Map(), keys: [], sorted: null, sortedCount: 0 };
      generations.push(generation);
    }
    const versions = generation.versions;
    const size = versions.size;
    versions.set(key, version);
    generation.lastVersion = version;
    if (versions.size !== size) {
      generation.keys.push(key);
      this.#pointCount++;
    }
  }

  // Writes whose version is older than the window can never cause a conflict again. Generations of
  // points wholly older than it are dropped (one that straddles its edge stays until it is wholly
  // older); segments are treated as version 0, and the boundaries that then separate equal segments
  // are dropped.
  #prune(): void {
    const oldest = this.#oldestVersion;
    const generations = this.#generations;
    let drop = 0;
    while (drop < generations.length && generations[drop]!.lastVersion < oldest) {
      this.#pointCount -= generations[drop]!.keys.length;
      drop++;
    }
    if (drop > 0) this.#generations = generations.slice(drop);
    const doomed: KeyString[] = [];
    const zeroed: KeyString[] = [];
    let previous = 0;
    for (const [key, version] of this.#ranges.entries()) {
      const effective = version < oldest ? 0 : version;
      if (effective === previous) doomed.push(key);
      else if (effective !== version) zeroed.push(key);
      previous = effective;
    }
    for (const key of doomed) this.#ranges.delete(key);
    for (const key of zeroed) this.#ranges.set(key, 0);
    this.#sizeAfterPrune = this.historySize;
  }
}

/** True when `[begin, end)` holds the single key `begin`: `end` is `begin` followed by a zero byte. */
function isPoint(begin: KeyString, end: KeyString): boolean {
  return end.length === begin.length + 1 && end.charCodeAt(begin.length) === 0 && end.startsWith(begin);
}
