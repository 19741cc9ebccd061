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
 *    them), back to 7/8 of the budget, sparing once each range a range read used since the hand
 *    last passed.
 * 4. A flush's new key in a covered range is added only if a range read used the range since the
 *    cache last took in an eighth of its budget in new keys. In any other range the key is not
 *    added, and the range stops covering the gap around it instead (from the key up to the next
 *    cached entry), dropping nothing: new keys nobody reads (the records an insert load appends
 *    after the key its existence check missed) do not cycle through the cache. A gap a point read
 *    learned counts as unread, and a range merged from parts counts as read as long ago as its
 *    least recently read part.
 * 5. The entries not yet in key order (see #entries) stay a bounded backlog: ordering them, which
 *    eviction needs, never stalls the process for long.
 */
import { BTree } from '../util/btree.js';
import { RANGE_CACHE_UNORDERED_KEYS_MAX } from '../limits.js';
import { keyAfter, type KeyString } from '../util/bytes.js';
import { PendingKeys } from '../util/pending-keys.js';
import type { EngineCursor } from './storage-engine.js';

const ENTRY_OVERHEAD_BYTES = 64;
const RANGE_OVERHEAD_BYTES = 96;

/** A covered range's end, and what range reads did with it. */
interface Covered {
  readonly end: KeyString;
  /** Whether a range read used the range since the eviction hand last passed it. */
  used: boolean;
  /**
   * The cache's count of new-key bytes taken in (`#takenIn`) when a range read last used it;
   * `-Infinity` for a gap only point reads learned.
   */
  readAt: number;
}

/** What the cache knows about one key. */
export type CachedValue = { covered: true; value: Uint8Array | null } | { covered: false };

const NOT_COVERED: CachedValue = Object.freeze({ covered: false });
const COVERED_ABSENT: CachedValue = Object.freeze({ covered: true, value: null });

/** A bounded cache of durable entries with completeness ranges. */
export class RangeCache {
  readonly #bytesMax: number;
  /** Where eviction brings the cache back to. */
  readonly #bytesTarget: number;
  /**
   * How many bytes of new keys a range read lets into its range: a read counts as recent until
   * the cache has taken in this much since (what one eviction pass makes room for, an eighth of
   * the budget). A whole budget let one read admit some 400,000 records and index entries an
   * insert load appended to a new store, nobody reading them (the read was the directory layer's
   * check that the store's new prefix was empty), each added, ordered and evicted again.
   */
  readonly #recentBytes: number;
  /** Bytes of new keys flushes added, ever: the clock by which a range read counts as recent. */
  #takenIn = 0;
  /** Filled by the coverage lookup of every flushed key, instead of a new pair each time. */
  readonly #pair: [KeyString, Covered] = ['', { end: '', used: false, readAt: 0 }];
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
    this.#bytesTarget = bytesMax - Math.floor(bytesMax / 8);
    this.#recentBytes = bytesMax - this.#bytesTarget;
  }

  /** False when the cache keeps nothing (a budget of 0 bytes): filling it is wasted work. */
  get enabled(): boolean {
    return this.#bytesMax > 0;
  }

  /** Bytes the cache accounts for. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Keys added but not yet put in key order (for tests and metrics). */
  get unorderedKeys(): number {
    return this.#unindexed.size;
  }

  /** The end of the covered range that contains `key`, or `null` (for a range read: the range counts as used). */
  coveredUntil(key: KeyString): KeyString | null {
    const range = this.#rangeAt(key);
    if (range === undefined) return null;
    this.#markUsed(range);
    return range.end;
  }

  /** The start of the covered range that contains every key just below `end`, or `null` (for a range read, as above). */
  coveredFrom(end: KeyString): KeyString | null {
    const pair = this.#coverage.nextLowerPair(end);
    if (pair === undefined || end > pair[1].end) return null;
    this.#markUsed(pair[1]);
    return pair[0];
  }

  #markUsed(range: Covered): void {
    range.used = true;
    range.readAt = this.#takenIn;
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
   * engine state). `byRangeRead` says whether a range read asked for the range (it then counts as
   * read now) or a point read learned it (a key, or the gap after a missing key).
   */
  fill(begin: KeyString, end: KeyString, entries: readonly (readonly [KeyString, Uint8Array])[], byRangeRead = true): void {
    if (begin >= end || this.#bytesMax <= 0) return;
    for (const [key, value] of entries) {
      const previous = this.#values.get(key);
      if (previous !== undefined) this.#bytes -= entryCost(key, previous);
      this.#setEntry(key, value, previous);
      this.#bytes += entryCost(key, value);
    }
    this.#cover(begin, end, byRangeRead ? this.#takenIn : -Infinity);
    this.#evict();
  }

  /**
   * Applies a write the engine just made durable: a cached key takes the new value, and a new key
   * in a covered range is added if a range read used the range lately (a queue's ready entries,
   * read by every claim, say), evicting elsewhere if need be. In any other range the cache stops
   * covering the gap the key lands in, from the key up to the next cached entry, and keeps
   * everything it holds: the records an insert load appends would otherwise cycle through the
   * cache unread, each added, ordered and evicted (their existence checks are point reads, and
   * the gap the first of them learned holds all the others).
   */
  write(key: KeyString, value: Uint8Array | null): void {
    if (this.#bytesMax <= 0) return;
    // Coverage first: its tree holds a few ranges, and most keys a flush writes lie outside them
    // (a cached entry always lies inside one).
    const pair = this.#coverage.getPairOrNextLower(key, this.#pair);
    if (pair === undefined || key >= pair[1].end) return;
    const [begin, range] = pair;
    const previous = this.#values.get(key);
    if (previous !== undefined) {
      this.#bytes -= entryCost(key, previous);
      if (value !== null) {
        this.#setEntry(key, value, previous);
        this.#bytes += entryCost(key, value);
        this.#evict();
      } else {
        this.#values.delete(key);
        if (this.#entries.size > 0) this.#entries.delete(key);
      }
      return;
    }
    if (value === null) return;
    const cost = entryCost(key, value);
    if (this.#takenIn - range.readAt >= this.#recentBytes) {
      this.#uncoverGap(key, begin, range);
      return;
    }
    this.#takenIn += cost;
    this.#setEntry(key, value, undefined);
    this.#bytes += cost;
    this.#evict();
  }

  // Stops covering, in the covered range [begin, range.end), the gap from `key` (not cached) up to
  // the next cached entry: the range splits around it, at most one range more.
  #uncoverGap(key: KeyString, begin: KeyString, range: Covered): void {
    this.#indexEntries(this.#unindexed.take(key, range.end));
    const next = this.#entries.nextHigherKey(key);
    const resume = next !== undefined && next < range.end ? next : range.end;
    if (key > begin) this.#coverage.set(begin, { end: key, used: range.used, readAt: range.readAt });
    else {
      this.#coverage.delete(begin);
      this.#bytes -= RANGE_OVERHEAD_BYTES;
    }
    if (resume < range.end) {
      this.#coverage.set(resume, { end: range.end, used: range.used, readAt: range.readAt });
      this.#bytes += RANGE_OVERHEAD_BYTES;
    }
    this.#evict();
  }

  // Sets an entry; `previous` is its current value (undefined when the cache has none).
  #setEntry(key: KeyString, value: Uint8Array, previous: Uint8Array | undefined): void {
    this.#values.set(key, value);
    if (previous === undefined) {
      this.#unindexed.add(key);
      if (this.#unindexed.size > 2 * this.#values.size + 1024) this.#compactUnindexed();
      // Ordered in bounded steps: the first eviction would otherwise order a whole budget's worth
      // of keys at once (half a second for 64 MiB of small entries).
      if (this.#unindexed.size >= RANGE_CACHE_UNORDERED_KEYS_MAX) this.#indexEntries(this.#unindexed.takeAll());
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

  // Covers [begin, end), merging the ranges it touches; `readAt` is the new part's.
  #cover(begin: KeyString, end: KeyString, readAt: number): void {
    let newBegin = begin;
    let newEnd = end;
    // The merged range was read as long ago as its least recently read part: a gap a point read
    // learned next to a range a query reads (the records appended after the last one, say) must
    // not take in new keys on the strength of the query's reads.
    const before = this.#coverage.getPairOrNextLower(begin);
    if (before !== undefined && before[1].end >= begin) {
      newBegin = before[0];
      if (before[1].end > newEnd) newEnd = before[1].end;
      if (before[1].readAt < readAt) readAt = before[1].readAt;
    }
    const absorbed: KeyString[] = [];
    this.#coverage.forRange(begin, end, true, (start, range) => {
      absorbed.push(start);
      if (range.end > newEnd) newEnd = range.end;
      if (range.readAt < readAt) readAt = range.readAt;
    });
    for (const start of absorbed) {
      this.#coverage.delete(start);
      this.#bytes -= RANGE_OVERHEAD_BYTES;
    }
    if (newBegin !== begin) this.#bytes -= RANGE_OVERHEAD_BYTES; // `before` is replaced below
    // Not marked used: a range counts as used once a read comes back to it.
    this.#coverage.set(newBegin, { end: newEnd, used: false, readAt });
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
    const target = this.#bytesTarget;
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
