/**
 * The database handle: the retry loop over a transaction host, which is either the roles wired
 * together in this process (the embedded database, with recovery) or a connection to a database
 * another process serves (see `net/`).
 */
import path from 'node:path';
import { MVCC_WINDOW_VERSIONS, RETRY_DELAY_FIRST_MS, RETRY_DELAY_MAX_MS, STORAGE_CACHE_BYTES_DEFAULT, VERSIONS_PER_SECOND } from '../limits.js';
import { CommitProxy, type CommitRequest, type CommitResult } from '../roles/commit-proxy.js';
import { LogServer, type LoggedBatch } from '../roles/log-server.js';
import { Resolver, type ResolverOptions } from '../roles/resolver.js';
import { RateKeeper } from '../roles/rate-keeper.js';
import { Sequencer } from '../roles/sequencer.js';
import { StorageServer, type StorageRangeResult } from '../roles/storage-server.js';
import { nodeRuntime, type Runtime } from '../runtime/runtime.js';
import { LevelEngine } from '../storage/level-engine.js';
import { MemoryLogDisk, NodeLogDisk } from '../storage/log-disk.js';
import { MemoryEngine, type StorageEngine } from '../storage/storage-engine.js';
import { FileLeaseStore, MemoryLeaseStore } from '../storage/version-lease.js';
import { copyBytes, type KeyString } from '../util/bytes.js';
import { StrataError } from './errors.js';
import { METADATA_VERSION_KEY_STRING } from './metadata-version.js';
import { Transaction, type TransactionHost, type TransactionOptions } from './transaction.js';

/** Options of {@link open}. */
export interface OpenOptions {
  /** The data directory. Without one the database lives in memory, with the same semantics. */
  path?: string;
  /** Bytes of durable data the storage server keeps in memory for point and range reads (default 64 MiB; 0 turns it off). */
  cacheBytes?: number;
  /**
   * Length of the MVCC window in milliseconds (default 5000). Reads and commits older than the
   * window fail with `transaction_too_old`. Tests shorten it; production code should not.
   */
  mvccWindowMs?: number;
  /** Clock, randomness and timers (default: the real ones). */
  runtime?: Runtime;
  /**
   * Hooks for the core's own tests (for example a deliberately broken resolver, to prove the
   * serializability checker can fail). Not a stable API.
   * @internal
   */
  testing?: {
    /** Builds the resolver instead of the default one. */
    createResolver?: (options: ResolverOptions) => Resolver;
    /** Wraps the storage engine the database opened (a slow disk, say). */
    wrapEngine?: (engine: StorageEngine) => StorageEngine;
    /** The rate keeper's lag target in milliseconds instead of the default. */
    rateKeeperLagTargetMs?: number;
    /** The rate keeper's window bytes target instead of the default. */
    rateKeeperBytesTarget?: number;
  };
}

/** Options of {@link Database.transact}: the transaction's options plus the retry loop's. */
export interface TransactOptions extends TransactionOptions {
  /** Most retries after the first attempt (default: unlimited, as in FoundationDB). */
  retryLimit?: number;
  /** Largest backoff delay between retries in milliseconds (default 1000). */
  maxRetryDelayMs?: number;
  /**
   * The transaction can safely run twice: `commit_unknown_result` is then retried instead of
   * surfaced. Leave unset unless the function's writes are idempotent.
   */
  idempotent?: boolean;
}

/** What happened during recovery when the database was opened. */
export interface RecoveryReport {
  /** The version the engine held when the database was opened. */
  durableVersion: number;
  /** Commit batches replayed from the log on top of it. */
  replayedBatches: number;
  /** Bytes of a torn log tail (a write cut short by a crash) that were discarded. */
  tornLogBytes: number;
  /** The version new transactions start reading at: above every version used before the database was opened. */
  recoveredVersion: number;
}

/**
 * An open database: one process's handle on a data directory (or on memory).
 *
 * @remarks
 * Created by {@link open}. Use {@link Database.transact} for work; it commits and retries.
 */
export class Database {
  readonly #host: TransactionHost;
  readonly #runtime: Runtime;
  readonly #shutdown: () => Promise<void>;
  #closed = false;
  #closing: Promise<void> | null = null;
  #failure: unknown = null;
  /** What recovery found when this database was opened (for a connection, when the serving process opened it). */
  readonly recovery: RecoveryReport;
  /** The data directory, or `null` for an in-memory database and for one reached with `connect`. */
  readonly path: string | null;

  /** @internal Use {@link open} or `connect`. */
  constructor(parts: { host: TransactionHost; shutdown: () => Promise<void>; recovery: RecoveryReport; path: string | null }) {
    this.#host = parts.host;
    this.#runtime = parts.host.runtime;
    this.#shutdown = parts.shutdown;
    this.recovery = parts.recovery;
    this.path = parts.path;
  }

  /** @internal The transaction host, for a server that serves this database to other processes. */
  get host(): TransactionHost {
    this.#checkOpen();
    return this.#host;
  }

  /**
   * Creates a transaction that you commit yourself with `tx.commit()`; it does not retry.
   * Prefer {@link Database.transact}.
   */
  createTransaction(options: TransactionOptions = {}): Transaction {
    this.#checkOpen();
    return new Transaction(this.#host, options);
  }

  /**
   * Runs `fn` in a transaction and commits it, retrying on retryable errors (conflicts, too-old
   * read versions) with exponential backoff and jitter. Returns `fn`'s result once committed.
   *
   * @remarks
   * `fn` may run more than once, so it should have no side effects outside the transaction.
   * A transaction that only reads does not commit. `commit_unknown_result` is retried only with
   * `idempotent: true`; otherwise it is thrown and the caller must find out whether it committed.
   * @throws StrataError the first non-retryable error, the last error once `retryLimit` is
   * reached, or `transaction_timed_out` once `timeoutMs` has passed.
   * @example
   * ```ts
   * const total = await db.transact(async (tx) => {
   *   tx.add(counterKey, new Uint8Array([1, 0, 0, 0]));
   *   return tx.get(otherKey);
   * });
   * ```
   */
  async transact<T>(fn: (tx: Transaction) => T | Promise<T>, options: TransactOptions = {}): Promise<T> {
    this.#checkOpen();
    if (typeof fn !== 'function') throw new StrataError('invalid_argument', 'transact: the first argument must be a function');
    const retryLimit = checkCount(options.retryLimit, 'retryLimit', Infinity);
    const maxDelay = checkCount(options.maxRetryDelayMs, 'maxRetryDelayMs', RETRY_DELAY_MAX_MS);
    const timeoutMs = options.timeoutMs === undefined ? undefined : checkCount(options.timeoutMs, 'timeoutMs', 0);
    const deadline = timeoutMs === undefined ? Infinity : this.#runtime.now() + timeoutMs;
    const transactionOptions: TransactionOptions = { accessSystemKeys: options.accessSystemKeys === true };
    let delay = RETRY_DELAY_FIRST_MS;
    for (let attempt = 0; ; attempt++) {
      const tx = new Transaction(this.#host, transactionOptions, deadline);
      try {
        const result = await fn(tx);
        await tx.commit();
        return result;
      } catch (error) {
        tx.cancel(error);
        if (!(error instanceof StrataError) || !error.retryable) throw error;
        if (error.maybeCommitted && options.idempotent !== true) throw error;
        if (attempt >= retryLimit) throw error;
        if (this.#closed) throw error;
        const wait = this.#runtime.random() * Math.min(delay, maxDelay);
        if (this.#runtime.now() + wait > deadline) {
          throw new StrataError('transaction_timed_out', `transact: timed out after ${attempt + 1} attempts; last error: ${error.code}`, { cause: error });
        }
        // A retry is work the caller awaits, so its wait keeps the process alive.
        await this.#runtime.sleep(wait);
        delay *= 2;
      }
    }
  }

  /**
   * Waits for commits in flight, makes every applied version durable in the storage engine,
   * and releases the data directory. Later calls fail with `database_closed`.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    await this.#shutdown();
  }

  /** @internal The first failure a role reported, or null. */
  get failure(): unknown {
    return this.#failure;
  }

  /** True once {@link Database.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** @internal Called by the roles when one fails. */
  fail(error: unknown): void {
    this.#failure ??= error;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StrataError('database_closed', 'the database is closed');
    if (this.#failure !== null) throw new StrataError('io_error', `the database failed: ${String(this.#failure)}`, { cause: this.#failure });
  }
}

/**
 * Opens a database on a data directory, or in memory when no path is given.
 *
 * @remarks
 * Opening recovers: every acknowledged commit in the write-ahead log is replayed into the storage
 * server and made durable in its engine; a torn log tail is discarded. A second process opening
 * the same directory fails with `lock_file_failure`.
 * @throws StrataError `lock_file_failure`, `file_corrupt` (a damaged log: nothing is discarded),
 * `io_error`.
 * @example
 * ```ts
 * import { open } from '@strata/core';
 * const db = await open({ path: './data' });
 * await db.transact((tx) => tx.set(new TextEncoder().encode('hello'), new TextEncoder().encode('world')));
 * await db.close();
 * ```
 */
export async function open(options: OpenOptions = {}): Promise<Database> {
  if (options.path !== undefined && (typeof options.path !== 'string' || options.path.length === 0)) {
    throw new StrataError('invalid_argument', 'open: path must be a non-empty string');
  }
  const runtime = options.runtime ?? nodeRuntime;
  const windowMs = options.mvccWindowMs ?? (MVCC_WINDOW_VERSIONS / VERSIONS_PER_SECOND) * 1000;
  if (!(windowMs > 0)) throw new StrataError('invalid_argument', `open: mvccWindowMs must be positive, got ${windowMs}`);
  const windowVersions = Math.round((windowMs / 1000) * VERSIONS_PER_SECOND);
  const dataPath = options.path === undefined ? null : path.resolve(options.path);

  // The storage engine takes the directory's lock first, so a second process fails before touching the log.
  const opened: StorageEngine = dataPath === null ? new MemoryEngine() : await LevelEngine.open(path.join(dataPath, 'storage'));
  const engine = options.testing?.wrapEngine?.(opened) ?? opened;
  let recovered;
  try {
    recovered = await LogServer.open(dataPath === null ? new MemoryLogDisk() : new NodeLogDisk(path.join(dataPath, 'log')), { defer: (callback) => runtime.defer(callback) });
  } catch (error) {
    await engine.close();
    throw error;
  }
  const { log, batches, tornBytes } = recovered;
  try {
    return await startRoles({ options, runtime, windowVersions, dataPath, engine, log, batches, tornBytes });
  } catch (error) {
    // A failed open releases what it opened, so the directory can be opened again.
    await log.close().catch(() => {});
    await engine.close().catch(() => {});
    throw error;
  }
}

/** What `open` has once the engine and the log are open: the rest of recovery starts from here. */
interface OpenedParts {
  options: OpenOptions;
  runtime: Runtime;
  windowVersions: number;
  dataPath: string | null;
  engine: StorageEngine;
  log: LogServer;
  batches: readonly LoggedBatch[];
  tornBytes: number;
}

// Replays the log into a new storage server and starts the sequencer, resolver and commit proxy.
async function startRoles({ options, runtime, windowVersions, dataPath, engine, log, batches, tornBytes }: OpenedParts): Promise<Database> {
  let database: Database | null = null;
  const fail = (error: unknown): void => database?.fail(error);
  const storage = new StorageServer({
    runtime,
    engine,
    windowVersions,
    // An in-memory engine is already memory: a cache in front of it would only hold a second copy.
    cacheBytes: dataPath === null ? 0 : (options.cacheBytes ?? STORAGE_CACHE_BYTES_DEFAULT),
    onDurable: (version) => void log.popThrough(version).catch(fail),
    onFailure: fail,
  });
  const durableVersion = engine.durableVersion;
  let replayedBatches = 0;
  for (const batch of batches) {
    if (batch.version <= durableVersion) continue;
    storage.apply(batch);
    replayedBatches++;
  }
  // Replayed versions go straight to the engine, so the log they came from can be dropped.
  if (replayedBatches > 0) await storage.makeDurable(storage.version);
  // Versions at or below the stored lease may have been handed out before a crash; the sequencer
  // starts above it.
  const recoveredVersion = Math.max(durableVersion, log.lastVersion);
  const lease = dataPath === null ? new MemoryLeaseStore() : new FileLeaseStore(dataPath);
  const storedMetadataVersion = await storage.get(METADATA_VERSION_KEY_STRING, storage.version);
  const metadataVersion = storedMetadataVersion === null ? null : copyBytes(storedMetadataVersion);
  const sequencer = await Sequencer.start({ runtime, recoveredVersion, lease, onFailure: fail, metadataVersion });
  // Nothing was committed between the log's last batch and the lease: the storage server holds
  // the same data at the sequencer's starting version.
  if (sequencer.committedVersion > storage.version) storage.apply({ version: sequencer.committedVersion, mutations: [] });
  const resolver = options.testing?.createResolver?.({ windowVersions }) ?? new Resolver({ windowVersions });
  log.subscribe(
    (batch) => storage.apply(batch),
    (batch) => storage.stage(batch),
  );
  const proxy = new CommitProxy({ runtime, sequencer, resolver, log });
  const rateKeeper = new RateKeeper({
    runtime,
    storage,
    lagTargetMs: options.testing?.rateKeeperLagTargetMs,
    bytesTarget: options.testing?.rateKeeperBytesTarget,
  });
  const host: TransactionHost = {
    runtime,
    getReadVersion: () => {
      const started = rateKeeper.admit();
      return started === null ? proxy.getReadVersion() : started.then(() => proxy.getReadVersion());
    },
    read: (key: KeyString, version: number) => storage.get(key, version),
    readMany: (keys: readonly KeyString[], version: number) => storage.getMany(keys, version),
    readRange: (begin: KeyString, end: KeyString, version: number, limit: number, reverse: boolean): Promise<StorageRangeResult> =>
      storage.getRange(begin, end, version, limit, reverse),
    // A transaction that read nothing asks the rate keeper when it commits instead.
    commit: (request: CommitRequest): Promise<CommitResult> => {
      const started = request.readVersion === null ? rateKeeper.admit() : null;
      return started === null ? proxy.commit(request) : started.then(() => proxy.commit(request));
    },
    watch: (key, version, fire, fail) => storage.watch(key, version, fire, fail),
    get watchCount() {
      return storage.watchCount;
    },
    metadataVersion: () => {
      const { value, since } = sequencer.metadataVersion;
      // A read version storage no longer serves is answered by storage (transaction_too_old), as
      // every other read at it is.
      return { value, since: Math.max(since, storage.oldestVersion), through: sequencer.committedVersion };
    },
  };
  const shutdown = async (): Promise<void> => {
    rateKeeper.close();
    await proxy.close();
    await storage.close();
    if (database!.failure === null) await log.popThrough(storage.durableVersion);
    await log.close();
  };
  database = new Database({
    host,
    shutdown,
    path: dataPath,
    recovery: { durableVersion, replayedBatches, tornLogBytes: tornBytes, recoveredVersion: sequencer.committedVersion },
  });
  return database;
}

function checkCount(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < 0) {
    throw new StrataError('invalid_option_value', `transact: ${name} must be a non-negative number, got ${String(value)}`);
  }
  return value;
}
