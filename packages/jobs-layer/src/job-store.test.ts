// Proves the transactional steps of a job's life on a real database: enqueue only with the
// caller's commit, claims with growing fencing tokens, completion that commits with the handler's
// writes or not at all, refusal of a stale lease, backoff and dead letters, unique keys, delays,
// priorities, fair claiming across groups, cancel, retry, redrive, and the counts.
import { open, type Database } from '@strata/core';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualClock } from '../test/manual-clock.js';
import { JobStore } from './job-store.js';
import { CLAIM_HINT_MS } from './limits.js';
import { Queue } from './queue.js';

const SEED = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));


const databases: Database[] = [];
afterEach(async () => {
  for (const db of databases.splice(0)) await db.close();
});

async function setup(options: { maxAttempts?: number } = {}) {
  const db = await open();
  databases.push(db);
  const clock = new ManualClock({ seed: SEED, time: 1_700_000_000_000 });
  const store = await JobStore.open(db, { path: ['jobs'], clock });
  const queue = new Queue(store, 'work', {
    payload: z.object({ n: z.number().int() }),
    maxAttempts: options.maxAttempts ?? 3,
    backoff: { type: 'fixed', delayMs: 1_000 },
  });
  const claim = (count = 1, leaseMs = 10_000, worker = 'w1') => db.transact((tx) => store.claim(tx, 'work', { count, worker, leaseMs }));
  const counts = () => db.transact((tx) => queue.counts(tx));
  return { db, clock, store, queue, claim, counts };
}

describe('JobStore', () => {
  it('enqueues only when the enqueuing transaction commits', async () => {
    const { db, queue, counts } = await setup();
    await expect(
      db.transact(async (tx) => {
        await queue.enqueue(tx, { n: 1 });
        throw new Error('the caller changed its mind');
      }),
    ).rejects.toThrow('changed its mind');
    expect((await counts()).ready).toBe(0);
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 2 }));
    expect((await counts()).ready).toBe(1);
    expect((await db.transact((tx) => queue.get(tx, id)))?.payload).toEqual({ n: 2 });
  });

  it('stores a job as its field values without their names, and reads jobs stored as maps', async () => {
    const { db, store, queue, claim } = await setup();
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 7 }, { uniqueKey: 'u', timeoutMs: 500, priority: 2 }));
    await claim();
    const key = store.subspace.pack([0, id]);
    const stored = await db.transact((tx) => tx.get(key));
    expect(Buffer.from(stored!).includes(Buffer.from('maxAttempts'))).toBe(false);
    const job = await db.transact((tx) => store.get(tx, id));
    expect(job).toEqual({
      id,
      queue: 'work',
      payload: { n: 7 },
      state: 'running',
      priority: 2,
      group: '',
      runAt: job!.createdAt,
      createdAt: job!.createdAt,
      attempts: 1,
      maxAttempts: 3,
      backoff: { type: 'fixed', delayMs: 1_000 },
      timeoutMs: 500,
      uniqueKey: 'u',
      token: 1,
      leaseDeadline: job!.createdAt + 10_000,
      worker: 'w1',
      lastError: null,
      finishedAt: null,
    });
    await db.transact((tx) => tx.set(key, new Packr({ useRecords: false }).pack({ ...job!, lastError: 'from a map' })));
    expect(await db.transact((tx) => store.get(tx, id))).toEqual({ ...job!, lastError: 'from a map' });
  });

  it('hands out job records whose binary payload parts are copies: changing them changes nothing stored', async () => {
    const { db, store, queue, claim } = await setup();
    // A Buffer is packed as msgpack binary data; a Float64Array as a typed-array extension.
    const bytes = Buffer.from([1, 2, 3]);
    const floats = new Float64Array([1.5, 2.5]);
    const { id } = await db.transact((tx) => store.enqueue(tx, 'work', { bytes, floats }, {}, queue.defaults));
    const mutate = (job: { payload: unknown } | null): void => {
      const payload = job!.payload as { bytes: Uint8Array; floats: Float64Array };
      payload.bytes[0] = 99;
      payload.floats[0] = 99;
    };
    const stored = (job: { payload: unknown } | null): number[] => {
      const payload = job!.payload as { bytes: Uint8Array; floats: Float64Array };
      return [...payload.bytes, ...payload.floats];
    };
    await db.transact(async (tx) => {
      mutate(await store.get(tx, id));
      // Read again in the same transaction (its own writes are not involved: it wrote nothing).
      expect(stored(await store.get(tx, id))).toEqual([1, 2, 3, 1.5, 2.5]);
    });
    expect(stored(await db.transact((tx) => store.get(tx, id)))).toEqual([1, 2, 3, 1.5, 2.5]);
    // A claim reads the record too, and writes it back; what it hands out is a copy as well.
    const [claimed] = await claim();
    mutate(claimed!);
    expect(stored(await db.transact((tx) => store.get(tx, id)))).toEqual([1, 2, 3, 1.5, 2.5]);
  });

  it('refuses an invalid payload naming the field, and writes nothing', async () => {
    const { db, queue, counts } = await setup();
    const error = await db.transact((tx) => queue.enqueue(tx, { n: 1.5 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'payload_invalid', details: { field: 'n' } });
    expect(String(error)).toContain('payload n');
    await expect(db.transact((tx) => queue.enqueueMany(tx, [{ payload: { n: 1 } }, { payload: { n: 'x' as unknown as number } }]))).rejects.toMatchObject({
      code: 'payload_invalid',
      details: { index: 1 },
    });
    expect(await counts()).toMatchObject({ ready: 0, delayed: 0 });
    await expect(db.transact((tx) => queue.enqueue(tx, { n: 1 }, { priority: 1.5 }))).rejects.toMatchObject({ code: 'invalid_option' });
    await expect(db.transact((tx) => queue.enqueue(tx, { n: 1 }, { delayMs: 5, runAt: 5 }))).rejects.toMatchObject({ code: 'invalid_option' });
    await expect(db.transact((tx) => queue.enqueue(tx, { n: 1 }, { maxAttempts: 0 }))).rejects.toMatchObject({ code: 'invalid_option' });
    expect(() => new Queue(queue.store, '', { payload: z.object({}) })).toThrow(/queue name/);
  });

  it('gives each claim of a job a larger fencing token, and refuses a stale token', async () => {
    const { db, clock, store, queue, claim } = await setup();
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 1 }));
    const [first] = await claim(1, 1_000);
    expect(first).toMatchObject({ id, token: 1, attempts: 1, state: 'running' });
    // The lease expires; maintenance reclaims it and the job waits out its backoff.
    clock.time += 1_001;
    expect(await db.transact((tx) => store.maintain(tx, 'work'))).toEqual({ promoted: 0, reclaimed: 1 });
    clock.time += 1_000;
    expect(await db.transact((tx) => store.maintain(tx, 'work'))).toEqual({ promoted: 1, reclaimed: 0 });
    const [second] = await claim(1, 1_000, 'w2');
    expect(second).toMatchObject({ id, token: 2, attempts: 2, worker: 'w2' });
    // The first worker's completion, and its writes, never commit.
    const effect = new Uint8Array([1]);
    await expect(
      db.transact(async (tx) => {
        tx.set(effect, effect);
        await store.complete(tx, id, 1);
      }),
    ).rejects.toMatchObject({ code: 'lease_lost' });
    await expect(db.transact((tx) => store.heartbeat(tx, id, 1, 1_000))).rejects.toMatchObject({ code: 'lease_lost' });
    expect(await db.transact((tx) => tx.get(effect))).toBeNull();
    // The holder's completion commits with its writes.
    await db.transact(async (tx) => {
      tx.set(effect, effect);
      await store.complete(tx, id, 2);
    });
    expect(await db.transact((tx) => tx.get(effect))).toEqual(effect);
    expect((await db.transact((tx) => queue.get(tx, id)))?.state).toBe('completed');
  });

  it('retries after the backoff, then buries the job in the dead letters; retry and redrive bring it back', async () => {
    const { db, clock, store, queue, claim, counts } = await setup({ maxAttempts: 2 });
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 1 }));
    let [job] = await claim();
    await db.transact((tx) => store.fail(tx, id, job!.token, 'Error: first'));
    expect(await counts()).toMatchObject({ delayed: 1, running: 0 });
    expect(await claim()).toEqual([]); // not due yet
    clock.time += 999;
    await db.transact((tx) => store.maintain(tx, 'work'));
    expect(await claim()).toEqual([]);
    clock.time += 1;
    await db.transact((tx) => store.maintain(tx, 'work'));
    [job] = await claim();
    expect(job).toMatchObject({ attempts: 2, lastError: 'Error: first' });
    await db.transact((tx) => store.fail(tx, id, job!.token, 'Error: second'));
    expect(await counts()).toMatchObject({ dead: 1, delayed: 0, ready: 0, running: 0 });
    expect(await db.transact((tx) => queue.deadLetters(tx))).toEqual([id]);
    expect((await db.transact((tx) => queue.get(tx, id)))?.lastError).toBe('Error: second');

    await db.transact((tx) => queue.retry(tx, id));
    expect(await counts()).toMatchObject({ dead: 0, ready: 1 });
    [job] = await claim();
    expect(job?.attempts).toBe(1);
    await db.transact((tx) => store.fail(tx, id, job!.token, 'fatal', { final: true }));
    expect(await db.transact((tx) => queue.redrive(tx))).toEqual([id]);
    expect(await counts()).toMatchObject({ dead: 0, ready: 1 });
    await expect(db.transact((tx) => queue.retry(tx, id))).rejects.toMatchObject({ code: 'invalid_state' });
    await expect(db.transact((tx) => queue.retry(tx, 'no-such-job'))).rejects.toMatchObject({ code: 'job_not_found' });
  });

  it('returns the waiting or running job for a duplicate unique key, and a new one once it finished', async () => {
    const { db, store, queue, claim } = await setup();
    const first = await db.transact((tx) => queue.enqueue(tx, { n: 1 }, { uniqueKey: 'daily-report' }));
    expect(first.created).toBe(true);
    expect(await db.transact((tx) => queue.enqueue(tx, { n: 2 }, { uniqueKey: 'daily-report' }))).toEqual({ id: first.id, created: false });
    const [job] = await claim();
    expect(await db.transact((tx) => queue.enqueue(tx, { n: 3 }, { uniqueKey: 'daily-report' }))).toEqual({ id: first.id, created: false });
    await db.transact((tx) => store.complete(tx, job!.id, job!.token));
    const next = await db.transact((tx) => queue.enqueue(tx, { n: 4 }, { uniqueKey: 'daily-report' }));
    expect(next.created).toBe(true);
    expect(next.id).not.toBe(first.id);
  });

  it('holds delayed jobs until they are due and claims higher priorities first within a group', async () => {
    const { db, clock, store, queue, claim, counts } = await setup();
    await db.transact(async (tx) => {
      await queue.enqueue(tx, { n: 1 });
      await queue.enqueue(tx, { n: 2 }, { priority: 5 });
      await queue.enqueue(tx, { n: 3 }, { delayMs: 500 });
      await queue.enqueue(tx, { n: 4 }, { runAt: new Date(clock.time + 2_000), priority: 9 });
    });
    expect(await counts()).toMatchObject({ ready: 2, delayed: 2 });
    expect(await db.transact((tx) => store.nextWakeAt(tx, 'work'))).toBe(clock.time + 500);
    const order = async (): Promise<number[]> => (await claim(1)).map((job) => (job.payload as { n: number }).n);
    expect(await order()).toEqual([2]);
    expect(await order()).toEqual([1]);
    expect(await order()).toEqual([]);
    clock.time += 2_000;
    await db.transact((tx) => store.maintain(tx, 'work'));
    expect(await order()).toEqual([4]);
    expect(await order()).toEqual([3]);
  });

  it('claims a job another process made ready ahead of its last claim within CLAIM_HINT_MS', async () => {
    const { db, clock, queue, claim } = await setup();
    // Another process's store on the same database (its own claim hints), sharing the clock.
    const other = new Queue(await JobStore.open(db, { path: ['jobs'], clock }), 'work', { payload: z.object({ n: z.number().int() }) });
    await db.transact((tx) => queue.enqueueMany(tx, [1, 2, 3].map((n) => ({ payload: { n }, options: { priority: 4 - n } }))));
    expect((await claim())[0]!.payload).toEqual({ n: 1 });
    await db.transact((tx) => other.enqueue(tx, { n: 9 }, { priority: 5 }));
    // This process starts after its last claim for a while: the higher priority waits...
    expect((await claim())[0]!.payload).toEqual({ n: 2 });
    clock.time += CLAIM_HINT_MS;
    // ...but no longer than CLAIM_HINT_MS.
    expect((await claim())[0]!.payload).toEqual({ n: 9 });
    // A job this process makes ready ahead of its hint is seen at once.
    await db.transact((tx) => queue.enqueue(tx, { n: 8 }, { priority: 7 }));
    expect((await claim())[0]!.payload).toEqual({ n: 8 });
  });

  it('serves a small group while another floods the queue (QuiCK fairness), counting claims', async () => {
    const { db, queue, claim } = await setup();
    await db.transact((tx) => queue.enqueueMany(tx, Array.from({ length: 2_000 }, (_, n) => ({ payload: { n }, options: { group: 'big', priority: 10 } }))));
    await db.transact((tx) => queue.enqueueMany(tx, Array.from({ length: 5 }, (_, n) => ({ payload: { n }, options: { group: 'small' } }))));
    // One job per claim: with groups picked at random, the small group's five jobs are all claimed
    // long before the big group's 2,000 (expected after about ten claims).
    let claims = 0;
    let small = 0;
    while (small < 5) {
      const [job] = await claim(1);
      claims++;
      if (job!.group === 'small') small++;
      expect(claims, `seed ${SEED}`).toBeLessThan(200);
    }
  });

  it('cancels waiting and running jobs; a cancelled running job cannot complete', async () => {
    const { db, store, queue, claim, counts } = await setup();
    const waiting = await db.transact((tx) => queue.enqueue(tx, { n: 1 }, { delayMs: 10_000 }));
    const running = await db.transact((tx) => queue.enqueue(tx, { n: 2 }));
    const [job] = await claim();
    expect(await db.transact((tx) => queue.cancel(tx, waiting.id))).toBe(true);
    expect(await db.transact((tx) => queue.cancel(tx, running.id))).toBe(true);
    expect(await db.transact((tx) => queue.cancel(tx, running.id))).toBe(false);
    await expect(db.transact((tx) => store.complete(tx, job!.id, job!.token))).rejects.toMatchObject({ code: 'lease_lost' });
    expect(await counts()).toMatchObject({ cancelled: 2, delayed: 0, running: 0, ready: 0 });
    await expect(db.transact((tx) => queue.cancel(tx, 'nope'))).rejects.toMatchObject({ code: 'job_not_found' });
  });

  it('gives a released job back at once without counting the attempt', async () => {
    const { db, store, queue, claim } = await setup();
    await db.transact((tx) => queue.enqueue(tx, { n: 1 }));
    const [job] = await claim();
    await db.transact((tx) => store.release(tx, job!.id, job!.token));
    const [again] = await claim(1, 10_000, 'w2');
    expect(again).toMatchObject({ id: job!.id, attempts: 1, token: 2 });
  });

  it('reports counts by state and the age of the oldest waiting job', async () => {
    const { db, clock, queue, claim, counts } = await setup();
    await db.transact((tx) => queue.enqueue(tx, { n: 1 }));
    clock.time += 250;
    await db.transact((tx) => queue.enqueue(tx, { n: 2 }));
    clock.time += 100;
    expect(await db.transact((tx) => queue.oldestWaitingMs(tx))).toBe(350);
    await claim(1);
    expect(await db.transact((tx) => queue.oldestWaitingMs(tx))).toBe(100);
    expect(await counts()).toEqual({ delayed: 0, ready: 1, running: 1, completed: 0, dead: 0, cancelled: 0 });
  });

  it('finds the oldest waiting job behind newer jobs of higher priority, in any group', async () => {
    const { db, clock, store, queue } = await setup();
    const enqueue = async (n: number, options: { priority?: number; group?: string; delayMs?: number }) => (await db.transact((tx) => queue.enqueue(tx, { n }, options))).id;
    const cancel = (id: string) => db.transact((tx) => queue.cancel(tx, id));
    const oldest = () => db.transact((tx) => queue.oldestWaitingMs(tx));
    expect(await oldest()).toBe(0);
    const first = await enqueue(1, { group: 'b', priority: 0 }); // t = 0: the oldest, behind everything below
    clock.time += 100;
    const others = [await enqueue(2, { group: 'a', priority: 0 })];
    clock.time += 100;
    others.push(await enqueue(3, { group: 'b', priority: 9 }), await enqueue(4, { group: 'b', priority: 5 }), await enqueue(5, { group: 'c', priority: -3 }));
    clock.time += 50;
    expect(await oldest()).toBe(250);
    for (const id of others) await cancel(id);
    expect(await oldest()).toBe(250);
    await cancel(first);
    expect(await oldest()).toBe(0);
    // A delayed job waits from its due time on, and still once maintenance makes it ready.
    await enqueue(6, { delayMs: 1_000 });
    expect(await oldest()).toBe(0);
    clock.time += 1_500;
    expect(await oldest()).toBe(500);
    await db.transact((tx) => store.maintain(tx, 'work'));
    expect(await oldest()).toBe(500);
    // A newer job ahead of it in its group (a higher priority) does not hide it.
    await enqueue(7, { priority: 1 });
    clock.time += 10;
    expect(await oldest()).toBe(510);
  });

  it('clears, when it opens, the index of ready jobs by due time that stores once kept', async () => {
    const { db, store } = await setup();
    const legacy = store.subspace.pack([9, 'work', 1_700_000_000_000, 'some-id']);
    await db.transact((tx) => tx.set(legacy, new Uint8Array(0)));
    await JobStore.open(db, { path: ['jobs'] });
    expect(await db.transact((tx) => tx.get(legacy))).toBeNull();
  });

  it('purges finished jobs older than asked, and only those', async () => {
    const { db, clock, store, queue, claim, counts } = await setup();
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) {
      const { id } = await db.transact((tx) => queue.enqueue(tx, { n }));
      const [job] = await claim();
      await db.transact((tx) => store.complete(tx, job!.id, job!.token));
      ids.push(id);
      clock.time += 1_000;
    }
    // Finished 3 s, 2 s and 1 s ago: older than 1.5 s are the first two.
    expect(await db.transact((tx) => queue.purge(tx, { olderThanMs: 1_500 }))).toBe(2);
    expect(await db.transact((tx) => Promise.all(ids.map((id) => queue.get(tx, id))))).toEqual([null, null, expect.objectContaining({ state: 'completed' })]);
    expect((await counts()).completed).toBe(1);
    await expect(db.transact((tx) => queue.purge(tx, { state: 'running' as 'dead' }))).rejects.toMatchObject({ code: 'invalid_option' });
  });

  it('fires enqueued only after the enqueuing transaction commits', async () => {
    const { db, queue } = await setup();
    const seen: string[] = [];
    queue.on('enqueued', (event) => seen.push(event.id));
    await db
      .transact(async (tx) => {
        await queue.enqueue(tx, { n: 1 });
        throw new Error('abort');
      })
      .catch(() => {});
    const { id } = await db.transact((tx) => queue.enqueue(tx, { n: 2 }));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([id]);
  });
});
