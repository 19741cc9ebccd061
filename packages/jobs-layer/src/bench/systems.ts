/**
 * The two job queues the jobs benchmark compares, behind one interface: Strata's jobs layer on an
 * on-disk database, and pg-boss 10 on a real PostgreSQL server started by `startPostgres` of
 * `@strata/bench-support` (default durability: `fsync` and `synchronous_commit` on).
 */
import path from 'node:path';
import { createLog, makeScratchDirectory, removeScratchDirectory, startPostgres, type PostgresServer } from '@strata/bench-support';
import { open, type Database } from '@strata/core';
import PgBoss from 'pg-boss';
import { z } from 'zod';
import { JobStore, Queue, type Worker } from '../index.js';

/** Writes a progress message to stderr, as `[jobs-bench] <message>`. */
export const info = createLog('jobs-bench');

/** The payload of every benchmark job: its number in the run, and when its enqueue was called. */
export const benchPayload = z.object({
  /** 0, 1, 2, ... within a queue. */
  n: z.number().int().nonnegative(),
  /** `performance.now()` just before the enqueue call (this process's clock, in milliseconds). */
  t: z.number(),
});

/** A benchmark job's payload. */
export type BenchPayload = z.infer<typeof benchPayload>;

/** Running workers of one queue. */
export interface BenchWorkers {
  /** Stops the workers; jobs not yet started stay queued. */
  stop(): Promise<void>;
}

/** What each system must do. */
export interface JobsBenchSystem {
  readonly name: 'strata' | 'pgboss';
  /** How the system runs `concurrency` jobs at once (for the output line). */
  describeWorkers(concurrency: number): Record<string, number>;
  /** Creates an empty queue. */
  createQueue(queue: string): Promise<void>;
  /** Enqueues one job per payload, all in one transaction. */
  enqueueBatch(queue: string, payloads: readonly BenchPayload[]): Promise<void>;
  /** Enqueues one job in its own transaction. */
  enqueueOne(queue: string, payload: BenchPayload): Promise<void>;
  /**
   * Starts workers that run up to `concurrency` jobs of `queue` at once, calling `onStart` with each
   * job's payload when its handler starts; the handler then returns at once (a no-op).
   */
  work(queue: string, concurrency: number, onStart: (payload: BenchPayload) => void): Promise<BenchWorkers>;
  /** The number of jobs of `queue` that are recorded as completed. */
  completed(queue: string): Promise<number>;
  /** CPU milliseconds the system's server processes have used (null for a system without a server). */
  serverCpuMs(): number | null;
  /** Closes the system and removes its files (and stops its server). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Strata

/**
 * Strata: `open({ path })` in a scratch directory, a `JobStore` at `['bench', 'jobs']`, one `Queue`
 * per benchmark queue with the {@link benchPayload} schema, and one `Worker` per queue with the
 * case's concurrency (the worker's defaults otherwise: 30 s leases, 1 s idle poll).
 */
export async function openStrata(): Promise<JobsBenchSystem> {
  const directory = await makeScratchDirectory('jobs-bench-strata');
  let db: Database | null = null;
  try {
    db = await open({ path: path.join(directory, 'db') });
    const store = await JobStore.open(db, { path: ['bench', 'jobs'] });
    const queues = new Map<string, Queue<typeof benchPayload>>();
    const queueNamed = (name: string): Queue<typeof benchPayload> => {
      const queue = queues.get(name);
      if (queue === undefined) throw new Error(`no queue ${name} was created`);
      return queue;
    };
    const workerErrors = new ErrorReporter('strata worker');
    const database = db;
    return {
      name: 'strata',
      describeWorkers: (concurrency) => ({ workers: 1, concurrency }),
      async createQueue(name) {
        queues.set(name, new Queue(store, name, { payload: benchPayload }));
      },
      async enqueueBatch(name, payloads) {
        const queue = queueNamed(name);
        await database.transact((tx) => queue.enqueueMany(tx, payloads.map((payload) => ({ payload }))));
      },
      async enqueueOne(name, payload) {
        const queue = queueNamed(name);
        await database.transact((tx) => queue.enqueue(tx, payload));
      },
      async work(name, concurrency, onStart) {
        const worker: Worker<typeof benchPayload> = queueNamed(name).work((job) => void onStart(job.payload), { concurrency, onError: workerErrors.report });
        return { stop: () => worker.stop() };
      },
      async completed(name) {
        const queue = queueNamed(name);
        return (await database.transact((tx) => queue.counts(tx))).completed;
      },
      serverCpuMs: () => null,
      async close() {
        try {
          await database.close();
        } finally {
          await removeScratchDirectory(directory);
        }
      },
    };
  } catch (error) {
    if (db !== null) await db.close().catch(() => undefined);
    await removeScratchDirectory(directory);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// pg-boss

/** The shortest polling interval pg-boss 10 accepts, in seconds (its default is 2). */
const PGBOSS_POLLING_INTERVAL_SECONDS = 0.5;

/**
 * How pg-boss runs `concurrency` jobs at once: `workers` polling loops (`workersWanted`, at most
 * `concurrency`), each fetching `batchSize` jobs. The caller makes `concurrency` a multiple of it.
 */
export function pgBossSplit(concurrency: number, workersWanted: number): { workers: number; batchSize: number } {
  const workers = Math.max(1, Math.min(concurrency, workersWanted));
  return { workers, batchSize: Math.floor(concurrency / workers) };
}

/**
 * pg-boss 10 on a PostgreSQL server of its own: `new PgBoss({ connectionString, max })` (pg-boss's
 * defaults otherwise, including its supervisor and scheduler), `createQueue` per benchmark queue
 * (the `standard` policy), `insert` for a batch (one multi-row INSERT), `send` for one job.
 *
 * Workers: `concurrency` jobs at once are `workers` calls of `boss.work(queue, { batchSize,
 * pollingIntervalSeconds: 0.5 }, handler)` with `workers * batchSize = concurrency` (`workers` is
 * `workersPerQueue`, at most `concurrency`). Each call is one polling loop that fetches up to
 * `batchSize` jobs (`FOR UPDATE SKIP LOCKED`), hands them to the handler as an array, and completes
 * the whole batch in one statement when the handler resolves. pg-boss 10 waits out the polling
 * interval after every fetch, full or not, so on a full batch the handler calls
 * `boss.notifyWorker(id)` (pg-boss's documented way to skip that wait) and the loop fetches again
 * at once, as a user draining a backlog would; with a partial batch the loop waits for its next
 * poll. 0.5 s is the smallest interval pg-boss 10 accepts.
 */
export async function openPgBoss(options: { poolSize: number; workersPerQueue: number }): Promise<JobsBenchSystem> {
  const server: PostgresServer = await startPostgres({ label: 'jobs-bench-postgres', log: info });
  const errors = new ErrorReporter('pg-boss');
  let boss: PgBoss | null = null;
  let closing = false;
  const shutDown = async (): Promise<void> => {
    closing = true;
    try {
      // Not graceful: the benchmark's workers are already stopped, and this skips pg-boss's wait.
      if (boss !== null) await boss.stop({ graceful: false, wait: true, close: true });
    } finally {
      boss = null;
      await server.stop();
    }
  };
  try {
    boss = new PgBoss({ connectionString: server.connectionString, max: options.poolSize });
    // pg-boss emits 'error' for failed fetches and maintenance; an EventEmitter without a listener
    // would throw. Once closing, connections that pg-boss's stop is still ending get the server's
    // shutdown notice (57P01): expected, so not reported.
    boss.on('error', (error: unknown) => {
      if (!closing) errors.report(error);
    });
    await boss.start();
  } catch (error) {
    await shutDown().catch(() => undefined);
    throw error;
  }
  const b = boss;
  const db = b.getDb();
  return {
    name: 'pgboss',
    describeWorkers: (concurrency) => pgBossSplit(concurrency, options.workersPerQueue),
    async createQueue(name) {
      await b.createQueue(name);
    },
    async enqueueBatch(name, payloads) {
      await b.insert(payloads.map((data) => ({ name, data })));
    },
    async enqueueOne(name, payload) {
      await b.send(name, payload);
    },
    async work(name, concurrency, onStart) {
      const { workers, batchSize } = pgBossSplit(concurrency, options.workersPerQueue);
      const ids: string[] = [];
      for (let w = 0; w < workers; w++) {
        let id: string | null = null;
        id = await b.work<BenchPayload>(name, { batchSize, pollingIntervalSeconds: PGBOSS_POLLING_INTERVAL_SECONDS }, async (jobs) => {
          for (const job of jobs) onStart(job.data);
          if (jobs.length === batchSize && id !== null) b.notifyWorker(id);
        });
        ids.push(id);
      }
      return {
        async stop() {
          for (const id of ids) await b.offWork({ id });
        },
      };
    },
    async completed(name) {
      // pg-boss completes a batch without awaiting it, so completion is read from the table.
      const result = await db.executeSql("SELECT count(*)::int AS n FROM pgboss.job WHERE name = $1 AND state = 'completed'", [name]);
      return (result.rows[0] as { n: number }).n;
    },
    serverCpuMs: () => server.cpuMs(),
    close: shutDown,
  };
}

// ---------------------------------------------------------------------------------------------

/** Logs errors a worker could not hand to anyone: the first few in full, then a count. */
class ErrorReporter {
  #count = 0;
  constructor(readonly source: string) {}
  readonly report = (error: unknown): void => {
    this.#count++;
    if (this.#count <= 5) info(`${this.source} error: ${error instanceof Error ? error.message : String(error)}`);
    else if (this.#count === 6) info(`${this.source}: more errors follow; not shown`);
  };
}
