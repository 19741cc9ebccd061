/**
 * Sequencer: the source of commit versions and of the committed version that read versions use.
 *
 * Invariants:
 * 1. Commit versions strictly increase, across restarts too: no version above the durable lease
 *    is ever handed out, and recovery starts above the stored lease.
 * 2. A commit version tracks wall time: it is max(previous commit version + 1, clock version),
 *    where the clock version advances by about one million per second.
 * 3. The committed version only grows, and only to a version that was handed out as a commit version.
 * 4. The metadata version held is the one as of the committed version: it changes in the same step
 *    as the committed version passes the batch that set it (see `api/metadata-version.ts`).
 */
import { VERSION_LEASE_VERSIONS, VERSIONS_PER_SECOND } from '../limits.js';
import type { MetadataVersion } from '../api/metadata-version.js';
import type { Runtime } from '../runtime/runtime.js';
import type { LeaseStore } from '../storage/version-lease.js';
import { assert } from '../util/assert.js';

/** Construction options of {@link Sequencer}. */
export interface SequencerOptions {
  runtime: Runtime;
  /** Every version at or below this one may have been used before; new versions start above it. */
  recoveredVersion: number;
  /** Where the version lease is kept durably. */
  lease: LeaseStore;
  /** Speed of the version clock (default one million per second). */
  versionsPerSecond?: number;
  /** How far ahead of the clock the lease reaches (default ten seconds of versions). */
  leaseVersions?: number;
  /** Called when extending the lease fails (the sequencer then stops handing out versions). */
  onFailure?: (error: unknown) => void;
  /** The metadata version stored at the recovered version (default: never set). */
  metadataVersion?: Uint8Array | null;
}

/** Hands out commit versions and tracks the committed version. */
export class Sequencer {
  readonly #runtime: Runtime;
  readonly #lease: LeaseStore;
  readonly #versionsPerMs: number;
  readonly #leaseVersions: number;
  readonly #onFailure: (error: unknown) => void;
  readonly #startMs: number;
  readonly #baseVersion: number;
  #lastCommitVersion: number;
  #committedVersion: number;
  #leaseVersion: number;
  #metadataVersion: MetadataVersion;
  #extending: Promise<void> | null = null;

  private constructor(options: SequencerOptions, leaseVersion: number) {
    this.#runtime = options.runtime;
    this.#lease = options.lease;
    this.#versionsPerMs = (options.versionsPerSecond ?? VERSIONS_PER_SECOND) / 1000;
    this.#leaseVersions = options.leaseVersions ?? VERSION_LEASE_VERSIONS;
    this.#onFailure = options.onFailure ?? (() => {});
    this.#startMs = this.#runtime.now();
    this.#baseVersion = options.recoveredVersion;
    this.#lastCommitVersion = options.recoveredVersion;
    this.#committedVersion = options.recoveredVersion;
    this.#leaseVersion = leaseVersion;
    this.#metadataVersion = { value: options.metadataVersion ?? null, since: options.recoveredVersion };
  }

  /**
   * Starts a sequencer after recovery: versions resume above both the recovered version and the
   * stored lease, and a new lease is made durable before the first version is handed out.
   */
  static async start(options: SequencerOptions): Promise<Sequencer> {
    const stored = await options.lease.read();
    const recoveredVersion = Math.max(options.recoveredVersion, stored);
    const leaseVersion = recoveredVersion + (options.leaseVersions ?? VERSION_LEASE_VERSIONS);
    await options.lease.write(leaseVersion);
    return new Sequencer({ ...options, recoveredVersion }, leaseVersion);
  }

  /** The version the clock has reached: the recovered version plus elapsed time. */
  clockVersion(): number {
    return this.#baseVersion + Math.floor((this.#runtime.now() - this.#startMs) * this.#versionsPerMs);
  }

  /**
   * Takes the next commit version for a batch, or returns `null` when the lease must be extended
   * first (then wait for {@link Sequencer.leaseExtended} and ask again).
   */
  nextCommitVersion(): number | null {
    const previousVersion = this.#lastCommitVersion;
    const version = Math.max(previousVersion + 1, this.clockVersion());
    assert(version > previousVersion && Number.isSafeInteger(version), 'commit versions strictly increase');
    // Extend early, in the background, so commits rarely wait for the lease.
    if (version + this.#leaseVersions / 2 > this.#leaseVersion) this.#extendLease(version);
    if (version > this.#leaseVersion) return null;
    this.#lastCommitVersion = version;
    return version;
  }

  /** Resolves once the lease extension under way (if any) is durable. */
  leaseExtended(): Promise<void> {
    return this.#extending ?? Promise.resolve();
  }

  #extendLease(version: number): void {
    if (this.#extending !== null) return;
    const target = version + this.#leaseVersions;
    this.#extending = this.#lease.write(target).then(
      () => {
        this.#leaseVersion = Math.max(this.#leaseVersion, target);
        this.#extending = null;
      },
      (error) => {
        this.#onFailure(error);
        throw error;
      },
    );
    this.#extending.catch(() => {});
  }

  /**
   * Records that every batch up to `version` is durable and applied; read versions may now use it.
   * `metadataVersion` is the metadata version the batch at `version` set, if it set one.
   */
  reportCommitted(version: number, metadataVersion?: Uint8Array): void {
    assert(version >= this.#committedVersion, `committed version only grows (${version} < ${this.#committedVersion})`);
    assert(version <= this.#lastCommitVersion, 'committed version was handed out');
    this.#committedVersion = version;
    if (metadataVersion !== undefined) this.#metadataVersion = { value: metadataVersion, since: version };
  }

  /** The metadata version as of the committed version, and the version since which it has held. */
  get metadataVersion(): MetadataVersion {
    return this.#metadataVersion;
  }

  /** The latest committed version: the read version for a new transaction. */
  get committedVersion(): number {
    return this.#committedVersion;
  }

  /** The last commit version handed out. */
  get lastCommitVersion(): number {
    return this.#lastCommitVersion;
  }

  /** The highest version the durable lease allows. */
  get leaseVersion(): number {
    return this.#leaseVersion;
  }
}
