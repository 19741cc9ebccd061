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
 * about that long), and the loop has been mostly idle during writes. Every so often a write goes
 * through the pool anyway, so that the utilization keeps being measured while writes block.
 */
import {
  LOG_BLOCKING_WRITE_BUSY_MAX,
  LOG_BLOCKING_WRITE_BYTES_MAX,
  LOG_BLOCKING_WRITE_MS_MAX,
  LOG_WRITE_PROBE_EVERY,
} from '../limits.js';

/** Thresholds of a {@link LogWritePolicy} (the defaults are the limits'; `blockingBytesMax: 0` never blocks). */
export interface LogWritePolicyOptions {
  /** Largest write that may block. */
  blockingBytesMax?: number;
  /** Writes block only while their average duration is at most this many milliseconds. */
  blockingMsMax?: number;
  /** Writes block only while the event loop's average utilization during pooled writes is at most this. */
  busyMax?: number;
  /** One write in this many goes through the pool even when writes block, to keep measuring. */
  probeEvery?: number;
}

// Weight of the newest measurement in the moving averages.
const AVERAGE_WEIGHT = 1 / 8;

/** Decides, write by write, whether a durable log write blocks the event loop's thread. */
export class LogWritePolicy {
  readonly #bytesMax: number;
  readonly #msMax: number;
  readonly #busyMax: number;
  readonly #probeEvery: number;
  // Unknown (Infinity) at first, which counts as slow and busy: writes go through the pool until
  // one has been measured.
  #averageMs = Infinity;
  #averageBusy = Infinity;
  #sinceProbe = 0;
  #blockingWrites = 0;
  #pooledWrites = 0;

  /** @throws RangeError when a threshold is negative or not a number, or `probeEvery` is not a positive integer. */
  constructor(options: LogWritePolicyOptions = {}) {
    this.#bytesMax = options.blockingBytesMax ?? LOG_BLOCKING_WRITE_BYTES_MAX;
    this.#msMax = options.blockingMsMax ?? LOG_BLOCKING_WRITE_MS_MAX;
    this.#busyMax = options.busyMax ?? LOG_BLOCKING_WRITE_BUSY_MAX;
    this.#probeEvery = options.probeEvery ?? LOG_WRITE_PROBE_EVERY;
    for (const [name, value] of [
      ['blockingBytesMax', this.#bytesMax],
      ['blockingMsMax', this.#msMax],
      ['busyMax', this.#busyMax],
    ] as const) {
      if (!(value >= 0)) throw new RangeError(`LogWritePolicy: ${name} must be a non-negative number, got ${value}`);
    }
    if (!Number.isInteger(this.#probeEvery) || this.#probeEvery < 1) {
      throw new RangeError(`LogWritePolicy: probeEvery must be a positive integer, got ${this.#probeEvery}`);
    }
  }

  /** Whether the next write, of `bytes`, should block (a write that may block but probes does not). */
  shouldBlock(bytes: number): boolean {
    if (bytes > this.#bytesMax || this.#averageMs > this.#msMax || this.#averageBusy > this.#busyMax) return false;
    if (++this.#sinceProbe >= this.#probeEvery) {
      this.#sinceProbe = 0;
      return false;
    }
    return true;
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
