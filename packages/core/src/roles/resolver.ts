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
 * The history is an ordered map of key-space boundaries: the entry at boundary b holds the version
 * of the newest write to the segment from b up to the next boundary. Versions only grow, so writing
 * a range replaces the segments inside it. Segments older than the window are merged away.
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
  // Boundary -> version of the newest write to [boundary, next boundary). Absent means "older than the window".
  readonly #history = new BTree<KeyString, number>();
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
    if (this.#history.size > 2 * this.#sizeAfterPrune + 1024) this.#prune();
    return results;
  }

  /** Number of boundaries in the history (for tests and metrics). */
  get historySize(): number {
    return this.#history.size;
  }

  #conflicts(ranges: readonly KeyString[], readVersion: number): boolean {
    const history = this.#history;
    for (let j = 0; j < ranges.length; j += 2) {
      const begin = ranges[j]!;
      const end = ranges[j + 1]!;
      if (begin >= end) continue; // an empty range reads nothing
      // The segment holding `begin` starts at or before it.
      const floor = history.getPairOrNextLower(begin);
      if (floor !== undefined && floor[1] > readVersion) return true;
      const inside = history.entries(keyAfter(begin));
      for (let step = inside.next(); !step.done && step.value[0] < end; step = inside.next()) {
        if (step.value[1] > readVersion) return true;
      }
    }
    return false;
  }

  #versionAt(key: KeyString): number {
    const floor = this.#history.getPairOrNextLower(key);
    return floor === undefined ? 0 : floor[1];
  }

  #recordWrite(begin: KeyString, end: KeyString, version: number): void {
    if (begin >= end) return;
    const history = this.#history;
    if (end.length === begin.length + 1 && end.charCodeAt(begin.length) === 0 && end.startsWith(begin)) {
      // A point write [k, k\0): no boundary can lie strictly inside, so only k and k\0 change.
      // The segment after k\0 keeps the version that held at k before this write.
      history.setIfNotPresent(end, this.#versionAt(begin));
      history.set(begin, version);
      return;
    }
    const hasEnd = history.has(end);
    const versionAtEnd = hasEnd ? 0 : this.#versionAt(end);
    history.deleteRange(begin, end, false);
    history.set(begin, version);
    if (!hasEnd) history.set(end, versionAtEnd);
  }

  // Segments whose version is older than the window can never cause a conflict again: treat them as
  // version 0 and drop the boundaries that then separate equal segments.
  #prune(): void {
    const oldest = this.#oldestVersion;
    const doomed: KeyString[] = [];
    const zeroed: KeyString[] = [];
    let previous = 0;
    for (const [key, version] of this.#history.entries()) {
      const effective = version < oldest ? 0 : version;
      if (effective === previous) doomed.push(key);
      else if (effective !== version) zeroed.push(key);
      previous = effective;
    }
    for (const key of doomed) this.#history.delete(key);
    for (const key of zeroed) this.#history.set(key, 0);
    this.#sizeAfterPrune = this.#history.size;
  }
}
