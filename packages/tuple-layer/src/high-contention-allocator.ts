/**
 * The high-contention allocator (HCA): hands out small integers, each to at most one committed
 * transaction, so that the directory layer can give every directory a short prefix. It keeps
 * FoundationDB's layout, so Strata and FoundationDB's bindings can allocate from the same subspace.
 *
 * @remarks
 * Layout, under the subspace it is given (the directory layer gives it its root node's `'hca'`):
 * - `counters = subspace[0]`: `counters[start]` holds a little-endian int64, the number of
 *   allocations begun in the window of integers that starts at `start`. The largest `start` with a
 *   counter is the current window.
 * - `recent = subspace[1]`: `recent[n]` (an empty value) marks `n` as handed out.
 *
 * An allocation picks integers at random inside the current window until it finds one without a
 * `recent` key. The window is kept at most half full by counting allocations into it, so about two
 * tries are expected; once half full, the window moves up past itself and the old window's counters
 * and `recent` keys are cleared. Windows are 64 integers wide below 255, 1024 below 65535, and 8192
 * above, so early prefixes are short (two bytes) and later ones stay cheap to find.
 *
 * Invariants:
 * 1. An integer is handed out by at most one committed transaction: the allocation that hands out
 *    `n` read `recent[n]` without `snapshot` and writes it, so of two transactions that both saw it
 *    free, the second to commit conflicts.
 * 2. The window only moves up: its start is the largest counter key, and a move clears counters
 *    only below the new start it has just counted into. Integers below the current window are
 *    never handed out again.
 * 3. Allocators with different candidates do not conflict: the window is read with snapshot reads
 *    and counted with an atomic add, which add no read conflict ranges.
 * 4. Allocations on one transaction run one at a time, so two calls on the same transaction never
 *    pick the same integer (conflict ranges cannot separate a transaction from itself).
 */
import { nodeRuntime, type Transaction } from '@strata/core';
import { Subspace } from './subspace.js';
import { pack } from './tuple.js';

/** Options of {@link HighContentionAllocator}'s constructor. */
export interface HighContentionAllocatorOptions {
  /**
   * Uniform numbers in [0, 1) used to pick candidates inside the window (default: the node
   * runtime's). Tests pass a seeded generator to replay a run.
   */
  random?: () => number;
}

/** Most window moves one allocation can make: it moves at most once past the largest counter (see `allocate`). */
const WINDOW_MOVES_MAX = 2;
/**
 * Most candidates one allocation tries. At least half of the window is free at the transaction's
 * read version, so each try succeeds with probability above 1/2; needing this many means the
 * `recent` keys disagree with the counters, which the allocator never writes.
 */
const CANDIDATE_ATTEMPTS_MAX = 256;
/** The int64 1, little-endian: the operand of the counter's atomic add. */
const ONE_INT64_LE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
const EMPTY = new Uint8Array(0);

/** Allocations under way per transaction: each waits for the previous one (invariant 4). */
const allocationQueues = new WeakMap<Transaction, Promise<void>>();

/**
 * Hands out integers, each to at most one committed transaction, packed as one-item tuples, in
 * FoundationDB's high-contention allocator layout.
 *
 * @remarks
 * Many clients can allocate at once: two allocations conflict only when they pick the same
 * candidate or when one of them moves the window. The result is unique across every transaction
 * that commits; an allocation in a transaction that does not commit hands out nothing.
 * @example
 * ```ts
 * const allocator = new HighContentionAllocator(new Subspace(['my-allocator']));
 * const prefix = await db.transact((tx) => allocator.allocate(tx)); // e.g. pack([17])
 * ```
 */
export class HighContentionAllocator {
  /** The subspace the allocator keeps its state in. */
  readonly subspace: Subspace;
  /** `subspace[0]`: the allocation count of each window, keyed by the window's start. */
  readonly counters: Subspace;
  /** `subspace[1]`: one key per integer handed out in the current window. */
  readonly recent: Subspace;
  readonly #random: () => number;

  /**
   * An allocator whose state lives in `subspace`; every allocator over the same subspace (in this
   * process, another one, or a FoundationDB binding) hands out from the same integers.
   * @param subspace - where the allocator keeps its counters and recent allocations.
   */
  constructor(subspace: Subspace<unknown, unknown>, options: HighContentionAllocatorOptions = {}) {
    this.subspace = new Subspace(subspace.prefix);
    this.counters = this.subspace.subspace([0]);
    this.recent = this.subspace.subspace([1]);
    this.#random = options.random ?? nodeRuntime.random;
  }

  /**
   * The width of the window that starts at `start`: FoundationDB's 64, 1024 or 8192.
   * @example `HighContentionAllocator.windowSize(0) // 64`
   */
  static windowSize(start: number): number {
    if (start < 255) return 64;
    if (start < 65535) return 1024;
    return 8192;
  }

  /**
   * Allocates an integer that no other committed transaction receives, and returns it packed as
   * a one-item tuple (the bytes FoundationDB's allocator returns).
   *
   * @remarks
   * Reads the window with snapshot reads, counts itself into it with an atomic add, and claims
   * its candidate with a read and a write of `recent[candidate]`, which is what makes a concurrent
   * allocator of the same candidate fail with `not_committed` (retried by `db.transact`).
   * @throws StrataError from the transaction's reads, e.g. `transaction_too_old`.
   * @example
   * ```ts
   * const [n] = unpack(await db.transact((tx) => allocator.allocate(tx)));
   * ```
   */
  allocate(tx: Transaction): Promise<Uint8Array> {
    const previous = allocationQueues.get(tx) ?? Promise.resolve();
    const result = previous.then(() => this.#allocate(tx));
    allocationQueues.set(
      tx,
      result.then(
        () => undefined,
        () => undefined,
      ),
    );
    return result;
  }

  async #allocate(tx: Transaction): Promise<Uint8Array> {
    let start = await this.#currentWindowStart(tx);
    let window = HighContentionAllocator.windowSize(start);
    // Find a window less than half full. The first window examined is the current (largest) one;
    // if it is half full, the next one starts past every counter, so it holds only this count.
    for (let moves = 0; ; moves++) {
      invariant(moves <= WINDOW_MOVES_MAX, `the allocator moved its window ${moves} times in one allocation`);
      if (moves > 0) {
        // Everything below the new window is finished with: no candidate is drawn from it again.
        // As in FoundationDB, these clears add no write conflict ranges, so allocators still
        // working in the old window are not made to retry.
        tx.clearRange(this.counters.prefix, this.counters.pack([start]), { addConflictRange: false });
        tx.clearRange(this.recent.prefix, this.recent.pack([start]), { addConflictRange: false });
      }
      const counter = this.counters.pack([start]);
      tx.add(counter, ONE_INT64_LE);
      // A snapshot read (it sees this transaction's own add): allocators counting into the same
      // window must not conflict with each other.
      const count = readInt64(await tx.get(counter, { snapshot: true }));
      window = HighContentionAllocator.windowSize(start);
      if (count * 2 < window) break;
      start += window;
    }
    // FoundationDB's allocator also re-reads the largest counter here and starts over if it grew,
    // which can only happen through a concurrent allocation on the same transaction. Allocations on
    // one transaction are serialized (invariant 4), so the window cannot move in between.
    for (let attempt = 0; attempt < CANDIDATE_ATTEMPTS_MAX; attempt++) {
      const candidate = start + Math.min(window - 1, Math.floor(this.#random() * window));
      const key = this.recent.pack([candidate]);
      // Not a snapshot read: this read conflict range is what makes two allocators that both saw
      // `candidate` free collide (invariant 1).
      if ((await tx.get(key)) !== null) continue;
      // Only the winning candidate is written, so its write conflict range is the one FoundationDB
      // adds explicitly; a taken candidate is left alone rather than rewritten.
      tx.set(key, EMPTY);
      return pack([candidate]);
    }
    invariant(false, `no free candidate in the window starting at ${start} after ${CANDIDATE_ATTEMPTS_MAX} tries, although its counter says it is less than half full`);
  }

  /** The start of the current window: the largest counter key (0 before the first allocation). */
  async #currentWindowStart(tx: Transaction): Promise<number> {
    const { begin, end } = this.counters.range();
    const rows = await tx.getRangeAll(begin, end, { reverse: true, limit: 1, snapshot: true });
    if (rows.length === 0) return 0;
    const [start] = this.counters.unpack(rows[0]!.key);
    const value = typeof start === 'bigint' ? Number(start) : start;
    invariant(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0, 'a counter key of the allocator is not a non-negative integer');
    return value;
  }
}

/** A counter's value: a little-endian signed int64 (missing counts as 0). */
function readInt64(bytes: Uint8Array | null): number {
  if (bytes === null) return 0;
  // Atomic adds keep the operand's width; a shorter stored value is zero-extended, as FDB does.
  const padded = new Uint8Array(8);
  padded.set(bytes.subarray(0, 8));
  return Number(new DataView(padded.buffer).getBigInt64(0, true));
}

/** A broken invariant is a bug (or foreign writes into the allocator's subspace): stop loudly. */
function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}
