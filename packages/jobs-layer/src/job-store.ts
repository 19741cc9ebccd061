/**
 * The job store: every queue of an application in one directory, and the transactional steps of a
 * job's life (enqueue, claim, heartbeat, complete, fail, release, cancel, retry, and the
 * maintenance that makes delayed jobs ready and reclaims expired leases).
 *
 * Layout inside the directory (tuples after its prefix):
 *
 * | key                                          | value            | present while                |
 * | -------------------------------------------- | ---------------- | ---------------------------- |
 * | `(0, id)`                                    | the job (msgpack array of its fields) | always  |
 * | `(1, queue, group, -priority, runAt, id)`    | empty            | ready                        |
 * | `(2, queue, group)`                          | empty            | the group may have ready jobs |
 * | `(3, queue, runAt, id)`                      | empty            | delayed                      |
 * | `(4, queue, leaseDeadline, id)`              | empty            | running                      |
 * | `(5, queue, state, finishedAt, id)`          | empty            | completed, dead or cancelled |
 * | `(6, queue, uniqueKey)`                      | the job's id     | ready, delayed or running    |
 * | `(7, queue, state)`                          | int64 LE count   | (atomic add)                 |
 * | `(8, queue)`                                 | int64 LE counter | bumped when work appears     |
 * | `(9, ...)`                                   | —                | never (an index of ready jobs by due time, dropped: JobStore.open clears it) |
 * | `(10, queue, scheduleName)`                  | the schedule     | while scheduled (schedule.ts) |
 *
 * Fairness follows Apple's QuiCK: each group (a tenant) has its own ready queue, ordered by
 * priority then due time; the group pointers `(2, ...)` are the top-level queue. A claim reads the
 * pointers and the heads of the groups it picks as snapshot reads, chooses among them at random,
 * and reads only the chosen jobs with conflicts, so concurrent claimers rarely collide and a busy
 * group cannot starve the others.
 *
 * Invariants:
 * 1. A job is in exactly one state, and exactly the index entries of that state exist for it.
 * 2. The fencing token of a job grows by one with every claim; a heartbeat, completion or failure
 *    commits only if the job is still running under the caller's token (it reads the job with a
 *    conflict range, so a concurrent reclaim or cancel makes one of the two fail).
 * 3. Counts change in the same transaction as the state they count (one atomic add per count and
 *    transaction, written when it commits).
 * 4. A group pointer is removed only by a transaction that read the group's ready range with a
 *    conflict range and found it empty.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { DirectoryLayer, Subspace, type TupleItem } from '@strata/tuple';
import type { Database, Transaction } from '@strata/core';
import { Packr } from 'msgpackr';
import { backoffDelayMs, checkBackoff, type Backoff } from './backoff.js';
import { JobsError } from './errors.js';
import { CLAIM_GROUPS_SCANNED_MAX, CLAIM_HINT_MS, CLAIM_HINTS_MAX, ERROR_MESSAGE_BYTES_MAX, MAINTENANCE_BATCH_MAX, NAME_LENGTH_MAX } from './limits.js';

const JOB = 0;
const READY = 1;
const ACTIVE = 2;
const DELAYED = 3;
const LEASED = 4;
const FINISHED = 5;
const UNIQUE = 6;
const COUNT = 7;
const SIGNAL = 8;
/** The code of an index stores once kept (ready jobs by due time); cleared when a store opens. */
const DROPPED_WAITING = 9;

const EMPTY = new Uint8Array(0);
// `copyBuffers`: binary data in a payload is unpacked into a copy, never a view of the bytes read, so
// records can be read with `borrow` (no copy of the stored value) and still never alias it.
const packr = new Packr({ useRecords: false, moreTypes: true, copyBuffers: true });

/**
 * The stored form of a job: a msgpack array of its fields in this order, so field names are not
 * written with every job (a job is rewritten at each step of its life, and each write passes
 * through the log and the storage server). Jobs stored as maps (the format before) still read.
 */
function encodeJob(job: JobRecord): Uint8Array {
  return packr.pack([
    job.id,
    job.queue,
    job.payload,
    job.state,
    job.priority,
    job.group,
    job.runAt,
    job.createdAt,
    job.attempts,
    job.maxAttempts,
    job.backoff,
    job.timeoutMs,
    job.uniqueKey,
    job.token,
    job.leaseDeadline,
    job.worker,
    job.lastError,
    job.finishedAt,
  ]);
}

/** A job from its stored form (see {@link encodeJob}). */
function decodeJob(bytes: Uint8Array): JobRecord {
  const value: unknown = packr.unpack(bytes);
  if (!Array.isArray(value)) return value as JobRecord;
  const f = value as [string, string, unknown, JobState, number, string, number, number, number, number, Backoff, number | null, string | null, number, number | null, string | null, string | null, number | null];
  return {
    id: f[0],
    queue: f[1],
    payload: f[2],
    state: f[3],
    priority: f[4],
    group: f[5],
    runAt: f[6],
    createdAt: f[7],
    attempts: f[8],
    maxAttempts: f[9],
    backoff: f[10],
    timeoutMs: f[11],
    uniqueKey: f[12],
    token: f[13],
    leaseDeadline: f[14],
    worker: f[15],
    lastError: f[16],
    finishedAt: f[17],
  };
}

/** Where a job is in its life. */
export type JobState = 'delayed' | 'ready' | 'running' | 'completed' | 'dead' | 'cancelled';

/** Every state, in the order counts list them. */
export const JOB_STATES: readonly JobState[] = ['delayed', 'ready', 'running', 'completed', 'dead', 'cancelled'];

/** A job as stored. */
export interface JobRecord {
  /** Unique id (a UUID). */
  id: string;
  queue: string;
  /** The payload, as validated at enqueue. */
  payload: unknown;
  state: JobState;
  /** Higher runs first within a group. */
  priority: number;
  /** The fairness group (tenant); `''` when none was given. */
  group: string;
  /** When the job is due (milliseconds since the epoch). */
  runAt: number;
  createdAt: number;
  /** Attempts started so far (a claim starts one). */
  attempts: number;
  maxAttempts: number;
  backoff: Backoff;
  /** Longest one attempt may run, or null for no limit. */
  timeoutMs: number | null;
  uniqueKey: string | null;
  /** The fencing token of the newest claim (0 before the first). */
  token: number;
  /** When the current lease ends (running jobs only). */
  leaseDeadline: number | null;
  /** Who holds the lease (running jobs only). */
  worker: string | null;
  /** The message of the last failed attempt. */
  lastError: string | null;
  /** When the job completed, died or was cancelled. */
  finishedAt: number | null;
}

/** Options of one enqueued job. */
export interface EnqueueOptions {
  /** Higher runs first within its group (default 0). */
  priority?: number;
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number;
  /** Run no earlier than this time (a Date or milliseconds since the epoch). */
  runAt?: Date | number;
  /** Attempts before the job goes to the dead letters (default: the queue's). */
  maxAttempts?: number;
  /** How retries are spaced (default: the queue's). */
  backoff?: Backoff;
  /**
   * While a job with this key is delayed, ready or running, enqueueing another with the same key
   * returns the existing job instead.
   */
  uniqueKey?: string;
  /** Longest one attempt may run before it is aborted and counted as failed (default: the queue's). */
  timeoutMs?: number;
  /** The fairness group (a tenant): groups are served at random, so a busy one cannot starve the others. */
  group?: string;
}

/** The defaults a queue gives its jobs. */
export interface QueueDefaults {
  maxAttempts: number;
  backoff: Backoff;
  timeoutMs: number | null;
}

/** What enqueue did. */
export interface Enqueued {
  /** The job's id (the existing job's, for a duplicate unique key). */
  id: string;
  /** False when a job with the same unique key was already waiting or running. */
  created: boolean;
}

/** The clock and randomness the store and its workers use (injected for tests). */
export interface JobClock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** A number in [0, 1). */
  random(): number;
}

/** The real clock. */
export const systemClock: JobClock = { now: () => Date.now(), random: () => Math.random() };

/** Options of {@link JobStore.open}. */
export interface JobStoreOptions {
  /** The directory-layer path of the store (for example `['app', 'jobs']`). */
  path: readonly string[];
  /** A directory layer other than the default one. */
  directoryLayer?: DirectoryLayer;
  /** Time and randomness (default: the system's). */
  clock?: JobClock;
}

/** Counts of a queue's jobs by state. */
export type JobCounts = Record<JobState, number>;

/**
 * The jobs of every queue of an application, in one directory-layer directory.
 * @example
 * ```ts
 * const store = await JobStore.open(db, { path: ['app', 'jobs'] });
 * ```
 */
export class JobStore {
  /** The database the store lives in. */
  readonly db: Database;
  /** The directory's subspace. */
  readonly subspace: Subspace;
  /** The clock jobs are timed by. */
  readonly clock: JobClock;
  // Where this process's last claim from each group's ready queue left off (see claim).
  readonly #hints = new Map<string, { key: Uint8Array; at: number }>();
  readonly #sharedWrites = new WeakMap<Transaction, SharedWrites>();

  private constructor(db: Database, subspace: Subspace, clock: JobClock) {
    this.db = db;
    this.subspace = subspace;
    this.clock = clock;
  }

  /** Opens (creating if needed) the store at `options.path`. */
  static async open(db: Database, options: JobStoreOptions): Promise<JobStore> {
    const directories = options.directoryLayer ?? new DirectoryLayer();
    const directory = await directories.createOrOpen(db, options.path, { layer: 'strata-jobs' });
    const subspace = new Subspace(directory.prefix);
    // Entries of the dropped index of ready jobs by due time, left by stores written before: every
    // write of a ready job paid for them, and the oldest waiting job is now found from the ready
    // queues themselves (see oldestWaitingMs).
    await db.transact((tx) => tx.clearRange(...bounds(subspace.range([DROPPED_WAITING]))));
    return new JobStore(db, subspace, options.clock ?? systemClock);
  }

  // --- keys ----------------------------------------------------------------------------------------

  #key(tuple: TupleItem[]): Uint8Array {
    return this.subspace.pack(tuple);
  }

  // The time of a time-ordered index entry (`(space, queue, time, id)`).
  #timeOf(key: Uint8Array): number {
    return (this.subspace.unpack(key) as TupleItem[])[2] as number;
  }

  // The job id an index entry ends with.
  #idOf(key: Uint8Array): string {
    return (this.subspace.unpack(key) as TupleItem[]).at(-1) as string;
  }

  // The jobs of a time-ordered index (`(space, queue, time, id)`) whose time is `now` or earlier,
  // read without conflicts (each job is then read with one), at most MAINTENANCE_BATCH_MAX.
  async #dueJobs(tx: Transaction, space: number, queue: string, now: number): Promise<JobRecord[]> {
    const rows = await tx.getRangeAll(this.subspace.range([space, queue]).begin, this.#key([space, queue, now + 1]), { snapshot: true, limit: MAINTENANCE_BATCH_MAX });
    const jobs: JobRecord[] = [];
    for (const row of rows) {
      const job = await this.get(tx, this.#idOf(row.key));
      if (job !== null) jobs.push(job);
    }
    return jobs;
  }

  /** The key idle workers of `queue` watch: it changes whenever work appears. */
  signalKey(queue: string): Uint8Array {
    return this.#key([SIGNAL, queue]);
  }

  #readyKey(job: JobRecord): Uint8Array {
    return this.#key([READY, job.queue, job.group, -job.priority, job.runAt, job.id]);
  }

  #signal(tx: Transaction, queue: string): void {
    this.#shared(tx).adds.set(`s${queue}`, { key: this.signalKey(queue), delta: 1 });
  }

  #count(tx: Transaction, queue: string, state: JobState, delta: number): void {
    const adds = this.#shared(tx).adds;
    const name = `c${queue}\u0000${state}`;
    const entry = adds.get(name);
    if (entry === undefined) adds.set(name, { key: this.#key([COUNT, queue, state]), delta });
    else entry.delta += delta;
  }

  #activate(tx: Transaction, queue: string, group: string): void {
    const active = this.#shared(tx).active;
    const name = `${queue}\u0000${group}`;
    if (!active.has(name)) active.set(name, this.#key([ACTIVE, queue, group]));
  }

  // The writes a transaction's jobs share (counts, the signal, group pointers): gathered while it
  // runs and written once when it commits, instead of once per job (invariant 3 still holds: they
  // commit with the transaction). Counts read in the same transaction do not see them.
  #shared(tx: Transaction): SharedWrites {
    let shared = this.#sharedWrites.get(tx);
    if (shared === undefined) {
      const created: SharedWrites = { adds: new Map(), active: new Map() };
      shared = created;
      this.#sharedWrites.set(tx, created);
      tx.onCommit(() => {
        this.#sharedWrites.delete(tx);
        for (const key of created.active.values()) tx.set(key, EMPTY);
        for (const { key, delta } of created.adds.values()) if (delta !== 0) tx.add(key, int64(delta));
      });
    }
    return shared;
  }

  // --- the job record ----------------------------------------------------------------------------

  /** The job with this id, or null. */
  async get(tx: Transaction, id: string): Promise<JobRecord | null> {
    const bytes = await tx.get(this.#key([JOB, id]), { borrow: true });
    return bytes === null ? null : decodeJob(bytes);
  }

  // The jobs with these ids (null for one that does not exist), read together.
  async #getMany(tx: Transaction, ids: readonly string[]): Promise<(JobRecord | null)[]> {
    const values = await tx.getMany(ids.map((id) => this.#key([JOB, id])), { borrow: true });
    return values.map((bytes) => (bytes === null ? null : decodeJob(bytes)));
  }

  #put(tx: Transaction, job: JobRecord): void {
    tx.set(this.#key([JOB, job.id]), encodeJob(job));
  }

  // Puts a job into `state` (which must be one of the waiting or finished states), with the index
  // entries of that state, and counts it (invariant 1 and 3). The caller has taken it out of its
  // previous state.
  #enter(tx: Transaction, job: JobRecord, state: 'ready' | 'delayed' | 'completed' | 'dead' | 'cancelled'): void {
    job.state = state;
    job.leaseDeadline = null;
    job.worker = null;
    if (state === 'ready') {
      const readyKey = this.#readyKey(job);
      tx.set(readyKey, EMPTY);
      // A ready entry ahead of where this process's claims start would wait for the next full scan.
      const hintKey = `${job.queue}\u0000${job.group}`;
      const hint = this.#hints.get(hintKey);
      if (hint !== undefined && Buffer.compare(readyKey, hint.key) < 0) this.#hints.delete(hintKey);
      this.#activate(tx, job.queue, job.group);
      this.#signal(tx, job.queue);
    } else if (state === 'delayed') {
      tx.set(this.#key([DELAYED, job.queue, job.runAt, job.id]), EMPTY);
      // Workers sleep until the earliest delayed job is due; a new earlier one must wake them.
      this.#signal(tx, job.queue);
    } else {
      job.finishedAt = this.clock.now();
      tx.set(this.#key([FINISHED, job.queue, state, job.finishedAt, job.id]), EMPTY);
      if (job.uniqueKey !== null) tx.clear(this.#key([UNIQUE, job.queue, job.uniqueKey]));
    }
    this.#count(tx, job.queue, state, 1);
    this.#put(tx, job);
  }

  // Takes a job out of its current state: its index entries go and its count drops.
  #leave(tx: Transaction, job: JobRecord): void {
    switch (job.state) {
      case 'ready':
        tx.clear(this.#readyKey(job));
        break;
      case 'delayed':
        tx.clear(this.#key([DELAYED, job.queue, job.runAt, job.id]));
        break;
      case 'running':
        tx.clear(this.#key([LEASED, job.queue, job.leaseDeadline!, job.id]));
        break;
      default:
        tx.clear(this.#key([FINISHED, job.queue, job.state, job.finishedAt!, job.id]));
        job.finishedAt = null;
    }
    this.#count(tx, job.queue, job.state, -1);
  }

  // --- enqueue -------------------------------------------------------------------------------------

  /**
   * Enqueues a job in `tx`: it exists only if `tx` commits. The payload must already be valid.
   * @throws JobsError `invalid_option` naming the option.
   */
  async enqueue(tx: Transaction, queue: string, payload: unknown, options: EnqueueOptions, defaults: QueueDefaults): Promise<Enqueued> {
    const now = this.clock.now();
    const job = this.#newJob(queue, payload, options, defaults, now);
    if (job.uniqueKey !== null) {
      const uniqueKey = this.#key([UNIQUE, queue, job.uniqueKey]);
      const existing = await tx.get(uniqueKey);
      if (existing !== null) return { id: Buffer.from(existing).toString('utf8'), created: false };
      tx.set(uniqueKey, Buffer.from(job.id, 'utf8'));
    }
    this.#enter(tx, job, job.runAt <= now ? 'ready' : 'delayed');
    return { id: job.id, created: true };
  }

  #newJob(queue: string, payload: unknown, options: EnqueueOptions, defaults: QueueDefaults, now: number): JobRecord {
    if (typeof options !== 'object' || options === null) throw new JobsError('invalid_option', 'enqueue options must be an object');
    const priority = options.priority ?? 0;
    if (!Number.isSafeInteger(priority)) throw new JobsError('invalid_option', `priority must be an integer, got ${String(priority)}`);
    if (options.delayMs !== undefined && options.runAt !== undefined) throw new JobsError('invalid_option', 'give delayMs or runAt, not both');
    let runAt = now;
    if (options.delayMs !== undefined) {
      if (typeof options.delayMs !== 'number' || !Number.isFinite(options.delayMs) || options.delayMs < 0) {
        throw new JobsError('invalid_option', `delayMs must be a non-negative number, got ${String(options.delayMs)}`);
      }
      runAt = now + Math.ceil(options.delayMs);
    } else if (options.runAt !== undefined) {
      const at = options.runAt instanceof Date ? options.runAt.getTime() : options.runAt;
      if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) throw new JobsError('invalid_option', `runAt must be a Date or milliseconds since the epoch, got ${String(options.runAt)}`);
      runAt = at;
    }
    const maxAttempts = options.maxAttempts ?? defaults.maxAttempts;
    checkMaxAttempts(maxAttempts);
    const timeoutMs = options.timeoutMs ?? defaults.timeoutMs;
    if (timeoutMs !== null) checkTimeout(timeoutMs);
    return {
      id: randomUUID(),
      queue,
      payload,
      state: 'ready',
      priority,
      group: checkName(options.group ?? '', 'group', true),
      runAt,
      createdAt: now,
      attempts: 0,
      maxAttempts,
      backoff: options.backoff === undefined ? defaults.backoff : checkBackoff(options.backoff),
      timeoutMs,
      uniqueKey: options.uniqueKey === undefined ? null : checkName(options.uniqueKey, 'uniqueKey', false),
      token: 0,
      leaseDeadline: null,
      worker: null,
      lastError: null,
      finishedAt: null,
    };
  }

  // --- claim ---------------------------------------------------------------------------------------

  /**
   * Claims up to `count` ready jobs of `queue` for `worker`, each with a lease of `leaseMs` and a
   * new fencing token. Groups are picked at random among those with ready jobs, and within a group
   * among the first ready jobs, so concurrent claimers rarely pick the same job.
   *
   * @remarks
   * A claimed job's ready entry stays in the storage server's five-second window as a cleared key,
   * and a range read walks past every one of them: scanning a busy group from its start would cost
   * more with every job claimed. So each process remembers where its last claim from a group left
   * off and starts there, going back to the start of the group every {@link CLAIM_HINT_MS}, and at
   * once when this process itself makes a job ready ahead of that point. A job another process
   * makes ready ahead of it (a higher priority, a delayed job coming due) is therefore claimed by
   * this process within that time, not necessarily first.
   */
  async claim(tx: Transaction, queue: string, options: { count: number; worker: string; leaseMs: number }): Promise<JobRecord[]> {
    const { count, worker, leaseMs } = options;
    const now = this.clock.now();
    const random = this.clock.random;
    const pointers = await tx.getRangeAll(...bounds(this.subspace.range([ACTIVE, queue])), { snapshot: true, limit: CLAIM_GROUPS_SCANNED_MAX });
    const groups = pointers.map((row) => (this.subspace.unpack(row.key) as TupleItem[])[2] as string);
    shuffle(groups, random);
    const claimed: JobRecord[] = [];
    // Round robin over the shuffled groups, a few jobs from each at a time, until `count`.
    const share = Math.max(1, Math.ceil(count / Math.max(1, groups.length)));
    for (const group of groups) {
      if (claimed.length >= count) break;
      const want = Math.min(share, count - claimed.length);
      const range = bounds(this.subspace.range([READY, queue, group]));
      const hintKey = `${queue}\u0000${group}`;
      const hint = this.#hints.get(hintKey);
      // (A ready entry written ahead of the hint by this process drops the hint; see #enter.)
      let heads;
      if (hint !== undefined && now - hint.at < CLAIM_HINT_MS) {
        heads = await tx.getRangeAll(hint.key, range[1], { snapshot: true, limit: want * 2 });
        if (heads.length === 0) continue;
      } else {
        heads = await tx.getRangeAll(...range, { snapshot: true, limit: want * 2 });
        this.#remember(hintKey, { key: heads[0]?.key ?? range[0], at: now }, now);
      }
      if (heads.length === 0) {
        // The pointer is stale: drop it, but only with the group's range read for conflicts, so an
        // enqueue into the group racing this transaction makes one of the two retry (invariant 4).
        const again = await tx.getRangeAll(...range, { limit: 1 });
        if (again.length === 0) tx.clear(this.#key([ACTIVE, queue, group]));
        continue;
      }
      const entries = heads.map((row) => this.subspace.unpack(row.key) as TupleItem[]);
      const picked = pickByPriority(entries, want, random);
      // The next claim starts at the first entry this one leaves, past the ones it takes.
      const left = heads.find((_, i) => !picked.includes(entries[i]!));
      const current = this.#hints.get(hintKey);
      if (current !== undefined) current.key = left?.key ?? keyAfter(heads.at(-1)!.key);
      const ids = picked.map((entry) => entry.at(-1) as string);
      const jobs = await this.#getMany(tx, ids);
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        const job = jobs[i]!;
        // The snapshot read and this read see the same version, so the index entry is the job's.
        assert(job !== null && job.state === 'ready', `the ready entry of job ${id} belongs to a ready job (${job?.state ?? 'missing'})`);
        this.#leave(tx, job);
        job.state = 'running';
        job.attempts++;
        job.token++;
        job.leaseDeadline = now + leaseMs;
        job.worker = worker;
        tx.set(this.#key([LEASED, queue, job.leaseDeadline, id]), EMPTY);
        this.#count(tx, queue, 'running', 1);
        this.#put(tx, job);
        claimed.push(job);
      }
    }
    return claimed;
  }

  // Keeps a claim hint; past CLAIM_HINTS_MAX groups, the stale ones go (they would be rescanned anyway).
  #remember(hintKey: string, hint: { key: Uint8Array; at: number }, now: number): void {
    if (this.#hints.size >= CLAIM_HINTS_MAX && !this.#hints.has(hintKey)) {
      for (const [key, old] of this.#hints) if (now - old.at >= CLAIM_HINT_MS) this.#hints.delete(key);
      if (this.#hints.size >= CLAIM_HINTS_MAX) return;
    }
    this.#hints.set(hintKey, hint);
  }

  // Reads job `id` (with a conflict range) and checks that `token` still holds its lease.
  async #leased(tx: Transaction, id: string, token: number): Promise<JobRecord> {
    const job = await this.get(tx, id);
    if (job === null || job.state !== 'running' || job.token !== token) {
      throw new JobsError('lease_lost', `the lease of job ${id} under token ${token} is lost (${job === null ? 'the job is gone' : job.state !== 'running' ? `the job is ${job.state}` : `token ${job.token} holds it now`})`, {
        details: { id, token },
      });
    }
    return job;
  }

  /**
   * Extends the lease of a running job to `leaseMs` from now.
   * @throws JobsError `lease_lost` when `token` no longer holds the lease.
   */
  async heartbeat(tx: Transaction, id: string, token: number, leaseMs: number): Promise<number> {
    const job = await this.#leased(tx, id, token);
    tx.clear(this.#key([LEASED, job.queue, job.leaseDeadline!, id]));
    job.leaseDeadline = this.clock.now() + leaseMs;
    tx.set(this.#key([LEASED, job.queue, job.leaseDeadline, id]), EMPTY);
    this.#put(tx, job);
    return job.leaseDeadline;
  }

  /**
   * Marks a running job completed, in `tx` (which may carry the handler's own writes).
   * @throws JobsError `lease_lost` when `token` no longer holds the lease: `tx` must not commit.
   */
  async complete(tx: Transaction, id: string, token: number): Promise<JobRecord> {
    const job = await this.#leased(tx, id, token);
    this.#leave(tx, job);
    this.#enter(tx, job, 'completed');
    return job;
  }

  /**
   * Records a failed attempt of a running job: it waits for its backoff and runs again, or, out
   * of attempts (or with `final`), goes to the dead letters.
   * @throws JobsError `lease_lost` when `token` no longer holds the lease.
   */
  async fail(tx: Transaction, id: string, token: number, error: string, options: { final?: boolean } = {}): Promise<JobRecord> {
    const job = await this.#leased(tx, id, token);
    this.#leave(tx, job);
    this.#retryOrBury(tx, job, error, options.final === true);
    return job;
  }

  #retryOrBury(tx: Transaction, job: JobRecord, error: string, final: boolean): void {
    job.lastError = error.length > ERROR_MESSAGE_BYTES_MAX ? `${error.slice(0, ERROR_MESSAGE_BYTES_MAX)}...` : error;
    if (final || job.attempts >= job.maxAttempts) {
      this.#enter(tx, job, 'dead');
      return;
    }
    const delay = backoffDelayMs(job.backoff, job.attempts, this.clock.random);
    job.runAt = this.clock.now() + delay;
    this.#enter(tx, job, delay > 0 ? 'delayed' : 'ready');
  }

  /**
   * Gives a running job back without counting the attempt (a worker shutting down): it is ready
   * again at once.
   * @throws JobsError `lease_lost` when `token` no longer holds the lease.
   */
  async release(tx: Transaction, id: string, token: number): Promise<void> {
    const job = await this.#leased(tx, id, token);
    this.#leave(tx, job);
    job.attempts--;
    job.runAt = this.clock.now();
    this.#enter(tx, job, 'ready');
  }

  /**
   * Cancels a delayed, ready or running job (a running job's worker loses its lease); false when
   * the job had already finished.
   * @throws JobsError `job_not_found`.
   */
  async cancel(tx: Transaction, id: string): Promise<boolean> {
    const job = await this.#existing(tx, id);
    if (job.state !== 'ready' && job.state !== 'delayed' && job.state !== 'running') return false;
    this.#leave(tx, job);
    this.#enter(tx, job, 'cancelled');
    return true;
  }

  /**
   * Runs a dead or cancelled job again, with its attempts reset.
   * @throws JobsError `job_not_found`; `invalid_state` for a job that is not dead or cancelled.
   */
  async retry(tx: Transaction, id: string): Promise<void> {
    const job = await this.#existing(tx, id);
    if (job.state !== 'dead' && job.state !== 'cancelled') {
      throw new JobsError('invalid_state', `job ${id} is ${job.state}; only a dead or cancelled job can be retried`, { details: { id, state: job.state } });
    }
    if (job.uniqueKey !== null) {
      // The unique key may have gone to a newer job meanwhile; then this one runs without it.
      const uniqueKey = this.#key([UNIQUE, job.queue, job.uniqueKey]);
      if ((await tx.get(uniqueKey)) === null) tx.set(uniqueKey, Buffer.from(job.id, 'utf8'));
      else job.uniqueKey = null;
    }
    this.#leave(tx, job);
    job.attempts = 0;
    job.runAt = this.clock.now();
    this.#enter(tx, job, 'ready');
  }

  /** Runs up to `limit` dead jobs of `queue` again (oldest first); returns their ids. */
  async redrive(tx: Transaction, queue: string, limit: number): Promise<string[]> {
    const rows = await tx.getRangeAll(...bounds(this.subspace.range([FINISHED, queue, 'dead'])), { limit });
    const ids = rows.map((row) => this.#idOf(row.key));
    for (const id of ids) await this.retry(tx, id);
    return ids;
  }

  async #existing(tx: Transaction, id: string): Promise<JobRecord> {
    if (typeof id !== 'string') throw new JobsError('invalid_option', `a job id is a string, got ${typeof id}`);
    const job = await this.get(tx, id);
    if (job === null) throw new JobsError('job_not_found', `no job has id ${id}`, { details: { id } });
    return job;
  }

  /**
   * Deletes up to `limit` of `queue`'s jobs that finished in `state` before `before` (milliseconds
   * since the epoch), oldest first; returns how many it deleted.
   */
  async purge(tx: Transaction, queue: string, state: 'completed' | 'dead' | 'cancelled', before: number, limit: number): Promise<number> {
    const rows = await tx.getRangeAll(this.subspace.range([FINISHED, queue, state]).begin, this.#key([FINISHED, queue, state, before]), { limit });
    for (const row of rows) {
      const id = this.#idOf(row.key);
      tx.clear(row.key);
      tx.clear(this.#key([JOB, id]));
      this.#count(tx, queue, state, -1);
    }
    return rows.length;
  }

  // --- maintenance ---------------------------------------------------------------------------------

  /**
   * Makes due delayed jobs ready and reclaims expired leases (the attempt counts as failed), at
   * most {@link MAINTENANCE_BATCH_MAX} of each; returns how many of each it moved.
   */
  async maintain(tx: Transaction, queue: string): Promise<{ promoted: number; reclaimed: number }> {
    const now = this.clock.now();
    let promoted = 0;
    for (const job of await this.#dueJobs(tx, DELAYED, queue, now)) {
      if (job.state !== 'delayed') continue;
      this.#leave(tx, job);
      this.#enter(tx, job, 'ready');
      promoted++;
    }
    let reclaimed = 0;
    for (const job of await this.#dueJobs(tx, LEASED, queue, now)) {
      if (job.state !== 'running' || job.leaseDeadline! > now) continue;
      this.#leave(tx, job);
      this.#retryOrBury(tx, job, `the lease of worker ${job.worker ?? '?'} expired`, false);
      reclaimed++;
    }
    return { promoted, reclaimed };
  }

  /**
   * When the next delayed job of `queue` is due (milliseconds since the epoch), or null when none
   * is delayed. Read without conflicts.
   *
   * @remarks
   * Lease expiries are left out on purpose: the leased range's head is mostly the cleared entries
   * of jobs completed within the last five seconds, which a read walks past, and an idle worker
   * would pay that on every wait. Expired leases are reclaimed by the maintenance every worker
   * runs at least every `pollMs`.
   */
  async nextWakeAt(tx: Transaction, queue: string): Promise<number | null> {
    const [first] = await tx.getRangeAll(...bounds(this.subspace.range([DELAYED, queue])), { snapshot: true, limit: 1 });
    return first === undefined ? null : this.#timeOf(first.key);
  }

  // --- observability -------------------------------------------------------------------------------

  /**
   * The number of `queue`'s jobs in each state (read without conflicts), as of the transaction's
   * read version: changes the same transaction made are not counted until it commits.
   */
  async counts(tx: Transaction, queue: string): Promise<JobCounts> {
    const counts = Object.fromEntries(JOB_STATES.map((state) => [state, 0])) as JobCounts;
    for (const row of await tx.getRangeAll(...bounds(this.subspace.range([COUNT, queue])), { snapshot: true })) {
      const state = (this.subspace.unpack(row.key) as TupleItem[])[2] as JobState;
      counts[state] = Number(Buffer.from(row.value).readBigInt64LE(0));
    }
    return counts;
  }

  /**
   * How long the oldest due job of `queue` that has not started has waited (0 when none waits).
   *
   * @remarks
   * A group's ready entries are ordered by priority, then due time: the first entry of each priority
   * is that priority's oldest. So this reads the first entry of each priority of each group with
   * ready jobs (one read each, jumping past the priority it found), and the first delayed job (a
   * delayed job past its due time waits too). No index by due time is kept for it: every ready job
   * would pay to write and clear one.
   */
  async oldestWaitingMs(tx: Transaction, queue: string): Promise<number> {
    const now = this.clock.now();
    let oldest = now;
    const [delayed] = await tx.getRangeAll(...bounds(this.subspace.range([DELAYED, queue])), { snapshot: true, limit: 1 });
    if (delayed !== undefined) oldest = Math.min(oldest, this.#timeOf(delayed.key));
    for (const pointer of await tx.getRangeAll(...bounds(this.subspace.range([ACTIVE, queue])), { snapshot: true })) {
      const group = (this.subspace.unpack(pointer.key) as TupleItem[])[2] as string;
      const [begin, end] = bounds(this.subspace.range([READY, queue, group]));
      for (let from = begin; ; ) {
        const [first] = await tx.getRangeAll(from, end, { snapshot: true, limit: 1 });
        if (first === undefined) break;
        const [, , , negatedPriority, runAt] = this.subspace.unpack(first.key) as [number, string, string, number, number];
        oldest = Math.min(oldest, runAt);
        from = this.subspace.range([READY, queue, group, negatedPriority]).end;
      }
    }
    return Math.max(0, now - oldest);
  }

  /** Ids of `queue`'s jobs in a finished state, oldest first (the dead letters, for `dead`). */
  async finished(tx: Transaction, queue: string, state: 'completed' | 'dead' | 'cancelled', limit: number): Promise<string[]> {
    const rows = await tx.getRangeAll(...bounds(this.subspace.range([FINISHED, queue, state])), { snapshot: true, limit });
    return rows.map((row) => this.#idOf(row.key));
  }
}

/** The writes the jobs of one transaction share, by name. */
interface SharedWrites {
  adds: Map<string, { key: Uint8Array; delta: number }>;
  active: Map<string, Uint8Array>;
}

function int64(value: number): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(BigInt(value));
  return bytes;
}

function keyAfter(key: Uint8Array): Uint8Array {
  const after = new Uint8Array(key.length + 1);
  after.set(key);
  return after;
}

function bounds(range: { begin: Uint8Array; end: Uint8Array }): [Uint8Array, Uint8Array] {
  return [range.begin, range.end];
}

function shuffle<T>(items: T[], random: () => number): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

// `want` of a group's first ready entries (`(READY, queue, group, -priority, runAt, id)`, in that
// order): every entry of a higher priority before any of a lower one, and at random among the
// entries of the last priority taken, so that concurrent claimers rarely pick the same job.
function pickByPriority(entries: readonly TupleItem[][], want: number, random: () => number): TupleItem[][] {
  if (entries.length <= want) return [...entries];
  const level = entries[want - 1]![3];
  const sure = entries.filter((entry, i) => i < want && entry[3] !== level);
  const candidates = entries.filter((entry) => entry[3] === level);
  shuffle(candidates, random);
  return [...sure, ...candidates.slice(0, want - sure.length)];
}

/**
 * Checks a queue, group or unique-key name.
 * @throws JobsError `invalid_option`.
 */
export function checkName(name: unknown, what: string, allowEmpty: boolean): string {
  if (typeof name !== 'string' || (!allowEmpty && name.length === 0) || name.length > NAME_LENGTH_MAX) {
    throw new JobsError('invalid_option', `${what} must be a ${allowEmpty ? '' : 'non-empty '}string of at most ${NAME_LENGTH_MAX} characters, got ${JSON.stringify(name)}`);
  }
  return name;
}

/** @throws JobsError `invalid_option` unless `value` is a positive integer. */
export function checkMaxAttempts(value: unknown): void {
  if (!Number.isSafeInteger(value) || (value as number) < 1) throw new JobsError('invalid_option', `maxAttempts must be a positive integer, got ${String(value)}`);
}

/** @throws JobsError `invalid_option` unless `value` is a positive number of milliseconds. */
export function checkTimeout(value: unknown): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new JobsError('invalid_option', `timeoutMs must be a positive number, got ${String(value)}`);
}
