/**
 * Rate keeper: holds back new transactions while the storage server falls behind, so an overload
 * shows as latency instead of as an ever-growing window in memory (and an ever-longer log on disk).
 *
 * Invariants:
 * 1. The pressure is the larger of two shares: of the durability lag (how far the oldest data not
 *    yet durable trails the MVCC window) in its target, and of the window's bytes in theirs. While
 *    it is at most 1, transactions start at once, as before; the keeper only acts past it.
 * 2. Past 1 it lets transactions start at a rate below what started in the step before: by the
 *    share of the step's versions the durable version moved through (what the engine kept up
 *    with), and at most 0.8 of it, step after step, until the pressure stops growing. At 2 nothing
 *    starts (the window's bytes are checked at every start, the lag at steps). Back at or under 1
 *    the rate climbs again step by step, and the limit is lifted once the pressure is under 1/2.
 * 3. Waiting transactions start in the order they asked; closing the keeper fails them with
 *    `database_closed`. A transaction that reads nothing asks when it commits (it takes no read
 *    version), so blind writes are held back too.
 *
 * @remarks
 * FoundationDB's ratekeeper limits in the same way on its storage servers' queues (bytes not yet
 * durable) and durability lag. This one does not act on a burst that the storage server later
 * moves into its engine with the main thread saturated but without falling behind for long (a lag
 * of 1.1 s and a window of about 230 MB after five seconds of inserts at about twice the
 * sustainable rate): holding that to the sustainable rate as it enters the window needs an
 * estimate of the storage server's future work, which this keeper does not make.
 */
import { RATE_KEEPER_INTERVAL_MS, RATE_KEEPER_LAG_TARGET_MS, RATE_KEEPER_WINDOW_BYTES_TARGET, VERSIONS_PER_SECOND } from '../limits.js';
import { StrataError } from '../api/errors.js';
import type { Runtime, Timer } from '../runtime/runtime.js';

/** Construction options of {@link RateKeeper}. */
export interface RateKeeperOptions {
  runtime: Runtime;
  /** The storage server: its versions, how far durability trails the window, and its window's bytes. */
  storage: StorageLoad;
  /** The lag past which the keeper slows new transactions, in milliseconds (default {@link RATE_KEEPER_LAG_TARGET_MS}). */
  lagTargetMs?: number;
  /** The window's bytes past which the keeper slows new transactions (default {@link RATE_KEEPER_WINDOW_BYTES_TARGET}). */
  bytesTarget?: number;
  /** How often the keeper looks at the storage server and sets its rate (default {@link RATE_KEEPER_INTERVAL_MS}). */
  intervalMs?: number;
}

/** What the rate keeper watches on the storage server. */
export interface StorageLoad {
  readonly version: number;
  readonly durableVersion: number;
  /** Versions by which the oldest data not yet durable trails the oldest version of the window. */
  readonly durabilityLag: number;
  readonly windowBytes: number;
}

// Each step past the target grants at most this fraction of what the step before granted; each
// step back under it allows this much more than the last limit.
const DECREASE = 0.8;
const INCREASE = 1.25;

/** Grants new transactions their start, at a limited rate while the storage server falls behind. */
export class RateKeeper {
  readonly #runtime: Runtime;
  readonly #storage: StorageLoad;
  readonly #lagTarget: number;
  readonly #bytesTarget: number;
  readonly #intervalMs: number;
  // Transactions per second; Infinity when not limiting.
  #limit = Infinity;
  #tokens = 0;
  #tokensAt: number;
  #grantedInStep = 0;
  // Whether the lag was at twice its target at the last step.
  #lagStopped = false;
  // The storage server's versions when the step began.
  #versionAt: number;
  #durableAt: number;
  #waiting: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  #stepTimer: Timer | null = null;
  #wakePending = false;
  #closed = false;

  constructor(options: RateKeeperOptions) {
    this.#runtime = options.runtime;
    this.#storage = options.storage;
    this.#versionAt = this.#storage.version;
    this.#durableAt = this.#storage.durableVersion;
    this.#lagTarget = ((options.lagTargetMs ?? RATE_KEEPER_LAG_TARGET_MS) / 1000) * VERSIONS_PER_SECOND;
    this.#bytesTarget = options.bytesTarget ?? RATE_KEEPER_WINDOW_BYTES_TARGET;
    this.#intervalMs = options.intervalMs ?? RATE_KEEPER_INTERVAL_MS;
    this.#tokensAt = this.#runtime.now();
    this.#armStep();
  }

  /** Transactions per second the keeper grants now (`Infinity` when it is not limiting). */
  get limit(): number {
    return this.#limit;
  }

  /** Transactions waiting for their start. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Asks for a new transaction's start: `null` when it may start now, otherwise a promise that
   * resolves when it may (or rejects with `database_closed`).
   */
  admit(): Promise<void> | null {
    if (this.#closed) return Promise.reject(closedError());
    if (this.#waiting.length === 0 && this.#mayStart()) {
      if (this.#limit === Infinity) {
        this.#grantedInStep++;
        return null;
      }
      this.#refill();
      if (this.#tokens >= 1) {
        this.#tokens--;
        this.#grantedInStep++;
        return null;
      }
    }
    const started = new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#scheduleWake();
    return started;
  }

  /** Stops the keeper; waiting transactions fail with `database_closed`. */
  close(): void {
    this.#closed = true;
    this.#stepTimer?.cancel();
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const waiter of waiting) waiter.reject(closedError());
  }

  #armStep(): void {
    this.#stepTimer = this.#runtime.setTimer(this.#intervalMs, () => {
      this.#step();
      if (!this.#closed) this.#armStep();
    });
  }

  // Below twice both targets (invariant 2): the window's bytes are checked at every start, for they
  // can grow by a whole step's worth of commits between steps; the lag, slower to move and dearer to
  // find, at the steps.
  #mayStart(): boolean {
    return !this.#lagStopped && this.#storage.windowBytes < 2 * this.#bytesTarget;
  }

  // Sets the rate from the pressure (invariants 1 and 2), then starts whoever the new rate allows.
  #step(): void {
    const { version, durableVersion, durabilityLag, windowBytes } = this.#storage;
    const pressure = Math.max(durabilityLag / this.#lagTarget, windowBytes / this.#bytesTarget);
    this.#lagStopped = durabilityLag >= 2 * this.#lagTarget;
    // The share of the step's new versions the engine kept up with (1 when no version was new).
    const kept = version > this.#versionAt ? Math.max(0, durableVersion - this.#durableAt) / (version - this.#versionAt) : 1;
    this.#versionAt = version;
    this.#durableAt = durableVersion;
    const granted = (this.#grantedInStep * 1000) / this.#intervalMs;
    this.#grantedInStep = 0;
    this.#refill();
    if (pressure >= 2) this.#limit = 0;
    else if (pressure > 1) this.#limit = Math.min(this.#limit, granted) * Math.min(DECREASE, kept);
    else if (pressure <= 0.5) this.#limit = Infinity;
    else if (this.#limit !== Infinity) this.#limit = Math.max(this.#limit * INCREASE, 1000 / this.#intervalMs);
    this.#release();
  }

  #refill(): void {
    const now = this.#runtime.now();
    if (this.#limit !== Infinity) {
      // At most one step's worth saved up: a limit is a rate, not a reserve.
      const burst = Math.max(1, (this.#limit * this.#intervalMs) / 1000);
      this.#tokens = Math.min(burst, this.#tokens + ((now - this.#tokensAt) / 1000) * this.#limit);
    }
    this.#tokensAt = now;
  }

  // Starts waiting transactions in order while the rate and the pressure allow.
  #release(): void {
    while (this.#waiting.length > 0 && (this.#limit === Infinity || this.#tokens >= 1) && this.#mayStart()) {
      if (this.#limit !== Infinity) this.#tokens--;
      this.#grantedInStep++;
      this.#waiting.shift()!.resolve();
    }
    if (this.#waiting.length > 0) this.#scheduleWake();
  }

  // Looks again when the next start is due, or a step from now when nothing may start: with a
  // sleep, not a background timer, so a process with a transaction waiting does not exit.
  #scheduleWake(): void {
    if (this.#wakePending) return;
    const blocked = this.#limit === 0 || !this.#mayStart();
    const delayMs = blocked ? this.#intervalMs : this.#limit === Infinity ? 0 : Math.max(1, ((1 - this.#tokens) / this.#limit) * 1000);
    this.#wakePending = true;
    void this.#runtime.sleep(delayMs).then(() => {
      this.#wakePending = false;
      if (this.#closed) return;
      this.#refill();
      this.#release();
    });
  }
}

function closedError(): StrataError {
  return new StrataError('database_closed', 'the database is closed; the transaction did not start');
}
