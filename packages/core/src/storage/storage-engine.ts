/**
 * The durable engine under a storage server: an ordered key-value store that holds the state of
 * the database as of one version, the durable version, recorded atomically with the data.
 */
import type { KeyString } from '../util/bytes.js';
import { BTree } from '../util/btree.js';

/** A forward or reverse cursor over a snapshot of the engine. */
export interface EngineCursor {
  /** Up to `count` more entries, in cursor order; an empty array means the end. */
  next(count: number): Promise<[KeyString, Uint8Array][]>;
  /** Releases the snapshot. */
  close(): Promise<void>;
}

/** What a storage server needs from its durable engine. */
export interface StorageEngine {
  /** The version the stored data reflects (0 for a new engine). */
  readonly durableVersion: number;
  /** The stored value of `key`. */
  get(key: KeyString): Promise<Uint8Array | null>;
  /** A cursor over keys in `[begin, end)` on a snapshot taken now. */
  cursor(begin: KeyString, end: KeyString, reverse: boolean): EngineCursor;
  /**
   * Writes `entries` (a `null` value deletes) and records `durableVersion` in the same atomic
   * batch. Reads see the batch at once; a crash may lose it (and any later one) until
   * {@link StorageEngine.sync} returns, but never part of it.
   */
  commit(entries: readonly [KeyString, Uint8Array | null][], durableVersion: number): Promise<void>;
  /** Makes every batch committed so far survive a crash. */
  sync(): Promise<void>;
  /** Closes the engine. */
  close(): Promise<void>;
}

/** The durable engine of the in-memory database: the same contract, held in a B+ tree. */
export class MemoryEngine implements StorageEngine {
  #tree = new BTree<KeyString, Uint8Array>();
  #durableVersion = 0;

  get durableVersion(): number {
    return this.#durableVersion;
  }

  async get(key: KeyString): Promise<Uint8Array | null> {
    return this.#tree.get(key) ?? null;
  }

  cursor(begin: KeyString, end: KeyString, reverse: boolean): EngineCursor {
    // clone() is copy-on-write: a cheap, stable snapshot.
    const snapshot = this.#tree.clone();
    const iterator = reverse ? snapshot.entriesReversed(end, undefined, true) : snapshot.entries(begin);
    let done = false;
    return {
      async next(count) {
        const out: [KeyString, Uint8Array][] = [];
        while (!done && out.length < count) {
          const step = iterator.next();
          if (step.done) break;
          const key = step.value[0];
          if (reverse ? key < begin : key >= end) {
            done = true;
            break;
          }
          out.push([key, step.value[1]]);
        }
        return out;
      },
      async close() {},
    };
  }

  async commit(entries: readonly [KeyString, Uint8Array | null][], durableVersion: number): Promise<void> {
    for (const [key, value] of entries) {
      if (value === null) this.#tree.delete(key);
      else this.#tree.set(key, value);
    }
    this.#durableVersion = durableVersion;
  }

  async sync(): Promise<void> {}

  async close(): Promise<void> {}
}
