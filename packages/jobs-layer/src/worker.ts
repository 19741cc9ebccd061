/**
 * Workers: claim a queue's jobs under a lease, run the handler, keep the lease alive by heartbeat,
 * and record the outcome — completion in a transaction that can carry the handler's own writes.
 *
 * Invariants:
 * 1. At most `concurrency` handlers run at once; claims ask for no more than the free slots. A
 *    job's slot is free once its handler has returned (or thrown), while its outcome commits, so
 *    the next claim overlaps that commit; a worker holds at most twice `concurrency` leases.
 * 2. A job's completion or failure is recorded only under the token of the claim that started it
 *    (the store refuses any other), so a worker whose lease was lost can never complete the job.
 * 3. Once the lease is known lost (heartbeat refused, job cancelled, timeout recorded, worker
 *    stopping), the handler's signal is aborted.
 * 4. An idle worker waits on the queue's signal key (a watch), bounded by the next due delayed job
 *    or schedule fire time and by `pollMs` (expired leases wait for the next maintenance); it
 *    never spins.
 * 5. Maintenance (due delayed jobs made ready, expired leases reclaimed, due schedules fired) runs
 *    at most every `pollMs`, and after an idle wait that ran out.
 * 6. Completions that arrive together share one transaction (each job's writes with it); when it
 *    fails, each completes in a transaction of its own, so a job's outcome never depends on
 *    another's.
 */
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import { isStrataError, type Transaction, type Watch } from '@strata/core';
import type { z } from 'zod';
import { JobsError } from './errors.js';
import type { JobRecord } from './job-store.js';
import { CLAIM_BATCH_MAX, COMPLETION_BATCH_MAX, CONCURRENCY_MAX, IDLE_POLL_MS_DEFAULT, LEASE_MS_DEFAULT, LEASE_MS_MIN } from './limits.js';
import type { Queue } from './queue.js';
import { fireDueSchedules, nextScheduleAt } from './schedule.js';

/** Options of a {@link Worker}. */
export interface WorkerOptions {
  /**
   * Handlers run at once (default 1). A job's slot is free once its handler returns, while its
   * completion commits, so a worker holds up to twice this many leases for a moment.
   */
  concurrency?: number;
  /** The lease each claim takes (default 30 s); a heartbeat extends it every third of it. */
  leaseMs?: number;
  /** Longest an idle worker waits before it looks for work again (default 1 s). */
  pollMs?: number;
  /** The name the worker holds leases under (default: host, process id and a random suffix). */
  workerId?: string;
  /** Called with errors the worker could not hand to anyone (a claim that failed, say); it keeps going. */
  onError?: (error: unknown) => void;
}

/** A claimed job, as its handler sees it. */
export interface Job<P> {
  readonly id: string;
  readonly queue: string;
  /** The payload, validated against the queue's schema. */
  readonly payload: P;
  /** This attempt's number (1 for the first). */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The fencing token of this claim: it grows with every claim of the job. */
  readonly token: number;
  readonly group: string;
  readonly priority: number;
  /**
   * Aborted when the lease is lost, the attempt times out, the job is cancelled or the worker stops.
   * Made when first read (a getter, so a spread copy of the job does not carry it: pass `job.signal`).
   */
  readonly signal: AbortSignal;
  /**
   * Completes the job in one transaction with `writes` (the handler's own writes): both commit or
   * neither does. `writes` may run more than once (the transaction retries on conflicts). The
   * worker completes the job itself, without writes, when the handler returns without calling this.
   * @throws JobsError `lease_lost` when the lease is no longer this claim's: nothing was written.
   */
  complete(writes?: (tx: Transaction) => unknown): Promise<void>;
}

/** Runs one job; throwing fails the attempt (it is retried after its backoff, or goes to the dead letters). */
export type Handler<P> = (job: Job<P>) => unknown;

/** A completion waiting for its transaction. */
interface Completion {
  running: Running;
  writes: ((tx: Transaction) => unknown) | undefined;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Running {
  record: JobRecord;
  /**
   * The handler's abort controller, made when the handler first reads `job.signal` (most handlers
   * never do, and a controller with its signal is a good part of what a short job costs). Until
   * then an abort is only recorded in `abortReason`, and a controller made later starts aborted.
   */
  controller: AbortController | null;
  aborted: boolean;
  abortReason: unknown;
  /** The outcome is being recorded or has been: no heartbeat, no second outcome. */
  settled: boolean;
  /** The lease is known lost. */
  lost: boolean;
  /** The job takes one of the worker's `concurrency` slots: its handler has not returned yet. */
  inSlot: boolean;
  done: Promise<void>;
}

/**
 * Runs a queue's jobs: claims them with a lease, heartbeats, and records each outcome.
 * @example
 * ```ts
 * const worker = new Worker(emails, async (job) => {
 *   await send(job.payload, { signal: job.signal });
 * }, { concurrency: 8 });
 * // ... later
 * await worker.stop();
 * ```
 */
export class Worker<S extends z.ZodType = z.ZodType> {
  /** The queue the worker runs. */
  readonly queue: Queue<S>;
  /** The name its leases are held under. */
  readonly workerId: string;
  readonly #handler: Handler<z.output<S>>;
  readonly #concurrency: number;
  readonly #leaseMs: number;
  readonly #pollMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #running = new Map<string, Running>();
  // Jobs whose handler has not returned yet (see invariant 1).
  #inSlots = 0;
  #completions: Completion[] = [];
  #stopping = false;
  #wake: (() => void) | null = null;
  #lastMaintenance = -Infinity;
  readonly #loop: Promise<void>;

  /** Starts the worker. @throws JobsError `invalid_option`. */
  constructor(queue: Queue<S>, handler: Handler<z.output<S>>, options: WorkerOptions = {}) {
    if (typeof handler !== 'function') throw new JobsError('invalid_option', 'the handler must be a function');
    const concurrency = options.concurrency ?? 1;
    if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > CONCURRENCY_MAX) {
      throw new JobsError('invalid_option', `concurrency must be an integer from 1 to ${CONCURRENCY_MAX}, got ${String(concurrency)}`);
    }
    const leaseMs = options.leaseMs ?? LEASE_MS_DEFAULT;
    if (typeof leaseMs !== 'number' || !Number.isFinite(leaseMs) || leaseMs < LEASE_MS_MIN) {
      throw new JobsError('invalid_option', `leaseMs must be a number of at least ${LEASE_MS_MIN}, got ${String(leaseMs)}`);
    }
    const pollMs = options.pollMs ?? IDLE_POLL_MS_DEFAULT;
    if (typeof pollMs !== 'number' || !Number.isFinite(pollMs) || pollMs <= 0) throw new JobsError('invalid_option', `pollMs must be a positive number, got ${String(pollMs)}`);
    this.queue = queue;
    this.#handler = handler;
    this.#concurrency = concurrency;
    this.#leaseMs = leaseMs;
    this.#pollMs = pollMs;
    this.#onError = options.onError ?? (() => {});
    this.workerId = options.workerId ?? `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#loop = this.#run();
  }

  /** Jobs this worker holds now: handlers running, and outcomes being recorded. */
  get running(): number {
    return this.#running.size;
  }

  /**
   * Stops claiming, gives back the leases of running jobs at once (they are ready again for any
   * worker, the attempt not counted), aborts their handlers' signals, and waits for the handlers
   * to return. With `graceMs`, running jobs first get that long to finish.
   */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopping) return this.#loop;
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    const graceMs = options.graceMs ?? 0;
    if (graceMs > 0 && this.#running.size > 0) {
      await Promise.race([Promise.all([...this.#running.values()].map((r) => r.done)), sleep(graceMs)]);
    }
    const db = this.queue.store.db;
    await Promise.all(
      [...this.#running.values()].map(async (running) => {
        if (running.settled) return;
        running.settled = true;
        running.lost = true;
        abort(running, new JobsError('worker_stopped', `worker ${this.workerId} stopped; job ${running.record.id} was given back`));
        try {
          await db.transact((tx) => this.queue.store.release(tx, running.record.id, running.record.token));
        } catch (error) {
          // Lost already (reclaimed or cancelled): nothing to give back.
          if (!isCode(error, 'lease_lost')) this.#onError(error);
        }
      }),
    );
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  async #run(): Promise<void> {
    const store = this.queue.store;
    const db = store.db;
    while (!this.#stopping) {
      const free = this.#concurrency - this.#inSlots;
      if (free <= 0) {
        await this.#sleep(Infinity);
        continue;
      }
      try {
        if (store.clock.now() - this.#lastMaintenance >= this.#pollMs) {
          this.#lastMaintenance = store.clock.now();
          await db.transact((tx) => store.maintain(tx, this.queue.name));
          await db.transact((tx) => fireDueSchedules(tx, this.queue));
        }
        const { claimed, idle } = await db.transact(async (tx) => {
          const jobs = await store.claim(tx, this.queue.name, { count: Math.min(free, CLAIM_BATCH_MAX), worker: this.workerId, leaseMs: this.#leaseMs });
          // Nothing to claim: watch the signal key from this same snapshot, so that work enqueued
          // after it wakes the worker, however soon.
          return { claimed: jobs, idle: jobs.length === 0 ? await this.#prepareIdle(tx) : null };
        });
        if (this.#stopping) {
          idle?.watch.cancel();
          // Claimed while stop() began: give them straight back.
          for (const record of claimed) await db.transact((tx) => store.release(tx, record.id, record.token)).catch(() => {});
          break;
        }
        for (const record of claimed) this.#start(record);
        if (idle !== null) await this.#idle(idle);
      } catch (error) {
        if (isCode(error, 'database_closed')) break;
        this.#onError(error);
        await this.#sleep(this.#pollMs);
      }
    }
  }

  // What an idle wait needs, read in the claim transaction that found nothing: the next time
  // something becomes due (a delayed job, a schedule) and a watch of the signal key.
  async #prepareIdle(tx: Transaction): Promise<{ watch: Watch; wakeAt: number | null }> {
    const store = this.queue.store;
    const times = [await store.nextWakeAt(tx, this.queue.name), await nextScheduleAt(tx, this.queue)].filter((t): t is number => t !== null);
    return { wakeAt: times.length === 0 ? null : Math.min(...times), watch: tx.watch(store.signalKey(this.queue.name)) };
  }

  // Waits for the queue's signal key to change, for the next due job or schedule, for a free slot
  // or stop(), bounded by pollMs (invariant 4). Maintenance runs after a wait that ran out.
  async #idle({ watch, wakeAt }: { watch: Watch; wakeAt: number | null }): Promise<void> {
    const store = this.queue.store;
    const waitMs = Math.max(0, Math.min(this.#pollMs, wakeAt === null ? Infinity : wakeAt - store.clock.now() + 1));
    watch.changed.then(
      () => this.#wake?.(),
      () => {},
    );
    const expired = await this.#sleep(waitMs);
    watch.cancel();
    // Woken by time, something may be due (a delayed job, a lease, a schedule): maintain at once.
    if (expired) this.#lastMaintenance = -Infinity;
  }

  // Sleeps up to `ms`, or until woken (a slot freed, work signalled, stop); true when the time ran out.
  #sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = ms === Infinity ? null : setTimeout(() => finish(true), ms);
      const finish = (expired: boolean): void => {
        if (timer !== null) clearTimeout(timer);
        if (this.#wake === wake) this.#wake = null;
        resolve(expired);
      };
      const wake = (): void => finish(false);
      this.#wake = wake;
    });
  }

  #start(record: JobRecord): void {
    const running: Running = { record, controller: null, aborted: false, abortReason: undefined, settled: false, lost: false, inSlot: true, done: Promise.resolve() };
    this.#running.set(record.id, running);
    this.#inSlots++;
    this.queue.emit('started', { id: record.id, queue: record.queue, attempt: record.attempts });
    running.done = this.#execute(running).finally(() => {
      this.#running.delete(record.id);
      this.#leaveSlot(running);
      this.#wake?.();
    });
  }

  // Frees the job's slot (once): the claim loop may take another job.
  #leaveSlot(running: Running): void {
    if (!running.inSlot) return;
    running.inSlot = false;
    this.#inSlots--;
    this.#wake?.();
  }

  async #execute(running: Running): Promise<void> {
    const { record } = running;
    let payload: z.output<S>;
    try {
      payload = this.queue.parse(record.payload);
    } catch (error) {
      // A payload that no longer matches the schema will not match on a retry either.
      await this.#fail(running, error, true);
      return;
    }
    const heartbeat = setInterval(() => void this.#heartbeat(running), Math.max(1, Math.floor(this.#leaseMs / 3)));
    const timeout = record.timeoutMs === null ? null : setTimeout(() => void this.#timeOut(running), record.timeoutMs);
    const job = new ClaimedJob<z.output<S>>(running, payload, (writes) => this.#complete(running, writes));
    try {
      let thrown: { error: unknown } | null = null;
      try {
        await this.#handler(job);
      } catch (error) {
        thrown = { error };
      }
      // The handler is done: its slot takes the next job while the outcome commits.
      this.#leaveSlot(running);
      if (thrown === null && !running.settled) {
        try {
          await this.#complete(running);
        } catch (error) {
          thrown = { error };
        }
      }
      if (thrown !== null) {
        if (!running.settled && !running.lost) await this.#fail(running, thrown.error, false);
        else if (!isCode(thrown.error, 'lease_lost') && !isCode(thrown.error, 'worker_stopped') && !running.aborted) this.#onError(thrown.error);
      }
    } finally {
      clearInterval(heartbeat);
      if (timeout !== null) clearTimeout(timeout);
    }
  }

  #complete(running: Running, writes?: (tx: Transaction) => unknown): Promise<void> {
    if (running.settled) return Promise.reject(new JobsError('invalid_state', `job ${running.record.id} was already completed, failed or given back by this worker`));
    running.settled = true;
    return new Promise((resolve, reject) => {
      this.#completions.push({ running, writes, resolve, reject });
      if (this.#completions.length === 1) setImmediate(() => void this.#completeBatch());
    });
  }

  // Completions that arrive together commit in one transaction (invariant 6); when that
  // transaction fails, each completes on its own, so one job's failure is its own.
  async #completeBatch(): Promise<void> {
    const batch = this.#completions.splice(0, this.#completions.length);
    for (let first = 0; first < batch.length; first += COMPLETION_BATCH_MAX) {
      const part = batch.slice(first, first + COMPLETION_BATCH_MAX);
      if (part.length > 1) {
        try {
          await this.queue.store.db.transact(async (tx) => {
            for (const item of part) await this.#completeIn(tx, item.running, item.writes);
          });
          for (const item of part) this.#completed(item);
          continue;
        } catch {
          // One of them failed: find out which by completing each alone.
        }
      }
      await Promise.all(part.map((item) => this.#completeAlone(item)));
    }
  }

  async #completeIn(tx: Transaction, running: Running, writes: ((tx: Transaction) => unknown) | undefined): Promise<void> {
    await this.queue.store.complete(tx, running.record.id, running.record.token);
    if (writes !== undefined) await writes(tx);
  }

  async #completeAlone(item: Completion): Promise<void> {
    try {
      await this.queue.store.db.transact((tx) => this.#completeIn(tx, item.running, item.writes));
    } catch (error) {
      if (isCode(error, 'lease_lost')) this.#lose(item.running, error);
      else item.running.settled = false; // the handler's error path records a failure
      item.reject(error);
      return;
    }
    this.#completed(item);
  }

  #completed(item: Completion): void {
    const { record } = item.running;
    this.queue.emit('completed', { id: record.id, queue: record.queue, attempt: record.attempts });
    item.resolve();
  }


  async #fail(running: Running, error: unknown, final: boolean): Promise<void> {
    running.settled = true;
    const { record } = running;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    try {
      const after = await this.queue.store.db.transact((tx) => this.queue.store.fail(tx, record.id, record.token, message, { final }));
      this.queue.emit(after.state === 'dead' ? 'dead' : 'failed', { id: record.id, queue: record.queue, attempt: record.attempts, error: message });
    } catch (failure) {
      if (isCode(failure, 'lease_lost')) this.#lose(running, failure);
      else this.#onError(failure);
    }
  }

  async #heartbeat(running: Running): Promise<void> {
    if (running.settled || running.lost) return;
    try {
      await this.queue.store.db.transact((tx) => this.queue.store.heartbeat(tx, running.record.id, running.record.token, this.#leaseMs));
    } catch (error) {
      if (running.settled) return;
      if (isCode(error, 'lease_lost')) this.#lose(running, error);
      else this.#onError(error);
    }
  }

  async #timeOut(running: Running): Promise<void> {
    if (running.settled || running.lost) return;
    const error = new JobsError('job_timed_out', `job ${running.record.id} ran longer than its timeout of ${running.record.timeoutMs} ms`);
    // Recorded first, so a handler that ignores the signal cannot complete the attempt afterwards.
    await this.#fail(running, error, false);
    running.lost = true;
    abort(running, error);
  }

  #lose(running: Running, error: unknown): void {
    running.lost = true;
    abort(running, error);
  }
}

/**
 * A job as its handler sees it. `signal` is a getter on the prototype that makes the signal on first
 * use (see Running); the other fields are own properties, as in a plain object. (An object literal
 * with a getter, or an AbortController made up front, each cost a short job about a kilobyte and a
 * microsecond or more.)
 */
class ClaimedJob<P> implements Job<P> {
  readonly id: string;
  readonly queue: string;
  readonly payload: P;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly token: number;
  readonly group: string;
  readonly priority: number;
  readonly complete: (writes?: (tx: Transaction) => unknown) => Promise<void>;
  readonly #running: Running;

  constructor(running: Running, payload: P, complete: (writes?: (tx: Transaction) => unknown) => Promise<void>) {
    const record = running.record;
    this.id = record.id;
    this.queue = record.queue;
    this.payload = payload;
    this.attempt = record.attempts;
    this.maxAttempts = record.maxAttempts;
    this.token = record.token;
    this.group = record.group;
    this.priority = record.priority;
    this.complete = complete;
    this.#running = running;
  }

  get signal(): AbortSignal {
    return signalOf(this.#running);
  }
}

// Aborts the handler's signal with `reason` (the first reason wins, as with an AbortController).
function abort(running: Running, reason: unknown): void {
  if (running.aborted) return;
  running.aborted = true;
  running.abortReason = reason;
  running.controller?.abort(reason);
}

// The handler's signal, made on first use: aborted already if the attempt was.
function signalOf(running: Running): AbortSignal {
  if (running.controller === null) {
    running.controller = new AbortController();
    if (running.aborted) running.controller.abort(running.abortReason);
  }
  return running.controller.signal;
}

function isCode(error: unknown, code: string): boolean {
  return isStrataError(error) && error.code === code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
