/**
 * Recurring jobs: a named schedule of a queue enqueues one job, with a fixed payload, at each fire
 * time of a cron expression, however many workers fire the queue's schedules at once.
 *
 * Schedules live in the job store's directory, under the key space {@link SCHEDULE_KEY_SPACE}:
 *
 * | key                           | value                                  |
 * | ----------------------------- | -------------------------------------- |
 * | `(10, queue, scheduleName)`   | the schedule ({@link ScheduleRecord}, msgpack) |
 *
 * Firing: {@link fireDueSchedules} finds due schedules with a snapshot scan, then reads each one it
 * fires again with a conflict range and, in the same transaction, enqueues the job of the fire time
 * and moves the schedule past it. Two workers firing the same schedule therefore conflict, and the
 * one that retries sees the schedule already advanced. The job's unique key
 * `cron:<name>:<fireAt>` is a second guard while that job is waiting or running.
 *
 * Catch-up policy: a schedule that missed several fire times (no worker ran for a while) fires
 * once, for the latest missed fire time, and then waits for the first fire time after now. A job
 * per missed fire time would flood the queue after an outage with runs that are all stale but one.
 *
 * Invariants:
 * 1. Each fire time of a schedule is enqueued at most once: a fire enqueues a time `t` with
 *    `lastFireAt < t <= now` and, in the same transaction, sets `lastFireAt = t` and
 *    `nextFireAt > now`, after reading the schedule with a conflict range (asserted; the race is
 *    tested in schedule.test.ts).
 * 2. `nextFireAt`, when not null, is later than `lastFireAt` (asserted when a schedule is written).
 * 3. A queue has at most {@link SCHEDULES_PER_QUEUE_MAX} schedules: creating one reads the queue's
 *    schedules with a conflict range, so concurrent creations cannot exceed it together.
 */
import assert from 'node:assert/strict';
import type { Transaction } from '@strata/core';
import { CronExpressionParser } from 'cron-parser';
import { Packr } from 'msgpackr';
import type { z } from 'zod';
import { checkBackoff } from './backoff.js';
import { JobsError } from './errors.js';
import { checkMaxAttempts, checkName, checkTimeout, type EnqueueOptions, type Enqueued } from './job-store.js';
import { SCHEDULE_FIRE_BATCH_DEFAULT, SCHEDULE_NAME_LENGTH_MAX, SCHEDULES_PER_QUEUE_MAX } from './limits.js';
import type { Queue } from './queue.js';

/**
 * The first tuple item of schedule keys in the job store's directory: `(10, queue, scheduleName)`.
 * The job store itself uses 0 to 9.
 */
export const SCHEDULE_KEY_SPACE = 10;

/** The time zone of a schedule that names none. */
export const SCHEDULE_TIMEZONE_DEFAULT = 'UTC';

/** Options of the jobs a schedule enqueues: those of {@link EnqueueOptions} that are not about timing or uniqueness. */
export type ScheduledEnqueueOptions = Omit<EnqueueOptions, 'runAt' | 'delayMs' | 'uniqueKey'>;

/** What {@link schedule} creates: a named cron expression and the payload of the jobs it enqueues. */
export interface ScheduleSpec<P> {
  /** The schedule's name, unique within its queue. */
  name: string;
  /** Five fields (minute hour day-of-month month day-of-week), six with seconds first, or an alias such as `@daily`. */
  cron: string;
  /** The payload of every job. */
  payload: P;
  /** The IANA time zone the cron expression is read in (default `'UTC'`), e.g. `'America/New_York'`. */
  timezone?: string;
  /** Options of every job the schedule enqueues. */
  enqueue?: ScheduledEnqueueOptions;
}

/** Options of {@link fireDueSchedules}. */
export interface FireDueSchedulesOptions {
  /** Most schedules fired by this call (default {@link SCHEDULE_FIRE_BATCH_DEFAULT}); the most overdue fire first. */
  limit?: number;
}

/** A schedule as stored. */
export interface ScheduleRecord<P = unknown> {
  /** The schedule's name, unique within its queue. */
  name: string;
  /** The queue its jobs go to. */
  queue: string;
  /** The cron expression: five fields, or six with seconds first, or an alias such as `@daily`. */
  cron: string;
  /** The IANA time zone the expression is read in. */
  timezone: string;
  /** The payload of every job, as given (each enqueue validates it against the queue's schema). */
  payload: P;
  /** Options of every job. */
  options: ScheduledEnqueueOptions;
  /** The next fire time (milliseconds since the epoch); null when the expression has no later one. */
  nextFireAt: number | null;
  /** The last fire time a job was enqueued for, or null before the first. */
  lastFireAt: number | null;
  /** When the schedule was first created (replacing keeps it). */
  createdAt: number;
}

const packr = new Packr({ useRecords: false, moreTypes: true });

/**
 * Creates the schedule `name` of `queue`, or replaces it: from the first fire time of `cron` after
 * now, one job with `payload` is enqueued per fire time.
 *
 * @remarks
 * The expression, the time zone, the enqueue options and the payload are all validated before
 * anything is read or written. Replacing a schedule keeps its next fire time when the expression
 * and the time zone are unchanged (so re-registering schedules at every start-up neither skips nor
 * repeats a fire); otherwise the next fire time is recomputed, never at or before the last one
 * fired. Nothing fires by itself: workers call {@link fireDueSchedules}.
 * @returns The schedule as written.
 * @throws JobsError `cron_invalid` naming the expression and the parser's reason; `payload_invalid`
 * naming the field; `invalid_option` for a malformed name, time zone or enqueue option, or when the
 * queue already has {@link SCHEDULES_PER_QUEUE_MAX} schedules.
 * @example
 * ```ts
 * await db.transact((tx) =>
 *   schedule(tx, reports, { name: 'nightly', cron: '0 2 * * *', payload: { kind: 'sales' }, timezone: 'Europe/Paris', enqueue: { priority: 5 } }),
 * );
 * ```
 */
export async function schedule<S extends z.ZodType>(tx: Transaction, queue: Queue<S>, spec: ScheduleSpec<z.input<S>>): Promise<ScheduleRecord<z.input<S>>> {
  if (typeof spec !== 'object' || spec === null) throw new JobsError('invalid_option', 'schedule takes { name, cron, payload, timezone?, enqueue? }');
  const { name, cron, payload } = spec;
  const options = spec;
  checkScheduleName(name);
  const timezone = checkTimezone(options.timezone ?? SCHEDULE_TIMEZONE_DEFAULT);
  const enqueueOptions = checkScheduledEnqueueOptions(options.enqueue ?? {});
  const now = queue.store.clock.now();
  const expression = checkCron({ queue: queue.name, name, cron, timezone, now });
  queue.parse(payload);
  const key = scheduleKey(queue, name);
  const existing = decodeSchedule(await tx.get(key));
  if (existing === null) {
    // Read with a conflict range, so that concurrent creations cannot pass the limit together (invariant 3).
    const others = await tx.getRangeAll(...scheduleRange(queue), { limit: SCHEDULES_PER_QUEUE_MAX });
    if (others.length >= SCHEDULES_PER_QUEUE_MAX) {
      throw new JobsError('invalid_option', `queue ${queue.name} already has ${SCHEDULES_PER_QUEUE_MAX} schedules, the most a queue may have (SCHEDULES_PER_QUEUE_MAX)`, {
        details: { queue: queue.name, limit: SCHEDULES_PER_QUEUE_MAX },
      });
    }
  }
  let nextFireAt: number | null;
  if (existing !== null && existing.cron === expression && existing.timezone === timezone) {
    nextFireAt = existing.nextFireAt;
  } else {
    nextFireAt = fireTimeAfter(expression, timezone, Math.max(now, existing?.lastFireAt ?? -Infinity));
    if (nextFireAt === null) {
      throw new JobsError('cron_invalid', `queue ${queue.name}: schedule ${name}: cron expression "${expression}" has no fire time after ${new Date(now).toISOString()}`, {
        details: { queue: queue.name, schedule: name, cron: expression, timezone },
      });
    }
  }
  const record: ScheduleRecord<z.input<S>> = {
    name,
    queue: queue.name,
    cron: expression,
    timezone,
    payload,
    options: enqueueOptions,
    nextFireAt,
    lastFireAt: existing?.lastFireAt ?? null,
    createdAt: existing?.createdAt ?? now,
  };
  writeSchedule(tx, key, record);
  // A sleeping worker bounds its wait by the earliest schedule: wake it to look again.
  tx.add(queue.store.signalKey(queue.name), SIGNAL_ONE);
  return record;
}

const SIGNAL_ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * Removes the schedule `name` of `queue`; false when there was none. Jobs it already enqueued stay.
 * @throws JobsError `invalid_option` for a malformed name.
 * @example
 * ```ts
 * const removed = await db.transact((tx) => unschedule(tx, reports, 'nightly'));
 * ```
 */
export async function unschedule(tx: Transaction, queue: Queue, name: string): Promise<boolean> {
  checkScheduleName(name);
  const key = scheduleKey(queue, name);
  // A conflict read: an unschedule racing a fire of the same schedule makes one of the two retry.
  if ((await tx.get(key)) === null) return false;
  tx.clear(key);
  return true;
}

/**
 * The schedules of `queue`, by name.
 * @example
 * ```ts
 * for (const entry of await db.transact((tx) => listSchedules(tx, reports))) {
 *   console.log(entry.name, entry.cron, entry.nextFireAt === null ? 'never' : new Date(entry.nextFireAt));
 * }
 * ```
 */
export async function listSchedules<S extends z.ZodType>(tx: Transaction, queue: Queue<S>): Promise<ScheduleRecord<z.input<S>>[]> {
  const rows = await tx.getRangeAll(...scheduleRange(queue), { limit: SCHEDULES_PER_QUEUE_MAX });
  return rows.map((row) => decodeSchedule(row.value) as ScheduleRecord<z.input<S>>);
}

/**
 * Fires the due schedules of `queue`: for each schedule whose next fire time has come, enqueues one
 * job due at that fire time and moves the schedule to its next fire time after now. Returns how
 * many jobs it enqueued.
 *
 * @remarks
 * Safe to call from every worker at once: each fire time of a schedule is enqueued exactly once
 * (the schedule is read with a conflict range, so concurrent firers of the same schedule conflict
 * and the one that retries finds it advanced; the job's unique key `cron:<name>:<fireAt>` guards
 * again while that job waits or runs).
 *
 * Catch-up: a schedule that missed several fire times fires once, for the latest of them (the job's
 * `runAt` is that fire time), and then waits for the first fire time after now.
 *
 * A stored payload that no longer matches the queue's schema (the schema changed since the
 * schedule was written) is still enqueued as it is, without an `enqueued` event: the worker that
 * claims the job sends it to the dead letters with the validation error, and the queue's other
 * schedules keep firing.
 * @throws JobsError `invalid_option` for a malformed `limit`.
 * @example
 * ```ts
 * const fired = await db.transact((tx) => fireDueSchedules(tx, reports));
 * ```
 */
export async function fireDueSchedules(tx: Transaction, queue: Queue, options: FireDueSchedulesOptions = {}): Promise<number> {
  const limit = options.limit ?? SCHEDULE_FIRE_BATCH_DEFAULT;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > SCHEDULES_PER_QUEUE_MAX) {
    throw new JobsError('invalid_option', `limit must be an integer from 1 to ${SCHEDULES_PER_QUEUE_MAX}, got ${String(limit)}`);
  }
  const now = queue.store.clock.now();
  // Snapshot reads: looking does not conflict with other workers; only firing does.
  const rows = await tx.getRangeAll(...scheduleRange(queue), { snapshot: true, limit: SCHEDULES_PER_QUEUE_MAX });
  const due = rows
    .map((row) => decodeSchedule(row.value)!)
    .filter((record) => record.nextFireAt !== null && record.nextFireAt <= now)
    .sort((a, b) => a.nextFireAt! - b.nextFireAt! || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .slice(0, limit);
  const keys = due.map((record) => scheduleKey(queue, record.name));
  // Conflict reads (invariant 1): a concurrent fire of one of these schedules makes one of the two retry.
  const current = await Promise.all(keys.map((key) => tx.get(key)));
  let fired = 0;
  for (let i = 0; i < keys.length; i++) {
    const record = decodeSchedule(current[i]!);
    // Unscheduled, or fired by another worker, since the snapshot scan.
    if (record === null || record.nextFireAt === null || record.nextFireAt > now) continue;
    const latest = fireTimeAtOrBefore(record.cron, record.timezone, now);
    const fireAt = latest !== null && latest > record.nextFireAt && latest <= now ? latest : record.nextFireAt;
    assert(fireAt <= now && (record.lastFireAt === null || fireAt > record.lastFireAt), `schedule ${record.name}: fire time ${fireAt} is due (now ${now}) and after the last one (${record.lastFireAt})`);
    const enqueued = await enqueueFire(tx, queue, record, fireAt);
    if (enqueued.created) fired++;
    record.lastFireAt = fireAt;
    record.nextFireAt = fireTimeAfter(record.cron, record.timezone, now);
    assert(record.nextFireAt === null || record.nextFireAt > now, `schedule ${record.name}: the next fire time ${record.nextFireAt} is after now (${now})`);
    writeSchedule(tx, keys[i]!, record);
  }
  return fired;
}

/**
 * The earliest next fire time among `queue`'s schedules (milliseconds since the epoch), or null
 * when it has none. Read without conflicts: meant to bound an idle worker's wait.
 * @example
 * ```ts
 * const at = await db.transact((tx) => nextScheduleAt(tx, reports));
 * const waitMs = at === null ? 1_000 : Math.max(0, at - Date.now());
 * ```
 */
export async function nextScheduleAt(tx: Transaction, queue: Queue): Promise<number | null> {
  const rows = await tx.getRangeAll(...scheduleRange(queue), { snapshot: true, limit: SCHEDULES_PER_QUEUE_MAX });
  let next: number | null = null;
  for (const row of rows) {
    const at = decodeSchedule(row.value)!.nextFireAt;
    if (at !== null && (next === null || at < next)) next = at;
  }
  return next;
}

// --- helpers ---------------------------------------------------------------------------------------

function scheduleKey(queue: Queue, name: string): Uint8Array {
  return queue.store.subspace.pack([SCHEDULE_KEY_SPACE, queue.name, name]);
}

function scheduleRange(queue: Queue): [Uint8Array, Uint8Array] {
  const { begin, end } = queue.store.subspace.range([SCHEDULE_KEY_SPACE, queue.name]);
  return [begin, end];
}

function decodeSchedule(bytes: Uint8Array | null): ScheduleRecord | null {
  return bytes === null ? null : (packr.unpack(bytes) as ScheduleRecord);
}

function writeSchedule(tx: Transaction, key: Uint8Array, record: ScheduleRecord): void {
  // Invariant 2.
  assert(record.nextFireAt === null || record.lastFireAt === null || record.nextFireAt > record.lastFireAt, `schedule ${record.name}: next fire time after the last one`);
  tx.set(key, packr.pack(record));
}

// Enqueues the job of one fire time. A payload the queue's schema now refuses is enqueued as it is,
// so the worker dead-letters it visibly instead of this schedule stopping every other one.
async function enqueueFire(tx: Transaction, queue: Queue, record: ScheduleRecord, fireAt: number): Promise<Enqueued> {
  const options: EnqueueOptions = { ...record.options, runAt: fireAt, uniqueKey: `cron:${record.name}:${fireAt}` };
  try {
    return await queue.enqueue(tx, record.payload, options);
  } catch (error) {
    if (!(error instanceof JobsError) || error.code !== 'payload_invalid') throw error;
    return queue.store.enqueue(tx, queue.name, record.payload, options, queue.defaults);
  }
}

function checkScheduleName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > SCHEDULE_NAME_LENGTH_MAX) {
    throw new JobsError('invalid_option', `the schedule name must be a non-empty string of at most ${SCHEDULE_NAME_LENGTH_MAX} characters, got ${JSON.stringify(name)}`);
  }
}

function checkTimezone(timezone: unknown): string {
  if (typeof timezone === 'string' && timezone.length > 0) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: timezone });
      return timezone;
    } catch {
      // Reported below.
    }
  }
  throw new JobsError('invalid_option', `timezone must be an IANA time zone name such as 'UTC' or 'America/New_York', got ${JSON.stringify(timezone)}`);
}

function checkScheduledEnqueueOptions(options: unknown): ScheduledEnqueueOptions {
  if (typeof options !== 'object' || options === null) throw new JobsError('invalid_option', 'schedule options.enqueue must be an object');
  const given = options as Record<string, unknown>;
  for (const timing of ['runAt', 'delayMs', 'uniqueKey']) {
    if (given[timing] !== undefined) {
      throw new JobsError('invalid_option', `schedule options.enqueue.${timing} is not allowed: each job's run time and unique key come from its fire time`);
    }
  }
  const out: ScheduledEnqueueOptions = {};
  if (given['priority'] !== undefined) {
    if (!Number.isSafeInteger(given['priority'])) throw new JobsError('invalid_option', `priority must be an integer, got ${String(given['priority'])}`);
    out.priority = given['priority'] as number;
  }
  if (given['maxAttempts'] !== undefined) {
    checkMaxAttempts(given['maxAttempts']);
    out.maxAttempts = given['maxAttempts'] as number;
  }
  if (given['timeoutMs'] !== undefined) {
    checkTimeout(given['timeoutMs']);
    out.timeoutMs = given['timeoutMs'] as number;
  }
  if (given['backoff'] !== undefined) out.backoff = checkBackoff(given['backoff']);
  if (given['group'] !== undefined) out.group = checkName(given['group'], 'group', true);
  return out;
}

// Validates `cron` (and that it has a first fire time) and returns it trimmed.
function checkCron(options: { queue: string; name: string; cron: unknown; timezone: string; now: number }): string {
  const { queue, name, cron, timezone, now } = options;
  const fail = (reason: string, cause?: unknown): never => {
    throw new JobsError('cron_invalid', `queue ${queue}: schedule ${name}: cron expression ${JSON.stringify(cron)} is invalid: ${reason}`, {
      details: { queue, schedule: name, cron: typeof cron === 'string' ? cron : String(cron), reason },
      cause,
    });
  };
  if (typeof cron !== 'string') return fail(`it must be a string, got ${typeof cron}`);
  const expression = cron.trim();
  // The parser reads missing fields as `*` (so '' fires every minute); a typo must not do that.
  const fields = expression.split(/\s+/).length;
  if (!expression.startsWith('@') && (expression.length === 0 || fields < 5 || fields > 6)) {
    return fail(`it must have 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), got ${expression.length === 0 ? 0 : fields}`);
  }
  try {
    CronExpressionParser.parse(expression, { currentDate: now, tz: timezone }).next();
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error), error);
  }
  return expression;
}

// The first fire time strictly after `after`, or null when the parser finds none.
function fireTimeAfter(cron: string, timezone: string, after: number): number | null {
  try {
    return CronExpressionParser.parse(cron, { currentDate: after, tz: timezone }).next().getTime();
  } catch {
    return null;
  }
}

// The latest fire time at or before `at`, or null when the parser finds none.
function fireTimeAtOrBefore(cron: string, timezone: string, at: number): number | null {
  try {
    // `prev` is strictly before its current date.
    return CronExpressionParser.parse(cron, { currentDate: at + 1, tz: timezone }).prev().getTime();
  } catch {
    return null;
  }
}
