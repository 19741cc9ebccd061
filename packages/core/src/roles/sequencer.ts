/**
 * Sequencer: the source of commit versions and of the committed version that read versions use.
 *
 * Invariants:
 * 1. Commit versions strictly increase, across restarts too (recovery starts above the recovered version).
 * 2. A commit version tracks wall time: it is max(previous commit version + 1, clock version),
 *    where the clock version advances by about one million per second.
 * 3. The committed version only grows, and only to a version that was handed out as a commit version.
 */
import { VERSIONS_PER_SECOND } from '../limits.js';
import type { Runtime } from '../runtime/runtime.js';
import { assert } from '../util/assert.js';

/** Construction options of {@link Sequencer}. */
export interface SequencerOptions {
  runtime: Runtime;
  /** The highest version known durable at recovery; new versions start above it. */
  recoveredVersion: number;
  /** Speed of the version clock (default one million per second). */
  versionsPerSecond?: number;
}

/** Hands out commit versions and tracks the committed version. */
export class Sequencer {
  readonly #runtime: Runtime;
  readonly #versionsPerMs: number;
  readonly #startMs: number;
  readonly #baseVersion: number;
  #lastCommitVersion: number;
  #committedVersion: number;

  constructor(options: SequencerOptions) {
    this.#runtime = options.runtime;
    this.#versionsPerMs = (options.versionsPerSecond ?? VERSIONS_PER_SECOND) / 1000;
    this.#startMs = this.#runtime.now();
    this.#baseVersion = options.recoveredVersion;
    this.#lastCommitVersion = options.recoveredVersion;
    this.#committedVersion = options.recoveredVersion;
  }

  /** The version the clock has reached: the recovered version plus elapsed time. */
  clockVersion(): number {
    return this.#baseVersion + Math.floor((this.#runtime.now() - this.#startMs) * this.#versionsPerMs);
  }

  /**
   * Takes the next commit version for a batch.
   * @returns the new version and the previous one (a log orders batches by this chain).
   */
  nextCommitVersion(): { version: number; previousVersion: number } {
    const previousVersion = this.#lastCommitVersion;
    const version = Math.max(previousVersion + 1, this.clockVersion());
    assert(version > previousVersion && Number.isSafeInteger(version), 'commit versions strictly increase');
    this.#lastCommitVersion = version;
    return { version, previousVersion };
  }

  /** Records that every batch up to `version` is durable and applied; read versions may now use it. */
  reportCommitted(version: number): void {
    assert(version >= this.#committedVersion, `committed version only grows (${version} < ${this.#committedVersion})`);
    assert(version <= this.#lastCommitVersion, 'committed version was handed out');
    this.#committedVersion = version;
  }

  /** The latest committed version: the read version for a new transaction. */
  get committedVersion(): number {
    return this.#committedVersion;
  }

  /** The last commit version handed out. */
  get lastCommitVersion(): number {
    return this.#lastCommitVersion;
  }
}
