/**
 * Every limit of the core in one place, with FoundationDB's values as defaults.
 *
 * @remarks
 * The README lists these. Each queue, batch and cache in the core has a maximum here.
 * @packageDocumentation
 */

/** Largest key, in bytes (FoundationDB: 10,000). */
export const KEY_SIZE_MAX = 10_000;
/** Largest value, in bytes (FoundationDB: 100,000). */
export const VALUE_SIZE_MAX = 100_000;
/** Largest transaction: mutations plus conflict ranges, in bytes (FoundationDB: 10,000,000). */
export const TRANSACTION_SIZE_MAX = 10_000_000;
/** Versions advance at about this many per second of wall time. */
export const VERSIONS_PER_SECOND = 1_000_000;
/** The MVCC window: reads and conflict checks reach this many versions back (five seconds). */
export const MVCC_WINDOW_VERSIONS = 5_000_000;
/** The sequencer's durable version lease reaches this far ahead of the versions it hands out (ten seconds). */
export const VERSION_LEASE_VERSIONS = 10_000_000;
/** Most watches outstanding on one database (FoundationDB's default: 10,000). */
export const WATCHES_MAX = 10_000;
/** Most transactions in one commit batch. */
export const COMMIT_BATCH_TRANSACTIONS_MAX = 4_096;
/** Most mutation bytes in one commit batch (a single transaction may exceed it and forms its own batch). */
export const COMMIT_BATCH_BYTES_MAX = 16 * 1024 * 1024;
/** Most commit requests queued at the commit proxy before new ones are refused with `server_overloaded`. */
export const COMMIT_QUEUE_MAX = 100_000;
/** A log segment file is closed and a new one started once it grows past this size. */
export const LOG_SEGMENT_BYTES_MAX = 64 * 1024 * 1024;
/**
 * A log segment is extended this far ahead of its last frame, with zeros: in the background once
 * less than half of this is left, or in the same write that crosses its end. Later writes then
 * overwrite allocated space and need no file-size change.
 */
export const LOG_PREALLOCATE_BYTES = 4 * 1024 * 1024;
/** Largest durable log write that may block the event loop's thread (see `LogWritePolicy`). */
export const LOG_BLOCKING_WRITE_BYTES_MAX = 64 * 1024;
/** Log writes block the event loop only while they have taken at most this many milliseconds on average. */
export const LOG_BLOCKING_WRITE_MS_MAX = 1;
/**
 * Log writes block the event loop only while its utilization during the writes that go through
 * libuv's pool has been at most this on average: it would mostly have waited for them anyway. A
 * loop serving reads is busy nearly all the time and keeps its writes pooled; one that mostly
 * waits for commits (0.2-0.6 with 16 to 128 committing clients) blocks them.
 */
export const LOG_BLOCKING_WRITE_BUSY_MAX = 0.75;
/**
 * While log writes block, one goes through libuv's pool at least this often (in milliseconds), to
 * keep measuring the event loop: each such write costs the loop a pool round trip (0.3-4 ms
 * under single-record commits), so probes are spaced in time, not counted in writes.
 */
export const LOG_WRITE_PROBE_INTERVAL_MS = 100;
/** The storage server moves versions older than the window into its durable engine at this interval. */
export const STORAGE_DURABILITY_INTERVAL_MS = 250;
/**
 * A flush into the durable engine stops at the first commit batch that brings its keys to this many
 * (keys under a large range clear come on top). Each flush runs on the main thread for about a
 * microsecond or two per key between its awaits, so a small bound keeps reads and commits from
 * waiting behind one (after a burst of writes, a bound of 50,000 held the event loop for tens of
 * milliseconds at a time); each flush is one synced engine write, a fraction of a millisecond.
 */
export const STORAGE_DURABLE_BATCH_KEYS_MAX = 1_024;
/**
 * Most keys one generation of the resolver's point writes holds: small enough that its hash map
 * stays in the processor's caches, large enough that a read rarely checks more than two.
 */
export const RESOLVER_POINT_GENERATION_KEYS_MAX = 1_024;
/** Bytes of a key that name its group among the keys waiting for an ordered index (see `util/pending-keys.ts`). */
export const PENDING_KEYS_PREFIX_BYTES = 4;
/** Most groups of keys waiting for an ordered index kept apart; beyond it, a range read indexes every waiting key. */
export const PENDING_KEYS_GROUPS_MAX = 64;
/**
 * Keys a group of pending keys holds before a range read that lies inside it splits it by the
 * next four bytes (see `util/pending-keys.ts`).
 */
export const PENDING_KEYS_SPLIT_KEYS_MIN = 4_096;
/** Most subgroups a split group of pending keys keeps apart; keys beyond them stay in the group. */
export const PENDING_KEYS_SUBGROUPS_MAX = 16;
/** Default size of the storage server's cache of durable values, in bytes. */
export const STORAGE_CACHE_BYTES_DEFAULT = 64 * 1024 * 1024;
/**
 * Keys the storage server's cache may hold before putting them in key order (it orders them
 * lazily, for range reads and eviction, and at this many in one go: a few milliseconds).
 */
export const RANGE_CACHE_UNORDERED_KEYS_MAX = 8_192;
/**
 * The rate keeper slows new transactions once the storage server's durable version trails the
 * MVCC window by more than this, and stops them at twice it. A load the main thread cannot keep up
 * with, moving a burst into the engine, stays well under it (1.1 s after five seconds of inserts at
 * about twice the sustainable rate); an engine that stops keeping up (a stalled disk) does not.
 */
export const RATE_KEEPER_LAG_TARGET_MS = 2_000;
/**
 * The rate keeper slows new transactions once the storage server's window holds more than this
 * many bytes (keys, values and a fixed overhead per entry), and stops them at twice it.
 * FoundationDB's ratekeeper aims its storage servers' queues at 1 GB in the same way.
 */
export const RATE_KEEPER_WINDOW_BYTES_TARGET = 1024 * 1024 * 1024;
/** How often the rate keeper looks at the storage server and sets its rate. */
export const RATE_KEEPER_INTERVAL_MS = 250;
/** When idle, the commit proxy commits an empty batch this often, so versions and the MVCC window advance. */
export const EMPTY_BATCH_INTERVAL_MS = 100;
/** Rows fetched by the first batch of a range read; later batches double up to {@link RANGE_BATCH_ROWS_MAX}. */
export const RANGE_BATCH_ROWS_FIRST = 256;
/** Most rows fetched by one batch of a range read. */
export const RANGE_BATCH_ROWS_MAX = 8_192;
/** How long a read waits for a storage server to reach its read version before failing with `future_version`. */
export const FUTURE_VERSION_WAIT_MS = 1_000;
/** Retry loop: first backoff delay. */
export const RETRY_DELAY_FIRST_MS = 10;
/** Retry loop: largest backoff delay. */
export const RETRY_DELAY_MAX_MS = 1_000;
/** Largest protocol message a served database or its client accepts (a transaction is at most 10 MB, plus encoding). */
export const NETWORK_MESSAGE_BYTES_MAX = 32 * 1024 * 1024;
/** How long `connect` waits for the server's greeting. */
export const CONNECT_TIMEOUT_MS = 10_000;
