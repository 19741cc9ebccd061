// Proves recurring jobs on a real database: each fire time of a schedule is enqueued exactly once
// however many workers fire at once, with the job due at its fire time; a long outage enqueues only
// the latest missed fire; bad expressions, time zones, options and payloads are refused naming the
// problem with nothing written; replacing keeps or recomputes the next fire time; time zones move
// fire times; and the firing limit, unschedule and nextScheduleAt behave as documented.
import { open, seededRandom, type Database } from '@strata/core';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ManualClock } from '../test/manual-clock.js';
import { JobStore, type JobRecord } from './job-store.js';
import { Queue } from './queue.js';
import { fireDueSchedules, listSchedules, nextScheduleAt, schedule, unschedule, SCHEDULE_KEY_SPACE } from './schedule.js';

const SEED = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;


const databases: Database[] = [];
afterEach(async () => {
  for (const db of databases.splice(0)) await db.close();
});

async function setup() {
  const db = await open();
  databases.push(db);
  const clock = new ManualClock({ seed: SEED, time: Date.UTC(2024, 0, 1, 12, 0, 0, 0) });
  const store = await JobStore.open(db, { path: ['jobs'], clock });
  const queue = new Queue(store, 'work', { payload: z.object({ n: z.number().int() }) });
  // `workers` concurrent transactions firing the queue's schedules, as that many workers would.
  const fire = async (workers = 1, limit?: number): Promise<number> => {
    const counts = await Promise.all(Array.from({ length: workers }, () => db.transact((tx) => fireDueSchedules(tx, queue, limit === undefined ? {} : { limit }))));
    return counts.reduce((a, b) => a + b, 0);
  };
  // Claims and completes every ready job (which also frees their unique keys); returns them.
  const drain = async (): Promise<JobRecord[]> => {
    const out: JobRecord[] = [];
    for (;;) {
      const claimed = await db.transact((tx) => store.claim(tx, 'work', { count: 64, worker: 'w', leaseMs: HOUR }));
      if (claimed.length === 0) return out;
      for (const job of claimed) await db.transact((tx) => store.complete(tx, job.id, job.token));
      out.push(...claimed);
    }
  };
  const list = () => db.transact((tx) => listSchedules(tx, queue));
  return { db, clock, store, queue, fire, drain, list };
}

describe(`schedules (SEED=${SEED})`, () => {
  it('enqueues each fire time exactly once while eight workers race, with the job due at its fire time', async () => {
    const { db, clock, queue, fire, drain } = await setup();
    const random = seededRandom(SEED);
    const periods = new Map([
      ['every-20s', 20 * SECOND],
      ['every-minute', MINUTE],
      ['every-5-minutes', 5 * MINUTE],
    ]);
    await db.transact(async (tx) => {
      await schedule(tx, queue, { name: 'every-20s', cron: '*/20 * * * * *', payload: { n: 20 } });
      await schedule(tx, queue, { name: 'every-minute', cron: '* * * * *', payload: { n: 60 } });
      await schedule(tx, queue, { name: 'every-5-minutes', cron: '*/5 * * * *', payload: { n: 300 } });
    });
    const start = clock.time;
    const seen: JobRecord[] = [];
    for (let step = 0; step < 120; step++) {
      const before = clock.time;
      // Steps shorter than the shortest period, so no fire time is skipped by the catch-up policy;
      // one in four lands exactly on the next 20 s boundary.
      clock.time += random() < 0.25 ? 20 * SECOND - (clock.time % (20 * SECOND)) : 1 + Math.floor(random() * (20 * SECOND - 1));
      const expected = [...periods].filter(([, period]) => Math.floor(clock.time / period) > Math.floor(before / period));
      expect(await fire(8), `seed ${SEED}, step ${step}`).toBe(expected.length);
      const jobs = await drain();
      expect(jobs.map((job) => job.uniqueKey).sort(), `seed ${SEED}, step ${step}`).toEqual(
        expected.map(([name, period]) => `cron:${name}:${Math.floor(clock.time / period) * period}`).sort(),
      );
      seen.push(...jobs);
      // The unique keys are free again: only the advanced schedules keep a second round from firing.
      expect(await fire(8), `seed ${SEED}, step ${step}`).toBe(0);
    }
    for (const [name, period] of periods) {
      const fireTimes: number[] = [];
      for (let at = (Math.floor(start / period) + 1) * period; at <= clock.time; at += period) fireTimes.push(at);
      const jobs = seen.filter((job) => job.uniqueKey!.startsWith(`cron:${name}:`));
      expect(jobs.map((job) => job.runAt).sort((a, b) => a - b), `seed ${SEED}, ${name}`).toEqual(fireTimes);
      expect(jobs.every((job) => (job.payload as { n: number }).n === period / SECOND)).toBe(true);
    }
    expect(await db.transact((tx) => queue.counts(tx))).toMatchObject({ completed: seen.length, ready: 0, delayed: 0 });
  });

  it('fires once while workers race without draining in between, and the unique keys hold', async () => {
    const { clock, db, queue, fire } = await setup();
    await db.transact((tx) => schedule(tx, queue, { name: 'minutely', cron: '* * * * *', payload: { n: 1 } }));
    for (let minute = 1; minute <= 30; minute++) {
      clock.time += MINUTE;
      expect(await fire(8), `minute ${minute}`).toBe(1);
      expect(await fire(8), `minute ${minute}`).toBe(0);
    }
    expect(await db.transact((tx) => queue.counts(tx))).toMatchObject({ ready: 30, delayed: 0 });
  });

  it('makes two workers with skewed clocks firing one schedule conflict, although their jobs have different unique keys', async () => {
    const { db, clock, store, queue, drain } = await setup();
    await db.transact((tx) => schedule(tx, queue, { name: 'hourly', cron: '0 * * * *', payload: { n: 1 } }));
    // Worker A's clock says 13:59:59 (the 13:00 fire is due), worker B's says 14:00:01 (14:00 is).
    clock.time = Date.UTC(2024, 0, 1, 13, 59, 59);
    const clockB = new ManualClock({ seed: SEED, time: Date.UTC(2024, 0, 1, 12, 0, 0, 0) });
    clockB.time = Date.UTC(2024, 0, 1, 14, 0, 1);
    const queueB = new Queue(await JobStore.open(db, { path: ['jobs'], clock: clockB }), 'work', { payload: z.object({ n: z.number().int() }) });
    const a = db.createTransaction();
    const b = db.createTransaction();
    expect(await fireDueSchedules(a, queue)).toBe(1);
    expect(await fireDueSchedules(b, queueB)).toBe(1);
    await a.commit();
    await expect(b.commit()).rejects.toMatchObject({ code: 'not_committed' });
    // B retries, sees 13:00 fired and 14:00 due by its clock, and fires that one.
    expect(await db.transact((tx) => fireDueSchedules(tx, queueB))).toBe(1);
    expect(await db.transact((tx) => fireDueSchedules(tx, queue))).toBe(0);
    expect((await drain()).map((job) => job.runAt).sort()).toEqual([Date.UTC(2024, 0, 1, 13), Date.UTC(2024, 0, 1, 14)]);
    expect(store.clock).toBe(clock);
  });

  it('enqueues only the latest missed fire time after a long outage, then waits for the next one after now', async () => {
    const { db, clock, queue, fire, drain, list } = await setup();
    const created = await db.transact((tx) => schedule(tx, queue, { name: 'hourly', cron: '0 * * * *', payload: { n: 1 } }));
    expect(created.nextFireAt).toBe(Date.UTC(2024, 0, 1, 13));
    clock.time += 10 * HOUR + 30 * MINUTE; // 22:30; fire times 13:00 to 22:00 were missed
    expect(await fire(4)).toBe(1);
    const [job, ...others] = await drain();
    expect(others).toEqual([]);
    expect(job).toMatchObject({ runAt: Date.UTC(2024, 0, 1, 22), uniqueKey: `cron:hourly:${Date.UTC(2024, 0, 1, 22)}`, payload: { n: 1 } });
    expect(await list()).toMatchObject([{ name: 'hourly', lastFireAt: Date.UTC(2024, 0, 1, 22), nextFireAt: Date.UTC(2024, 0, 1, 23) }]);
    expect(await fire(4)).toBe(0);
    clock.time = Date.UTC(2024, 0, 1, 23);
    expect(await fire(4)).toBe(1);
    expect((await drain()).map((j) => j.runAt)).toEqual([Date.UTC(2024, 0, 1, 23)]);
  });

  it('refuses an invalid cron expression naming it and the reason, and writes nothing', async () => {
    const { db, queue, list } = await setup();
    const bad = await db.transact((tx) => schedule(tx, queue, { name: 'bad', cron: '61 * * * *', payload: { n: 1 } })).catch((e: unknown) => e);
    expect(bad).toMatchObject({ code: 'cron_invalid', details: { cron: '61 * * * *', schedule: 'bad' } });
    expect(String(bad)).toContain('"61 * * * *"');
    expect(String(bad)).toMatch(/got value 61 expected range 0-59/);
    for (const cron of ['bogus', '', '* * * *', '* * * * * * *', '0 0 30 2 *']) {
      await expect(db.transact((tx) => schedule(tx, queue, { name: 'bad', cron, payload: { n: 1 } })), JSON.stringify(cron)).rejects.toMatchObject({ code: 'cron_invalid' });
    }
    await expect(db.transact((tx) => schedule(tx, queue, { name: 'bad', cron: '* * * *', payload: { n: 1 } }))).rejects.toThrow(/must have 5 fields .* got 4/);
    expect(await list()).toEqual([]);
    // A failed replacement leaves the existing schedule as it was.
    const good = await db.transact((tx) => schedule(tx, queue, { name: 'good', cron: '0 * * * *', payload: { n: 1 } }));
    await expect(db.transact((tx) => schedule(tx, queue, { name: 'good', cron: 'nope', payload: { n: 2 } }))).rejects.toMatchObject({ code: 'cron_invalid' });
    expect(await list()).toEqual([good]);
  });

  it('refuses an invalid payload, time zone, name or enqueue option, and writes nothing', async () => {
    const { db, queue, list } = await setup();
    const invalid = await db.transact((tx) => schedule(tx, queue, { name: 'p', cron: '* * * * *', payload: { n: 1.5 } })).catch((e: unknown) => e);
    expect(invalid).toMatchObject({ code: 'payload_invalid', details: { field: 'n' } });
    await expect(db.transact((tx) => schedule(tx, queue, { name: 'tz', cron: '* * * * *', payload: { n: 1 }, timezone: 'Mars/Olympus_Mons' }))).rejects.toThrow(/timezone .*Mars\/Olympus_Mons/);
    await expect(db.transact((tx) => schedule(tx, queue, { name: '', cron: '* * * * *', payload: { n: 1 } }))).rejects.toMatchObject({ code: 'invalid_option' });
    await expect(db.transact((tx) => schedule(tx, queue, { name: 'x'.repeat(300), cron: '* * * * *', payload: { n: 1 } }))).rejects.toMatchObject({ code: 'invalid_option' });
    await expect(db.transact((tx) => schedule(tx, queue, { name: 'o', cron: '* * * * *', payload: { n: 1 }, enqueue: { priority: 1.5 } }))).rejects.toThrow(/priority/);
    await expect(db.transact((tx) => schedule(tx, queue, { name: 'o', cron: '* * * * *', payload: { n: 1 }, enqueue: { maxAttempts: 0 } }))).rejects.toThrow(/maxAttempts/);
    const timed = { runAt: 5 } as unknown as { priority: number };
    await expect(db.transact((tx) => schedule(tx, queue, { name: 'o', cron: '* * * * *', payload: { n: 1 }, enqueue: timed }))).rejects.toThrow(/enqueue\.runAt is not allowed/);
    await expect(db.transact((tx) => fireDueSchedules(tx, queue, { limit: 0 }))).rejects.toMatchObject({ code: 'invalid_option' });
    expect(await list()).toEqual([]);
  });

  it('replaces a schedule keeping its next fire time for the same expression, recomputing it for a new one; unschedules', async () => {
    const { db, clock, queue, fire, drain, list } = await setup();
    const first = await db.transact((tx) => schedule(tx, queue, { name: 'report', cron: '0 * * * *', payload: { n: 1 }, enqueue: { priority: 3, group: 'a' } }));
    clock.time = Date.UTC(2024, 0, 1, 13, 10); // 13:00 is due but not fired yet
    // Re-registering the same expression (a deploy) keeps the due fire time and takes the new payload.
    const same = await db.transact((tx) => schedule(tx, queue, { name: 'report', cron: '0 * * * *', payload: { n: 2 } }));
    expect(same).toMatchObject({ nextFireAt: Date.UTC(2024, 0, 1, 13), createdAt: first.createdAt, payload: { n: 2 }, options: {} });
    expect(await fire()).toBe(1);
    expect(await drain()).toMatchObject([{ runAt: Date.UTC(2024, 0, 1, 13), payload: { n: 2 }, priority: 0, group: '' }]);
    // A new expression recomputes from now.
    const changed = await db.transact((tx) => schedule(tx, queue, { name: 'report', cron: '*/15 * * * *', payload: { n: 3 } }));
    expect(changed).toMatchObject({ nextFireAt: Date.UTC(2024, 0, 1, 13, 15), lastFireAt: Date.UTC(2024, 0, 1, 13), createdAt: first.createdAt });
    expect(await list()).toEqual([changed]);
    expect(await db.transact((tx) => unschedule(tx, queue, 'report'))).toBe(true);
    expect(await db.transact((tx) => unschedule(tx, queue, 'report'))).toBe(false);
    clock.time += HOUR;
    expect(await fire()).toBe(0);
    expect(await list()).toEqual([]);
  });

  it('reads the expression in the schedule time zone', async () => {
    const { db, clock, queue, fire, drain } = await setup();
    // At 2024-01-01 12:00 UTC, 09:00 in New York (UTC-5 in winter) is 14:00 UTC today; 09:00 UTC is tomorrow.
    const utc = await db.transact((tx) => schedule(tx, queue, { name: 'utc', cron: '0 9 * * *', payload: { n: 1 } }));
    const newYork = await db.transact((tx) => schedule(tx, queue, { name: 'new-york', cron: '0 9 * * *', payload: { n: 2 }, timezone: 'America/New_York' }));
    expect(utc).toMatchObject({ timezone: 'UTC', nextFireAt: Date.UTC(2024, 0, 2, 9) });
    expect(newYork).toMatchObject({ timezone: 'America/New_York', nextFireAt: Date.UTC(2024, 0, 1, 14) });
    expect(await db.transact((tx) => nextScheduleAt(tx, queue))).toBe(Date.UTC(2024, 0, 1, 14));
    clock.time = Date.UTC(2024, 0, 1, 14);
    expect(await fire(3)).toBe(1);
    expect(await drain()).toMatchObject([{ runAt: Date.UTC(2024, 0, 1, 14), payload: { n: 2 } }]);
    // In summer New York is UTC-4.
    clock.time = Date.UTC(2024, 6, 1, 12);
    const summer = await db.transact((tx) => schedule(tx, queue, { name: 'new-york-summer', cron: '0 9 * * *', payload: { n: 3 }, timezone: 'America/New_York' }));
    expect(summer.nextFireAt).toBe(Date.UTC(2024, 6, 1, 13));
  });

  it('fires the most overdue schedules first, at most limit per call, and reports the next fire time', async () => {
    const { db, clock, queue, fire, drain } = await setup();
    expect(await db.transact((tx) => nextScheduleAt(tx, queue))).toBeNull();
    await db.transact(async (tx) => {
      for (let minute = 1; minute <= 5; minute++) await schedule(tx, queue, { name: `at-${minute}`, cron: `${minute} 12 * * *`, payload: { n: minute } });
    });
    expect(await db.transact((tx) => nextScheduleAt(tx, queue))).toBe(Date.UTC(2024, 0, 1, 12, 1));
    clock.time = Date.UTC(2024, 0, 1, 12, 30);
    expect(await fire(1, 2)).toBe(2);
    expect((await drain()).map((job) => job.runAt).sort()).toEqual([Date.UTC(2024, 0, 1, 12, 1), Date.UTC(2024, 0, 1, 12, 2)]);
    expect(await db.transact((tx) => nextScheduleAt(tx, queue))).toBe(Date.UTC(2024, 0, 1, 12, 3));
    expect(await fire(1, 2)).toBe(2);
    expect(await fire(1, 2)).toBe(1);
    expect(await fire(1, 2)).toBe(0);
    expect(await db.transact((tx) => nextScheduleAt(tx, queue))).toBe(Date.UTC(2024, 0, 2, 12, 1));
  });

  it('keeps firing when a stored payload no longer matches a changed schema: the job goes to the worker as it was stored', async () => {
    const { db, clock, store, queue, fire } = await setup();
    await db.transact(async (tx) => {
      await schedule(tx, queue, { name: 'old', cron: '* * * * *', payload: { n: 1 } });
      await schedule(tx, queue, { name: 'other', cron: '* * * * *', payload: { n: 2 } });
    });
    // The next deploy requires a new field; the schedules written before it still fire.
    const changed = new Queue(store, 'work', { payload: z.object({ n: z.number().int(), tenant: z.string() }) });
    clock.time += MINUTE;
    expect(await db.transact((tx) => fireDueSchedules(tx, changed))).toBe(2);
    const jobs = await db.transact((tx) => store.claim(tx, 'work', { count: 10, worker: 'w', leaseMs: HOUR }));
    expect(jobs.map((job) => job.payload).sort((a, b) => (a as { n: number }).n - (b as { n: number }).n)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(() => changed.parse(jobs[0]!.payload)).toThrow(/tenant/);
    expect(await fire()).toBe(0);
  });

  it('runs the documented examples as written', async () => {
    const { db, clock, store } = await setup();
    const reports = new Queue(store, 'reports', { payload: z.object({ kind: z.string() }) });
    const printed: unknown[][] = [];
    const console = { log: (...items: unknown[]) => printed.push(items) };
    // schedule
    await db.transact((tx) =>
      schedule(tx, reports, { name: 'nightly', cron: '0 2 * * *', payload: { kind: 'sales' }, timezone: 'Europe/Paris', enqueue: { priority: 5 } }),
    );
    // listSchedules
    for (const entry of await db.transact((tx) => listSchedules(tx, reports))) {
      console.log(entry.name, entry.cron, entry.nextFireAt === null ? 'never' : new Date(entry.nextFireAt));
    }
    expect(printed).toEqual([['nightly', '0 2 * * *', new Date(Date.UTC(2024, 0, 2, 1))]]);
    // nextScheduleAt
    const at = await db.transact((tx) => nextScheduleAt(tx, reports));
    const waitMs = at === null ? 1_000 : Math.max(0, at - Date.now());
    expect(waitMs).toBeGreaterThanOrEqual(0);
    // fireDueSchedules
    clock.time = Date.UTC(2024, 0, 2, 1);
    const fired = await db.transact((tx) => fireDueSchedules(tx, reports));
    expect(fired).toBe(1);
    // unschedule
    const removed = await db.transact((tx) => unschedule(tx, reports, 'nightly'));
    expect(removed).toBe(true);
  });

  it('keeps schedules in the key space it documents, apart from the job store', async () => {
    const { db, store, queue } = await setup();
    await db.transact((tx) => schedule(tx, queue, { name: 'k', cron: '* * * * *', payload: { n: 1 } }));
    const rows = await db.transact((tx) => tx.getRangeAll(store.subspace.range().begin, store.subspace.range().end));
    // The schedule, and the queue's signal key (8), bumped so that sleeping workers look again.
    expect(rows.map((row) => store.subspace.unpack(row.key))).toEqual([[8, 'work'], [SCHEDULE_KEY_SPACE, 'work', 'k']]);
  });
});
