/**
 * Commit proxy: gathers concurrent commits into batches and drives each through the commit path.
 *
 * Invariants:
 * 1. Each batch gets one commit version from the sequencer; batches reach the resolver and the log
 *    in version order.
 * 2. A transaction is acknowledged as committed only after its batch is durable on the log and
 *    the sequencer has been told, so any read version handed out afterwards sees it.
 * 3. The versionstamp of the transaction at position i of a batch at version v is v (8 bytes,
 *    big-endian) followed by i (2 bytes, big-endian): unique, and ordered as the commits are.
 * 4. A failure after a batch was handed to the log is reported as `commit_unknown_result`.
 * 5. Commits queued or in flight are bounded; beyond the bound commits are refused with
 *    `server_overloaded`.
 * 6. A batch that sets the metadata version reports the value it set to the sequencer with its
 *    version, so read versions carry it from the moment they can see the batch.
 */
import { COMMIT_BATCH_BYTES_MAX, COMMIT_BATCH_TRANSACTIONS_MAX, COMMIT_QUEUE_MAX, EMPTY_BATCH_INTERVAL_MS } from '../limits.js';
import { StrataError } from '../api/errors.js';
import { MutationType, makeVersionstamp, substituteVersionstamp, type Mutation } from '../api/mutation.js';
import { METADATA_VERSION_KEY_STRING, checkMetadataVersionWrite } from '../api/metadata-version.js';
import type { LogServer } from './log-server.js';
import type { Resolver } from './resolver.js';
import type { Sequencer } from './sequencer.js';
import type { Runtime, Timer } from '../runtime/runtime.js';
import { fromKeyString, toKeyString, type KeyString } from '../util/bytes.js';

/**
 * What a client sends to commit a transaction. Conflict ranges are flat `[begin, end, ...]` arrays;
 * conflict points are keys `k`, each standing for the range `[k, k\0)`.
 */
export interface CommitRequest {
  /** The transaction's read version, or `null` if it read nothing. */
  readVersion: number | null;
  readRanges: KeyString[];
  /** Keys read (absent means none). */
  readPoints?: KeyString[];
  writeRanges: KeyString[];
  /** Keys written (absent means none). */
  writePoints?: KeyString[];
  mutations: Mutation[];
  /** Size of mutations and conflict ranges, in bytes (checked against the transaction limit). */
  bytes: number;
}

/** A successful commit: its version and its position in the batch. */
export interface CommitResult {
  version: number;
  /** Position of the transaction in its batch. */
  order: number;
}

interface Queued {
  request: CommitRequest;
  resolve: (result: CommitResult) => void;
  reject: (error: unknown) => void;
}

/** Construction options of {@link CommitProxy}. */
export interface CommitProxyOptions {
  runtime: Runtime;
  sequencer: Sequencer;
  resolver: Resolver;
  log: LogServer;
  /** When no batch ran for this long, an empty batch advances the version (default 100 ms). */
  emptyBatchIntervalMs?: number;
}

/** Batches commits: version, resolve, log, acknowledge. */
export class CommitProxy {
  readonly #runtime: Runtime;
  readonly #sequencer: Sequencer;
  readonly #resolver: Resolver;
  readonly #log: LogServer;
  readonly #emptyBatchIntervalMs: number;
  #queue: Queued[] = [];
  #scheduled = false;
  #waitingForLease = false;
  #inFlight = 0;
  #inFlightTransactions = 0;
  #batchesSinceTick = 0;
  #timer: Timer | null = null;
  #closed = false;
  #drained: (() => void) | null = null;
  #failure: StrataError | null = null;

  constructor(options: CommitProxyOptions) {
    this.#runtime = options.runtime;
    this.#sequencer = options.sequencer;
    this.#resolver = options.resolver;
    this.#log = options.log;
    this.#emptyBatchIntervalMs = options.emptyBatchIntervalMs ?? EMPTY_BATCH_INTERVAL_MS;
    this.#armEmptyBatchTimer();
  }

  /** The read version for a new transaction: the newest version whose batch is durable and applied. */
  getReadVersion(): number {
    if (this.#failure) throw this.#failure;
    return this.#sequencer.committedVersion;
  }

  /** Queues a commit; resolves when it is durable, rejects on conflict or failure. */
  commit(request: CommitRequest): Promise<CommitResult> {
    if (this.#closed) return Promise.reject(new StrataError('database_closed', 'the database is closed; the commit was not attempted'));
    if (this.#failure) return Promise.reject(this.#failure);
    // Invariant 6 needs the metadata version key changed only by its bump, whoever sent the request.
    try {
      for (const mutation of request.mutations) checkMetadataVersionWrite(mutation);
    } catch (error) {
      return Promise.reject(error);
    }
    // Commits waiting for the log count too: the bound is on all work not yet acknowledged.
    if (this.#queue.length + this.#inFlightTransactions >= COMMIT_QUEUE_MAX) {
      return Promise.reject(new StrataError('server_overloaded', `more than ${COMMIT_QUEUE_MAX} commits are queued or in flight`));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ request, resolve, reject });
      this.#schedule();
    });
  }

  #takeBatch(): Queued[] {
    let bytes = 0;
    let count = 0;
    while (count < this.#queue.length && count < COMMIT_BATCH_TRANSACTIONS_MAX) {
      const next = this.#queue[count]!.request.bytes;
      if (count > 0 && bytes + next > COMMIT_BATCH_BYTES_MAX) break;
      bytes += next;
      count++;
    }
    const batch = this.#queue.slice(0, count);
    this.#queue = this.#queue.slice(count);
    return batch;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    this.#runtime.defer(() => this.#runBatch());
  }

  #runBatch(): void {
    this.#scheduled = false;
    if (this.#failure !== null) {
      // The commit path failed: nothing queued was sent anywhere, so it certainly did not commit.
      const queued = this.#queue;
      this.#queue = [];
      for (const item of queued) item.reject(this.#failure);
      this.#settled(0);
      return;
    }
    if (this.#waitingForLease || this.#queue.length === 0) return;
    const version = this.#nextVersion();
    if (version === null) return;
    const batch = this.#takeBatch();
    if (this.#queue.length > 0) this.#schedule();
    this.#commitBatch(version, batch);
  }

  // A commit version, or null while the sequencer extends its version lease; queued commits then
  // wait, in order, and the batch runs once the lease is durable.
  #nextVersion(): number | null {
    const version = this.#sequencer.nextCommitVersion();
    if (version !== null) return version;
    this.#waitingForLease = true;
    this.#sequencer.leaseExtended().then(
      () => {
        this.#waitingForLease = false;
        this.#schedule();
      },
      (cause) => {
        this.#failure ??= new StrataError('io_error', `extending the version lease failed: ${String(cause)}`, { cause });
        const queued = this.#queue;
        this.#queue = [];
        for (const item of queued) item.reject(this.#failure);
        this.#settled(0);
      },
    );
    return null;
  }

  #commitBatch(version: number, batch: Queued[]): void {
    this.#batchesSinceTick++;
    const resolutions = this.#resolver.resolve(
      version,
      batch.map((queued) => queued.request),
    );
    const mutations: Mutation[] = [];
    const committed: { queued: Queued; order: number }[] = [];
    let metadataVersion: Uint8Array | undefined;
    for (let order = 0; order < batch.length; order++) {
      const queued = batch[order]!;
      const resolution = resolutions[order];
      if (resolution === 'conflict') {
        queued.reject(new StrataError('not_committed', 'transaction conflicted with a transaction committed after its read version'));
        continue;
      }
      if (resolution === 'too_old') {
        queued.reject(
          new StrataError('transaction_too_old', `read version ${queued.request.readVersion} is older than the MVCC window at commit version ${version}`),
        );
        continue;
      }
      committed.push({ queued, order });
      for (const mutation of queued.request.mutations) {
        const stamped = stampMutation(mutation, version, order);
        if (mutation.type === MutationType.setVersionstampedValue && mutation.key === METADATA_VERSION_KEY_STRING) metadataVersion = stamped.param as Uint8Array;
        mutations.push(stamped);
      }
    }
    this.#inFlight++;
    this.#inFlightTransactions += committed.length;
    this.#log.push({ version, mutations }).then(
      () => {
        this.#sequencer.reportCommitted(version, metadataVersion);
        for (const { queued, order } of committed) queued.resolve({ version, order });
        this.#inFlightTransactions -= committed.length;
        this.#settled();
      },
      (cause) => {
        this.#failure ??= new StrataError('io_error', `the commit path failed: ${String(cause)}`, { cause });
        for (const { queued } of committed) {
          queued.reject(new StrataError('commit_unknown_result', 'the log failed while the commit was in flight', { cause }));
        }
        this.#inFlightTransactions -= committed.length;
        this.#settled();
      },
    );
  }

  #settled(batches = 1): void {
    this.#inFlight -= batches;
    if (this.#inFlight === 0 && this.#queue.length === 0 && this.#drained) this.#drained();
  }

  #armEmptyBatchTimer(): void {
    if (this.#closed || this.#emptyBatchIntervalMs <= 0) return;
    this.#timer = this.#runtime.setTimer(this.#emptyBatchIntervalMs, () => {
      if (this.#batchesSinceTick === 0 && this.#failure === null && !this.#closed && !this.#waitingForLease) {
        const version = this.#nextVersion();
        if (version !== null) this.#commitBatch(version, []);
      }
      this.#batchesSinceTick = 0;
      this.#armEmptyBatchTimer();
    });
  }

  /** Stops taking commits and waits for those already taken to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    while (this.#inFlight > 0 || this.#queue.length > 0) {
      await new Promise<void>((resolve) => (this.#drained = resolve));
    }
    this.#drained = null;
  }
}

function stampMutation(mutation: Mutation, version: number, order: number): Mutation {
  if (mutation.type === MutationType.setVersionstampedKey) {
    const key = substituteVersionstamp(fromKeyString(mutation.key), makeVersionstamp(version, order));
    return { type: MutationType.set, key: toKeyString(key), param: mutation.param };
  }
  if (mutation.type === MutationType.setVersionstampedValue) {
    const value = substituteVersionstamp(mutation.param as Uint8Array, makeVersionstamp(version, order));
    return { type: MutationType.set, key: mutation.key, param: value };
  }
  return mutation;
}
