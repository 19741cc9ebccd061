/**
 * The online index build: an index added to a record type that already holds records is built
 * over those records in bounded transactions while writers keep running, then made readable.
 *
 * An index that is not readable has a state key `(3, type, index)` in the store's directory holding
 * `{ state: 'write_only', built }`, where `built` is the packed primary key of the last record the
 * build has indexed (`null`: none yet). The built range is every primary key `<= built` in tuple
 * order. No state key means the index is readable. As in FoundationDB's Record Layer, writers
 * maintain a write-only index only inside its built range, and the build moves the range forward.
 *
 * Invariants:
 * 1. In every committed state, a write-only index holds exactly the entries (value and min/max
 *    entries, count and sum totals) of the stored records whose primary key is in its built range;
 *    a readable index holds exactly those of all stored records.
 * 2. A writer maintains a write-only index for a record iff the record's primary key is in the
 *    built range it read from the state key; the read is not a snapshot read, so a build
 *    transaction that moves the range after the writer's read version makes the writer conflict
 *    and retry.
 * 3. A build transaction reads the state key and then the records after `built` (not snapshot
 *    reads), adds their entries, and stores the new `built` (the last record it indexed) in the
 *    same transaction; a writer that changed one of those records after its read version makes it
 *    conflict and retry. Because of 2 and 3 every writer and build transaction that touch the same
 *    record or range are serialized, and each preserves 1 in serial order: a writer inside the range
 *    replaces the record's entries, one outside changes none; the build adds the entries of exactly
 *    the records it moves the range over. Nothing else writes the index.
 * 4. The build makes the index readable (clears the state key) only in a transaction that read
 *    every record after `built` and found none: by 1 the index then holds every record's entries.
 * 5. A unique index never holds two records with the same values: writers check inside the built
 *    range (as for a readable index), and the build checks each record it indexes against the
 *    entries already there (its own writes included); a duplicate fails the build with
 *    `unique_violation` and leaves the index write-only, its progress at the last committed batch.
 * 6. Every build transaction indexes at most `transactionRecords` records and stops taking new
 *    records after `transactionMs`; every build loop ends, because each transaction either moves
 *    `built` forward over at least one record or makes the index readable (or `transactionsMax`
 *    stops it).
 */
import { nodeRuntime, type Database, type Transaction } from '@strata/core';
import { Packr } from 'msgpackr';
import { pack, unpack, type TupleItem } from '@strata/tuple';
import type { Collection, RecordStore } from './record-store.js';
import type { RecordTypeDefinition, SchemaTypes } from './schema.js';

/** Most records one build transaction indexes, by default. */
export const BUILD_TRANSACTION_RECORDS = 500;
/** Longest one build transaction keeps taking records, in milliseconds, by default. */
export const BUILD_TRANSACTION_MS = 1_000;

// Tuple codes of the store layout (see record-store.ts); repeated here to avoid a load-order cycle.
const RECORDS = 1;
const INDEX_STATES = 3;

const packr = new Packr({ useRecords: false });

/** Whether queries may use an index, and how far a build has come. */
export interface IndexState {
  /** `readable`: complete, used by queries; `write_only`: maintained inside the built range only. */
  readonly state: 'readable' | 'write_only';
  /** The packed primary key of the last record the build has indexed (`null`: none, or readable). */
  readonly built: Uint8Array | null;
}

/** @internal The stored form of a write-only index's state. */
export function encodeIndexState(state: IndexState): Uint8Array {
  return packr.pack({ state: state.state, built: state.built === null ? null : Buffer.from(state.built) });
}

/** @internal Reads a state written by {@link encodeIndexState}. */
export function decodeIndexState(bytes: Uint8Array): IndexState {
  const value = packr.unpack(bytes) as { state: string; built: Uint8Array | null };
  if (value.state !== 'write_only' && value.state !== 'readable') throw new Error(`assertion failed: unknown index state ${String(value.state)}`);
  return { state: value.state, built: value.built === null ? null : new Uint8Array(value.built) };
}

/** Options of {@link RecordStore.buildIndexes}. */
export interface BuildIndexesOptions {
  /** Most records one transaction indexes (default {@link BUILD_TRANSACTION_RECORDS}). */
  transactionRecords?: number;
  /** Longest one transaction keeps taking records (default {@link BUILD_TRANSACTION_MS}). */
  transactionMs?: number;
  /** Build only these indexes, as `'type.index'` (default: every write-only index). */
  indexes?: readonly string[];
  /** Stop after this many build transactions, the build unfinished (default: no limit). */
  transactionsMax?: number;
  /** The clock, in milliseconds (default: the real one). */
  now?: () => number;
}

/** What {@link RecordStore.buildIndexes} did. */
export interface BuildIndexesResult {
  /** The indexes made readable, as `'type.index'`. */
  built: string[];
  /** The write-only indexes not finished (only when `transactionsMax` stopped the build). */
  pending: string[];
  /** Build transactions committed. */
  transactions: number;
  /** Records indexed. */
  records: number;
}

/** @internal The implementation of {@link RecordStore.buildIndexes}. */
export async function buildIndexes(db: Database, store: RecordStore<SchemaTypes>, options: BuildIndexesOptions = {}): Promise<BuildIndexesResult> {
  const transactionRecords = options.transactionRecords ?? BUILD_TRANSACTION_RECORDS;
  const transactionMs = options.transactionMs ?? BUILD_TRANSACTION_MS;
  const transactionsMax = options.transactionsMax ?? Infinity;
  const now = options.now ?? nodeRuntime.now;
  if (!Number.isSafeInteger(transactionRecords) || transactionRecords < 1) throw new RangeError('buildIndexes: transactionRecords must be a positive integer');
  // The write-only indexes of this schema, as stored (another process may have built some).
  const pending = await db.transact(async (tx) => {
    const { begin, end } = store.subspace.range([INDEX_STATES]);
    const out: [string, string][] = [];
    for (const row of await tx.getRangeAll(begin, end)) {
      const [, type, indexName] = store.subspace.unpack(row.key) as [number, string, string];
      if (store.schema.types[type]?.indexes[indexName] === undefined) continue;
      if (options.indexes !== undefined && !options.indexes.includes(`${type}.${indexName}`)) continue;
      out.push([type, indexName]);
    }
    return out;
  });
  const result: BuildIndexesResult = { built: [], pending: [], transactions: 0, records: 0 };
  for (const [type, indexName] of pending) {
    // Each round commits one build transaction that moves `built` forward or makes the index
    // readable (invariant 6), so the loop ends.
    for (;;) {
      if (result.transactions >= transactionsMax) {
        result.pending.push(`${type}.${indexName}`);
        break;
      }
      const step = await db.transact((tx) => buildStep(tx, store, type, indexName, transactionRecords, now() + transactionMs, now));
      result.transactions++;
      result.records += step.records;
      if (step.readable) {
        store.markReadable(type, indexName);
        result.built.push(`${type}.${indexName}`);
        break;
      }
    }
  }
  return result;
}

/** One build transaction (invariants 3 and 4): indexes the next records after `built`, or makes the index readable. */
async function buildStep(
  tx: Transaction,
  store: RecordStore<SchemaTypes>,
  type: string,
  indexName: string,
  recordsMax: number,
  deadline: number,
  now: () => number,
): Promise<{ records: number; readable: boolean }> {
  const state = await store.readIndexState(tx, type, indexName);
  if (state.state === 'readable') return { records: 0, readable: true };
  const subspace = store.subspace;
  const all = subspace.range([RECORDS, type]);
  const begin = state.built === null ? all.begin : subspace.range([RECORDS, type, ...(unpack(state.built) as TupleItem[])]).end;
  const collection = (store.bind(tx) as Record<string, Collection<RecordTypeDefinition>>)[type]!;
  const keyLength = store.schema.types[type]!.primaryKey.length;
  let records = 0;
  let last: Uint8Array | null = null;
  // The record being assembled from its chunks.
  let current: { key: TupleItem[]; packed: Uint8Array; chunks: Uint8Array[] } | null = null;
  const finish = async (): Promise<void> => {
    if (current === null) return;
    const bytes = current.chunks.length === 1 ? current.chunks[0]! : Buffer.concat(current.chunks);
    await collection.backfill(indexName, current.key, bytes);
    last = current.packed;
    records++;
    current = null;
  };
  // Stopping the iteration narrows the read conflict range to what was read (the core's getRange).
  for await (const row of tx.getRange(begin, all.end)) {
    const items = subspace.unpack(row.key) as TupleItem[];
    const key = items.slice(2, 2 + keyLength);
    const packed = pack(key);
    if (current === null || Buffer.compare(current.packed, packed) !== 0) {
      await finish();
      if (records >= recordsMax || (records > 0 && now() > deadline)) break;
      current = { key, packed, chunks: [] };
    }
    current.chunks.push(row.value);
  }
  if (current !== null) await finish();
  if (records === 0) {
    tx.clear(store.indexStateKey(type, indexName));
    return { records, readable: true };
  }
  tx.set(store.indexStateKey(type, indexName), encodeIndexState({ state: 'write_only', built: last }));
  return { records, readable: false };
}
