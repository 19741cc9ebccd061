/**
 * Queues: a named, typed kind of job in a {@link JobStore}, with its payload schema and defaults,
 * and the events its jobs go through.
 */
import { EventEmitter } from 'node:events';
import type { Transaction } from '@strata/core';
import type { z } from 'zod';
import { BACKOFF_DEFAULT, checkBackoff, type Backoff } from './backoff.js';
import { JobsError } from './errors.js';
import {
  checkMaxAttempts,
  checkName,
  checkTimeout,
  type EnqueueOptions,
  type Enqueued,
  type JobCounts,
  type JobRecord,
  type JobStore,
  type QueueDefaults,
} from './job-store.js';
import { ENQUEUE_BATCH_MAX, MAX_ATTEMPTS_DEFAULT } from './limits.js';
import { Worker, type Handler, type WorkerOptions } from './worker.js';

/** Options of a {@link Queue}. */
export interface QueueOptions<S extends z.ZodType> {
  /** The schema of the payload: checked at enqueue and again before the handler runs. */
  payload: S;
  /** Attempts a job gets before it goes to the dead letters (default 3). */
  maxAttempts?: number;
  /** How retries are spaced (default: exponential from 1 s, capped at an hour, with jitter). */
  backoff?: Backoff;
  /** Longest one attempt may run (default: no limit). */
  timeoutMs?: number;
}

/** What happened to a job, as a {@link Queue} reports it to listeners in this process. */
export interface JobEvent {
  id: string;
  queue: string;
  /** The attempt (1 for the first run); 0 for `enqueued`. */
  attempt: number;
  /** Why the attempt failed (`failed`, `dead`). */
  error?: string;
}

/** The events of a queue: each fires after the transaction that made it happen committed. */
export type JobEventName = 'enqueued' | 'started' | 'completed' | 'failed' | 'dead' | 'cancelled';

/** A job as stored, with its payload typed. */
export type JobInfo<P> = Omit<JobRecord, 'payload'> & { payload: P };

/**
 * A named kind of job: its payload schema, its defaults, and the operations on its jobs.
 *
 * @remarks
 * Events (`on`) are those this process caused: jobs it enqueued (once the enqueuing transaction
 * commits), and jobs its workers started, completed, failed or buried. Counts and
 * {@link Queue.oldestWaitingMs} cover every process.
 * @example
 * ```ts
 * const emails = new Queue(store, 'emails', { payload: z.object({ to: z.string() }) });
 * await db.transact((tx) => emails.enqueue(tx, { to: 'ada@example.com' }));
 * ```
 */
export class Queue<S extends z.ZodType = z.ZodType> {
  /** The store the queue's jobs live in. */
  readonly store: JobStore;
  /** The queue's name. */
  readonly name: string;
  /** The payload schema. */
  readonly schema: S;
  /** What jobs get when their enqueue names nothing else. */
  readonly defaults: QueueDefaults;
  readonly #events = new EventEmitter();

  /** @throws JobsError `invalid_option` naming the option. */
  constructor(store: JobStore, name: string, options: QueueOptions<S>) {
    this.store = store;
    this.name = checkName(name, 'the queue name', false);
    if (typeof options !== 'object' || options === null || typeof (options.payload as { safeParse?: unknown })?.safeParse !== 'function') {
      throw new JobsError('invalid_option', `queue ${name}: options.payload must be a zod schema`);
    }
    this.schema = options.payload;
    const maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS_DEFAULT;
    checkMaxAttempts(maxAttempts);
    if (options.timeoutMs !== undefined) checkTimeout(options.timeoutMs);
    this.defaults = { maxAttempts, backoff: options.backoff === undefined ? BACKOFF_DEFAULT : checkBackoff(options.backoff), timeoutMs: options.timeoutMs ?? null };
    // Listeners are the application's; an event without one must not warn about leaks or throw.
    this.#events.setMaxListeners(0);
  }

  /**
   * Validates `payload` against the queue's schema.
   * @throws JobsError `payload_invalid` naming the field and the rule.
   */
  parse(payload: unknown): z.output<S> {
    const result = this.schema.safeParse(payload);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      const field = issue.path.join('.') || '(payload)';
      throw new JobsError('payload_invalid', `queue ${this.name}: payload ${field}: ${issue.message}`, {
        details: { queue: this.name, field, rule: issue.code },
        cause: result.error,
      });
    }
    return result.data as z.output<S>;
  }

  /**
   * Enqueues a job in `tx`: it exists only if `tx` commits.
   * @throws JobsError `payload_invalid` (nothing is written), `invalid_option`.
   * @example
   * ```ts
   * await db.transact(async (tx) => {
   *   tx.at(orders).set([42], order);
   *   await emails.enqueue(tx, { to: order.email }, { delayMs: 60_000, uniqueKey: 'receipt-42' });
   * });
   * ```
   */
  async enqueue(tx: Transaction, payload: z.input<S>, options: EnqueueOptions = {}): Promise<Enqueued> {
    const enqueued = await this.store.enqueue(tx, this.name, this.parse(payload), options, this.defaults);
    if (enqueued.created) this.#afterCommit(tx, 'enqueued', { id: enqueued.id, queue: this.name, attempt: 0 });
    return enqueued;
  }

  /**
   * Enqueues several jobs in `tx`, in order. Every payload is validated before anything is written.
   * @throws JobsError `payload_invalid` naming the job's position, `invalid_option`.
   */
  async enqueueMany(tx: Transaction, jobs: readonly { payload: z.input<S>; options?: EnqueueOptions }[]): Promise<Enqueued[]> {
    if (!Array.isArray(jobs)) throw new JobsError('invalid_option', 'enqueueMany takes an array of { payload, options }');
    if (jobs.length > ENQUEUE_BATCH_MAX) throw new JobsError('invalid_option', `enqueueMany takes at most ${ENQUEUE_BATCH_MAX} jobs, got ${jobs.length}`);
    const payloads = jobs.map((job, index) => {
      try {
        return this.parse(job.payload);
      } catch (error) {
        if (error instanceof JobsError) throw new JobsError('payload_invalid', `job ${index}: ${error.message}`, { details: { ...error.details, index }, cause: error });
        throw error;
      }
    });
    const out: Enqueued[] = [];
    for (let i = 0; i < jobs.length; i++) {
      const enqueued = await this.store.enqueue(tx, this.name, payloads[i], jobs[i]!.options ?? {}, this.defaults);
      if (enqueued.created) this.#afterCommit(tx, 'enqueued', { id: enqueued.id, queue: this.name, attempt: 0 });
      out.push(enqueued);
    }
    return out;
  }

  /** The job with this id, or null (also for a job of another queue). */
  async get(tx: Transaction, id: string): Promise<JobInfo<z.output<S>> | null> {
    const job = await this.store.get(tx, id);
    return job === null || job.queue !== this.name ? null : (job as JobInfo<z.output<S>>);
  }

  /**
   * Cancels a delayed, ready or running job; false when it had already finished. A running job's
   * worker loses its lease: its handler's signal fires and its completion is refused.
   * @throws JobsError `job_not_found`.
   */
  async cancel(tx: Transaction, id: string): Promise<boolean> {
    await this.#own(tx, id);
    const cancelled = await this.store.cancel(tx, id);
    if (cancelled) this.#afterCommit(tx, 'cancelled', { id, queue: this.name, attempt: 0 });
    return cancelled;
  }

  /**
   * Runs a dead or cancelled job again, with its attempts reset.
   * @throws JobsError `job_not_found`, `invalid_state`.
   */
  async retry(tx: Transaction, id: string): Promise<void> {
    await this.#own(tx, id);
    await this.store.retry(tx, id);
  }

  /** Runs up to `limit` dead jobs again, oldest first; returns their ids. */
  redrive(tx: Transaction, options: { limit?: number } = {}): Promise<string[]> {
    const limit = options.limit ?? 100;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new JobsError('invalid_option', `limit must be a positive integer, got ${String(limit)}`);
    return this.store.redrive(tx, this.name, limit);
  }

  /**
   * Deletes finished jobs (completed by default) that finished more than `olderThanMs` ago, at
   * most `limit` (default 1,000) per call, oldest first; returns how many it deleted.
   * @throws JobsError `invalid_option`.
   * @example
   * ```ts
   * await db.transact((tx) => emails.purge(tx, { olderThanMs: 7 * 24 * 3600 * 1000 }));
   * ```
   */
  purge(tx: Transaction, options: { state?: 'completed' | 'dead' | 'cancelled'; olderThanMs?: number; limit?: number } = {}): Promise<number> {
    const state = options.state ?? 'completed';
    if (state !== 'completed' && state !== 'dead' && state !== 'cancelled') throw new JobsError('invalid_option', `purge: state must be completed, dead or cancelled, got ${String(state)}`);
    const olderThanMs = options.olderThanMs ?? 0;
    if (typeof olderThanMs !== 'number' || !(olderThanMs >= 0)) throw new JobsError('invalid_option', `purge: olderThanMs must be a non-negative number, got ${String(olderThanMs)}`);
    const limit = options.limit ?? 1_000;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new JobsError('invalid_option', `purge: limit must be a positive integer, got ${String(limit)}`);
    return this.store.purge(tx, this.name, state, this.store.clock.now() - olderThanMs, limit);
  }

  /** Ids of the dead letters (jobs out of attempts), oldest first. */
  deadLetters(tx: Transaction, options: { limit?: number } = {}): Promise<string[]> {
    return this.store.finished(tx, this.name, 'dead', options.limit ?? 100);
  }

  /** The number of jobs in each state. */
  counts(tx: Transaction): Promise<JobCounts> {
    return this.store.counts(tx, this.name);
  }

  /** How long the oldest due job that has not started has waited, in milliseconds (0 when none). */
  oldestWaitingMs(tx: Transaction): Promise<number> {
    return this.store.oldestWaitingMs(tx, this.name);
  }

  /**
   * Starts a worker that runs `handler` for the queue's jobs.
   * @throws JobsError `invalid_option`.
   * @example
   * ```ts
   * const worker = emails.work(async (job) => send(job.payload), { concurrency: 8 });
   * await worker.stop();
   * ```
   */
  work(handler: Handler<z.output<S>>, options: WorkerOptions = {}): Worker<S> {
    return new Worker(this, handler, options);
  }

  /** Calls `listener` for each `event` of the queue's jobs in this process. */
  on(event: JobEventName, listener: (event: JobEvent) => void): this {
    this.#events.on(event, listener);
    return this;
  }

  /** Removes a listener added with {@link Queue.on}. */
  off(event: JobEventName, listener: (event: JobEvent) => void): this {
    this.#events.off(event, listener);
    return this;
  }

  /** @internal Reports an event; a listener that throws does not disturb the caller. */
  emit(event: JobEventName, payload: JobEvent): void {
    for (const listener of this.#events.listeners(event)) {
      try {
        (listener as (event: JobEvent) => void)(payload);
      } catch {
        // A listener's failure is the listener's; the job's state is already committed.
      }
    }
  }

  // Emits `event` once `tx` commits (its versionstamp settles only then).
  #afterCommit(tx: Transaction, event: JobEventName, payload: JobEvent): void {
    if (this.#events.listenerCount(event) === 0) return;
    tx.getVersionstamp().then(
      () => this.emit(event, payload),
      () => {},
    );
  }

  async #own(tx: Transaction, id: string): Promise<void> {
    const job = await this.store.get(tx, id);
    if (job === null || job.queue !== this.name) throw new JobsError('job_not_found', `queue ${this.name} has no job ${String(id)}`, { details: { id } });
  }
}
