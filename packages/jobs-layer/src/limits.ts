/**
 * The jobs layer's limits and defaults, in one place.
 */

/** Lease a claim takes when the worker names none: how long a worker may go without a heartbeat. */
export const LEASE_MS_DEFAULT = 30_000;
/** Shortest lease a worker may ask for (a heartbeat runs every third of it). */
export const LEASE_MS_MIN = 100;
/** Attempts a job gets when its queue and its enqueue name none. */
export const MAX_ATTEMPTS_DEFAULT = 3;
/** Most jobs one claim transaction takes. */
export const CLAIM_BATCH_MAX = 64;
/** Most groups with ready jobs a claim looks at; it picks among them at random. */
export const CLAIM_GROUPS_SCANNED_MAX = 256;
/** Longest a claim starts from where the process's previous claim of a group left off, before it scans the group from its start again. */
export const CLAIM_HINT_MS = 250;
/** Most groups a process keeps a claim hint for; past it, hints older than {@link CLAIM_HINT_MS} are dropped, and new groups go without. */
export const CLAIM_HINTS_MAX = 10_000;
/** Most delayed jobs made ready, or expired leases reclaimed, by one maintenance transaction. */
export const MAINTENANCE_BATCH_MAX = 256;
/** Longest an idle worker waits for the queue's signal before it looks again (the bounded poll). */
export const IDLE_POLL_MS_DEFAULT = 1_000;
/** Most completions a worker commits in one transaction. */
export const COMPLETION_BATCH_MAX = 64;
/** Most jobs a worker runs at once. */
export const CONCURRENCY_MAX = 1_024;
/** Most jobs one enqueueMany call writes (one transaction's worth). */
export const ENQUEUE_BATCH_MAX = 10_000;
/** Longest error message kept on a failed job (the rest is cut). */
export const ERROR_MESSAGE_BYTES_MAX = 2_000;
/** Longest queue name, group, or unique key. */
export const NAME_LENGTH_MAX = 256;
/** Most schedules one queue may have (firing them scans them all). */
export const SCHEDULES_PER_QUEUE_MAX = 1_000;
/** Schedules one `fireDueSchedules` call fires when it is given no `limit`. */
export const SCHEDULE_FIRE_BATCH_DEFAULT = 64;
/** Longest schedule name: the unique key `cron:<name>:<fireAt>` of its jobs must fit in {@link NAME_LENGTH_MAX}. */
export const SCHEDULE_NAME_LENGTH_MAX = NAME_LENGTH_MAX - 32;
