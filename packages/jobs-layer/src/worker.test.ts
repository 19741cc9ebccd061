// Proves what a worker promises with real timers on a real database: at most `concurrency` handlers
// at once (and twice that many leases), effects committed exactly once with completion, retries then dead letters, an idle
// worker woken by the queue's watch rather than its poll, heartbeats that keep a long job's lease,
// reclaiming a crashed worker's job, refusing a completion after the lease is lost, timeouts,
// payloads checked again before the handler runs, and a graceful stop that gives leases back.
import { open, type Database, type Transaction } from '@strata/core';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JobStore } from './job-store.js';
import { Queue, type JobEvent, type JobEventName } from './queue.js';
import { schedule } from './schedule.js';
import type { Worker } from './worker.js';

const databases: Database[] = [];
const workers: Worker[] = [];
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop();
  for (const db of databases.splice(0)) await db.close();
});

const payload = z.object({ n: z.number().int() });

async function setup(options: { maxAttempts?: number; timeoutMs?: number } = {}) {
  const db = await open();
  databases.push(db);
  const store = await JobStore.open(db, { path: ['jobs'] });
  const queue = new Queue(store, 'work', { payload, maxAttempts: options.maxAttempts ?? 3, backoff: { type: 'fixed', delayMs: 20 }, ...options });
  const work = (...args: Parameters<typeof queue.work>): Worker<typeof payload> => {
    const worker = queue.work(...args);
    workers.push(worker as unknown as Worker);
    return worker;
  };
  const counts = () => db.transact((tx) => queue.counts(tx));
  return { db, store, queue, work, counts };
}

// Resolves with the events once `count` of `name` have fired.
function events(queue: Queue, name: JobEventName, count: number): Promise<JobEvent[]> {
  const seen: JobEvent[] = [];
  return new Promise((resolve) => {
    queue.on(name, (event) => {
      seen.push(event);
      if (seen.length === count) resolve(seen);
    });
  });
}

const effectKey = (n: number): Uint8Array => new TextEncoder().encode(`effect/${n}`);

async function effectCount(db: Database, n: number): Promise<number> {
  const value = await db.transact((tx) => tx.get(effectKey(n)));
  return value === null ? 0 : Number(Buffer.from(value).readBigInt64LE(0));
}

function addEffect(tx: Transaction, n: number): void {
  const one = Buffer.alloc(8);
  one.writeBigInt64LE(1n);
  tx.add(effectKey(n), one);
}

describe('Worker', () => {
  it('runs at most `concurrency` jobs at once and commits each effect exactly once with its completion', async () => {
    const { db, queue, work, counts } = await setup();
    const total = 60;
    await db.transact((tx) => queue.enqueueMany(tx, Array.from({ length: total }, (_, n) => ({ payload: { n } }))));
    const done = events(queue, 'completed', total);
    let active = 0;
    let most = 0;
    let mostLeased = 0;
    work(
      async (job) => {
        active++;
        most = Math.max(most, active);
        // Leases held: the running handlers, and jobs whose handler returned and whose completion
        // is still committing (their slots already went to the next jobs).
        mostLeased = Math.max(mostLeased, (await counts()).running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        active--;
        await job.complete((tx) => addEffect(tx, job.payload.n));
      },
      { concurrency: 4, pollMs: 20 },
    );
    await done;
    expect(most).toBeLessThanOrEqual(4);
    expect(most).toBeGreaterThan(1);
    expect(mostLeased).toBeLessThanOrEqual(8);
    for (let n = 0; n < total; n++) expect(await effectCount(db, n)).toBe(1);
    expect(await counts()).toMatchObject({ completed: total, running: 0, ready: 0 });
  });

  it('retries a failing job after its backoff, then buries it in the dead letters', async () => {
    const { db, queue, work } = await setup({ maxAttempts: 3 });
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 1 }));
    const dead = events(queue, 'dead', 1);
    const failed = events(queue, 'failed', 2);
    const attempts: number[] = [];
    work(
      (job) => {
        attempts.push(job.attempt);
        throw new Error(`attempt ${job.attempt} failed`);
      },
      { pollMs: 10 },
    );
    expect((await dead)[0]).toMatchObject({ id, attempt: 3, error: 'Error: attempt 3 failed' });
    expect((await failed).map((e) => e.attempt)).toEqual([1, 2]);
    expect(attempts).toEqual([1, 2, 3]);
    expect(await db.transact((tx) => queue.deadLetters(tx))).toEqual([id]);
  });

  it('wakes an idle worker through the queue watch, long before its poll', async () => {
    const { db, queue, work } = await setup();
    let started!: () => void;
    const idle = new Promise<void>((resolve) => (started = resolve));
    const worker = work(async () => {}, { pollMs: 60_000 });
    // Let the worker claim nothing and settle into its idle wait.
    setTimeout(started, 100);
    await idle;
    expect(worker.running).toBe(0);
    const completed = events(queue, 'completed', 1);
    await db.transact((tx) => queue.enqueue(tx, { n: 7 }));
    // With a 60 s poll, only the watch can deliver this within the test's timeout.
    await completed;
  });

  it('keeps a long job leased by heartbeat while another worker reclaims expired leases', async () => {
    const { db, queue, work } = await setup();
    await db.transact((tx) => queue.enqueue(tx, { n: 1 }));
    const completed = events(queue, 'completed', 1);
    const failed: JobEvent[] = [];
    queue.on('failed', (event) => failed.push(event));
    work(() => new Promise((resolve) => setTimeout(resolve, 900)), { leaseMs: 200, pollMs: 20 });
    // A second worker with maintenance every 20 ms would reclaim the job if its lease lapsed.
    await new Promise((resolve) => setTimeout(resolve, 50));
    work(async () => {}, { leaseMs: 200, pollMs: 20 });
    const [event] = await completed;
    expect(event!.attempt).toBe(1);
    expect(failed).toEqual([]);
  });

  it("runs a crashed worker's job again once its lease expires, and the stale claim cannot complete", async () => {
    const { db, store, queue, work } = await setup();
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 3 }));
    // A worker that claims and then dies: no heartbeat, no outcome.
    const [stale] = await db.transact((tx) => store.claim(tx, 'work', { count: 1, worker: 'crashed', leaseMs: 150 }));
    const completed = events(queue, 'completed', 1);
    work(async (job) => job.complete((tx) => addEffect(tx, job.payload.n)), { pollMs: 20 });
    expect((await completed)[0]).toMatchObject({ id, attempt: 2 });
    await expect(
      db.transact(async (tx) => {
        addEffect(tx, 3);
        await store.complete(tx, id, stale!.token);
      }),
    ).rejects.toMatchObject({ code: 'lease_lost' });
    expect(await effectCount(db, 3)).toBe(1);
  });

  it('aborts the handler of a cancelled job and refuses its completion', async () => {
    const { db, queue, work } = await setup();
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 4 }));
    let outcome!: (value: unknown) => void;
    const result = new Promise((resolve) => (outcome = resolve));
    let running!: () => void;
    const isRunning = new Promise<void>((resolve) => (running = resolve));
    work(
      async (job) => {
        running();
        await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
        outcome(await job.complete((tx) => addEffect(tx, 4)).catch((error: unknown) => error));
      },
      { leaseMs: 150, pollMs: 20 },
    );
    await isRunning;
    expect(await db.transact((tx) => queue.cancel(tx, id))).toBe(true);
    // The next heartbeat finds the job cancelled and aborts the signal.
    expect(await result).toMatchObject({ code: 'lease_lost' });
    expect(await effectCount(db, 4)).toBe(0);
    expect((await db.transact((tx) => queue.get(tx, id)))?.state).toBe('cancelled');
  });

  it('a handler that first looks at its signal after its attempt was lost finds it aborted, with the reason', async () => {
    const { db, queue, work } = await setup({ maxAttempts: 1, timeoutMs: 80 });
    await db.transact((tx) => queue.enqueue(tx, { n: 7 }));
    const dead = events(queue, 'dead', 1);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let seen!: (value: { aborted: boolean; reason: unknown; same: boolean }) => void;
    const result = new Promise<{ aborted: boolean; reason: unknown; same: boolean }>((resolve) => (seen = resolve));
    work(async (job) => {
      // The signal is not touched until the attempt is lost (the worker makes it on first use).
      await released;
      seen({ aborted: job.signal.aborted, reason: job.signal.reason, same: job.signal === job.signal });
    });
    // The timeout is recorded (the event), then the attempt is marked lost in the same turn.
    await dead;
    await new Promise((resolve) => setImmediate(resolve));
    release();
    const { aborted, reason, same } = await result;
    expect(aborted).toBe(true);
    expect(reason).toMatchObject({ code: 'job_timed_out' });
    expect(same).toBe(true);
  });

  it('fails an attempt that outruns its timeout and aborts its signal', async () => {
    const { db, queue, work } = await setup({ maxAttempts: 1, timeoutMs: 80 });
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 5 }));
    const dead = events(queue, 'dead', 1);
    let aborted!: (reason: unknown) => void;
    const reason = new Promise((resolve) => (aborted = resolve));
    work(async (job) => {
      await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
      aborted(job.signal.reason);
    });
    expect((await dead)[0]?.error).toContain('timeout of 80 ms');
    expect(await reason).toMatchObject({ code: 'job_timed_out' });
    expect((await db.transact((tx) => queue.get(tx, id)))?.state).toBe('dead');
  });

  it('checks the payload again before the handler runs and buries a job whose payload no longer fits', async () => {
    const { db, store, queue, work } = await setup();
    // Written past the schema, as an older version of the app might have.
    const { id } = await db.transact((tx) => store.enqueue(tx, 'work', { n: 'seven' }, {}, queue.defaults));
    const dead = events(queue, 'dead', 1);
    let called = false;
    work(() => {
      called = true;
    });
    expect((await dead)[0]).toMatchObject({ id, attempt: 1 });
    expect((await dead)[0]?.error).toContain('payload n');
    expect(called).toBe(false);
  });

  it('gives held leases back at once on stop, without counting the attempt', async () => {
    const { db, queue, work } = await setup();
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 6 }));
    let running!: () => void;
    const isRunning = new Promise<void>((resolve) => (running = resolve));
    let aborted: unknown = null;
    const first = work(async (job) => {
      running();
      await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
      aborted = job.signal.reason;
    });
    await isRunning;
    await first.stop();
    expect(aborted).toMatchObject({ code: 'worker_stopped' });
    const job = await db.transact((tx) => queue.get(tx, id));
    expect(job).toMatchObject({ state: 'ready', attempts: 0 });
    const completed = events(queue, 'completed', 1);
    work(async () => {});
    expect((await completed)[0]).toMatchObject({ id, attempt: 1 });
  });

  it('fires a cron schedule once per fire time while several workers run', async () => {
    const { db, queue, work } = await setup();
    await db.transact((tx) => schedule(tx, queue, { name: 'every-second', cron: '* * * * * *', payload: { n: 1 } }));
    const completed = events(queue, 'completed', 3);
    for (let i = 0; i < 3; i++) work(async () => {}, { pollMs: 50 });
    const ids = (await completed).map((event) => event.id);
    const jobs = await db.transact((tx) => Promise.all(ids.map((id) => queue.get(tx, id))));
    const fireTimes = jobs.map((job) => job!.runAt);
    expect(new Set(fireTimes).size).toBe(3);
    for (const time of fireTimes) expect(time % 1_000).toBe(0);
  });

  it('refuses bad worker options by name', async () => {
    const { queue } = await setup();
    expect(() => queue.work(async () => {}, { concurrency: 0 })).toThrow(/concurrency/);
    expect(() => queue.work(async () => {}, { leaseMs: 5 })).toThrow(/leaseMs/);
    expect(() => queue.work('nope' as unknown as () => void)).toThrow(/handler/);
  });
});
