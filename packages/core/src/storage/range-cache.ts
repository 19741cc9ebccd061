/**
 * The storage server's cache of durable data: entries read from the engine, and the key ranges
 * over which the cache is known to hold every engine entry.
 *
 * Invariants:
 * 1. Coverage ranges are disjoint and coalesced. For every covered key, the cache holds exactly
 *    the engine's value at the storage server's durable version (absent if the engine has none).
 * 2. The cache only changes together with the engine: filled from reads of the current engine
 *    state, and updated with every write a flush makes, in the same step as the durable version.
 * 3. Its size is bounded: past `bytesMax`, entries are evicted in key order from a moving
 *    position, like a clock hand (a range's first part or all of it, its coverage shrinking with
 *    them), sparing once each range a range read used since the hand last passed; and a new key
 *    a flush writes past the budget into a range no range read used ends that range's coverage
 *    instead of being added.
 */
import { BTree } from '../util/btree.js';
import { keyAfter, type KeyString } from '../util/bytes.js';
import { PendingKeys } from '../util/pending-keys.js';
import type { EngineCursor } from './storage-engine.js';

const ENTRY_OVERHEAD_BYTES = 64;
const RANGE_OVERHEAD_BYTES = 96;

/** A covered range's end, and whether a range read used it since the eviction hand last passed it. */
interface Covered {
  readonly end: KeyString;
  used: boolean;
}

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
  /** Covered ranges by their begin. */
  #coverage = new BTree<KeyString, Covered>();
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

  /** The end of the covered range that contains `key`, or `null` (for a range read: the range counts as used). */
  coveredUntil(key: KeyString): KeyString | null {
    const range = this.#rangeAt(key);
    if (range === undefined) return null;
    range.used = true;
    return range.end;
  }

  /** The start of the covered range that contains every key just below `end`, or `null` (for a range read, as above). */
  coveredFrom(end: KeyString): KeyString | null {
    const pair = this.#coverage.nextLowerPair(end);
    if (pair === undefined || end > pair[1].end) return null;
    pair[1].used = true;
    return pair[0];
  }

  #rangeAt(key: KeyString): Covered | undefined {
    const pair = this.#coverage.getPairOrNextLower(key);
    return pair !== undefined && key < pair[1].end ? pair[1] : undefined;
  }

  /** The engine's value of `key`, if the cache covers it (a point read does not mark its range used). */
  get(key: KeyString): CachedValue {
    const value = this.#values.get(key);
    if (value !== undefined) return { covered: true, value };
    return this.#rangeAt(key) === undefined ? NOT_COVERED : COVERED_ABSENT;
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
   * Applies a write the engine just made durable: a covered key takes the new value. A new key
   * that would take the cache past its budget, in a range no range read has used since the eviction
   * hand last passed, is not added: the range stops being covered at the key instead. (New records
   * appended after the last key an insert's existence check read would otherwise fill the cache
   * with entries nobody reads, each to be evicted again; a range that range reads keep coming
   * back to, such as a queue's ready entries, keeps its new keys and evicts others.)
   */
  write(key: KeyString, value: Uint8Array | null): void {
    if (this.#bytesMax <= 0) return;
    const previous = this.#values.get(key);
    if (previous === undefined) {
      // A cached entry lies in a covered range; only an absent key needs the coverage lookup.
      if (value === null) return;
      const pair = this.#coverage.getPairOrNextLower(key);
      if (pair === undefined || key >= pair[1].end) return;
      if (this.#bytes + entryCost(key, value) > this.#bytesMax && !pair[1].used) {
        this.#uncoverFrom(key, pair[0], pair[1]);
        return;
      }
      this.#setEntry(key, value, undefined);
      this.#bytes += entryCost(key, value);
      this.#evict();
      return;
    }
    this.#bytes -= entryCost(key, previous);
    if (value !== null) {
      this.#setEntry(key, value, previous);
      this.#bytes += entryCost(key, value);
      this.#evict();
    } else {
      this.#values.delete(key);
      if (this.#entries.size > 0) this.#entries.delete(key);
    }
  }

  // Ends the covered range [begin, range.end) at `key`: the entries from `key` on go with it.
  #uncoverFrom(key: KeyString, begin: KeyString, range: Covered): void {
    this.#indexEntries(this.#unindexed.take(key, range.end));
    this.#entries.forRange(key, range.end, false, (entryKey, value) => {
      this.#bytes -= entryCost(entryKey, value);
      this.#values.delete(entryKey);
    });
    this.#entries.deleteRange(key, range.end, false);
    if (key > begin) this.#coverage.set(begin, { end: key, used: range.used });
    else {
      this.#coverage.delete(begin);
      this.#bytes -= RANGE_OVERHEAD_BYTES;
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
    this.#coverage = new BTree<KeyString, Covered>();
    this.#bytes = 0;
  }

  #cover(begin: KeyString, end: KeyString): void {
    let newBegin = begin;
    let newEnd = end;
    const before = this.#coverage.getPairOrNextLower(begin);
    if (before !== undefined && before[1].end >= begin) {
      newBegin = before[0];
      if (before[1].end > newEnd) newEnd = before[1].end;
    }
    const absorbed: KeyString[] = [];
    this.#coverage.forRange(begin, end, true, (start, range) => {
      absorbed.push(start);
      if (range.end > newEnd) newEnd = range.end;
    });
    for (const start of absorbed) {
      this.#coverage.delete(start);
      this.#bytes -= RANGE_OVERHEAD_BYTES;
    }
    if (newBegin !== begin) this.#bytes -= RANGE_OVERHEAD_BYTES; // `before` is replaced below
    // Not marked used: a range counts as used once a read comes back to it.
    this.#coverage.set(newBegin, { end: newEnd, used: false });
    this.#bytes += RANGE_OVERHEAD_BYTES;
  }

  // A clock hand over the covered ranges in key order: a range a range read used since the hand
  // last passed is spared once (its mark cleared); otherwise entries go from the range's start, the
  // whole range or only its first part (its coverage then starts after the last entry dropped),
  // until the cache is back to 7/8 of its budget. A range can hold most of the cache (a flush
  // writes every new key of a gap a read learned into it), and dropping it whole would send every
  // read of it to the engine at once. Ranges reads keep coming back to are spared.
  #evict(): void {
    // Nothing to do within the budget (every write and fill calls this).
    if (this.#bytes <= this.#bytesMax) return;
    this.#indexEntries(this.#unindexed.takeAll());
    const target = this.#bytesMax - Math.floor(this.#bytesMax / 8);
    const values = this.#values;
    let spared = 0;
    while (this.#bytes > target && this.#coverage.size > 0) {
      const [begin, range] = this.#coverage.getPairOrNextHigher(this.#evictFrom) ?? this.#coverage.getPairOrNextHigher('')!;
      if (range.used && spared < this.#coverage.size) {
        range.used = false;
        spared++;
        this.#evictFrom = range.end;
        continue;
      }
      let last: KeyString | null = null;
      let stopped = false;
      this.#entries.forRange(begin, range.end, false, (key, value) => {
        if (this.#bytes <= target) {
          stopped = true;
          return { break: true };
        }
        this.#bytes -= entryCost(key, value);
        values.delete(key);
        last = key;
      });
      this.#coverage.delete(begin);
      if (stopped) {
        // The first part went: the rest stays covered.
        const rest = keyAfter(last!);
        this.#entries.deleteRange(begin, rest, false);
        this.#coverage.set(rest, range);
        this.#evictFrom = rest;
      } else {
        this.#entries.deleteRange(begin, range.end, false);
        this.#bytes -= RANGE_OVERHEAD_BYTES;
        this.#evictFrom = range.end;
      }
    }
  }
}

function entryCost(key: KeyString, value: Uint8Array): number {
  return key.length + value.length + ENTRY_OVERHEAD_BYTES;
}
