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
 * A group can hold many keys no range read wants: the ready entries of every job queue share their
 * first four bytes, so a claim reading one queue's would take (and sort, and index) all of them.
 * When a range read lies inside a group of at least {@link PENDING_KEYS_SPLIT_KEYS_MIN} keys, the
 * group is split by the next four bytes into subgroups (at most {@link PENDING_KEYS_SUBGROUPS_MAX};
 * keys shorter than eight bytes, or past that many subgroups, stay in the group itself), and from
 * then on a range read takes only the subgroups that can lie in it.
 *
 * Invariant: {@link PendingKeys.take} returns every pending key inside `[begin, end)` (and may
 * return others); a key is returned by at most one call after each time it is added.
 */
import { PENDING_KEYS_GROUPS_MAX, PENDING_KEYS_PREFIX_BYTES, PENDING_KEYS_SPLIT_KEYS_MIN, PENDING_KEYS_SUBGROUPS_MAX } from '../limits.js';
import { assert } from './assert.js';
import type { KeyString } from './bytes.js';

// Groups of long keys are found by their first four bytes read as two 16-bit integers.
assert(PENDING_KEYS_PREFIX_BYTES === 4, 'pending keys are grouped by their first four bytes');

/** The pending keys that share a prefix. */
interface Group {
  readonly prefix: KeyString;
  /** The group's keys, except those of its subgroups. */
  keys: KeyString[];
  /**
   * Once split: subgroups by the key's bytes 4 to 8 as one integer (see {@link nextFourBytes});
   * each subgroup's prefix is the first eight bytes of its keys, all of eight bytes or more.
   */
  subgroups: Map<number, Group> | null;
  /** Keys in the group and its subgroups. */
  size: number;
  /** The size at which a split last found the keys too varied (0: never); tried again at twice it. */
  splitFailedAt: number;
}

/** Construction options of {@link PendingKeys} (the defaults are the limits'; tests make them small). */
export interface PendingKeysOptions {
  splitKeysMin?: number;
  subgroupsMax?: number;
}

/** Keys not yet in an ordered index, by group. */
export class PendingKeys {
  readonly #splitKeysMin: number;
  readonly #subgroupsMax: number;
  // Groups of keys of at least four bytes, found by their first two and next two bytes as small
  // integers (no string is made per key), and groups of shorter keys (each its own prefix) by the key.
  #long = new Map<number, Map<number, Group>>();
  #short = new Map<KeyString, Group>();
  #groups: Group[] = [];
  #size = 0;

  constructor(options: PendingKeysOptions = {}) {
    this.#splitKeysMin = options.splitKeysMin ?? PENDING_KEYS_SPLIT_KEYS_MIN;
    this.#subgroupsMax = options.subgroupsMax ?? PENDING_KEYS_SUBGROUPS_MAX;
  }

  /** Number of keys pending (a key added twice counts twice). */
  get size(): number {
    return this.#size;
  }

  /** Number of subgroups of split groups (for tests and metrics). */
  get subgroupCount(): number {
    let count = 0;
    for (const group of this.#groups) count += group.subgroups?.size ?? 0;
    return count;
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
    group.size++;
    this.#size++;
    const subgroups = group.subgroups;
    if (subgroups !== null && key.length >= 8) {
      const next = nextFourBytes(key);
      let subgroup = subgroups.get(next);
      if (subgroup === undefined && subgroups.size < this.#subgroupsMax) subgroups.set(next, (subgroup = newGroup(key.slice(0, 8))));
      if (subgroup !== undefined) {
        subgroup.keys.push(key);
        subgroup.size++;
        return;
      }
    }
    group.keys.push(key);
  }

  #newGroup(prefix: KeyString): Group {
    const group = newGroup(prefix);
    this.#groups.push(group);
    return group;
  }

  // Splits `group` by its keys' first eight bytes, unless that makes more than #subgroupsMax subgroups.
  #split(group: Group): void {
    const subgroups = new Map<number, Group>();
    const rest: KeyString[] = [];
    for (const key of group.keys) {
      if (key.length < 8) {
        rest.push(key);
        continue;
      }
      const next = nextFourBytes(key);
      let subgroup = subgroups.get(next);
      if (subgroup === undefined) {
        if (subgroups.size >= this.#subgroupsMax) {
          // Too varied for subgroups to pay (a table's records by id, say): the group stays whole.
          group.splitFailedAt = group.size;
          return;
        }
        subgroups.set(next, (subgroup = newGroup(key.slice(0, 8))));
      }
      subgroup.keys.push(key);
      subgroup.size++;
    }
    group.keys = rest;
    group.subgroups = subgroups;
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
      // A range inside the group's prefix may want only some of its keys: split a large group.
      if (
        group.subgroups === null &&
        group.size >= this.#splitKeysMin &&
        group.size >= 2 * group.splitFailedAt &&
        begin.startsWith(group.prefix) &&
        end.startsWith(group.prefix)
      ) {
        this.#split(group);
      }
      if (group.subgroups === null) {
        pushAll(out, group.keys);
        this.#forget(group);
        continue;
      }
      // The group's own keys as a whole, then each subgroup whose prefix can lie in the range (the
      // same test as for groups, on eight bytes).
      pushAll(out, group.keys);
      group.size -= group.keys.length;
      group.keys = [];
      const low8 = begin.length <= 8 ? begin : begin.slice(0, 8);
      for (const [next, subgroup] of group.subgroups) {
        if (subgroup.prefix >= end || subgroup.prefix < low8) continue;
        pushAll(out, subgroup.keys);
        group.size -= subgroup.size;
        group.subgroups.delete(next);
      }
      if (group.size === 0) this.#forget(group);
      else groups[kept++] = group;
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
      pushAll(out, group.keys);
      if (group.subgroups !== null) for (const subgroup of group.subgroups.values()) pushAll(out, subgroup.keys);
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
      group.size = group.keys.length;
      if (group.subgroups !== null) {
        for (const [next, subgroup] of group.subgroups) {
          subgroup.keys = [...new Set(subgroup.keys.filter(keep))];
          subgroup.size = subgroup.keys.length;
          if (subgroup.size === 0) group.subgroups.delete(next);
          else group.size += subgroup.size;
        }
      }
      if (group.size === 0) this.#forget(group);
      else {
        groups[kept++] = group;
        size += group.size;
      }
    }
    groups.length = kept;
    this.#size = size;
  }
}

// Bytes 4 to 8 of a key of at least eight bytes, as one integer (no string is made per key).
function nextFourBytes(key: KeyString): number {
  return ((key.charCodeAt(4) << 24) | (key.charCodeAt(5) << 16) | (key.charCodeAt(6) << 8) | key.charCodeAt(7)) >>> 0;
}

function newGroup(prefix: KeyString): Group {
  return { prefix, keys: [], subgroups: null, size: 0, splitFailedAt: 0 };
}

function pushAll(out: KeyString[], keys: readonly KeyString[]): void {
  for (let i = 0; i < keys.length; i++) out.push(keys[i]!);
}
