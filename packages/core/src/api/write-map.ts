/**
 * The write map: a transaction's own writes, consulted by its reads (read-your-writes).
 *
 * @remarks
 * Each written key has an entry: a known value (`null` after a clear), a list of atomic ops on a
 * base the transaction has not read, or "unreadable" (a versionstamped value, known only at
 * commit). Range clears are kept as disjoint, coalesced ranges. A key inside a cleared range with
 * no entry of its own is known to be missing. Versionstamped keys are not known until commit, so
 * the range they may land in is unreadable.
 */
import { applyAtomicOp } from './mutation.js';
import { assert } from '../util/assert.js';
import { BTree } from '../util/btree.js';
import type { KeyString } from '../util/bytes.js';

/** What the transaction knows about one key it wrote. */
export type WriteEntry =
  | { readonly kind: 'value'; readonly value: Uint8Array | null }
  | { readonly kind: 'ops'; readonly ops: readonly AtomicStep[] }
  | { readonly kind: 'unreadable' };

/** One atomic op waiting for its base value. */
export interface AtomicStep {
  readonly type: number;
  readonly operand: Uint8Array;
}

/** Applies pending atomic ops to a base value. */
export function applySteps(base: Uint8Array | null, steps: readonly AtomicStep[]): Uint8Array | null {
  let value = base;
  for (const step of steps) value = applyAtomicOp(step.type, value, step.operand);
  return value;
}

/** A transaction's writes, ordered by key. */
export class WriteMap {
  // Each written key's entry. Range reads need the keys in order: #ordered holds them, except the
  // keys written since a range read last needed the order (#unindexed), which are sorted in then,
  // in one go. A transaction that writes without range-reading its own writes never builds it.
  readonly #entries = new Map<KeyString, WriteEntry>();
  readonly #ordered = new BTree<KeyString, undefined>();
  #unindexed: KeyString[] = [];
  /** Cleared ranges: begin -> end, disjoint and coalesced. */
  readonly clears = new BTree<KeyString, KeyString>();
  /** Ranges where versionstamped keys may land (flat `[begin, end, ...]`). */
  readonly unreadable: KeyString[] = [];

  /** True when nothing was written. */
  get isEmpty(): boolean {
    return this.#entries.size === 0 && this.clears.size === 0 && this.unreadable.length === 0;
  }

  /** Number of keys with an entry. */
  get entryCount(): number {
    return this.#entries.size;
  }

  /** The entry of `key`, if the transaction wrote it (and did not clear it with a range since). */
  get(key: KeyString): WriteEntry | undefined {
    return this.#entries.get(key);
  }

  /** The entry with the smallest key at or after `key`. */
  firstAtOrAfter(key: KeyString): [KeyString, WriteEntry] | undefined {
    this.#index();
    const found = this.#ordered.getPairOrNextHigher(key);
    return found === undefined ? undefined : [found[0], this.#entries.get(found[0])!];
  }

  /** The entry with the largest key before `key`. */
  lastBefore(key: KeyString): [KeyString, WriteEntry] | undefined {
    this.#index();
    const found = this.#ordered.nextLowerPair(key);
    return found === undefined ? undefined : [found[0], this.#entries.get(found[0])!];
  }

  set(key: KeyString, value: Uint8Array): void {
    this.#put(key, { kind: 'value', value });
  }

  clear(key: KeyString): void {
    this.#put(key, { kind: 'value', value: null });
  }

  #put(key: KeyString, entry: WriteEntry): void {
    const entries = this.#entries;
    const size = entries.size;
    entries.set(key, entry);
    if (entries.size !== size) this.#unindexed.push(key);
  }

  #index(): void {
    const keys = this.#unindexed;
    if (keys.length === 0) return;
    this.#unindexed = [];
    keys.sort();
    for (let i = 0; i < keys.length; i++) this.#ordered.set(keys[i]!, undefined);
  }

  clearRange(begin: KeyString, end: KeyString): void {
    if (begin >= end) return;
    this.#index();
    const entries = this.#entries;
    this.#ordered.forRange(begin, end, false, (key) => {
      entries.delete(key);
    });
    this.#ordered.deleteRange(begin, end, false);
    let newBegin = begin;
    let newEnd = end;
    // Merge with a clear that starts before `begin` and reaches it.
    const before = this.clears.getPairOrNextLower(begin);
    if (before !== undefined && before[1] >= begin) {
      newBegin = before[0];
      if (before[1] > newEnd) newEnd = before[1];
    }
    // Absorb clears that start inside [begin, end].
    const absorbed: KeyString[] = [];
    this.clears.forRange(begin, end, true, (start, stop) => {
      absorbed.push(start);
      if (stop > newEnd) newEnd = stop;
    });
    for (const start of absorbed) this.clears.delete(start);
    this.clears.set(newBegin, newEnd);
  }

  /** Records an atomic op; if the base is known (written or cleared here), the result is computed now. */
  atomic(key: KeyString, type: number, operand: Uint8Array): void {
    const existing = this.#entries.get(key);
    if (existing === undefined) {
      if (this.isCleared(key)) this.#put(key, { kind: 'value', value: applyAtomicOp(type, null, operand) });
      else this.#put(key, { kind: 'ops', ops: [{ type, operand }] });
    } else if (existing.kind === 'value') {
      this.#entries.set(key, { kind: 'value', value: applyAtomicOp(type, existing.value, operand) });
    } else if (existing.kind === 'ops') {
      this.#entries.set(key, { kind: 'ops', ops: [...existing.ops, { type, operand }] });
    }
  }

  /** Replaces the operand of the last atomic op pending on `key` (an `ops` entry). */
  replaceLastOperand(key: KeyString, operand: Uint8Array): void {
    const existing = this.#entries.get(key);
    assert(existing?.kind === 'ops', 'an atomic op is pending on the key whose operand is replaced');
    const ops = existing.ops.slice();
    ops[ops.length - 1] = { type: ops[ops.length - 1]!.type, operand };
    this.#entries.set(key, { kind: 'ops', ops });
  }

  setUnreadable(key: KeyString): void {
    this.#put(key, { kind: 'unreadable' });
  }

  addUnreadableRange(begin: KeyString, end: KeyString): void {
    this.unreadable.push(begin, end);
  }

  /** True when `key` lies in a range cleared by this transaction. */
  isCleared(key: KeyString): boolean {
    if (this.clears.size === 0) return false;
    const floor = this.clears.getPairOrNextLower(key);
    return floor !== undefined && key < floor[1];
  }

  /** The end of the cleared range holding `key`, or `null`. */
  clearedUntil(key: KeyString): KeyString | null {
    if (this.clears.size === 0) return null;
    const floor = this.clears.getPairOrNextLower(key);
    return floor !== undefined && key < floor[1] ? floor[1] : null;
  }

  /** The start of the cleared range holding the key just below `end` (for reverse reads), or `null`. */
  clearedFrom(end: KeyString): KeyString | null {
    if (this.clears.size === 0) return null;
    const floor = this.clears.nextLowerPair(end);
    return floor !== undefined && end <= floor[1] ? floor[0] : null;
  }

  /** True when `[begin, end)` touches a range where a versionstamped key may land. */
  touchesUnreadable(begin: KeyString, end: KeyString): boolean {
    for (let i = 0; i < this.unreadable.length; i += 2) {
      if (this.unreadable[i]! < end && begin < this.unreadable[i + 1]!) return true;
    }
    return false;
  }
}
