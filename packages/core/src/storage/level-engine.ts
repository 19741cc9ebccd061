/**
 * The classic-level (LevelDB) durable engine.
 *
 * @remarks
 * User keys live under the data prefix `D`; the durable version lives under the metadata prefix
 * `M`, written in the same batch as the data it describes. Batches are written without a sync of
 * LevelDB's log, and {@link LevelEngine.sync} writes one synced key of its own (`Msync`): LevelDB
 * recovers a prefix of its batches after a crash, and a synced write makes every earlier one
 * durable (its table files are synced as they are written). LevelDB's lock file makes a second process that
 * opens the same directory fail with `lock_file_failure`.
 */
import { ClassicLevel } from 'classic-level';
import { StrataError } from '../api/errors.js';
import { NO_BYTES, type KeyString } from '../util/bytes.js';
import type { EngineCursor, StorageEngine } from './storage-engine.js';

const DATA_PREFIX = 'D';
const DURABLE_VERSION_KEY = 'Mdurable_version';
// Written, synced, to make every batch before it durable; its value means nothing.
const SYNC_KEY = 'Msync';

// Keys cross into LevelDB as latin1 bytes. Only data keys are ever decoded (iterators run inside
// the data prefix), so decoding drops the one-byte prefix in the same step.
const latin1 = {
  name: 'strata-latin1',
  format: 'buffer' as const,
  encode: (key: string): Buffer => Buffer.from(key, 'latin1'),
  decode: (bytes: Buffer): string => bytes.toString("latin1", DATA_PREFIX.length),
};

type Level = ClassicLevel<string, Uint8Array>;

/** LevelDB under a directory, as a storage server's durable engine. */
export class LevelEngine implements StorageEngine {
  readonly #db: Level;
  #durableVersion: number;

  private constructor(db: Level, durableVersion: number) {
    this.#db = db;
    this.#durableVersion = durableVersion;
  }

  /**
   * Opens (creating if needed) the engine in `directory`.
   * @throws StrataError `lock_file_failure` when another process holds the directory.
   */
  static async open(directory: string): Promise<LevelEngine> {
    const db: Level = new ClassicLevel<string, Uint8Array>(directory, { keyEncoding: latin1, valueEncoding: 'view' });
    try {
      await db.open();
    } catch (cause) {
      const code = (cause as { cause?: { code?: string } }).cause?.code;
      if (code === 'LEVEL_LOCKED') {
        throw new StrataError('lock_file_failure', `data directory ${directory} is in use by another process`, {
          details: { directory },
          cause,
        });
      }
      throw new StrataError('io_error', `cannot open the storage engine in ${directory}: ${String(cause)}`, { cause });
    }
    const stored = await db.get(DURABLE_VERSION_KEY);
    const durableVersion = stored === undefined ? 0 : Number(Buffer.from(stored).readBigUInt64BE(0));
    return new LevelEngine(db, durableVersion);
  }

  get durableVersion(): number {
    return this.#durableVersion;
  }

  async get(key: KeyString): Promise<Uint8Array | null> {
    return (await this.#db.get(DATA_PREFIX + key)) ?? null;
  }

  cursor(begin: KeyString, end: KeyString, reverse: boolean): EngineCursor {
    const iterator = this.#db.iterator({ gte: DATA_PREFIX + begin, lt: DATA_PREFIX + end, reverse });
    return {
      async next(count) {
        return (await iterator.nextv(count)) as [string, Uint8Array][];
      },
      close: () => iterator.close(),
    };
  }

  async commit(entries: readonly [KeyString, Uint8Array | null][], durableVersion: number): Promise<void> {
    const batch = this.#db.batch();
    for (const [key, value] of entries) {
      if (value === null) batch.del(DATA_PREFIX + key);
      else batch.put(DATA_PREFIX + key, value);
    }
    batch.put(DURABLE_VERSION_KEY, versionBytes(durableVersion));
    await batch.write();
    this.#durableVersion = durableVersion;
  }

  async sync(): Promise<void> {
    // A key of its own: rewriting the durable version here could write an older one after a
    // commit still under way.
    await this.#db.put(SYNC_KEY, NO_BYTES, { sync: true });
  }

  async close(): Promise<void> {
    await this.#db.close();
  }
}

function versionBytes(version: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(version));
  return bytes;
}
