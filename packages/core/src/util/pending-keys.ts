/**
 * Keys waiting to enter an ordered index, grouped by their first bytes so that a range read brings
 * into the index only the groups its range can touch.
 *
 * @remarks
 * The storage server and its cache keep ordered indexes that only range reads need, and add keys to
 * them lazily, when a range read comes. Without groups, every range read indexes every key written
 * since the last one, wherever it lies: a job queue's claim, reading its ready entries, would index
 * every job record, lease and finished entry too, and each of them would be deleted from the index
 * again when it leaves the window. Keys sharing their first {@link PENDING_KEYS_PREFIX_BYTES} bytes
 * (a layer's subspace and the first element of its tuples, typically) form a group; a range read
 * takes the groups whose prefix can lie in its range. Past {@link PENDING_KEYS_GROUPS_MAX} groups the
 * grouping does not pay: every range read then takes everything, as without groups.
 *
 * Invariant: {@link PendingKeys.take} returns every pending key inside `[begin, end)` (and may
 * return others); a key is returned by at most one call after each time it is added.
 */
import { PENDING_KEYS_GROUPS_MAX, PENDING_KEYS_PREFIX_BYTES } from '../limits.js';
import { assert } from './assert.js';
import type { KeyString } from './bytes.js';

// Groups of long keys are found by their first four bytes read as two 16-bit integers.
assert(PENDING_KEYS_PREFIX_BYTES === 4, 'pending keys are grouped by their first four bytes');

/** The pending keys that share a prefix. */
interface Group {
  readonly prefix: KeyString;
  keys: KeyString[];
}

/** Keys not yet in an ordered index, by group. */
export class PendingKeys {
  // Groups of keys of at least four bytes, found by their first two and next two bytes as small
  // integers (no string is made per key), and groups of shorter keys (each its own prefix) by the key.
  #long = new Map<number, Map<number, Group>>();
  #short = new Map<KeyString, Group>();
  #groups: Group[] = [];
  #size = 0;

  /** Number of keys pending (a key added twice counts twice). */
  get size(): number {
    return this.#size;
  }

  /** Adds a key. */
  add(key: KeyString): void {
    let group: Group | undefined;
    if (key.length >= 4) {
      const high = (key.charCodeAt(0) << 8) | key.charCodeAt(1);
      const low = (key.charCodeAt(2) << 8) | key.charCodeAt(3);
      let inner = this.#long.get(high);
      if (inner === undefined) this.#long.set(high, (inner = new Map()));
      group = inner.get(low);
      if (group === undefined) inner.set(low, (group = this.#newGroup(key.slice(0, 4))));
    } else {
      group = this.#short.get(key);
      if (group === undefined) this.#short.set(key, (group = this.#newGroup(key)));
    }
    group.keys.push(key);
    this.#size++;
  }

  #newGroup(prefix: KeyString): Group {
    const group: Group = { prefix, keys: [] };
    this.#groups.push(group);
    return group;
  }

  /**
   * Removes and returns (unsorted) the pending keys of every group that may hold a key in
   * `[begin, end)`: all of them when there are more than {@link PENDING_KEYS_GROUPS_MAX} groups.
   */
  take(begin: KeyString, end: KeyString): KeyString[] {
    if (this.#size === 0) return [];
    if (this.#groups.length > PENDING_KEYS_GROUPS_MAX) return this.takeAll();
    // Every key of a group lies at or after its prefix, and a key whose first bytes sort below
    // `begin`'s first bytes lies below `begin`.
    const low = begin.length <= PENDING_KEYS_PREFIX_BYTES ? begin : begin.slice(0, PENDING_KEYS_PREFIX_BYTES);
    const out: KeyString[] = [];
    let kept = 0;
    const groups = this.#groups;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      if (group.prefix >= end || group.prefix < low) {
        groups[kept++] = group;
        continue;
      }
      const keys = group.keys;
      for (let i = 0; i < keys.length; i++) out.push(keys[i]!);
      this.#forget(group);
    }
    groups.length = kept;
    this.#size -= out.length;
    return out;
  }

  // Removes a group from the lookup maps (the caller drops it from #groups).
  #forget(group: Group): void {
    const prefix = group.prefix;
    if (prefix.length === 4) {
      const high = (prefix.charCodeAt(0) << 8) | prefix.charCodeAt(1);
      const inner = this.#long.get(high)!;
      inner.delete((prefix.charCodeAt(2) << 8) | prefix.charCodeAt(3));
      if (inner.size === 0) this.#long.delete(high);
    } else this.#short.delete(prefix);
  }

  /** Removes and returns (unsorted) every pending key. */
  takeAll(): KeyString[] {
    const out: KeyString[] = [];
    for (const group of this.#groups) {
      const keys = group.keys;
      for (let i = 0; i < keys.length; i++) out.push(keys[i]!);
    }
    this.#long = new Map();
    this.#short = new Map();
    this.#groups = [];
    this.#size = 0;
    return out;
  }

  /** Keeps only the keys for which `keep` holds, each once. */
  compact(keep: (key: KeyString) => boolean): void {
    let size = 0;
    let kept = 0;
    const groups = this.#groups;
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!;
      group.keys = [...new Set(group.keys.filter(keep))];
      if (group.keys.length === 0) this.#forget(group);
      else {
        groups[kept++] = group;
        size += group.keys.length;
      }
    }
    groups.length = kept;
    this.#size = size;
  }
}
