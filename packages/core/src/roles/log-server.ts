/**
 * Log server: makes commit batches durable, in version order, in append-only segment files.
 *
 * Invariants:
 * 1. A batch is acknowledged only after its frame, and every earlier frame, is durable.
 * 2. Batches arrive and are acknowledged in strictly increasing version order.
 * 3. Many batches waiting together are written with one durable write (group commit). After a
 *    write, the next waits two turns of the event loop (see {@link LogOptions.defer}), so that the
 *    clients just acknowledged can send their next commits and join it.
 * 4. Recovery returns every frame of every acknowledged batch; a torn tail (the last write, cut
 *    short) is discarded; a damaged frame followed by good data (a later frame in the segment,
 *    or any later segment with data) stops recovery with `file_corrupt` and changes no file.
 * 5. A segment is deleted only when every version in it is durable on the storage server.
 */
import { LOG_SEGMENT_BYTES_MAX } from '../limits.js';
import { StrataError } from '../api/errors.js';
import type { Mutation } from '../api/mutation.js';
import { assert } from '../util/assert.js';
import type { AppendFile, LogDisk } from '../storage/log-disk.js';
import { UNWRITTEN_SPACE, decodeMutations, encodeMutationsFrame, hasFrameAfter, scanSegment } from '../storage/log-frame.js';

/** A batch as the log hands it on: its version and mutations. */
export interface LoggedBatch {
  version: number;
  mutations: readonly Mutation[];
}

/** Called for each batch once it is durable, in version order. */
export type LogListener = (batch: LoggedBatch) => void;

interface Pending {
  batch: LoggedBatch;
  frame: Uint8Array | null;
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Segment {
  name: string;
  lastVersion: number;
}

const SEGMENT_SUFFIX = '.log';
const segmentName = (firstVersion: number): string => String(firstVersion).padStart(20, '0') + SEGMENT_SUFFIX;

/** Options of {@link LogServer.open}. */
export interface LogOptions {
  /**
   * Runs a callback soon, after the I/O callbacks of the current turn (the runtime's `defer`;
   * default `setImmediate`). The log defers twice after each write before it starts the next.
   *
   * @remarks
   * Without the pause, the batches that arrived during a write are written the moment it ends, and
   * the clients it just acknowledged commit again while that next write is on the disk: with a
   * closed loop of clients, half of them wait for each write, and each write carries half of
   * their commits. Two turns let the acknowledged clients' next commits reach the log (through the
   * commit proxy, which batches once a turn), so one write carries them all. A single client
   * loses nothing: with nothing waiting, a new batch is written at once.
   */
  defer?: (callback: () => void) => void;
}

/** The result of opening a log: the server and the batches recovered from its segments. */
export interface LogRecovery {
  log: LogServer;
  /** Every batch found, oldest first. */
  batches: LoggedBatch[];
  /** Bytes of torn tail discarded, 0 when the log ended cleanly. */
  tornBytes: number;
}

/** Group-committing write-ahead log over a {@link LogDisk}. */
export class LogServer {
  readonly #disk: LogDisk;
  readonly #segments: Segment[];
  readonly #listeners: LogListener[] = [];
  readonly #writingListeners: LogListener[] = [];
  #current: AppendFile | null = null;
  #pending: Pending[] = [];
  #writing = false;
  #lastVersion: number;
  #failure: StrataError | null = null;
  #idle: (() => void) | null = null;
  readonly #defer: (callback: () => void) => void;

  private constructor(disk: LogDisk, segments: Segment[], lastVersion: number, options: LogOptions) {
    this.#disk = disk;
    this.#segments = segments;
    this.#lastVersion = lastVersion;
    this.#defer = options.defer ?? setImmediate;
  }

  /**
   * Opens the log on `disk`: reads every segment, discards a torn tail, and returns what it found.
   * @throws StrataError `file_corrupt` when a damaged frame is followed by good data.
   */
  static async open(disk: LogDisk, options: LogOptions = {}): Promise<LogRecovery> {
    const names = (await disk.list()).filter((name) => name.endsWith(SEGMENT_SUFFIX)).sort();
    const batches: LoggedBatch[] = [];
    const segments: Segment[] = [];
    let lastVersion = 0;
    let tornBytes = 0;
    // Files change only after every segment has been read, so a refused open changes nothing.
    const changes: (() => Promise<void>)[] = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const bytes = await disk.read(name);
      const scan = scanSegment(bytes, lastVersion);
      for (const frame of scan.frames) {
        batches.push({ version: frame.version, mutations: decodeMutations(frame.payload) });
        lastVersion = frame.version;
      }
      const stop = scan.stop;
      if (stop !== null && stop.reason === UNWRITTEN_SPACE && stop.searchFrom === null) {
        // Only zeros after the last frame: space allocated ahead and never written. The segment's
        // data simply ends there (a later segment may follow); give the space back.
        changes.push(() => disk.truncate(name, scan.validBytes));
      } else if (stop !== null) {
        const later = names.slice(i + 1);
        let laterData = false;
        for (const other of later) if ((await disk.read(other)).length > 0) laterData = true;
        if (laterData || (stop.searchFrom !== null && hasFrameAfter(bytes, stop.searchFrom, lastVersion))) {
          throw new StrataError(
            'file_corrupt',
            `log segment ${name} is damaged at byte ${stop.offset} (${stop.reason}) and acknowledged data follows it; refusing to open rather than lose commits`,
            { details: { segment: name, offset: stop.offset, reason: stop.reason } },
          );
        }
        tornBytes = bytes.length - scan.validBytes;
        changes.push(() => disk.truncate(name, scan.validBytes));
        for (const other of later) changes.push(() => disk.remove(other));
        if (scan.frames.length > 0) segments.push({ name, lastVersion });
        else changes.push(() => disk.remove(name));
        break;
      }
      if (scan.frames.length > 0) segments.push({ name, lastVersion });
      else changes.push(() => disk.remove(name));
    }
    for (const change of changes) await change();
    return { log: new LogServer(disk, segments, lastVersion, options), batches, tornBytes };
  }

  /** The version of the newest batch pushed. */
  get lastVersion(): number {
    return this.#lastVersion;
  }

  /**
   * Registers a listener for durable batches (the storage server pulls through this), and
   * optionally one called with each batch as soon as its write is under way, before it is durable
   * (an in-process storage server stages it then, so that work overlaps the disk's).
   */
  subscribe(listener: LogListener, onWriting?: LogListener): void {
    this.#listeners.push(listener);
    if (onWriting !== undefined) this.#writingListeners.push(onWriting);
  }

  /**
   * Appends a batch; resolves once it is durable and every listener has seen it.
   * A batch without mutations advances the version and writes nothing.
   * @throws StrataError `io_error` when the disk fails; the log then refuses every later batch.
   */
  push(batch: LoggedBatch): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    assert(batch.version > this.#lastVersion, `log batches arrive in version order (${batch.version} <= ${this.#lastVersion})`);
    this.#lastVersion = batch.version;
    const frame = batch.mutations.length > 0 ? encodeMutationsFrame(batch.version, batch.mutations) : null;
    const durable = new Promise<void>((resolve, reject) => {
      this.#pending.push({ batch, frame, resolve, reject });
      if (!this.#writing) void this.#writeGroups();
    });
    try {
      for (const listener of this.#writingListeners) listener(batch);
    } catch (cause) {
      // The batch's write is under way, but a listener could not take it: it must not be applied
      // later. The log fails; this batch and every later one are refused when their write ends.
      this.#failure ??= new StrataError('internal_error', `a batch being written could not be staged: ${String(cause)}`, { cause });
    }
    return durable;
  }

  async #writeGroups(): Promise<void> {
    this.#writing = true;
    let first = true;
    while (this.#pending.length > 0 && this.#failure === null) {
      // After a write, let the clients it acknowledged commit again before writing the next group
      // (invariant 3): otherwise their commits wait for a write of their own.
      if (!first) {
        for (let turn = 0; turn < 2; turn++) await new Promise<void>((resolve) => this.#defer(resolve));
        if (this.#failure !== null) {
          // The log failed meanwhile: nothing more is written.
          for (const pending of this.#pending) pending.reject(this.#failure);
          this.#pending = [];
          break;
        }
      }
      first = false;
      const group = this.#pending;
      this.#pending = [];
      try {
        await this.#writeGroup(group);
      } catch (cause) {
        this.#failure ??= new StrataError('io_error', `writing the log failed: ${String(cause)}`, { cause });
      }
      if (this.#failure !== null) {
        for (const pending of group) pending.reject(this.#failure);
        for (const pending of this.#pending) pending.reject(this.#failure);
        this.#pending = [];
        break;
      }
      try {
        for (const pending of group) {
          for (const listener of this.#listeners) listener(pending.batch);
          pending.resolve();
        }
      } catch (cause) {
        // A listener (the storage server) could not take a durable batch: fail loudly. The batches
        // are durable, so their commits may well have happened.
        this.#failure = new StrataError('internal_error', `a durable batch could not be applied: ${String(cause)}`, { cause });
        for (const pending of group) pending.reject(this.#failure);
        for (const pending of this.#pending) pending.reject(this.#failure);
        this.#pending = [];
        break;
      }
    }
    this.#writing = false;
    if (this.#idle) this.#idle();
  }

  async #writeGroup(group: Pending[]): Promise<void> {
    let bytes = 0;
    let firstVersion = 0;
    let lastVersion = 0;
    for (const pending of group) {
      if (pending.frame === null) continue;
      if (bytes === 0) firstVersion = pending.batch.version;
      bytes += pending.frame.length;
      lastVersion = pending.batch.version;
    }
    if (bytes === 0) return;
    const data = new Uint8Array(bytes);
    let offset = 0;
    for (const pending of group) {
      if (pending.frame === null) continue;
      data.set(pending.frame, offset);
      offset += pending.frame.length;
    }
    if (this.#current === null || (this.#current.size > 0 && this.#current.size + bytes > LOG_SEGMENT_BYTES_MAX)) {
      if (this.#current !== null) await this.#current.close();
      const name = segmentName(firstVersion);
      this.#current = await this.#disk.create(name);
      this.#segments.push({ name, lastVersion: 0 });
    }
    await this.#current.appendDurable(data);
    this.#segments[this.#segments.length - 1]!.lastVersion = lastVersion;
  }

  /**
   * Deletes the segments whose every version is at or below `version` (durable elsewhere).
   * The segment being appended to is kept.
   */
  async popThrough(version: number): Promise<void> {
    while (this.#segments.length > 1 && this.#segments[0]!.lastVersion <= version) {
      const segment = this.#segments.shift()!;
      await this.#disk.remove(segment.name);
    }
  }

  /** Waits for every pushed batch to be durable, then closes the current segment. */
  async close(): Promise<void> {
    if (this.#writing) await new Promise<void>((resolve) => (this.#idle = resolve));
    this.#idle = null;
    if (this.#current !== null) await this.#current.close();
    this.#current = null;
  }
}
