/**
 * The storage server's cache of durable data: entries read from the engine, and the key ranges
 * over which the cache is known to hold every engine entry.
 *
 * Invariants:
 * 1. Coverage ranges are disjoint and coalesced. For every covered key, the cache holds exactly
 *    the engine's value at the storage server's durable version (absent if the engine has none).
 * 2. The cache only changes together with the engine: filled from reads of the current engine
 *    state, and updated with every write a flush makes, in the same step as the durable version.
 * 3. Its size is bounded: past `bytesMax`, whole ranges are evicted in key order from a moving
 *    position, like a clock hand.
 */
import { BTree } from '../util/btree.js';
import type { KeyString } from '../util/bytes.js';
import { PendingKeys } from '../util/pending-keys.js';
import type { EngineCursor } from './storage-engine.js';

const ENTRY_OVERHEAD_BYTES = 64;
const RANGE_OVERHEAD_BYTES = 96;

/** What the cache knows about one key. */
export type CachedValue = { covered: true; value: Uint8Array | null } | { covered: false };

const NOT_COVERED: CachedValue = Object.freeze({ covered: false });
const COVERED_ABSENT: CachedValue = Object.freeze({ covered: true, value: null });

/** A bounded cache of durable entries with completeness ranges. */
export class RangeCache {
  readonly #bytesMax: number;
  /**
   * The entries in key order, for cursors and eviction, except the keys pending in #unindexed: every
   * entry is in #values, and the keys added since the order was last needed are sorted in then, in
   * one go, only those a cursor's range may hold (see PendingKeys; a flush adds every key it writes
   * into a covered range, and most are never range-read before they change again or the cache
   * drops them). The pending keys may also name keys removed since, or a key twice: indexing takes
   * only keys in #values, and they are compacted when they outgrow #values.
   */
  #entries = new BTree<KeyString, Uint8Array>();
  #unindexed = new PendingKeys();
  /** The entries by key, for point reads: a cached entry always lies in a covered range. */
  #values = new Map<KeyString, Uint8Array>();
  /** Covered ranges: begin -> end. */
  #coverage = new BTree<KeyString, KeyString>();
  #bytes = 0;
  #evictFrom: KeyString = '';

  constructor(bytesMax: number) {
    this.#bytesMax = bytesMax;
  }

  /** False when the cache keeps nothing (a budget of 0 bytes): filling it is wasted work. */
  get enabled(): boolean {
    return this.#bytesMax > 0;
  }

  /** Bytes the cache accounts for. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The end of the covered range that contains `key`, or `null`. */
  coveredUntil(key: KeyString): KeyString | null {
    const range = this.#coverage.getPairOrNextLower(key);
    return range !== undefined && key < range[1] ? range[1] : null;
  }

  /** The start of the covered range that contains every key just below `end`, or `null`. */
  coveredFrom(end: KeyString): KeyString | null {
    const range = this.#coverage.nextLowerPair(end);
    return range !== undefined && end <= range[1] ? range[0] : null;
  }

  /** The engine's value of `key`, if the cache covers it. */
  get(key: KeyString): CachedValue {
    const value = this.#values.get(key);
    if (value !== undefined) return { covered: true, value };
    return this.coveredUntil(key) === null ? NOT_COVERED : COVERED_ABSENT;
  }

  /**
   * A cursor over the cached entries of `[begin, end)` on a snapshot taken now; the caller makes
   * sure the range is covered.
   */
  cursor(begin: KeyString, end: KeyString, reverse: boolean): EngineCursor {
    // The snapshot is never changed (the cache's own tree copies shared nodes before it writes), so
    // one iterator can walk it across the caller's awaits: a step per entry, not a search.
    this.#indexEntries(this.#unindexed.take(begin, end));
    const snapshot = this.#entries.clone();
    const iterator = reverse ? snapshot.entriesReversed(end, undefined, true) : snapshot.entries(begin);
    let done = false;
    return {
      async next(count) {
        const out: [KeyString, Uint8Array][] = [];
        while (!done && out.length < count) {
          const step = iterator.next();
          if (step.done === true || (reverse ? step.value[0] < begin || step.value[0] >= end : step.value[0] >= end)) {
            done = true;
            break;
          }
          out.push(step.value);
        }
        return out;
      },
      async close() {},
    };
  }

  /**
   * Records that `entries` are every engine entry of `[begin, end)` (read from the current
   * engine state).
   */
  fill(begin: KeyString, end: KeyString, entries: readonly (readonly [KeyString, Uint8Array])[]): void {
    if (begin >= end || this.#bytesMax <= 0) return;
    for (const [key, value] of entries) {
      const previous = this.#values.get(key);
      if (previous !== undefined) this.#bytes -= entryCost(key, previous);
      this.#setEntry(key, value, previous);
      this.#bytes += entryCost(key, value);
    }
    this.#cover(begin, end);
    this.#evict();
  }

  /**
   * Applies a write the engine just made durable: a covered key takes the new value. Past the
   * budget, evicts as a fill does (writes into covered ranges, such as new records appended after
   * the last key read, would otherwise grow the cache without bound).
   */
  write(key: KeyString, value: Uint8Array | null): void {
    if (this.#bytesMax <= 0) return;
    const previous = this.#values.get(key);
    // A cached entry lies in a covered range; only an absent key needs the coverage lookup.
    if (previous === undefined && this.coveredUntil(key) === null) return;
    if (previous !== undefined) this.#bytes -= entryCost(key, previous);
    if (value !== null) {
      this.#setEntry(key, value, previous);
      this.#bytes += entryCost(key, value);
      if (this.#bytes > this.#bytesMax) this.#evict();
    } else if (previous !== undefined) {
      this.#values.delete(key);
      if (this.#entries.size > 0) this.#entries.delete(key);
    }
  }

  // Sets an entry; `previous` is its current value (undefined when the cache has none).
  #setEntry(key: KeyString, value: Uint8Array, previous: Uint8Array | undefined): void {
    this.#values.set(key, value);
    if (previous === undefined) {
      this.#unindexed.add(key);
      if (this.#unindexed.size > 2 * this.#values.size + 1024) this.#compactUnindexed();
    } else if (this.#entries.size > 0) this.#entries.changeIfPresent(key, value);
  }

  // Drops the listed keys no longer cached.
  #compactUnindexed(): void {
    const values = this.#values;
    this.#unindexed.compact((key) => values.has(key));
  }

  // Puts `keys` (taken from the pending keys) into the ordered entries.
  #indexEntries(keys: KeyString[]): void {
    if (keys.length === 0) return;
    keys.sort();
    const values = this.#values;
    for (let i = 0; i < keys.length; i++) {
      const value = values.get(keys[i]!);
      if (value !== undefined) this.#entries.set(keys[i]!, value);
    }
  }

  /** Forgets everything. */
  clear(): void {
    this.#entries = new BTree<KeyString, Uint8Array>();
    this.#unindexed = new PendingKeys();
    this.#values = new Map<KeyString, Uint8Array>();
    this.#coverage = new BTree<KeyString, KeyString>();
    this.#bytes = 0;
  }

  #cover(begin: KeyString, end: KeyString): void {
    let newBegin = begin;
    let newEnd = end;
    const before = this.#coverage.getPairOrNextLower(begin);
    if (before !== undefined && before[1] >= begin) {
      newBegin = before[0];
      if (before[1] > newEnd) newEnd = before[1];
    }
    const absorbed: KeyString[] = [];
    this.#coverage.forRange(begin, end, true, (start, stop) => {
      absorbed.push(start);
      if (stop > newEnd) newEnd = stop;
    });
    for (const start of absorbed) {
      this.#coverage.delete(start);
      this.#bytes -= RANGE_OVERHEAD_BYTES;
    }
    if (newBegin !== begin) this.#bytes -= RANGE_OVERHEAD_BYTES; // `before` is replaced below
    this.#coverage.set(newBegin, newEnd);
    this.#bytes += RANGE_OVERHEAD_BYTES;
  }

  #evict(): void {
    if (this.#bytes > this.#bytesMax) this.#indexEntries(this.#unindexed.takeAll());
    while (this.#bytes > this.#bytesMax && this.#coverage.size > 0) {
      const range = this.#coverage.getPairOrNextHigher(this.#evictFrom) ?? this.#coverage.getPairOrNextHigher('')!;
      const [begin, end] = range;
      this.#entries.forRange(begin, end, false, (key, value) => {
        this.#bytes -= entryCost(key, value);
        this.#values.delete(key);
      });
      this.#entries.deleteRange(begin, end, false);
      this.#coverage.delete(begin);
      this.#bytes -= RANGE_OVERHEAD_BYTES;
      this.#evictFrom = end;
    }
  }
}

function entryCost(key: KeyString, value: Uint8Array): number {
  return key.length + value.length + ENTRY_OVERHEAD_BYTES;
}
