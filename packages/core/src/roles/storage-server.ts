/**
 * Storage server: serves reads at any version inside the MVCC window.
 *
 * Invariants:
 * 1. Batches are applied once each, in strictly increasing version order. A batch may be staged
 *    (its entries added) before it is durable; reads, flushes and watches see only versions
 *    published by `apply`, and every window lookup skips entries newer than its version.
 * 2. A read at version r returns the state after every mutation of every version <= r, and no
 *    other: the in-memory window holds versions in (durableVersion, version] (and any staged
 *    above; entries at or below durableVersion it still holds are ignored by every lookup); the
 *    durable engine holds the state at durableVersion.
 * 3. Only versions older than the window move into the durable engine, with the durable version
 *    written in the same batch; a read below the oldest readable version fails with
 *    `transaction_too_old`, and a read above the applied version waits, then fails with
 *    `future_version`.
 * 4. In-memory entries that reached the durable engine are dropped only when no read that
 *    started against the older engine snapshot is still running.
 *
 * Inside the window each key has a chain of entries (a value, a clear, or an atomic op whose base
 * comes from older entries or from the engine), and range clears are kept in a boundary map: the
 * entry at boundary b lists the clears that cover [b, next boundary). Every mutation carries a
 * sequence number, so entries and clears of the same version order correctly.
 */
import {
  FUTURE_VERSION_WAIT_MS,
  KEY_SIZE_MAX,
  MVCC_WINDOW_VERSIONS,
  STORAGE_CACHE_BYTES_DEFAULT,
  STORAGE_DURABILITY_INTERVAL_MS,
  STORAGE_DURABLE_BATCH_KEYS_MAX,
} from '../limits.js';
import { StrataError } from '../api/errors.js';
import { MutationType, applyAtomicOp, type Mutation } from '../api/mutation.js';
import type { LoggedBatch } from './log-server.js';
import type { Runtime, Timer } from '../runtime/runtime.js';
import { RangeCache } from '../storage/range-cache.js';
import type { EngineCursor, StorageEngine } from '../storage/storage-engine.js';
import { assert } from '../util/assert.js';
import { BTree } from '../util/btree.js';
import { equalBytes, keyAfter, lowerBound, type KeyString } from '../util/bytes.js';
import { PendingKeys } from '../util/pending-keys.js';

/** Memory an entry takes in the window beyond its key and value: its chain entry, map slots and batch lists. */
const WINDOW_ENTRY_OVERHEAD_BYTES = 100;
/**
 * The pending keys of the window are made again from its keys once they outgrow twice them by this
 * many; the walk that remakes them goes at least this many keys a batch.
 */
const PENDING_KEYS_REMAKE_STEP = 1_024;

/** One entry of a key's chain. `op` is 0 for a plain value or clear, else the atomic op type. */
interface ChainEntry {
  readonly version: number;
  readonly seq: number;
  readonly op: number;
  /** The value (`null` for a clear), or the atomic op's operand. */
  readonly value: Uint8Array | null;
}

/**
 * A key's chain; `indexed` once it is in the ordered index of the window's keys (most keys are
 * written and pruned without ever being indexed, and a prune skips the index for those).
 */
type Chain = ChainEntry[] & { indexed?: true };

interface ClearEvent {
  readonly version: number;
  readonly seq: number;
}

interface AppliedBatch {
  readonly version: number;
  readonly keys: KeyString[];
  /**
   * The chain of each of `keys` (the array #chains held when the batch was applied: a chain is
   * dropped only with every batch that wrote to it, so while the batch is kept it is still the
   * key's chain, or empty once a prune dropped it). Flushes and prunes walk the batch's keys with
   * their chains instead of looking each up.
   */
  readonly chains: ChainEntry[][];
  readonly clears: KeyString[];
  /** What the batch's entries and clears hold in memory, as {@link StorageServer.windowBytes} counts it. */
  readonly bytes: number;
}

/** A key-value pair as a storage server returns it. */
export type StorageEntry = [KeyString, Uint8Array];

/** The result of one range request. */
export interface StorageRangeResult {
  entries: StorageEntry[];
  /** True when the request stopped at its limit (more entries may follow). */
  more: boolean;
}

/** Construction options of {@link StorageServer}. */
export interface StorageServerOptions {
  runtime: Runtime;
  engine: StorageEngine;
  /** Versions kept in memory and readable (default: the five-second MVCC window). */
  windowVersions?: number;
  /** Bytes of durable data cached for point and range reads (0 turns the cache off). */
  cacheBytes?: number;
  /** How often versions older than the window move to the engine. */
  durabilityIntervalMs?: number;
  /** Called after versions up to `version` are durable in the engine (the log may drop them). */
  onDurable?: (version: number) => void;
  /** Called when the server hits an error it cannot continue from. */
  onFailure?: (error: unknown) => void;
}

interface Watch {
  baseline: Uint8Array | null | undefined;
  fire: () => void;
  fail: (error: unknown) => void;
}

type Lookup =
  | { kind: 'value'; value: Uint8Array | null }
  | { kind: 'engine'; ops: ChainEntry[] }; // apply ops (oldest first) to the engine's value

/** Serves versioned reads from an in-memory window over a durable engine. */
export class StorageServer {
  readonly #runtime: Runtime;
  readonly #engine: StorageEngine;
  readonly #windowVersions: number;
  readonly #durabilityIntervalMs: number;
  readonly #onDurable: (version: number) => void;
  readonly #onFailure: (error: unknown) => void;

  readonly #chains = new Map<KeyString, ChainEntry[]>();
  // The keys of #chains in order, each with its chain (the same array #chains holds), except those
  // pending in #unindexedKeys: range reads need the order, and bring the index up to date first for
  // the keys their range may hold (sorted, in one go; see PendingKeys), so keys written and pruned
  // without a range read over them never enter it. The pending keys may also hold keys pruned since,
  // or a key twice; indexing skips keys without a chain, and when they outgrow #chains they are made
  // again from it (see #remake). A range read walks the index and finds each key's chain beside it,
  // with no hash lookup.
  readonly #keys = new BTree<KeyString, ChainEntry[]>();
  #unindexedKeys = new PendingKeys();
  // The remake of #unindexedKeys under way, or null: the keys of #chains not in the index, gathered
  // by a walk over #chains a step per batch taken in, which replace #unindexedKeys once the walk
  // ends (see #continueRemake).
  #remake: { pending: PendingKeys; walk: Iterator<[KeyString, ChainEntry[]]> } | null = null;
  // Counts the changes to the window's key set (a key added, indexed or pruned): a range read whose
  // iterator over #keys outlived an await keeps it when the count has not moved, instead of opening
  // it again (a B-tree search) after every batch of the cache's or the engine's rows.
  #keySetChanges = 0;
  readonly #clears = new BTree<KeyString, ClearEvent[]>();
  readonly #applied: AppliedBatch[] = [];
  #seq = 0;
  #windowBytes = 0;
  // The newest version published (readable) and the newest staged (its entries in the window).
  #version: number;
  #stagedVersion: number;
  // The newest version the engine holds (readable there), and the newest it is known to keep through
  // a crash (reported through onDurable).
  #durableVersion: number;
  #syncedVersion: number;
  // Whether a commit may have gone to the engine since its last sync, and the sync under way.
  #unsynced = false;
  #syncing: Promise<void> | null = null;

  // Durable data served from memory: point and range reads fill it, flushes keep it exact.
  readonly #cache: RangeCache;

  // Engine reads in flight, and the gate a flush closes while it commits to the engine.
  #engineReads = 0;
  #commitGate: Promise<void> | null = null;
  #readsDrained: (() => void) | null = null;
  // The keys the engine commit under way writes (null when none is under way), and the keys of the
  // last commit a read needed in key order (see #gapEnd).
  #committingKeys: ReadonlyMap<KeyString, unknown> | null = null;
  #committingOrder: { readonly of: ReadonlyMap<KeyString, unknown>; readonly keys: readonly KeyString[] } | null = null;

  // Range reads that hold an engine snapshot, counted by the engine epoch they started in.
  #epoch = 0;
  readonly #readers = new Map<number, number>();
  #pendingPrune: { epoch: number; version: number } | null = null;

  readonly #watches = new BTree<KeyString, Set<Watch>>();
  #watchCount = 0;
  readonly #versionWaiters: { version: number; resolve: () => void }[] = [];

  #timer: Timer | null = null;
  #flushing: Promise<void> | null = null;
  #closed = false;
  #failed: unknown = null;

  constructor(options: StorageServerOptions) {
    this.#runtime = options.runtime;
    this.#engine = options.engine;
    this.#windowVersions = options.windowVersions ?? MVCC_WINDOW_VERSIONS;
    this.#cache = new RangeCache(options.cacheBytes ?? STORAGE_CACHE_BYTES_DEFAULT);
    this.#durabilityIntervalMs = options.durabilityIntervalMs ?? STORAGE_DURABILITY_INTERVAL_MS;
    this.#onDurable = options.onDurable ?? (() => {});
    this.#onFailure = options.onFailure ?? (() => {});
    this.#durableVersion = this.#engine.durableVersion;
    this.#syncedVersion = this.#durableVersion;
    this.#version = this.#durableVersion;
    this.#stagedVersion = this.#version;
    this.#scheduleDurability();
  }

  /** The newest version applied. */
  get version(): number {
    return this.#version;
  }

  /** The version the durable engine holds. */
  get durableVersion(): number {
    return this.#durableVersion;
  }

  /** The oldest version a read may use. */
  get oldestVersion(): number {
    return Math.max(this.#durableVersion, this.#version - this.#windowVersions);
  }

  /** Number of keys in the ordered index of the window's keys (for tests and metrics). */
  get indexedKeyCount(): number {
    return this.#keys.size;
  }

  /** Number of keys waiting to enter that index, counted as often as they were added (for tests and metrics). */
  get pendingKeyCount(): number {
    return this.#unindexedKeys.size;
  }

  /** Whether the keys waiting to enter that index are being made again from the window's keys (for tests and metrics). */
  get remakingPendingKeys(): boolean {
    return this.#remake !== null;
  }

  /**
   * Versions by which the oldest data not yet in the engine trails the oldest version of the window
   * (0 when none does): how far durability has fallen behind. Versions with nothing written (an
   * idle database, or the jump to a recovered sequencer's version) do not count.
   */
  get durabilityLag(): number {
    const applied = this.#applied;
    // The batches at or below the durable version wait only for their range reads to end.
    let low = 0;
    let high = applied.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (applied[middle]!.version <= this.#durableVersion) low = middle + 1;
      else high = middle;
    }
    const oldest = applied[low];
    return oldest === undefined ? 0 : Math.max(0, this.#version - this.#windowVersions - oldest.version);
  }

  /**
   * Bytes the window's entries and range clears hold (keys and values, and a fixed overhead for
   * each), from the oldest version not yet dropped to the newest staged: what the rate keeper
   * bounds.
   */
  get windowBytes(): number {
    return this.#windowBytes;
  }

  /** Number of watches registered. */
  get watchCount(): number {
    return this.#watchCount;
  }

  // ---------------------------------------------------------------------------------------------
  // Applying batches

  /**
   * Takes a batch into the window before it is durable (the log calls this once the batch's write is
   * under way, so the work overlaps the disk's). Its entries stay out of sight until {@link apply}
   * publishes its version: every read is at a published version and skips newer entries, and
   * flushes and watches look at published versions only. Batches are staged in version order.
   */
  stage(batch: LoggedBatch): void {
    assert(batch.version > this.#stagedVersion, `storage stages batches in version order (${batch.version} <= ${this.#stagedVersion})`);
    this.#add(batch);
  }

  /**
   * Publishes one durable batch (called by the log, in version order): reads at its version may
   * start. A batch not staged before is added first. Empty batches advance the version.
   */
  apply(batch: LoggedBatch): void {
    const version = batch.version;
    assert(version > this.#version, `storage applies batches in version order (${version} <= ${this.#version})`);
    if (version > this.#stagedVersion) this.#add(batch);
    this.#version = version;
    if (this.#watchCount > 0) this.#checkWatchesOf(batch);
    if (this.#versionWaiters.length > 0) this.#wakeVersionWaiters();
  }

  // Adds the batch's entries and range clears to the window.
  #add(batch: LoggedBatch): void {
    const version = batch.version;
    const keys: KeyString[] = [];
    const chains: ChainEntry[][] = [];
    const clears: KeyString[] = [];
    let bytes = 0;
    // The window's chain of every key is looked up first, in a loop of its own: keys written at
    // random lie cold and apart in the map, and in a short loop the processor overlaps their misses.
    // A key new to the window that the batch writes twice is looked up again for its second write,
    // which finds the chain the first one made.
    const mutations = batch.mutations;
    const found = new Array<ChainEntry[] | undefined>(mutations.length);
    for (let i = 0; i < mutations.length; i++) found[i] = this.#chains.get(mutations[i]!.key);
    for (let i = 0; i < mutations.length; i++) {
      const mutation = mutations[i]!;
      const seq = ++this.#seq;
      bytes += WINDOW_ENTRY_OVERHEAD_BYTES + mutation.key.length + (mutation.param?.length ?? 0);
      if (mutation.type === MutationType.clearRange) {
        const end = mutation.param as KeyString;
        this.#addClear(mutation.key, end, { version, seq });
        clears.push(mutation.key, end);
        continue;
      }
      chains.push(this.#addEntry(mutation, version, seq, found[i] ?? this.#chains.get(mutation.key)));
      keys.push(mutation.key);
    }
    if (keys.length > 0 || clears.length > 0) {
      this.#applied.push({ version, keys, chains, clears, bytes });
      this.#windowBytes += bytes;
    }
    this.#stagedVersion = version;
    if (this.#remake !== null) this.#continueRemake(2 * mutations.length + PENDING_KEYS_REMAKE_STEP);
  }

  // Checks the watches on the keys the batch wrote.
  #checkWatchesOf(batch: LoggedBatch): void {
    let touched: Set<KeyString> | null = null;
    for (const mutation of batch.mutations) {
      if (mutation.type === MutationType.clearRange) {
        this.#watches.forRange(mutation.key, mutation.param as KeyString, false, (key) => {
          (touched ??= new Set()).add(key);
        });
      } else if (this.#watches.has(mutation.key)) (touched ??= new Set()).add(mutation.key);
    }
    if (touched !== null) for (const key of touched) this.#checkWatches(key);
  }

  // Adds the mutation's entry to its key's chain (`chain`, undefined when the window has none);
  // returns the chain. An atomic op over a value known here (in the window, or in the cache of the
  // engine's) is stored as the value it makes, so a read of a key bumped many times in the window (a
  // counter, a watched signal) applies no chain of operands; only ops over an engine value the cache
  // lacks stay ops.
  #addEntry(mutation: Mutation, version: number, seq: number, chain: ChainEntry[] | undefined): ChainEntry[] {
    let op = 0;
    let value: Uint8Array | null = null;
    if (mutation.type === MutationType.set) value = mutation.param as Uint8Array;
    else if (mutation.type !== MutationType.clear) {
      const base = this.#knownValue(mutation.key, chain, version);
      if (base === undefined) {
        op = mutation.type;
        value = mutation.param as Uint8Array;
      } else value = applyAtomicOp(mutation.type, base, mutation.param as Uint8Array);
    }
    const entry: ChainEntry = { version, seq, op, value };
    if (chain !== undefined) {
      chain.push(entry);
      return chain;
    }
    const created = [entry];
    this.#chains.set(mutation.key, created);
    this.#unindexedKeys.add(mutation.key);
    this.#keySetChanges++;
    if (this.#remake === null && this.#unindexedKeys.size > 2 * this.#chains.size + PENDING_KEYS_REMAKE_STEP) {
      this.#remake = { pending: new PendingKeys(), walk: this.#chains.entries() };
    }
    return created;
  }

  // The value of `key` at `version` so far (every mutation applied before the one being added), if
  // known without reading the engine; undefined otherwise.
  #knownValue(key: KeyString, chain: ChainEntry[] | undefined, version: number): Uint8Array | null | undefined {
    // An op at the chain's end was kept as an op because its base was unknown then; unless the
    // cache has learnt the engine's value since, it still is (a range clear since would make it
    // known, but keeping the op is always correct): no walk down a long chain of ops per mutation.
    const last = chain === undefined ? undefined : chain[chain.length - 1]!;
    if (last !== undefined && last.op !== 0 && last.version > this.#durableVersion && !this.#cache.get(key).covered) return undefined;
    const lookup = this.#lookupChain(key, chain, version, this.#durableVersion);
    if (lookup.kind === 'value') return lookup.value;
    // The cache holds the engine's value at the durable version for every key it covers.
    const cached = this.#cache.get(key);
    return cached.covered ? applyOps(cached.value, lookup.ops) : undefined;
  }

  #addClear(begin: KeyString, end: KeyString, event: ClearEvent): void {
    const clears = this.#clears;
    // Split the boundary map at `begin` and `end` so the segments inside [begin, end) are whole.
    for (const boundary of [end, begin]) {
      if (!clears.has(boundary)) {
        const floor = clears.getPairOrNextLower(boundary);
        clears.set(boundary, floor === undefined ? [] : floor[1].slice());
      }
    }
    clears.forRange(begin, end, false, (_key, events) => {
      events.push(event);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Reads

  /**
   * The value of `key` at `version`.
   * @throws StrataError `transaction_too_old` or `future_version`.
   */
  get(key: KeyString, version: number): Uint8Array | null | Promise<Uint8Array | null> {
    if (version > this.#version) return this.#waitForVersion(version).then(() => this.get(key, version));
    this.#checkReadable(version);
    const lookup = this.#lookup(key, version, this.#durableVersion);
    if (lookup.kind === 'value') return lookup.value;
    const cached = this.#cache.get(key);
    if (cached.covered) return applyOps(cached.value, lookup.ops);
    return this.#getFromEngine(key, version);
  }

  /**
   * The values of `keys` at `version`, in order: what {@link StorageServer.get} gives for each.
   *
   * @remarks
   * The window is looked up for every key first, then the cache for the keys the window leaves to
   * it, each in one tight loop: the lookups of a batch of keys read at random miss the processor's
   * caches independently of each other, and in a short loop the processor overlaps those misses
   * instead of waiting out one before the next begins (a point read per key, with the code of a
   * read between two lookups, serialises them). Keys neither answers are read from the engine.
   * @throws StrataError `transaction_too_old` or `future_version`.
   */
  getMany(keys: readonly KeyString[], version: number): (Uint8Array | null)[] | Promise<(Uint8Array | null)[]> {
    if (version > this.#version) return this.#waitForVersion(version).then(() => this.getMany(keys, version));
    this.#checkReadable(version);
    const durableVersion = this.#durableVersion;
    const values = new Array<Uint8Array | null>(keys.length);
    // The ops of the keys the window leaves to the engine's value (undefined for those it answers).
    const engineOps = new Array<ChainEntry[] | undefined>(keys.length);
    for (let i = 0; i < keys.length; i++) {
      const lookup = this.#lookup(keys[i]!, version, durableVersion);
      if (lookup.kind === 'value') values[i] = lookup.value;
      else engineOps[i] = lookup.ops;
    }
    let engineReads: Promise<void>[] | null = null;
    for (let i = 0; i < keys.length; i++) {
      const ops = engineOps[i];
      if (ops === undefined) continue;
      const cached = this.#cache.get(keys[i]!);
      if (cached.covered) values[i] = applyOps(cached.value, ops);
      else {
        (engineReads ??= []).push(
          this.#getFromEngine(keys[i]!, version).then((value) => {
            values[i] = value;
          }),
        );
      }
    }
    return engineReads === null ? values : Promise.all(engineReads).then(() => values);
  }

  async #getFromEngine(key: KeyString, version: number): Promise<Uint8Array | null> {
    const entered = this.#enterEngineFor(key);
    const committing = entered instanceof Promise ? await entered : entered;
    try {
      // The durable version may have moved while this read waited for a flush.
      this.#checkReadable(version);
      const lookup = this.#lookup(key, version, this.#durableVersion);
      if (lookup.kind === 'value') return lookup.value;
      const cached = this.#cache.get(key);
      if (cached.covered) return applyOps(cached.value, lookup.ops);
      const base = await this.#engine.get(key);
      if (!this.#cache.enabled) return applyOps(base, lookup.ops);
      if (base === null) {
        // The first entry after the missing key tells that no key lies between the two: the cache
        // learns that whole gap, so later reads of keys in it (new keys being inserted, typically)
        // need no engine read.
        const cursor = this.#engine.cursor(key, STORAGE_KEYS_END, false);
        let next: [KeyString, Uint8Array] | undefined;
        try {
          [next] = await cursor.next(1);
        } finally {
          void cursor.close();
        }
        const end = next === undefined ? STORAGE_KEYS_END : keyAfter(next[0]);
        const gapEnd = committing === null ? end : this.#gapEnd(committing, key, end);
        this.#cache.fill(key, gapEnd, next === undefined || gapEnd !== end ? [] : [next], false);
      } else this.#cache.fill(key, keyAfter(key), [[key, base]], false);
      return applyOps(base, lookup.ops);
    } finally {
      this.#exitEngine();
    }
  }

  // Enters the engine for a point read of `key`: null when the read excludes engine commits, else
  // the keys of the commit under way. While a flush commits, the engine holds either its old or its
  // new state, and a key the flush does not write has the same value in both: its read goes ahead
  // (without excluding the commit) instead of waiting for it.
  #enterEngineFor(key: KeyString): ReadonlyMap<KeyString, unknown> | null | Promise<ReadonlyMap<KeyString, unknown> | null> {
    if (this.#commitGate === null) {
      this.#engineReads++;
      return null;
    }
    const committing = this.#committingKeys;
    if (committing !== null && !committing.has(key)) {
      this.#engineReads++;
      return committing;
    }
    return this.#commitGate.then(() => this.#enterEngineFor(key));
  }

  // Where the gap from the missing `key` up to `end` (exclusive), found by a read that went ahead of
  // the commit of `committing`, ends for the cache: at the first key that commit writes inside it.
  // The read saw the engine's old or new state, and only the keys the commit writes differ between
  // the two; without them the gap is empty in both. (The next commit waits for this read to end, so
  // no later one can have written inside the gap.) The keys are put in order once per commit, when
  // a read first needs them: while flushes commit back to back, every insert's existence check
  // reads the engine unless its gap is learned this way.
  #gapEnd(committing: ReadonlyMap<KeyString, unknown>, key: KeyString, end: KeyString): KeyString {
    if (this.#committingOrder?.of !== committing) this.#committingOrder = { of: committing, keys: [...committing.keys()].sort() };
    const keys = this.#committingOrder.keys;
    // The first of them above `key` (none equals it: the read went ahead because the commit does not write it).
    const first = keys[lowerBound(keys, key)];
    return first !== undefined && first < end ? first : end;
  }

  // Engine reads and the flush's engine commit exclude each other, so a read always knows which
  // durable version its engine data reflects. A waiting commit goes first.
  #enterEngine(): Promise<void> | void {
    if (this.#commitGate === null) {
      this.#engineReads++;
      return;
    }
    return this.#commitGate.then(() => this.#enterEngine());
  }

  #exitEngine(): void {
    this.#engineReads--;
    if (this.#engineReads === 0 && this.#readsDrained !== null) this.#readsDrained();
  }

  /**
   * Entries of `[begin, end)` at `version`, in key order (or reverse), at most `limit`.
   * @throws StrataError `transaction_too_old` or `future_version`.
   */
  async getRange(begin: KeyString, end: KeyString, version: number, limit: number, reverse: boolean): Promise<StorageRangeResult> {
    if (version > this.#version) await this.#waitForVersion(version);
    if (begin >= end || limit <= 0) {
      this.#checkReadable(version);
      return { entries: [], more: false };
    }
    const epoch = this.#registerReader();
    // Enter the engine now unless a flush is committing, so a flush that starts after this read
    // cannot move the durable version under it, whether the cache or the engine answers. While a
    // flush commits, the cache may still answer without the engine: it changes together with the
    // durable version, in one step.
    let holdsEngine = this.#commitGate === null;
    if (holdsEngine) this.#engineReads++;
    let cursor: EngineCursor | null = null;
    try {
      const cached = await this.#getRangeFromCache(begin, end, version, limit, reverse);
      if (cached !== null) return cached;
      if (!holdsEngine) {
        await this.#enterEngine();
        holdsEngine = true;
      }
      this.#checkReadable(version);
      const baseVersion = this.#durableVersion;
      cursor = this.#engine.cursor(begin, end, reverse);
      const release = (): void => {
        // The cursor's snapshot exists once its first batch is read; later batches read the snapshot.
        if (holdsEngine) this.#exitEngine();
        holdsEngine = false;
      };
      const fetched: [KeyString, Uint8Array][] = [];
      const result = await this.#mergeRange(cursor, begin, end, version, baseVersion, limit, reverse, release, fetched);
      // What the engine returned is every entry of the range it walked: cache it, unless a flush
      // changed the engine since the cursor's snapshot.
      if (this.#epoch === epoch) {
        const exhausted = fetched.length === 0 || !result.more;
        const last = fetched.length > 0 ? fetched[fetched.length - 1]![0] : null;
        if (reverse) this.#cache.fill(exhausted || last === null ? begin : last, end, fetched);
        else this.#cache.fill(begin, exhausted || last === null ? end : keyAfter(last), fetched);
      }
      return result;
    } finally {
      if (holdsEngine) this.#exitEngine();
      if (cursor !== null) void cursor.close();
      this.#unregisterReader(epoch);
    }
  }

  // Serves a range read from the cache when the cache covers enough of it; `null` otherwise. The
  // caller holds the engine and is registered as a reader.
  async #getRangeFromCache(begin: KeyString, end: KeyString, version: number, limit: number, reverse: boolean): Promise<StorageRangeResult | null> {
    const bound = reverse ? this.#cache.coveredFrom(end) : this.#cache.coveredUntil(begin);
    if (bound === null) return null;
    this.#checkReadable(version);
    const from = reverse && bound > begin ? bound : begin;
    const to = !reverse && bound < end ? bound : end;
    const cursor = this.#cache.cursor(from, to, reverse);
    const result = await this.#mergeRange(cursor, from, to, version, this.#durableVersion, limit, reverse, () => {}, null);
    // Enough rows, or the whole range covered: the answer. Otherwise the engine must be read.
    return result.more || (from === begin && to === end) ? result : null;
  }

  #registerReader(): number {
    const epoch = this.#epoch;
    this.#readers.set(epoch, (this.#readers.get(epoch) ?? 0) + 1);
    return epoch;
  }

  #unregisterReader(epoch: number): void {
    const count = this.#readers.get(epoch)! - 1;
    if (count === 0) this.#readers.delete(epoch);
    else this.#readers.set(epoch, count);
    this.#maybePrune();
  }

  async #mergeRange(
    cursor: EngineCursor,
    begin: KeyString,
    end: KeyString,
    version: number,
    baseVersion: number,
    limit: number,
    reverse: boolean,
    onSnapshot: () => void,
    fetched: [KeyString, Uint8Array][] | null,
  ): Promise<StorageRangeResult> {
    const entries: StorageEntry[] = [];
    // Memory keys come from an iterator over the ordered index, which no await separates from its
    // use: after each await that let the window's key set change (batches are applied and indexed,
    // or pruned, meanwhile) it is opened again after the last key taken. `memoryKey` is the next
    // memory key not yet merged, `memoryChain` its chain.
    const keys = this.#keys;
    const pair: (KeyString | ChainEntry[])[] = [];
    let memory: Iterator<[KeyString, ChainEntry[]]>;
    let memoryKey: KeyString | undefined;
    let memoryChain: ChainEntry[] | undefined;
    const nextMemory = (): void => {
      const step = memory.next();
      if (step.done === true || (reverse ? step.value[0] < begin : step.value[0] >= end)) {
        memoryKey = undefined;
        memoryChain = undefined;
      } else {
        memoryKey = step.value[0];
        memoryChain = step.value[1];
      }
    };
    // Opens the iterator at the first memory key after `last` (in the read's direction), or at the
    // start of the range when nothing was taken yet; keeps the open one if the key set is unchanged.
    let openedAt = -1;
    const openMemory = (last: KeyString | null): void => {
      if (openedAt === this.#keySetChanges) return;
      if (this.#unindexedKeys.size > 0) this.#indexKeys(begin, end);
      openedAt = this.#keySetChanges;
      if (reverse) memory = keys.entriesReversed(last ?? end, pair, true);
      else {
        memory = keys.entries(last ?? begin, pair);
        if (last !== null && keys.has(last)) memory.next();
      }
      nextMemory();
    };
    openMemory(null);
    let lastTaken: KeyString | null = null;
    let engineBatch: [KeyString, Uint8Array][] = [];
    let engineIndex = 0;
    let engineDone = false;
    let snapshotTaken = false;
    const fetchCount = Math.min(Math.max(limit, 16), 1024);
    while (entries.length < limit) {
      if (!engineDone && engineIndex >= engineBatch.length) {
        engineBatch = await cursor.next(fetchCount);
        openMemory(lastTaken);
        if (!snapshotTaken) {
          snapshotTaken = true;
          onSnapshot();
        }
        if (fetched !== null) for (const entry of engineBatch) fetched.push(entry);
        engineIndex = 0;
        if (engineBatch.length === 0) engineDone = true;
      }
      const engineEntry = engineDone ? undefined : engineBatch[engineIndex];
      if (memoryKey === undefined && engineEntry === undefined) return { entries, more: false };
      let key: KeyString;
      let base: Uint8Array | null = null;
      let chain: ChainEntry[] | undefined;
      if (engineEntry === undefined || (memoryKey !== undefined && (reverse ? memoryKey > engineEntry[0] : memoryKey < engineEntry[0]))) {
        key = memoryKey!;
        chain = memoryChain;
        nextMemory();
      } else {
        key = engineEntry[0];
        base = engineEntry[1];
        engineIndex++;
        // Every window key of the range is in the index (indexed when the iterator was opened, and
        // none is added without an await), so an engine key the iterator is not at has no chain.
        if (memoryKey === key) {
          chain = memoryChain;
          nextMemory();
        }
      }
      lastTaken = key;
      const lookup = this.#lookupChain(key, chain, version, baseVersion);
      const value = lookup.kind === 'value' ? lookup.value : applyOps(base, lookup.ops);
      if (value !== null) entries.push([key, value]);
    }
    return { entries, more: true };
  }

  // Moves the pending keys that may lie in [begin, end) into the ordered index, in key order.
  #indexKeys(begin: KeyString, end: KeyString): void {
    const keys = this.#unindexedKeys.take(begin, end);
    keys.sort();
    const chains = this.#chains;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      const chain = chains.get(key);
      if (chain === undefined) continue;
      this.#keys.set(key, chain);
      (chain as Chain).indexed = true;
      this.#keySetChanges++;
    }
  }

  // Takes up to `count` more steps of the remake of the pending keys, which drops the keys that no
  // longer have a chain (written, then pruned before any range read). Every key of #chains not in
  // the ordered index is pending, so the pending keys are made again from #chains: a walk in
  // insertion order, cheaper than looking each pending key up in it. The walk goes a step per batch
  // taken in, each at least twice the batch's keys: a walk of the whole window at once held the
  // event loop for 46-66 ms with 0.6-1.2 million keys in it. Meanwhile #unindexedKeys stays complete
  // (range reads take from it, batches add to it); a key added meanwhile lands at the end of
  // #chains, where the walk finds it (a Map's iterator visits entries added after it was made); a
  // key indexed after the walk passed it is pending although indexed once the walk ends, which
  // indexing allows.
  #continueRemake(count: number): void {
    const remake = this.#remake!;
    for (let i = 0; i < count; i++) {
      const step = remake.walk.next();
      if (step.done === true) {
        this.#unindexedKeys = remake.pending;
        this.#remake = null;
        return;
      }
      if ((step.value[1] as Chain).indexed !== true) remake.pending.add(step.value[0]);
    }
  }

  /**
   * What the window says about `key` at `version`, considering only entries newer than
   * `baseVersion` (the engine snapshot the caller combines the answer with).
   */
  #lookup(key: KeyString, version: number, baseVersion: number): Lookup {
    return this.#lookupChain(key, this.#chains.get(key), version, baseVersion);
  }

  // #lookup, given the key's chain (undefined when the window has none).
  #lookupChain(key: KeyString, chain: ChainEntry[] | undefined, version: number, baseVersion: number): Lookup {
    let clearSeq = -1;
    if (this.#clears.size > 0) {
      const floor = this.#clears.getPairOrNextLower(key);
      if (floor !== undefined) {
        const events = floor[1];
        for (let i = events.length - 1; i >= 0; i--) {
          const event = events[i]!;
          if (event.version <= version) {
            if (event.version > baseVersion) clearSeq = event.seq;
            break;
          }
        }
      }
    }
    if (chain === undefined) return clearSeq >= 0 ? { kind: 'value', value: null } : ENGINE_LOOKUP;
    let i = newestAtOrBelow(chain, version);
    const top = i;
    // Walk back to the newest base: a plain value or clear, a range clear, or the engine.
    while (i >= 0) {
      const entry = chain[i]!;
      if (entry.version <= baseVersion || entry.seq < clearSeq) break;
      if (entry.op === 0) {
        if (i === top) return { kind: 'value', value: entry.value };
        return { kind: 'value', value: applyOps(entry.value, chain.slice(i + 1, top + 1)) };
      }
      i--;
    }
    // The walk stopped at the engine's version or at a newer range clear.
    const ops = chain.slice(i + 1, top + 1);
    if (clearSeq >= 0) return { kind: 'value', value: applyOps(null, ops) };
    return ops.length === 0 ? ENGINE_LOOKUP : { kind: 'engine', ops };
  }

  #checkReadable(version: number): void {
    if (this.#failed !== null) throw this.#failed;
    if (version < this.oldestVersion) {
      throw new StrataError('transaction_too_old', `read version ${version} is older than the oldest readable version ${this.oldestVersion}`, {
        details: { readVersion: version, oldestVersion: this.oldestVersion },
      });
    }
  }

  #waitForVersion(version: number): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      const waiter = { version, resolve };
      this.#versionWaiters.push(waiter);
      const timer = this.#runtime.setTimer(FUTURE_VERSION_WAIT_MS, () => {
        const index = this.#versionWaiters.indexOf(waiter);
        if (index < 0) return;
        this.#versionWaiters.splice(index, 1);
        reject(new StrataError('future_version', `storage server has not reached version ${version} (at ${this.#version})`));
      });
      waiter.resolve = () => {
        timer.cancel();
        resolve();
      };
    });
  }

  #wakeVersionWaiters(): void {
    const ready = this.#versionWaiters.filter((waiter) => waiter.version <= this.#version);
    if (ready.length === 0) return;
    const waiting = this.#versionWaiters.filter((waiter) => waiter.version > this.#version);
    this.#versionWaiters.length = 0;
    this.#versionWaiters.push(...waiting);
    for (const waiter of ready) waiter.resolve();
  }

  // ---------------------------------------------------------------------------------------------
  // Watches

  /**
   * Calls `fire` once the value of `key` differs from its value at `version`.
   * @returns a function that cancels the watch.
   */
  watch(key: KeyString, version: number, fire: () => void, fail: (error: unknown) => void): () => void {
    if (this.#failed !== null) {
      const failure = this.#failed;
      queueMicrotask(() => fail(failure));
      return () => {};
    }
    const watch: Watch = { baseline: undefined, fire, fail };
    let set = this.#watches.get(key);
    if (set === undefined) this.#watches.set(key, (set = new Set()));
    set.add(watch);
    this.#watchCount++;
    // The baseline is the value at `version` itself; a version that has left the window fails the
    // watch with transaction_too_old (a later baseline could hide the very change it waits for).
    // The read may throw synchronously; route that to `fail` too.
    new Promise<Uint8Array | null>((resolve) => resolve(this.get(key, version))).then(
      (value) => {
        watch.baseline = value;
        this.#checkWatches(key);
      },
      (error) => {
        this.#removeWatch(key, watch);
        fail(error);
      },
    );
    return () => this.#removeWatch(key, watch);
  }

  #removeWatch(key: KeyString, watch: Watch): void {
    const set = this.#watches.get(key);
    if (set === undefined || !set.delete(watch)) return;
    this.#watchCount--;
    if (set.size === 0) this.#watches.delete(key);
  }

  #checkWatches(key: KeyString): void {
    const version = this.#version;
    Promise.resolve(this.get(key, version)).then(
      (value) => {
        const set = this.#watches.get(key);
        if (set === undefined) return;
        for (const watch of [...set]) {
          if (watch.baseline === undefined || equalBytes(watch.baseline, value)) continue;
          this.#removeWatch(key, watch);
          watch.fire();
        }
      },
      (error) => {
        // The watches of this key cannot be checked: they fail, the server goes on.
        const set = this.#watches.get(key);
        if (set === undefined) return;
        for (const watch of [...set]) {
          this.#removeWatch(key, watch);
          watch.fail(error);
        }
      },
    );
  }

  // ---------------------------------------------------------------------------------------------
  // Durability

  #scheduleDurability(): void {
    if (this.#closed) return;
    this.#timer = this.#runtime.setTimer(this.#durabilityIntervalMs, () => {
      this.#timer = null;
      this.makeDurable(this.#version - this.#windowVersions).then(
        () => this.#scheduleDurability(),
        (error) => this.#fail(error),
      );
    });
  }

  /**
   * Moves every version up to `target` (at most the applied version) into the durable engine,
   * after any flush already under way, syncs the engine, and reports the version through
   * `onDurable`. Reads below `target` then fail with `transaction_too_old`.
   */
  async makeDurable(target: number): Promise<void> {
    // A flush already under way finishes first, whatever the target.
    while (this.#flushing) await this.#flushing;
    target = Math.min(target, this.#version);
    // Each flush writes a bounded batch; keep going until the target is in the engine.
    while (this.#durableVersion < target) {
      while (this.#flushing) await this.#flushing;
      if (this.#durableVersion >= target) break;
      const flushing = this.#flush(target);
      this.#flushing = flushing;
      try {
        await flushing;
      } finally {
        this.#flushing = null;
      }
    }
    // One sync for all the flushes before it (a sync per flush competed with the log's writes for
    // the disk); only then may the log drop the versions. Syncs run one at a time, so a call returns
    // only once what the engine held when it ended its flushes is synced.
    while (this.#syncedVersion < this.#durableVersion) {
      if (this.#syncing === null) this.#syncing = this.#sync();
      const syncing = this.#syncing;
      try {
        await syncing;
      } finally {
        if (this.#syncing === syncing) this.#syncing = null;
      }
    }
  }

  async #sync(): Promise<void> {
    const reached = this.#durableVersion;
    if (this.#unsynced) {
      this.#unsynced = false;
      try {
        await this.#engine.sync();
      } catch (error) {
        // Not synced after all: the next sync must not be skipped.
        this.#unsynced = true;
        throw error;
      }
    }
    this.#syncedVersion = reached;
    this.#onDurable(reached);
  }

  // Moves versions up to `limit` into the engine, stopping earlier (at a batch boundary) once the
  // keys to write reach STORAGE_DURABLE_BATCH_KEYS_MAX.
  async #flush(limit: number): Promise<void> {
    const baseVersion = this.#durableVersion;
    // Each key to write, with its chain (undefined for a durable key that only a range clear touched).
    const keys = new Map<KeyString, ChainEntry[] | undefined>();
    const clears: KeyString[] = [];
    let target = limit;
    for (const batch of this.#applied) {
      if (batch.version > limit) break;
      // Durable already, kept only until a range read that may still need it ends (see #maybePrune).
      if (batch.version <= baseVersion) continue;
      const batchKeys = batch.keys;
      const batchChains = batch.chains;
      for (let i = 0; i < batchKeys.length; i++) keys.set(batchKeys[i]!, batchChains[i]!);
      for (const key of batch.clears) clears.push(key);
      if (keys.size >= STORAGE_DURABLE_BATCH_KEYS_MAX) {
        target = batch.version;
        break;
      }
    }
    // Durable keys inside cleared ranges need their new state written too (a delete, unless set later).
    for (let i = 0; i < clears.length; i += 2) {
      const cursor = this.#engine.cursor(clears[i]!, clears[i + 1]!, false);
      try {
        for (let batch = await cursor.next(1024); batch.length > 0; batch = await cursor.next(1024)) {
          for (const [key] of batch) if (!keys.has(key)) keys.set(key, this.#chains.get(key));
        }
      } finally {
        await cursor.close();
      }
    }
    const writes: [KeyString, Uint8Array | null][] = [];
    for (const [key, chain] of keys) {
      const lookup = this.#lookupChain(key, chain, target, baseVersion);
      if (lookup.kind === 'value') {
        // A key written and cleared again inside the window (a queue's entries, typically) that the
        // cache knows the engine does not hold: deleting it would only leave a tombstone behind.
        if (lookup.value === null) {
          const cached = this.#cache.get(key);
          if (cached.covered && cached.value === null) continue;
        }
        writes.push([key, lookup.value]);
      } else if (lookup.ops.length > 0) writes.push([key, applyOps(await this.#engine.get(key), lookup.ops)]);
    }
    let openGate!: () => void;
    this.#commitGate = new Promise((resolve) => (openGate = resolve));
    try {
      if (this.#engineReads > 0) await new Promise<void>((resolve) => (this.#readsDrained = resolve));
      this.#readsDrained = null;
      this.#committingKeys = keys;
      // With only empty batches since the last flush the engine already holds the state at
      // `target`, and recovery from its older recorded version replays nothing: skip the write.
      if (keys.size > 0) {
        this.#unsynced = true;
        await this.#engine.commit(writes, target);
        this.#epoch++;
      }
      assert(this.#durableVersion === baseVersion, 'only one flush runs at a time');
      this.#durableVersion = target;
      for (const [key, value] of writes) this.#cache.write(key, value);
    } finally {
      this.#committingKeys = null;
      this.#commitGate = null;
      openGate();
    }
    this.#pendingPrune = { epoch: this.#epoch, version: target };
    this.#maybePrune();
  }

  #maybePrune(): void {
    const pending = this.#pendingPrune;
    if (pending === null) return;
    for (const epoch of this.#readers.keys()) if (epoch < pending.epoch) return;
    this.#pendingPrune = null;
    this.#prune(pending.version);
  }

  // Drops window entries at or below `version`, now held by the engine (a chain that keeps newer
  // entries may keep some of those too, see below: lookups never go below the durable version).
  #prune(version: number): void {
    let count = 0;
    while (count < this.#applied.length && this.#applied[count]!.version <= version) count++;
    const batches = this.#applied.splice(0, count);
    for (const batch of batches) this.#windowBytes -= batch.bytes;
    let clearsPruned = false;
    // The keys that leave the window are deleted from #chains after the walk, in a loop of their
    // own: their map entries lie cold and apart, and in a short loop the processor overlaps the
    // misses of one delete with the next instead of waiting out each between two chain walks.
    const gone: KeyString[] = [];
    for (const batch of batches) {
      const keys = batch.keys;
      const chains = batch.chains;
      for (let i = 0; i < keys.length; i++) {
        const chain = chains[i]!;
        // Dropped already (the key was written by an earlier batch of this prune too).
        if (chain.length === 0) continue;
        const drop = newestAtOrBelow(chain, version) + 1;
        if (drop === chain.length) {
          const key = keys[i]!;
          // Emptied, so that later batches holding it know it is gone (a chain in #chains is never empty).
          chain.length = 0;
          gone.push(key);
          // A key not in the index is at most in #unindexedKeys, which indexing filters.
          if ((chain as Chain).indexed === true) {
            this.#keys.delete(key);
            this.#keySetChanges++;
          }
        } else if (2 * drop >= chain.length) {
          // A key written by every batch (a counter) keeps a long chain: its entries at or below
          // the durable version, which every lookup stops at, go once they are half of it rather
          // than at every prune, so a prune does not shift the whole chain each time.
          chain.splice(0, drop);
        }
      }
      if (batch.clears.length > 0) clearsPruned = true;
    }
    const windowChains = this.#chains;
    for (let i = 0; i < gone.length; i++) windowChains.delete(gone[i]!);
    if (clearsPruned) {
      const empty: KeyString[] = [];
      let previousEmpty = true;
      for (const [boundary, events] of this.#clears.entries()) {
        let drop = 0;
        while (drop < events.length && events[drop]!.version <= version) drop++;
        if (drop > 0) events.splice(0, drop);
        const isEmpty = events.length === 0;
        if (isEmpty && previousEmpty) empty.push(boundary);
        previousEmpty = isEmpty;
      }
      for (const boundary of empty) this.#clears.delete(boundary);
    }
  }

  #fail(error: unknown): void {
    if (this.#failed !== null) return;
    this.#failed = error instanceof StrataError ? error : new StrataError('io_error', `storage server failed: ${String(error)}`, { cause: error });
    for (const set of this.#watches.values()) for (const watch of set) watch.fail(this.#failed);
    this.#onFailure(this.#failed);
  }

  /** Stops the durability timer, moves every applied version into the engine and closes it. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    if (this.#failed === null) await this.makeDurable(this.#version);
    const closed = new StrataError('database_closed', 'the database was closed');
    for (const set of this.#watches.values()) for (const watch of set) watch.fail(closed);
    this.#watches.clear();
    this.#watchCount = 0;
    await this.#engine.close();
  }
}

const ENGINE_LOOKUP: Lookup = { kind: 'engine', ops: [] };

/** Above every key a transaction can write (one byte longer than the longest key, all 0xFF). */
const STORAGE_KEYS_END: KeyString = '\xff'.repeat(KEY_SIZE_MAX + 1);

// The index of the newest entry of `chain` at or below `version` (-1 when none). A hot key (a
// counter bumped by every transaction) has an entry per version in the window, and flushes and reads
// at older versions look below its newest: a binary search, not a walk down the chain.
function newestAtOrBelow(chain: readonly ChainEntry[], version: number): number {
  let high = chain.length - 1;
  if (high < 0 || chain[high]!.version <= version) return high;
  // chain[low] is at or below `version` (or low is -1), chain[high] above it.
  let low = -1;
  while (high - low > 1) {
    const middle = (low + high) >>> 1;
    if (chain[middle]!.version <= version) low = middle;
    else high = middle;
  }
  return low;
}

function applyOps(base: Uint8Array | null, ops: readonly ChainEntry[]): Uint8Array | null {
  let value = base;
  for (const entry of ops) value = entry.op === 0 ? entry.value : applyAtomicOp(entry.op, value, entry.value!);
  return value;
}

