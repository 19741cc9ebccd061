/**
 * Transactions: reads at one read version plus the transaction's own writes, committed atomically
 * with optimistic conflict checking.
 */
import { KEY_SIZE_MAX, RANGE_BATCH_ROWS_FIRST, RANGE_BATCH_ROWS_MAX, TRANSACTION_SIZE_MAX, VALUE_SIZE_MAX, WATCHES_MAX } from '../limits.js';
import type { CommitRequest, CommitResult } from '../roles/commit-proxy.js';
import type { StorageEntry, StorageRangeResult } from '../roles/storage-server.js';
import type { Runtime } from '../runtime/runtime.js';
import { NO_BYTES, allocBytes, copyBytes, fromKeyString, keyAfter, pointBytes, toKeyString, type KeyString } from '../util/bytes.js';
import { METADATA_VERSION_KEY, METADATA_VERSION_KEY_STRING, METADATA_VERSION_PLACEHOLDER, checkMetadataVersionWrite, type MetadataVersion } from './metadata-version.js';
import { StrataError } from './errors.js';
import { KeySelector } from './key-selector.js';
import {
  MutationType,
  VERSIONSTAMP_BYTES,
  applyAtomicOp,
  makeVersionstamp,
  readVersionstampOffset,
  type AtomicOpName,
  type Mutation,
  type MutationTypeCode,
} from './mutation.js';
import { WriteMap, applySteps, type WriteEntry } from './write-map.js';

/** A key and its value, as range reads return them. */
export interface KeyValue {
  /** The key (a fresh copy the caller owns). */
  key: Uint8Array;
  /** The value (a fresh copy the caller owns). */
  value: Uint8Array;
}

/**
 * Something a transaction can be seen through, such as a subspace with typed encoders: `tx.at(x)`
 * returns `x.bind(tx)`, made on the first call in the transaction and handed out again after. This
 * is how layers give transactions a typed face without reaching into the core.
 */
export interface TransactionBinding<T> {
  /** The view of `tx` this binding provides. */
  bind(tx: Transaction): T;
}

/** Options of a single read. */
export interface ReadOptions {
  /** Read without adding a read conflict range (the read does not make the transaction conflict). */
  snapshot?: boolean;
}

/** Options of {@link Transaction.get}. */
export interface GetOptions extends ReadOptions {
  /**
   * Return the stored bytes without copying them. The caller must neither modify them nor keep
   * them past its use (they may be shared with the database's caches). For layers that decode a
   * value at once; everyone else should leave it off.
   */
  borrow?: boolean;
}

/** Options of a range read. */
export interface RangeOptions extends ReadOptions {
  /** Most key-value pairs to return (default: no limit). */
  limit?: number;
  /** Return pairs in descending key order. */
  reverse?: boolean;
}

/** Options of a write. */
export interface WriteOptions {
  /**
   * Add the write's conflict range (default `true`). With `false` the write makes no other
   * transaction conflict (FoundationDB's `next_write_no_write_conflict_range`), for layers that
   * know a concurrent reader cannot be harmed, such as an allocator clearing its finished window.
   */
  addConflictRange?: boolean;
}

/** Options of a transaction (and of `db.transact`, which adds retry options). */
export interface TransactionOptions {
  /** Allow reads and writes of keys starting with 0xFF (the system key space). */
  accessSystemKeys?: boolean;
  /** Fail with `transaction_timed_out` once this many milliseconds have passed (across retries in `transact`). */
  timeoutMs?: number;
}

/** What a transaction needs from its database (the embedded roles, or a cluster client). */
export interface TransactionHost {
  readonly runtime: Runtime;
  getReadVersion(): number | Promise<number>;
  read(key: KeyString, version: number): Uint8Array | null | Promise<Uint8Array | null>;
  /** The values of `keys` at `version`, in order (see `StorageServer.getMany`). */
  readMany(keys: readonly KeyString[], version: number): (Uint8Array | null)[] | Promise<(Uint8Array | null)[]>;
  readRange(begin: KeyString, end: KeyString, version: number, limit: number, reverse: boolean): Promise<StorageRangeResult>;
  commit(request: CommitRequest): Promise<CommitResult>;
  watch(key: KeyString, version: number, fire: () => void, fail: (error: unknown) => void): () => void;
  readonly watchCount: number;
  /**
   * The newest metadata version the host knows without a read, good for read versions from
   * `since` through `through` (see `api/metadata-version.ts`). Absent, or for another read version,
   * the transaction reads the key from storage.
   */
  metadataVersion?(): KnownMetadataVersion;
}

/** A metadata version and the read versions it holds for. */
export interface KnownMetadataVersion extends MetadataVersion {
  /** The newest read version known to carry `value`. */
  readonly through: number;
}

/**
 * A watch on one key: `changed` resolves once the key's value differs from its value when the
 * transaction committed.
 */
export interface Watch {
  /** Resolves when the value changed; rejects if the transaction did not commit or the watch was cancelled. */
  readonly changed: Promise<void>;
  /** Cancels the watch; `changed` rejects with `operation_cancelled`. */
  cancel(): void;
}

type State = 'active' | 'committing' | 'committed' | 'failed';

/** A range read under way (see Transaction's #openRange). */
interface RangeRead {
  next(): Promise<readonly StorageEntry[] | null>;
  stop(): void;
}

interface PendingWatch {
  key: KeyString;
  resolve: () => void;
  reject: (error: unknown) => void;
  cancelled: boolean;
  cancelStorage: (() => void) | null;
}

const ATOMIC_TYPES: Record<AtomicOpName, MutationTypeCode> = {
  add: MutationType.add,
  bitAnd: MutationType.bitAnd,
  bitOr: MutationType.bitOr,
  bitXor: MutationType.bitXor,
  max: MutationType.max,
  min: MutationType.min,
  byteMax: MutationType.byteMax,
  byteMin: MutationType.byteMin,
  appendIfFits: MutationType.appendIfFits,
  compareAndClear: MutationType.compareAndClear,
};

const SYSTEM_PREFIX = 0xff;

// The origin of each host's transactions (see Transaction.origin).
const ORIGINS = new WeakMap<TransactionHost, object>();
const NORMAL_KEYS_END = '\xff';
const SYSTEM_KEYS_END = '\xff\xff';

/** Makes a promise whose rejection is never reported as unhandled (the caller may ignore it). */
function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => {});
  return promise;
}

/**
 * A transaction: reads see one consistent snapshot (the read version) plus the transaction's own
 * writes; writes are buffered and committed atomically.
 *
 * @remarks
 * Obtain one from `db.transact` (which commits and retries) or `db.createTransaction` (commit it
 * yourself). Isolation is strictly serializable: a commit fails with `not_committed` if a write
 * committed after the read version intersects what this transaction read without `snapshot`.
 * Reads the transaction can answer from its own writes add no read conflict.
 *
 * @example
 * ```ts
 * await db.transact(async (tx) => {
 *   const balance = await tx.get(key('alice'));
 *   tx.set(key('alice'), encode(decode(balance) - 10));
 * });
 * ```
 */
export class Transaction {
  readonly #host: TransactionHost;
  readonly #accessSystemKeys: boolean;
  readonly #deadline: number;
  readonly #writes = new WriteMap();
  readonly #mutations: Mutation[] = [];
  // Where each key's newest add is in #mutations, and whether it added a write conflict range (see #mergeAdd).
  readonly #lastAdds = new Map<KeyString, { index: number; ranged: boolean }>();
  // Conflict ranges, and conflict points: a key k standing for the range [k, keyAfter(k)), sent
  // apart so that no layer below makes or recognises the range of nearly every read and write.
  readonly #readRanges: KeyString[] = [];
  readonly #readPoints: KeyString[] = [];
  readonly #writeRanges: KeyString[] = [];
  readonly #writePoints: KeyString[] = [];
  // The views tx.at made, by binding (made on first use).
  #views: Map<TransactionBinding<unknown>, unknown> | null = null;
  readonly #watches: PendingWatch[] = [];
  #commitHooks: (() => void | Promise<void>)[] = [];
  #readVersion: number | Promise<number> | null = null;
  #bytes = 0;
  #state: State = 'active';
  #committedVersion: number | null = null;
  #committedOrder = 0;
  #failure: unknown = null;
  #versionstamp: { promise: Promise<Uint8Array>; resolve: (stamp: Uint8Array) => void; reject: (error: unknown) => void } | null = null;

  /** @internal Use `db.transact` or `db.createTransaction`. */
  constructor(host: TransactionHost, options: TransactionOptions = {}, deadline = Infinity) {
    this.#host = host;
    this.#accessSystemKeys = options.accessSystemKeys === true;
    const timeoutMs = options.timeoutMs;
    if (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !(timeoutMs >= 0))) {
      throw new StrataError('invalid_option_value', `timeoutMs must be a non-negative number, got ${String(timeoutMs)}`);
    }
    this.#deadline = timeoutMs === undefined ? deadline : Math.min(deadline, host.runtime.now() + timeoutMs);
  }

  /**
   * The transaction seen through `binding`, for example a subspace with typed encoders. The view
   * is made once per transaction and binding (`binding.bind(tx)` on first use), so a layer may keep
   * per-transaction state in it and repeated calls cost a map lookup.
   * @example
   * ```ts
   * const user = await tx.at(users).get([42]); // typed by the subspace's encoders
   * ```
   */
  at<T>(binding: TransactionBinding<T>): T {
    const views = (this.#views ??= new Map());
    let view = views.get(binding) as T | undefined;
    if (view === undefined) {
      view = binding.bind(this);
      views.set(binding, view);
    }
    return view;
  }

  // -------------------------------------------------------------------------------------------
  // Versions

  /** The read version: the version whose snapshot this transaction reads. */
  async getReadVersion(): Promise<number> {
    this.#checkUsable('getReadVersion');
    return this.#ensureReadVersion();
  }

  /**
   * Sets the read version explicitly instead of asking for the latest.
   * @throws StrataError `client_invalid_operation` if the transaction already has one.
   */
  setReadVersion(version: number): void {
    this.#checkUsable('setReadVersion');
    if (this.#readVersion !== null) throw new StrataError('client_invalid_operation', 'the transaction already has a read version');
    if (!Number.isSafeInteger(version) || version < 0) throw new StrataError('invalid_argument', `setReadVersion: version must be a non-negative integer, got ${version}`);
    this.#readVersion = version;
  }

  /**
   * The commit version, after a successful commit that wrote something.
   * @throws StrataError `no_commit_version` when the transaction did not commit writes.
   */
  getCommittedVersion(): number {
    if (this.#committedVersion === null) throw new StrataError('no_commit_version', 'the transaction has not committed any writes');
    return this.#committedVersion;
  }

  /**
   * The transaction's versionstamp: the 10 bytes substituted into its versionstamped keys and
   * values. Resolves after a successful commit; rejects with `no_commit_version` if the transaction
   * commits without writes, or with the commit's error.
   *
   * @remarks
   * Inside `db.transact`, do not return this promise as the function's result: `transact` waits
   * for the result before it commits, and the promise settles only after the commit. Return it
   * inside an object (`return { stamp: tx.getVersionstamp() }`) and await it afterwards.
   */
  getVersionstamp(): Promise<Uint8Array> {
    if (this.#versionstamp === null) {
      let resolve!: (stamp: Uint8Array) => void;
      let reject!: (error: unknown) => void;
      const promise = quiet(
        new Promise<Uint8Array>((res, rej) => {
          resolve = res;
          reject = rej;
        }),
      );
      this.#versionstamp = { promise, resolve, reject };
      // Asked after the outcome is known: settle at once.
      if (this.#committedVersion !== null) resolve(makeVersionstamp(this.#committedVersion, this.#committedOrder));
      else if (this.#state === 'committed') reject(noCommitVersion());
      else if (this.#state === 'failed') reject(this.#failure);
    }
    return this.#versionstamp.promise;
  }

  #ensureReadVersion(): number | Promise<number> {
    if (this.#readVersion === null) {
      const version = this.#host.getReadVersion();
      this.#readVersion = version;
      if (typeof version !== 'number') void version.then((resolved) => (this.#readVersion = resolved), () => {});
    }
    return this.#readVersion;
  }

  // -------------------------------------------------------------------------------------------
  // Reads

  /**
   * The value of `key`, or `null` if it has none: a fresh copy the caller owns, unless
   * `options.borrow` asks for the stored bytes themselves.
   * @throws StrataError `key_too_large`, `key_outside_legal_range`, `transaction_too_old`, `accessed_unreadable`.
   */
  async get(key: Uint8Array, options?: GetOptions): Promise<Uint8Array | null> {
    this.#checkUsable('get');
    const k = this.#checkKey(key, 'get');
    const borrow = options?.borrow === true;
    const entry = this.#writes.get(k);
    const local = this.#readLocal(k, entry, borrow, options?.snapshot === true);
    if (local !== undefined) return local;
    const readVersion = this.#ensureReadVersion();
    const version = typeof readVersion === 'number' ? readVersion : await readVersion;
    const stored = k === METADATA_VERSION_KEY_STRING ? this.#readMetadataVersion(version) : this.#host.read(k, version);
    return finishRead(stored instanceof Promise ? await stored : stored, entry, borrow);
  }

  // The metadata version at `version`: what came with the read version when it holds there, else
  // the stored key.
  #readMetadataVersion(version: number): Uint8Array | null | Promise<Uint8Array | null> {
    const known = this.#host.metadataVersion?.();
    if (known !== undefined && version >= known.since && version <= known.through) return known.value;
    return this.#host.read(METADATA_VERSION_KEY_STRING, version);
  }

  /**
   * The values of `keys`, in order (`null` for a key without one): what as many calls of
   * {@link Transaction.get} with the same options return, for the cost of one. For layers that
   * read many known keys at once (the records an index scan found).
   * @throws StrataError as {@link Transaction.get}, for the first key at fault.
   */
  async getMany(keys: readonly Uint8Array[], options?: GetOptions): Promise<(Uint8Array | null)[]> {
    this.#checkUsable('getMany');
    if (!Array.isArray(keys)) throw new StrataError('invalid_argument', 'getMany: keys must be an array of keys');
    const borrow = options?.borrow === true;
    const snapshot = options?.snapshot === true;
    const values = new Array<Uint8Array | null>(keys.length);
    // The keys storage must answer (one request for all), with where each goes and the entry of
    // this transaction's writes it had when read.
    const remoteKeys: KeyString[] = [];
    const remote: { index: number; entry: WriteEntry | undefined }[] = [];
    for (let i = 0; i < keys.length; i++) {
      const k = this.#checkKey(keys[i]!, 'getMany');
      const entry = this.#writes.get(k);
      const local = this.#readLocal(k, entry, borrow, snapshot);
      if (local !== undefined) values[i] = local;
      else {
        remoteKeys.push(k);
        remote.push({ index: i, entry });
      }
    }
    if (remote.length === 0) return values;
    const readVersion = this.#ensureReadVersion();
    const version = typeof readVersion === 'number' ? readVersion : await readVersion;
    const read = this.#host.readMany(remoteKeys, version);
    const stored = read instanceof Promise ? await read : read;
    for (let i = 0; i < remote.length; i++) values[remote[i]!.index] = finishRead(stored[i] as Uint8Array | null, remote[i]!.entry, borrow);
    return values;
  }

  // A point read this transaction's own writes answer (`entry` is the key's, from #writes), or
  // undefined when storage must be read: the key is then noted as read when the read is issued, so
  // a commit() called while it is in flight checks it too.
  #readLocal(k: KeyString, entry: WriteEntry | undefined, borrow: boolean, snapshot: boolean): Uint8Array | null | undefined {
    if (entry !== undefined && entry.kind === 'value') return entry.value === null || borrow ? entry.value : copyBytes(entry.value);
    if (entry !== undefined && entry.kind === 'unreadable') throw unreadable(k);
    if (entry === undefined && this.#writes.isCleared(k)) return null;
    if (this.#writes.unreadable.length > 0 && this.#writes.touchesUnreadable(k, keyAfter(k))) throw unreadable(k);
    if (!snapshot) this.#readPoints.push(k);
    return undefined;
  }

  /**
   * Resolves a key selector to a key.
   * @throws StrataError as {@link Transaction.get}.
   */
  async getKey(selector: KeySelector, options?: ReadOptions): Promise<Uint8Array> {
    this.#checkUsable('getKey');
    if (!(selector instanceof KeySelector)) throw new StrataError('invalid_argument', 'getKey: selector must be a KeySelector');
    return fromKeyString(await this.#resolveSelector(selector, options?.snapshot === true));
  }

  async #resolveSelector(selector: KeySelector, snapshot: boolean): Promise<KeyString> {
    const spaceEnd = this.#keySpaceEnd();
    let reference = this.#rangeKey(selector.key, 'getKey', true);
    if (reference > spaceEnd) reference = spaceEnd;
    // Keys at or after `start` are "after" the reference point.
    const start = selector.orEqual ? keyAfter(reference) : reference;
    // The whole side of the key space the selector looks at is a conflict range from the moment
    // the read is issued; once resolved it narrows to the keys actually read.
    const forward = selector.offset >= 1;
    const conflict = snapshot ? -1 : this.#readRanges.length;
    if (!snapshot) this.#readRanges.push(forward ? minKey(start, spaceEnd) : '', forward ? spaceEnd : minKey(start, spaceEnd));
    let resolved: KeyString;
    if (forward) {
      const found = await this.#collect(minKey(start, spaceEnd), spaceEnd, selector.offset, false);
      resolved = found.length === selector.offset ? found[found.length - 1]![0] : spaceEnd;
      if (conflict >= 0 && resolved !== spaceEnd) this.#readRanges[conflict + 1] = keyAfter(resolved);
    } else {
      const count = 1 - selector.offset;
      const found = await this.#collect('', minKey(start, spaceEnd), count, true);
      resolved = found.length === count ? found[found.length - 1]![0] : '';
      if (conflict >= 0) this.#readRanges[conflict] = resolved;
    }
    return resolved;
  }

  /**
   * The key-value pairs with keys in `[begin, end)`, fetched in batches as the caller iterates.
   *
   * @remarks
   * `begin` and `end` may be keys or {@link KeySelector}s. Without `snapshot`, the range read adds
   * a read conflict range; when `limit` stops the read early the range is narrowed to the part read.
   * @throws StrataError `inverted_range` is never thrown: an empty or inverted range yields nothing.
   */
  getRange(begin: Uint8Array | KeySelector, end: Uint8Array | KeySelector, options: RangeOptions = {}): AsyncIterable<KeyValue> {
    // Arguments are checked now, so a bad call fails where it is made rather than at iteration.
    this.#checkUsable('getRange');
    checkLimit(options.limit);
    if (!(begin instanceof KeySelector)) this.#rangeKey(begin, 'getRange begin');
    if (!(end instanceof KeySelector)) this.#rangeKey(end, 'getRange end');
    return { [Symbol.asyncIterator]: () => this.#rangeRows(begin, end, options) };
  }

  /** All pairs of {@link Transaction.getRange} as one array. */
  async getRangeAll(begin: Uint8Array | KeySelector, end: Uint8Array | KeySelector, options: RangeOptions = {}): Promise<KeyValue[]> {
    const range = await this.#openRange(begin, end, options);
    if (range === null) return [];
    let out: KeyValue[] | null = null;
    try {
      for (let batch = await range.next(); batch !== null; batch = await range.next()) {
        const rows = materialize(batch);
        if (out === null) out = rows;
        else for (const row of rows) out.push(row);
      }
    } finally {
      range.stop();
    }
    return out ?? [];
  }

  async *#rangeRows(begin: Uint8Array | KeySelector, end: Uint8Array | KeySelector, options: RangeOptions): AsyncGenerator<KeyValue> {
    const range = await this.#openRange(begin, end, options);
    if (range === null) return;
    try {
      for (let batch = await range.next(); batch !== null; batch = await range.next()) yield* materialize(batch);
    } finally {
      range.stop();
    }
  }

  /**
   * Starts a range read of the merged view, adding its read conflict range: `next` gives its
   * batches in order (never an empty one; null after the last), and `stop` ends it, narrowing the
   * conflict range to the part read when a limit or the caller stopped it early. Null for an empty
   * range.
   */
  async #openRange(beginInput: Uint8Array | KeySelector, endInput: Uint8Array | KeySelector, options: RangeOptions): Promise<RangeRead | null> {
    this.#checkUsable('getRange');
    const limit = checkLimit(options.limit);
    const reverse = options.reverse === true;
    const snapshot = options.snapshot === true;
    const begin =
      beginInput instanceof KeySelector ? await this.#resolveSelector(beginInput, snapshot) : this.#rangeKey(beginInput, 'getRange begin');
    const end = endInput instanceof KeySelector ? await this.#resolveSelector(endInput, snapshot) : this.#rangeKey(endInput, 'getRange end');
    if (begin >= end) return null;
    let remaining = limit;
    let batchRows = RANGE_BATCH_ROWS_FIRST;
    // `cursor` is where the next batch starts: forward, the first key not yet read; reverse, the end.
    let cursor = reverse ? end : begin;
    // The whole range is a conflict range from the moment the read is issued (so a commit() while
    // it is in flight checks it); it narrows to what was read when a limit stops it early.
    const conflictIndex = snapshot ? -1 : this.#readRanges.length;
    if (!snapshot) this.#readRanges.push(begin, end);
    let complete = false;
    return {
      next: async () => {
        while (!complete && remaining > 0) {
          this.#checkUsable('getRange');
          const batch = await this.#mergedBatch(reverse ? begin : cursor, reverse ? cursor : end, Math.min(remaining, batchRows), reverse);
          const entries = batch.entries;
          complete = !batch.more;
          if (!complete && entries.length > 0) cursor = reverse ? entries[entries.length - 1]![0] : keyAfter(entries[entries.length - 1]![0]);
          remaining -= entries.length;
          batchRows = Math.min(batchRows * 2, RANGE_BATCH_ROWS_MAX);
          if (entries.length > 0) return entries;
        }
        return null;
      },
      stop: () => {
        // Stopped early (by the limit, or by a caller that stopped iterating): only the part read
        // conflicts.
        if (conflictIndex >= 0 && !complete) {
          if (reverse) this.#readRanges[conflictIndex] = cursor;
          else this.#readRanges[conflictIndex + 1] = cursor;
        }
      },
    };
  }

  /** Up to `count` keys of the merged view in `[begin, end)`, read without conflicts (for selectors). */
  async #collect(begin: KeyString, end: KeyString, count: number, reverse: boolean): Promise<[KeyString, Uint8Array][]> {
    const out: [KeyString, Uint8Array][] = [];
    let from = begin;
    let to = end;
    while (out.length < count && from < to) {
      const batch = await this.#mergedBatch(from, to, count - out.length, reverse);
      out.push(...batch.entries);
      if (!batch.more || batch.entries.length === 0) break;
      const last = batch.entries[batch.entries.length - 1]![0];
      if (reverse) to = last;
      else from = keyAfter(last);
    }
    return out;
  }

  /**
   * One batch of the merged view (storage at the read version overlaid with this transaction's
   * writes) over `[begin, end)`: at most `rows` pairs; `more` says the batch stopped at `rows`.
   */
  async #mergedBatch(begin: KeyString, end: KeyString, rows: number, reverse: boolean): Promise<StorageRangeResult> {
    const writes = this.#writes;
    if (writes.unreadable.length > 0 && writes.touchesUnreadable(begin, end)) throw unreadable(begin);
    const readVersion = this.#ensureReadVersion();
    const version = typeof readVersion === 'number' ? readVersion : await readVersion;
    // Nothing written in this transaction: storage's answer is the answer.
    if (writes.entryCount === 0 && writes.clears.size === 0) return this.#host.readRange(begin, end, version, rows, reverse);
    const out: [KeyString, Uint8Array][] = [];
    // `position` bounds what has been merged: forward, every key below it; reverse, every key at or above it.
    let position = reverse ? end : begin;
    // Storage rows come in batches; the next batch covers [storageFrom, storageTo).
    let storage: [KeyString, Uint8Array][] = [];
    let storageIndex = 0;
    let storageMore = true;
    let storageFrom = begin;
    let storageTo = end;
    while (out.length < rows) {
      if (storageIndex >= storage.length && storageMore) {
        // Storage rows inside ranges this transaction cleared are never visible: skip over them.
        if (reverse) storageTo = maxKey(begin, writes.clearedFrom(storageTo) ?? storageTo);
        else storageFrom = minKey(end, writes.clearedUntil(storageFrom) ?? storageFrom);
        storageIndex = 0;
        if (storageFrom < storageTo) {
          const result = await this.#host.readRange(storageFrom, storageTo, version, rows - out.length, reverse);
          storage = result.entries;
          storageMore = result.more && storage.length > 0;
          if (storageMore) {
            const last = storage[storage.length - 1]![0];
            if (reverse) storageTo = last;
            else storageFrom = keyAfter(last);
          }
        } else {
          storage = [];
          storageMore = false;
        }
        continue;
      }
      const stored = storageIndex < storage.length ? storage[storageIndex] : undefined;
      const pair = reverse ? writes.lastBefore(position) : writes.firstAtOrAfter(position);
      const write = pair !== undefined && (reverse ? pair[0] >= begin : pair[0] < end) ? pair : undefined;
      if (stored === undefined && write === undefined) return { entries: out, more: false };
      // A write is merged first when it comes no later than the next stored row.
      const takeWrite = write !== undefined && (stored === undefined || (reverse ? write[0] >= stored[0] : write[0] <= stored[0]));
      const key = takeWrite ? write![0] : stored![0];
      let base: Uint8Array | null = null;
      if (stored !== undefined && stored[0] === key) {
        base = stored[1];
        storageIndex++;
      }
      position = reverse ? key : keyAfter(key);
      let value: Uint8Array | null;
      if (takeWrite) {
        const entry = write![1];
        if (entry.kind === 'unreadable') throw unreadable(key);
        value = entry.kind === 'value' ? entry.value : applySteps(base, entry.ops);
      } else {
        value = writes.isCleared(key) ? null : base;
      }
      if (value !== null) out.push([key, value]);
    }
    return { entries: out, more: true };
  }

  // -------------------------------------------------------------------------------------------
  // Writes

  /**
   * Sets `key` to `value`.
   * @throws StrataError `key_too_large`, `value_too_large`, `key_outside_legal_range`, `transaction_too_large`.
   */
  set(key: Uint8Array, value: Uint8Array, options?: WriteOptions): void {
    this.#checkUsable('set');
    const k = this.#checkKey(key, 'set');
    const v = checkValue(value, 'set');
    this.#addMutation({ type: MutationType.set, key: k, param: v }, k.length + v.length, options);
    this.#writes.set(k, v);
  }

  /** Removes `key`. */
  clear(key: Uint8Array, options?: WriteOptions): void {
    this.#checkUsable('clear');
    const k = this.#checkKey(key, 'clear');
    this.#addMutation({ type: MutationType.clear, key: k, param: null }, k.length, options);
    this.#writes.clear(k);
  }

  /**
   * Removes every key in `[begin, end)`.
   * @throws StrataError `inverted_range` when `begin > end`.
   */
  clearRange(begin: Uint8Array, end: Uint8Array, options?: WriteOptions): void {
    this.#checkUsable('clearRange');
    const b = this.#rangeKey(begin, 'clearRange begin');
    const e = this.#rangeKey(end, 'clearRange end');
    if (b > e) throw new StrataError('inverted_range', 'clearRange: begin is greater than end');
    if (b === e) return;
    this.#addMutation({ type: MutationType.clearRange, key: b, param: e }, b.length + e.length, options, b, e);
    this.#writes.clearRange(b, e);
  }

  /**
   * Applies an atomic op to `key` without reading it: no read conflict, so concurrent atomic ops
   * on the same key never conflict.
   *
   * @remarks
   * `add`, `max` and `min` treat the operand and the stored value as little-endian unsigned
   * integers of the operand's length; `byteMax` / `byteMin` compare bytes; `appendIfFits` appends
   * unless the result would exceed the value limit; `compareAndClear` clears the key if its value
   * equals the operand. A missing value stores the operand (except `compareAndClear`).
   * @throws StrataError `invalid_mutation_type` for an unknown op.
   */
  atomicOp(op: AtomicOpName, key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.#checkUsable(op);
    const type = ATOMIC_TYPES[op];
    if (type === undefined) throw new StrataError('invalid_mutation_type', `unknown atomic op ${JSON.stringify(op)}`);
    const k = this.#checkKey(key, op);
    const v = checkValue(operand, op);
    if (type === MutationType.add && this.#mergeAdd(k, v, options)) return;
    this.#addMutation({ type, key: k, param: v }, k.length + v.length, options);
    this.#writes.atomic(k, type, v);
    if (type === MutationType.add) this.#lastAdds.set(k, { index: this.#mutations.length - 1, ranged: options?.addConflictRange !== false });
  }

  // Folds an add into the key's previous add when that is still the key's newest write in this
  // transaction (nothing set, cleared or applied another op since) and the operands have the same
  // length: adding a then b is adding a + b (mod 2^(8 * length)). A counter bumped once per record
  // of a large transaction then costs one mutation, not one per record, all the way down.
  #mergeAdd(key: KeyString, operand: Uint8Array, options: WriteOptions | undefined): boolean {
    const last = this.#lastAdds.get(key);
    if (last === undefined) return false;
    const mutation = this.#mutations[last.index]!;
    const previous = mutation.param as Uint8Array;
    const entry = this.#writes.get(key);
    if (entry?.kind !== 'ops' || entry.ops[entry.ops.length - 1]!.operand !== previous || previous.length !== operand.length) return false;
    const sum = applyAtomicOp(MutationType.add, previous, operand)!;
    this.#mutations[last.index] = { type: mutation.type, key: mutation.key, param: sum };
    this.#writes.replaceLastOperand(key, sum);
    if (!last.ranged && options?.addConflictRange !== false) {
      this.#addSize(pointBytes(key), MutationType.add);
      this.#writePoints.push(key);
      last.ranged = true;
    }
    return true;
  }

  /** Atomic little-endian add (see {@link Transaction.atomicOp}). */
  add(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('add', key, operand, options);
  }
  /** Atomic bitwise and. */
  bitAnd(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('bitAnd', key, operand, options);
  }
  /** Atomic bitwise or. */
  bitOr(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('bitOr', key, operand, options);
  }
  /** Atomic bitwise xor. */
  bitXor(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('bitXor', key, operand, options);
  }
  /** Atomic little-endian unsigned max. */
  max(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('max', key, operand, options);
  }
  /** Atomic little-endian unsigned min. */
  min(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('min', key, operand, options);
  }
  /** Atomic lexicographic max. */
  byteMax(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('byteMax', key, operand, options);
  }
  /** Atomic lexicographic min. */
  byteMin(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('byteMin', key, operand, options);
  }
  /** Atomic append, unless the result would exceed the value limit. */
  appendIfFits(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('appendIfFits', key, operand, options);
  }
  /** Atomically clears `key` if its value equals `operand`. */
  compareAndClear(key: Uint8Array, operand: Uint8Array, options?: WriteOptions): void {
    this.atomicOp('compareAndClear', key, operand, options);
  }

  /**
   * Sets a key that contains the commit's versionstamp.
   *
   * @remarks
   * `keyWithOffset` holds a 10-byte placeholder and ends with the placeholder's offset as a 4-byte
   * little-endian integer. At commit the placeholder becomes the versionstamp and the 4 bytes are
   * dropped. The key cannot be read back in the same transaction (`accessed_unreadable`).
   * @throws StrataError `invalid_argument` when the offset does not fit.
   */
  setVersionstampedKey(keyWithOffset: Uint8Array, value: Uint8Array): void {
    this.#checkUsable('setVersionstampedKey');
    checkBytes(keyWithOffset, 'setVersionstampedKey key');
    const offset = readVersionstampOffset(keyWithOffset);
    if (offset < 0) throw new StrataError('invalid_argument', 'setVersionstampedKey: the last 4 bytes must be the little-endian offset of a 10-byte placeholder inside the key');
    const template = keyWithOffset.subarray(0, keyWithOffset.length - 4);
    this.#checkKey(template, 'setVersionstampedKey');
    const v = checkValue(value, 'setVersionstampedKey');
    // The key lands somewhere between the placeholder filled with 0x00 and with 0xFF.
    const low = copyBytes(template);
    const high = copyBytes(template);
    low.fill(0x00, offset, offset + VERSIONSTAMP_BYTES);
    high.fill(0xff, offset, offset + VERSIONSTAMP_BYTES);
    const begin = toKeyString(low);
    const end = keyAfter(toKeyString(high));
    const k = toKeyString(keyWithOffset);
    this.#addMutation({ type: MutationType.setVersionstampedKey, key: k, param: v }, k.length + v.length, undefined, begin, end);
    this.#writes.addUnreadableRange(begin, end);
  }

  /**
   * Sets `key` to a value that contains the commit's versionstamp: `valueWithOffset` ends with the
   * 4-byte little-endian offset of a 10-byte placeholder. The value cannot be read back in the same
   * transaction.
   */
  setVersionstampedValue(key: Uint8Array, valueWithOffset: Uint8Array): void {
    this.#checkUsable('setVersionstampedValue');
    const k = this.#checkKey(key, 'setVersionstampedValue');
    checkBytes(valueWithOffset, 'setVersionstampedValue value');
    if (readVersionstampOffset(valueWithOffset) < 0) {
      throw new StrataError('invalid_argument', 'setVersionstampedValue: the last 4 bytes must be the little-endian offset of a 10-byte placeholder inside the value');
    }
    const v = checkValue(valueWithOffset, 'setVersionstampedValue', VALUE_SIZE_MAX + 4);
    this.#addMutation({ type: MutationType.setVersionstampedValue, key: k, param: v }, k.length + v.length);
    this.#writes.setUnreadable(k);
  }

  /**
   * Changes the metadata version ({@link METADATA_VERSION_KEY}) to this commit's versionstamp: what
   * a layer does when it changes metadata that other processes cache, so that each of them, reading
   * the key (free: it comes with the read version), sees that its cache may be stale. Every
   * transaction that read the key without `snapshot` and has not committed yet then conflicts. The
   * key cannot be read back in the same transaction (`accessed_unreadable`).
   */
  bumpMetadataVersion(): void {
    this.setVersionstampedValue(METADATA_VERSION_KEY, METADATA_VERSION_PLACEHOLDER);
  }

  /**
   * Adds `key` to the read conflict set, as if the transaction had read it (FoundationDB's
   * `addReadConflictKey`): cheaper than the range `[key, key + 0x00)`, which means the same.
   */
  addReadConflictKey(key: Uint8Array): void {
    this.#checkUsable('addReadConflictKey');
    this.#readPoints.push(this.#checkKey(key, 'addReadConflictKey'));
  }

  /**
   * An object standing for the database handle this transaction came from: the same for every
   * transaction of one `Database` (and different for another handle, even on the same data). For
   * layers that cache what they read in one database and must not apply it in another.
   */
  get origin(): object {
    let origin = ORIGINS.get(this.#host);
    if (origin === undefined) ORIGINS.set(this.#host, (origin = Object.freeze({})));
    return origin;
  }

  /** Adds `[begin, end)` to the read conflict ranges, as if the transaction had read it. */
  addReadConflictRange(begin: Uint8Array, end: Uint8Array): void {
    this.#checkUsable('addReadConflictRange');
    const b = this.#rangeKey(begin, 'addReadConflictRange begin');
    const e = this.#rangeKey(end, 'addReadConflictRange end');
    if (b > e) throw new StrataError('inverted_range', 'addReadConflictRange: begin is greater than end');
    if (b < e) this.#readRanges.push(b, e);
  }

  /** Adds `[begin, end)` to the write conflict ranges, as if the transaction had written it. */
  addWriteConflictRange(begin: Uint8Array, end: Uint8Array): void {
    this.#checkUsable('addWriteConflictRange');
    const b = this.#rangeKey(begin, 'addWriteConflictRange begin');
    const e = this.#rangeKey(end, 'addWriteConflictRange end');
    if (b > e) throw new StrataError('inverted_range', 'addWriteConflictRange: begin is greater than end');
    if (b === e) return;
    this.#addSize(b.length + e.length, 'addWriteConflictRange');
    this.#writeRanges.push(b, e);
  }

  /**
   * Watches `key`: the returned {@link Watch} resolves once the key's value differs from its
   * value as of this transaction's commit (or read version, if it commits nothing).
   *
   * @remarks
   * The watch starts only if the transaction commits; otherwise `changed` rejects with the
   * transaction's error. It may fire late, never early.
   * @throws StrataError `too_many_watches` beyond the database's watch limit.
   */
  watch(key: Uint8Array): Watch {
    this.#checkUsable('watch');
    const k = this.#checkKey(key, 'watch');
    if (this.#host.watchCount + this.#watches.length >= WATCHES_MAX) {
      throw new StrataError('too_many_watches', `at most ${WATCHES_MAX} watches may be outstanding`);
    }
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const changed = quiet(
      new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      }),
    );
    const pending: PendingWatch = { key: k, resolve, reject, cancelled: false, cancelStorage: null };
    this.#watches.push(pending);
    return {
      changed,
      cancel: () => {
        if (pending.cancelled) return;
        pending.cancelled = true;
        pending.cancelStorage?.();
        reject(new StrataError('operation_cancelled', 'the watch was cancelled'));
      },
    };
  }

  // -------------------------------------------------------------------------------------------
  // Commit

  /**
   * Commits the transaction. A transaction that wrote nothing commits without contacting the
   * commit path. `db.transact` calls this for you.
   * @throws StrataError `not_committed`, `transaction_too_old`, `commit_unknown_result`, `transaction_too_large`.
   */
  async commit(): Promise<void> {
    this.#checkUsable('commit');
    // Hooks may still write (layers defer work to here); hooks they add run too.
    while (this.#commitHooks.length > 0) {
      const hooks = this.#commitHooks;
      this.#commitHooks = [];
      try {
        for (const hook of hooks) await hook();
      } catch (error) {
        this.#end(error);
        throw error;
      }
      this.#checkUsable('commit');
    }
    this.#state = 'committing';
    try {
      if (this.#mutations.length === 0 && this.#writeRanges.length === 0 && this.#writePoints.length === 0) {
        const readVersion = this.#ensureReadVersion();
        const version = typeof readVersion === 'number' ? readVersion : await readVersion;
        this.#state = 'committed';
        this.#versionstamp?.reject(noCommitVersion());
        this.#startWatches(version);
        return;
      }
      let bytes = this.#bytes;
      for (const key of this.#readRanges) bytes += key.length;
      for (const key of this.#readPoints) bytes += pointBytes(key);
      if (bytes > TRANSACTION_SIZE_MAX) {
        throw new StrataError('transaction_too_large', `the transaction's mutations and conflict ranges take ${bytes} bytes; the limit is ${TRANSACTION_SIZE_MAX}`, {
          details: { bytes, limit: TRANSACTION_SIZE_MAX },
        });
      }
      // A known read version is used without awaiting, so the request reaches the commit proxy in
      // this turn (a close() right after commit() then waits for it rather than refusing it).
      let readVersion: number | null = null;
      if (this.#readRanges.length > 0 || this.#readPoints.length > 0) {
        const known = this.#ensureReadVersion();
        readVersion = typeof known === 'number' ? known : await known;
      }
      const result = await this.#host.commit({
        readVersion,
        readRanges: this.#readRanges,
        readPoints: this.#readPoints,
        writeRanges: this.#writeRanges,
        writePoints: this.#writePoints,
        mutations: this.#mutations,
        bytes,
      });
      this.#state = 'committed';
      this.#committedVersion = result.version;
      this.#committedOrder = result.order;
      this.#versionstamp?.resolve(makeVersionstamp(result.version, result.order));
      this.#startWatches(result.version);
    } catch (error) {
      this.#end(error);
      throw error;
    }
  }

  /**
   * Runs `hook` when `commit()` starts, before the transaction is sent; the hook may still read
   * and write. Layers use it for work that must wait for all of a transaction's writes (for
   * example a record layer stamping the records it wrote once, in order).
   * @throws StrataError `used_during_commit` or `client_invalid_operation` once commit has begun or ended.
   */
  onCommit(hook: () => void | Promise<void>): void {
    this.#checkUsable('onCommit');
    if (typeof hook !== 'function') throw new StrataError('invalid_argument', 'onCommit: the hook must be a function');
    this.#commitHooks.push(hook);
  }

  /**
   * Ends the transaction without committing: pending watches and the versionstamp reject with
   * `error` (default `transaction_cancelled`), and later calls fail. Once `commit()` has been
   * called, the commit decides the outcome and `cancel` does nothing.
   */
  cancel(error: unknown = new StrataError('transaction_cancelled')): void {
    if (this.#state === 'active') this.#end(error);
  }

  #end(error: unknown): void {
    if (this.#state === 'committed' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#failure = error;
    this.#versionstamp?.reject(error);
    for (const watch of this.#watches) if (!watch.cancelled) watch.reject(error);
  }

  #startWatches(version: number): void {
    for (const watch of this.#watches) {
      if (watch.cancelled) continue;
      watch.cancelStorage = this.#host.watch(watch.key, version, watch.resolve, watch.reject);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Checks

  #checkUsable(operation: string): void {
    if (this.#state !== 'active') {
      if (this.#state === 'committing') throw new StrataError('used_during_commit', `${operation}: the transaction is committing`);
      throw new StrataError('client_invalid_operation', `${operation}: the transaction has already ${this.#state === 'committed' ? 'committed' : 'ended'}`);
    }
    if (this.#deadline !== Infinity && this.#host.runtime.now() > this.#deadline) {
      throw new StrataError('transaction_timed_out', `${operation}: the transaction's timeout passed`);
    }
  }

  #keySpaceEnd(): KeyString {
    return this.#accessSystemKeys ? SYSTEM_KEYS_END : NORMAL_KEYS_END;
  }

  #addReadConflict(begin: KeyString, end: KeyString): void {
    if (begin < end) this.#readRanges.push(begin, end);
  }

  #addSize(bytes: number, operation: string | number): void {
    const total = this.#bytes + bytes;
    if (total > TRANSACTION_SIZE_MAX) {
      const name = typeof operation === 'number' ? mutationName(operation) : operation;
      throw new StrataError('transaction_too_large', `${name} would make the transaction ${total} bytes; the limit is ${TRANSACTION_SIZE_MAX}`, {
        details: { bytes: total, limit: TRANSACTION_SIZE_MAX },
      });
    }
    this.#bytes = total;
  }

  #addMutation(mutation: Mutation, bytes: number, options?: WriteOptions, conflictBegin?: KeyString, conflictEnd?: KeyString): void {
    // Refused here, at the call that made it, though the commit proxy checks it too.
    checkMetadataVersionWrite(mutation);
    if (options?.addConflictRange === false) {
      this.#addSize(bytes, mutation.type);
      this.#mutations.push(mutation);
      return;
    }
    if (conflictBegin !== undefined && conflictEnd !== undefined) {
      this.#addSize(bytes + conflictBegin.length + conflictEnd.length, mutation.type);
      this.#mutations.push(mutation);
      this.#writeRanges.push(conflictBegin, conflictEnd);
      return;
    }
    this.#addSize(bytes + pointBytes(mutation.key), mutation.type);
    this.#mutations.push(mutation);
    this.#writePoints.push(mutation.key);
  }

  /**
   * Validates a key for a point read or write: not above the key limit, not a system key without
   * access (except the metadata version key, whose writes #addMutation checks).
   */
  #checkKey(key: Uint8Array, operation: string): KeyString {
    checkBytes(key, `${operation} key`);
    if (key.length > KEY_SIZE_MAX) throw keyTooLarge(operation, key.length);
    const k = toKeyString(key);
    if (key.length > 0 && key[0] === SYSTEM_PREFIX && !this.#accessSystemKeys && k !== METADATA_VERSION_KEY_STRING) throw outsideLegalRange(operation, k);
    return k;
  }

  /**
   * Validates a range boundary, which may equal the end of the key space (`\xff`, or `\xff\xff`
   * with system access). Selector keys beyond it are allowed and clamp to it.
   */
  #rangeKey(key: Uint8Array, operation: string, clamp = false): KeyString {
    checkBytes(key, operation);
    if (key.length > KEY_SIZE_MAX + 1) throw keyTooLarge(operation, key.length);
    const k = toKeyString(key);
    if (!clamp && k > this.#keySpaceEnd()) throw outsideLegalRange(operation, k);
    return k;
  }
}

/**
 * The caller's copy of a batch of range results: one arena holds every key and value of the batch
 * (a slab's worth for a small batch, see allocBytes), and each row is a pair of views into it (a
 * small typed array costs far more to allocate than to fill, so one arena per batch instead of two
 * arrays per row). Empty values share one empty array: there is nothing in it to own.
 */
function materialize(batch: readonly StorageEntry[]): KeyValue[] {
  let size = 0;
  for (let i = 0; i < batch.length; i++) size += batch[i]![0].length + batch[i]![1].length;
  const arena = allocBytes(size);
  const buffer = arena.buffer;
  const rows = new Array<KeyValue>(batch.length);
  let offset = 0;
  for (let i = 0; i < batch.length; i++) {
    const [key, value] = batch[i]!;
    const keyStart = offset;
    const keyLength = key.length;
    for (let j = 0; j < keyLength; j++) arena[offset + j] = key.charCodeAt(j);
    offset += keyLength;
    let copy = NO_BYTES;
    if (value.length > 0) {
      arena.set(value, offset);
      copy = new Uint8Array(buffer, arena.byteOffset + offset, value.length);
      offset += value.length;
    }
    rows[i] = { key: new Uint8Array(buffer, arena.byteOffset + keyStart, keyLength), value: copy };
  }
  return rows;
}


// A stored value as this transaction reads it: with its atomic ops on the key (`entry`, as they were
// when the read was issued) applied, and copied unless borrowed (the ops may hand back one of their
// inputs, the stored value or the operand, so their result is copied too).
function finishRead(base: Uint8Array | null, entry: WriteEntry | undefined, borrow: boolean): Uint8Array | null {
  const value = entry !== undefined && entry.kind === 'ops' ? applySteps(base, entry.ops) : base;
  return value === null || borrow ? value : copyBytes(value);
}

function noCommitVersion(): StrataError {
  return new StrataError('no_commit_version', 'the transaction wrote nothing, so it has no versionstamp');
}

function minKey(a: KeyString, b: KeyString): KeyString {
  return a < b ? a : b;
}

function maxKey(a: KeyString, b: KeyString): KeyString {
  return a > b ? a : b;
}

function mutationName(type: number): string {
  for (const [name, code] of Object.entries(MutationType)) if (code === type) return name;
  return 'mutation';
}

function checkBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    throw new StrataError('invalid_argument', `${what} must be a Uint8Array, got ${got}`, { details: { argument: what } });
  }
}

function checkValue(value: unknown, operation: string, max = VALUE_SIZE_MAX): Uint8Array {
  checkBytes(value, `${operation} value`);
  if (value.length > max) {
    throw new StrataError('value_too_large', `${operation}: value is ${value.length} bytes; the limit is ${max}`, {
      details: { bytes: value.length, limit: max },
    });
  }
  return copyBytes(value);
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined || limit === 0) return Infinity;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new StrataError('invalid_argument', `getRange: limit must be a non-negative integer, got ${limit}`);
  return limit;
}

function keyTooLarge(operation: string, length: number): StrataError {
  return new StrataError('key_too_large', `${operation}: key is ${length} bytes; the limit is ${KEY_SIZE_MAX}`, {
    details: { bytes: length, limit: KEY_SIZE_MAX },
  });
}

function outsideLegalRange(operation: string, key: KeyString): StrataError {
  return new StrataError('key_outside_legal_range', `${operation}: keys starting with 0xFF are the system key space; set accessSystemKeys to use them`, {
    details: { keyPrefix: key.slice(0, 16) },
  });
}

function unreadable(key: KeyString): StrataError {
  return new StrataError('accessed_unreadable', 'the key was written with a versionstamp in this transaction and cannot be read before commit', {
    details: { keyPrefix: key.slice(0, 16) },
  });
}
