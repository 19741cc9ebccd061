/**
 * When a log write blocks the event loop's thread instead of going to libuv's thread pool.
 *
 * @remarks
 * A durable log write handed to the thread pool costs more than the disk's time: a pool thread
 * must wake up and run, and its callback must wake the event loop again (the core package's README
 * gives the durations measured). When every client waits for that write (commits one at a time, or
 * a few clients in closed loops), the event loop has nothing to do meanwhile, and a write on its own
 * thread is pure gain; when it has work, such as other transactions to run, that work would wait
 * for the disk.
 *
 * So the policy watches the event loop while writes go through the pool: its utilization during
 * each such write (from `performance.eventLoopUtilization`) and the write's duration, each as a
 * moving average. A write blocks when it is small, writes have been fast (the loop is held at most
 * about that long), and the loop has been mostly idle during writes. While writes block, one goes
 * through the pool anyway every so often, so that the utilization keeps being measured: spaced in
 * time, not counted in writes, for each leaves a loop whose clients all wait for it idle for a
 * pool round trip. A loop that turns busy is seen within a few probes (the average's weight).
 */
import {
  LOG_BLOCKING_WRITE_BUSY_MAX,
  LOG_BLOCKING_WRITE_BYTES_MAX,
  LOG_BLOCKING_WRITE_MS_MAX,
  LOG_WRITE_PROBE_INTERVAL_MS,
} from '../limits.js';

/** Thresholds of a {@link LogWritePolicy} (the defaults are the limits'; `blockingBytesMax: 0` never blocks). */
export interface LogWritePolicyOptions {
  /** Largest write that may block. */
  blockingBytesMax?: number;
  /** Writes block only while their average duration is at most this many milliseconds. */
  blockingMsMax?: number;
  /** Writes block only while the event loop's average utilization during pooled writes is at most this. */
  busyMax?: number;
  /** While writes block, one goes through the pool at least this often (milliseconds), to keep measuring (0: never block). */
  probeIntervalMs?: number;
}

// Weight of the newest measurement in the moving averages.
const AVERAGE_WEIGHT = 1 / 8;

/** Decides, write by write, whether a durable log write blocks the event loop's thread. */
export class LogWritePolicy {
  readonly #bytesMax: number;
  readonly #msMax: number;
  readonly #busyMax: number;
  readonly #probeIntervalMs: number;
  // Unknown (Infinity) at first, which counts as slow and busy: writes go through the pool until
  // one has been measured.
  #averageMs = Infinity;
  #averageBusy = Infinity;
  // When the last pooled write started.
  #lastPooledAt = -Infinity;
  #blockingWrites = 0;
  #pooledWrites = 0;

  /** @throws RangeError when a threshold or the probe interval is negative or not a number. */
  constructor(options: LogWritePolicyOptions = {}) {
    this.#bytesMax = options.blockingBytesMax ?? LOG_BLOCKING_WRITE_BYTES_MAX;
    this.#msMax = options.blockingMsMax ?? LOG_BLOCKING_WRITE_MS_MAX;
    this.#busyMax = options.busyMax ?? LOG_BLOCKING_WRITE_BUSY_MAX;
    this.#probeIntervalMs = options.probeIntervalMs ?? LOG_WRITE_PROBE_INTERVAL_MS;
    for (const [name, value] of [
      ['blockingBytesMax', this.#bytesMax],
      ['blockingMsMax', this.#msMax],
      ['busyMax', this.#busyMax],
      ['probeIntervalMs', this.#probeIntervalMs],
    ] as const) {
      if (!(value >= 0)) throw new RangeError(`LogWritePolicy: ${name} must be a non-negative number, got ${value}`);
    }
  }

  /**
   * Whether the next write, of `bytes`, starting at `now` (milliseconds, `performance.now()`),
   * should block. A write that may block but is due to probe does not.
   */
  shouldBlock(bytes: number, now: number): boolean {
    const block =
      bytes <= this.#bytesMax &&
      this.#averageMs <= this.#msMax &&
      this.#averageBusy <= this.#busyMax &&
      now - this.#lastPooledAt < this.#probeIntervalMs;
    if (!block) this.#lastPooledAt = now;
    return block;
  }

  /** Records a write that went through the pool: its duration and the event loop's utilization meanwhile (0 to 1). */
  recordPooled(ms: number, busy: number): void {
    this.#pooledWrites++;
    this.#averageMs = average(this.#averageMs, ms);
    // A utilization that could not be measured counts as busy.
    this.#averageBusy = average(this.#averageBusy, Number.isFinite(busy) ? busy : 1);
  }

  /** Records a write that blocked, and how long it held the event loop. */
  recordBlocking(ms: number): void {
    this.#blockingWrites++;
    this.#averageMs = average(this.#averageMs, ms);
  }

  /** The moving averages, and the writes recorded of each kind (for tests and metrics). */
  get stats(): { averageMs: number; averageBusy: number; blockingWrites: number; pooledWrites: number } {
    return { averageMs: this.#averageMs, averageBusy: this.#averageBusy, blockingWrites: this.#blockingWrites, pooledWrites: this.#pooledWrites };
  }
}

// The first measurement replaces the unknown starting value outright.
function average(previous: number, sample: number): number {
  return previous === Infinity ? sample : previous + AVERAGE_WEIGHT * (sample - previous);
}
