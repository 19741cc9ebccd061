/**
 * `@strata/jobs`: lease-based job queues on Strata.
 *
 * @remarks
 * Jobs are enqueued inside the caller's transaction (they exist only if it commits), claimed by
 * workers under a lease (a deadline and a fencing token), kept alive by heartbeat, and completed in
 * a transaction that can carry the handler's own writes, so a job's effects commit exactly once.
 * Failed attempts retry after a backoff and end in the dead letters; expired leases are reclaimed
 * by any worker; groups (tenants) are served fairly, after Apple's QuiCK.
 *
 * @example
 * ```ts
 * import { open } from '@strata/core';
 * import { JobStore, Queue } from '@strata/jobs';
 * import { z } from 'zod';
 *
 * const db = await open({ path: './data' });
 * const store = await JobStore.open(db, { path: ['app', 'jobs'] });
 * const emails = new Queue(store, 'emails', { payload: z.object({ to: z.string() }) });
 * await db.transact((tx) => emails.enqueue(tx, { to: 'ada@example.com' }));
 * const worker = emails.work(async (job) => console.log('send to', job.payload.to), { concurrency: 4 });
 * ```
 * @packageDocumentation
 */
export { JobsError, JOBS_ERROR_CODES, type JobsErrorCode } from './errors.js';
export { BACKOFF_DEFAULT, backoffDelayMs, type Backoff } from './backoff.js';
export {
  JobStore,
  JOB_STATES,
  systemClock,
  type EnqueueOptions,
  type Enqueued,
  type JobClock,
  type JobCounts,
  type JobRecord,
  type JobState,
  type JobStoreOptions,
  type QueueDefaults,
} from './job-store.js';
export { Queue, type JobEvent, type JobEventName, type JobInfo, type QueueOptions } from './queue.js';
export { Worker, type Handler, type Job, type WorkerOptions } from './worker.js';
export {
  schedule,
  unschedule,
  listSchedules,
  fireDueSchedules,
  nextScheduleAt,
  SCHEDULE_TIMEZONE_DEFAULT,
  type FireDueSchedulesOptions,
  type ScheduleSpec,
  type ScheduleRecord,
  type ScheduledEnqueueOptions,
} from './schedule.js';
export * as limits from './limits.js';
