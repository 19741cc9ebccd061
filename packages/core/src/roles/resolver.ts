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
 * its newest write. Point writes `[k, k\0)` (nearly every write) go to a hash map from key to version,
 * with an ordered index of its keys that range reads walk; the index is brought up to date only when
 * a range read needs it, from a list of keys not yet in it, sorted once. A point read is then one
 * hash lookup. Other writes go to the range history, an ordered map of key-space boundaries: the entry
 * at boundary b holds the version of the newest range write to the segment from b up to the next
 * boundary. Versions only grow, so writing a range replaces the segments inside it. A read conflicts
 * when either structure holds a version newer than its read version inside one of its ranges.
 * Entries older than the window are dropped (points) or merged away (segments).
 */
import { BTree } from '../util/btree.js';
import { MVCC_WINDOW_VERSIONS } from '../limits.js';
import { keyAfter, type KeyString } from '../util/bytes.js';
import { assert } from '../util/assert.js';

/** One transaction as the resolver sees it. Ranges are flat arrays `[begin0, end0, begin1, end1, ...]`. */
export interface ResolveTransaction {
  /** The read version, or `null` for a transaction that read nothing (it cannot conflict). */
  readVersion: number | null;
  readRanges: readonly KeyString[];
  writeRanges: readonly KeyString[];
}

/** The outcome for one transaction of a batch. */
export type Resolution = 'committed' | 'conflict' | 'too_old';

/** Construction options of {@link Resolver}. */
export interface ResolverOptions {
  /** Versions of history kept (default: the five-second MVCC window). */
  windowVersions?: number;
}

/** Conflict detection over a window of committed write ranges. */
export class Resolver {
  readonly #windowVersions: number;
  // Boundary -> version of the newest range write to [boundary, next boundary). Absent means "older than the window".
  readonly #ranges = new BTree<KeyString, number>();
  // Key -> version of the newest point write to it. Absent means "older than the window" (or a range
  // write, which #ranges holds).
  readonly #points = new Map<KeyString, number>();
  // The keys of #points in order, except those listed in #unindexed (see #indexPoints). The list may
  // also name keys pruned since, or a key twice; indexing skips keys pruned, and the list is
  // compacted when it outgrows #points.
  readonly #pointIndex = new BTree<KeyString, undefined>();
  #unindexed: KeyString[] = [];
  #lastVersion = 0;
  #oldestVersion = 0;
  #sizeAfterPrune = 0;

  constructor(options: ResolverOptions = {}) {
    this.#windowVersions = options.windowVersions ?? MVCC_WINDOW_VERSIONS;
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
        if (this.#conflicts(transaction.readRanges, readVersion)) {
          results[i] = 'conflict';
          continue;
        }
      }
      const writes = transaction.writeRanges;
      for (let j = 0; j < writes.length; j += 2) this.#recordWrite(writes[j]!, writes[j + 1]!, version);
      results[i] = 'committed';
    }
    if (this.historySize > 2 * this.#sizeAfterPrune + 1024) this.#prune();
    return results;
  }

  /** Number of entries in the history: point writes plus range boundaries (for tests and metrics). */
  get historySize(): number {
    return this.#points.size + this.#ranges.size;
  }

  /** Number of point-written keys in the ordered index that range reads walk (for tests and metrics). */
  get indexedPointCount(): number {
    return this.#pointIndex.size;
  }

  #conflicts(ranges: readonly KeyString[], readVersion: number): boolean {
    const history = this.#ranges;
    const points = this.#points;
    for (let j = 0; j < ranges.length; j += 2) {
      const begin = ranges[j]!;
      const end = ranges[j + 1]!;
      if (begin >= end) continue; // an empty range reads nothing
      if (isPoint(begin, end)) {
        // Only a point write of `begin` itself, or a range write covering it, intersects [begin, begin\0).
        const pointVersion = points.get(begin);
        if (pointVersion !== undefined && pointVersion > readVersion) return true;
        if (history.size > 0) {
          const floor = history.getPairOrNextLower(begin);
          if (floor !== undefined && floor[1] > readVersion) return true;
        }
        continue;
      }
      if (history.size > 0) {
        // The segment holding `begin` starts at or before it.
        const floor = history.getPairOrNextLower(begin);
        if (floor !== undefined && floor[1] > readVersion) return true;
        const inside = history.entries(keyAfter(begin));
        for (let step = inside.next(); !step.done && step.value[0] < end; step = inside.next()) {
          if (step.value[1] > readVersion) return true;
        }
      }
      if (points.size > 0) {
        this.#indexPoints();
        const keys = this.#pointIndex.keys(begin);
        for (let step = keys.next(); !step.done && step.value < end; step = keys.next()) {
          if (points.get(step.value)! > readVersion) return true;
        }
      }
    }
    return false;
  }

  // Adds the keys not yet in the ordered index, sorted first so the inserts walk the tree in order.
  #indexPoints(): void {
    const keys = this.#unindexed;
    if (keys.length === 0) return;
    this.#unindexed = [];
    keys.sort();
    const index = this.#pointIndex;
    const points = this.#points;
    for (let i = 0; i < keys.length; i++) if (points.has(keys[i]!)) index.set(keys[i]!, undefined);
  }

  // Drops the listed keys pruned since, and repeats (a key pruned and written again is listed twice).
  #compactUnindexed(): void {
    const points = this.#points;
    this.#unindexed = [...new Set(this.#unindexed.filter((key) => points.has(key)))];
  }

  #versionAt(key: KeyString): number {
    const floor = this.#ranges.getPairOrNextLower(key);
    return floor === undefined ? 0 : floor[1];
  }

  #recordWrite(begin: KeyString, end: KeyString, version: number): void {
    if (begin >= end) return;
    if (isPoint(begin, end)) {
      const points = this.#points;
      const size = points.size;
      points.set(begin, version);
      if (points.size !== size) {
        this.#unindexed.push(begin);
        if (this.#unindexed.length > 2 * points.size + 1024) this.#compactUnindexed();
      }
      return;
    }
    const history = this.#ranges;
    const hasEnd = history.has(end);
    const versionAtEnd = hasEnd ? 0 : this.#versionAt(end);
    history.deleteRange(begin, end, false);
    history.set(begin, version);
    if (!hasEnd) history.set(end, versionAtEnd);
  }

  // Writes whose version is older than the window can never cause a conflict again. Points are
  // dropped (from the ordered index too, once a range read has built it); segments
  // are treated as version 0, and the boundaries that then separate equal segments are dropped.
  #prune(): void {
    const oldest = this.#oldestVersion;
    const points = this.#points;
    const doomedPoints: KeyString[] = [];
    points.forEach((version, key) => {
      if (version < oldest) doomedPoints.push(key);
    });
    const index = this.#pointIndex;
    for (const key of doomedPoints) {
      points.delete(key);
      // A key not indexed yet is only listed in #unindexed, which indexing filters.
      if (index.size > 0) index.delete(key);
    }
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
