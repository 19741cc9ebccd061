// A clock for the jobs layer's tests: time moves only when a test moves it, and randomness comes
// from a seed the test prints.
import { seededRandom } from '@strata/core';
import type { JobClock } from '../src/job-store.js';

/** A {@link JobClock} the test moves by hand (`clock.time += ms`). */
export class ManualClock implements JobClock {
  time: number;
  readonly random: () => number;
  constructor(options: { seed: number; time: number }) {
    this.random = seededRandom(options.seed);
    this.time = options.time;
  }
  now(): number {
    return this.time;
  }
}
