/**
 * The runtime handed to every role: its clock, randomness and timers.
 *
 * @remarks
 * Roles reach time, randomness and timers only through this interface, so a simulator can drive
 * them from one seed. Disks are handed in separately (see `storage/`).
 */

/** A cancellable timer. */
export interface Timer {
  /** Stops the timer; its callback will not run. */
  cancel(): void;
}

/** Clock, randomness and timers for the roles. */
export interface Runtime {
  /** Monotonic milliseconds (fractional). */
  now(): number;
  /** A uniformly distributed number in [0, 1). */
  random(): number;
  /** Runs `callback` after `delayMs`. A background timer: it never keeps the process alive on its own. */
  setTimer(delayMs: number, callback: () => void): Timer;
  /** Resolves after `delayMs`. Unlike {@link Runtime.setTimer}, a pending sleep keeps the process alive. */
  sleep(delayMs: number): Promise<void>;
  /** Runs `callback` soon, after the current turn's I/O callbacks (a batching point). */
  defer(callback: () => void): void;
}

/** The real runtime: `performance.now`, `Math.random`, `setTimeout` and `setImmediate`. */
export const nodeRuntime: Runtime = {
  now: () => performance.now(),
  random: () => Math.random(),
  setTimer(delayMs, callback) {
    const handle = setTimeout(callback, delayMs);
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  },
  sleep(delayMs) {
    return new Promise((resolve) => setTimeout(resolve, delayMs));
  },
  defer(callback) {
    setImmediate(callback);
  },
};

/**
 * A small seeded pseudo-random generator (mulberry32) for tests and the simulator.
 * @returns a function yielding numbers in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
