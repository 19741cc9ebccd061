/**
 * `copy`: every mapped table of a PostgreSQL database into a record store, from one consistent
 * snapshot, in bounded transactions, resumable.
 *
 * Invariants:
 * 1. Every table is read in one snapshot, exported by a leading connection and shared by the
 *    copying connections (`pg_export_snapshot` / `SET TRANSACTION SNAPSHOT`), so the copy is the
 *    database as of one instant, references between tables included.
 * 2. Rows are copied in primary key order, each batch in one Strata transaction that also writes
 *    the table's checkpoint: the primary key (as PostgreSQL text) of the batch's last row and the
 *    rows copied so far. A batch and its checkpoint commit together or not at all, so a copy
 *    resumed after any interruption continues after the last committed row: no row is copied twice
 *    and none is skipped.
 * 3. A batch's transaction reads the checkpoint first and writes only if it is still the one the
 *    batch continues from: a retry after `commit_unknown_result` whose first attempt committed
 *    writes nothing.
 * 4. Sequences are set after every table is copied, past both the source sequence's last value
 *    and the largest value copied into their field.
 *
 * A resumed copy reads the rows it has not copied yet in a new snapshot: when the source changed
 * between the two runs, the result mixes two instants. Run `verify` afterwards; it names every row
 * that differs.
 */
import type { Database, Transaction } from '@strata/core';
import { DirectoryLayer, Subspace, type DirectoryPath } from '@strata/tuple';
import { Packr } from 'msgpackr';
import type pg from 'pg';
import { RecordLayerError } from '../errors.js';
import { RecordStore } from '../record-store.js';
import type { SchemaTypes } from '../schema.js';
import { beginSnapshot, connectSource, countRows, qualifiedName, quoteIdent, readTable, type SourceConnection, type SourceKey, type SourceRow } from './source.js';
import type { MappedSchema, TableMapping } from './type-map.js';

/** Rows one copy transaction writes at most (default of {@link CopyOptions.batchRows}). */
export const COPY_BATCH_ROWS = 500;
/** Characters of source text one copy transaction carries at most (well inside the transaction size limit). */
export const COPY_BATCH_TEXT = 2_000_000;
/** Source connections copying tables side by side (default of {@link CopyOptions.connections}). */
export const COPY_CONNECTIONS = 3;
/** The directory, under the store's, that holds the copy's checkpoints. */
export const COPY_STATE_DIRECTORY = 'strata-pg copy';

/** Progress of one table, reported after each committed batch. */
export interface CopyProgress {
  /** `schema.table` in PostgreSQL. */
  table: string;
  /** The record type it is copied into. */
  typeName: string;
  /** Rows copied so far, earlier runs included. */
  rows: number;
  /** Rows in the table in the snapshot. */
  total: number;
  /** Rows per second in this run. */
  rowsPerSecond: number;
  /** Seconds left at that rate; null before the first batch or when the rate is zero. */
  etaSeconds: number | null;
  /** Whether the table is done. */
  done: boolean;
}

/** Options of {@link copy}. */
export interface CopyOptions {
  /** The record store's directory. */
  path: DirectoryPath;
  /** Rows per transaction (default {@link COPY_BATCH_ROWS}). */
  batchRows?: number;
  /** Source connections copying tables side by side (default {@link COPY_CONNECTIONS}). */
  connections?: number;
  /** Called after each committed batch and when a table is done. */
  onProgress?: (progress: CopyProgress) => void;
  /** Stops the copy between batches (it can be resumed); the copy rejects with the signal's reason. */
  signal?: AbortSignal;
  /** The directory layer (default: the standard one). */
  directoryLayer?: DirectoryLayer;
}

/** What {@link copy} did for one table. */
export interface CopiedTable {
  table: string;
  typeName: string;
  /** Rows in the record store for this table after the copy. */
  rows: number;
  /** Rows an earlier, interrupted run had already copied. */
  resumedAfter: number;
}

/** The result of {@link copy}. */
export interface CopyResult {
  tables: CopiedTable[];
  /** Each record store sequence set, with the last value it now holds. */
  sequences: { name: string; last: bigint }[];
}

/** A table's checkpoint (invariant 2). */
interface Checkpoint {
  after: SourceKey | null;
  rows: number;
  done: boolean;
}

const packr = new Packr({ useRecords: false });

/**
 * Copies every table of `mapped` from PostgreSQL into the record store at `options.path` of `db`.
 *
 * @remarks
 * The store is opened (created if needed) with `mapped.schema`. References are not checked while
 * rows arrive (tables may refer to each other in a cycle); they hold in the snapshot, and
 * {@link verify} compares every row. Calling `copy` again after an interruption resumes it; calling
 * it after it finished copies nothing (a finished table is not re-read).
 * @throws RecordLayerError `record_invalid` naming the table and the column for a value the
 * mapping cannot keep exactly (the batch is not written; the copy stops); the driver's error for a
 * failed query.
 * @example
 * ```ts
 * const model = await introspect(client);
 * const mapped = mapSchema(model);
 * const result = await copy('postgres://localhost/app', db, mapped, { path: ['app'] });
 * ```
 */
export async function copy(source: SourceConnection, db: Database, mapped: MappedSchema, options: CopyOptions): Promise<CopyResult> {
  const batchRows = positive(options.batchRows, 'batchRows', COPY_BATCH_ROWS);
  const connections = positive(options.connections, 'connections', COPY_CONNECTIONS);
  const store = await RecordStore.open(db, { path: options.path, schema: mapped.schema, ...(options.directoryLayer ? { directoryLayer: options.directoryLayer } : {}) });
  const state = await openState(db, options);

  const leader = await connectSource(source);
  const workers: pg.Client[] = [];
  try {
    const snapshot = await beginSnapshot(leader);
    // Largest tables first, so the long copies start early.
    const sizes = await leader.query<string[]>({
      text: `SELECT c.oid::regclass::text, c.reltuples::text FROM pg_catalog.pg_class c WHERE c.oid = ANY($1::regclass[])`,
      values: [mapped.tables.map(qualifiedName)],
      rowMode: 'array',
    });
    const estimate = new Map(sizes.rows.map(([name, tuples]) => [name!, Number(tuples)]));
    const queue = [...mapped.tables].sort((a, b) => (estimate.get(qualifiedName(b)) ?? 0) - (estimate.get(qualifiedName(a)) ?? 0));
    for (let i = 0; i < Math.min(connections, queue.length); i++) {
      const worker = await connectSource(source);
      workers.push(worker);
      await beginSnapshot(worker, snapshot);
    }
    const copied: CopiedTable[] = [];
    // The first failure stops every worker at its next batch, and the copy returns only once all
    // have stopped: nothing writes to the store after copy settles.
    const failed = new AbortController();
    const signal = options.signal === undefined ? failed.signal : AbortSignal.any([options.signal, failed.signal]);
    const outcomes = await Promise.allSettled(
      workers.map(async (worker) => {
        try {
          for (let table = queue.shift(); table !== undefined; table = queue.shift()) {
            copied.push(await copyTable(worker, db, store, state, table, batchRows, { ...options, signal }));
          }
        } catch (error) {
          failed.abort(error);
          throw error;
        }
      }),
    );
    const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    if (failure !== undefined) throw options.signal?.aborted === true ? options.signal.reason : failure.reason;
    const sequences = await setSequences(leader, db, store, mapped);
    copied.sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0));
    return { tables: copied, sequences };
  } finally {
    for (const client of [leader, ...workers]) await client.end().catch(() => undefined);
  }
}

async function openState(db: Database, options: CopyOptions): Promise<Subspace> {
  const directories = options.directoryLayer ?? new DirectoryLayer();
  const directory = await directories.createOrOpen(db, [...options.path, COPY_STATE_DIRECTORY]);
  return new Subspace(directory.prefix);
}

async function readCheckpoint(tx: Transaction, state: Subspace, table: TableMapping): Promise<Checkpoint> {
  const bytes = await tx.get(state.pack([table.schema, table.table]));
  return bytes === null ? { after: null, rows: 0, done: false } : (packr.unpack(bytes) as Checkpoint);
}

function writeCheckpoint(tx: Transaction, state: Subspace, table: TableMapping, checkpoint: Checkpoint): void {
  tx.set(state.pack([table.schema, table.table]), packr.pack(checkpoint));
}

async function copyTable(
  client: pg.Client,
  db: Database,
  store: RecordStore<SchemaTypes>,
  state: Subspace,
  table: TableMapping,
  batchRows: number,
  options: CopyOptions,
): Promise<CopiedTable> {
  const name = `${table.schema}.${table.table}`;
  const start = await db.transact((tx) => readCheckpoint(tx, state, table));
  const total = start.done ? start.rows : await countRows(client, table);
  const started = performance.now();
  let checkpoint = start;
  const report = (): void => {
    const seconds = (performance.now() - started) / 1000;
    const rate = seconds > 0 ? (checkpoint.rows - start.rows) / seconds : 0;
    options.onProgress?.({
      table: name,
      typeName: table.typeName,
      rows: checkpoint.rows,
      total,
      rowsPerSecond: rate,
      etaSeconds: rate > 0 ? Math.max(0, total - checkpoint.rows) / rate : null,
      done: checkpoint.done,
    });
  };
  if (!start.done) {
    // One transaction per batch: at most batchRows rows and COPY_BATCH_TEXT characters.
    const commit = async (rows: SourceRow[], done: boolean): Promise<void> => {
      const from = checkpoint;
      const next: Checkpoint = { after: rows.length > 0 ? rows[rows.length - 1]!.key : from.after, rows: from.rows + rows.length, done };
      await db.transact(async (tx) => {
        const current = await readCheckpoint(tx, state, table);
        if (current.rows !== from.rows || current.done !== from.done) {
          // Invariant 3: the only other writer of this checkpoint is an earlier attempt of this very batch.
          if (current.rows === next.rows && current.done === next.done) return;
          throw new RecordLayerError('invalid_query', `the copy of ${name} was changed by another copy running at the same time (checkpoint at ${current.rows} rows, expected ${from.rows})`);
        }
        await store.collection(tx, table.typeName).insertMany(rows.map((row) => row.record), { checkReferences: false });
        writeCheckpoint(tx, state, table, next);
      });
      checkpoint = next;
      report();
    };
    let batch: SourceRow[] = [];
    let text = 0;
    try {
      for await (const page of readTable(client, table, start.after, batchRows)) {
        for (const row of page) {
          if (batch.length > 0 && (batch.length >= batchRows || text + row.size > COPY_BATCH_TEXT)) {
            options.signal?.throwIfAborted();
            await commit(batch, false);
            batch = [];
            text = 0;
          }
          batch.push(row);
          text += row.size;
        }
      }
    } catch (error) {
      if (error instanceof RecordLayerError && error.code === 'record_invalid') {
        throw new RecordLayerError('record_invalid', `copy of ${name}: ${error.message}`, { details: { ...error.details, table: name }, cause: error });
      }
      throw error;
    }
    options.signal?.throwIfAborted();
    await commit(batch, true);
  } else {
    report();
  }
  return { table: name, typeName: table.typeName, rows: checkpoint.rows, resumedAfter: start.rows };
}

// Invariant 4: each sequence continues after the larger of its source value and the largest value
// copied into a field it feeds.
async function setSequences(client: pg.Client, db: Database, store: RecordStore<SchemaTypes>, mapped: MappedSchema): Promise<{ name: string; last: bigint }[]> {
  const last = new Map<string, bigint>();
  const raise = (name: string, value: bigint): void => {
    const current = last.get(name);
    if (current === undefined || value > current) last.set(name, value);
  };
  for (const table of mapped.tables) {
    for (const { field, schema, name, sequence } of table.sequences) {
      const source = await client.query<string[]>({ text: `SELECT last_value::text, is_called::text FROM ${quoteIdent(schema)}.${quoteIdent(name)}`, rowMode: 'array' });
      const [value, called] = source.rows[0]!;
      raise(sequence, called === 'true' ? BigInt(value!) : BigInt(value!) - 1n);
      const column = table.columns.find((c) => c.field === field)!.column;
      const max = await client.query<string[]>({ text: `SELECT max(${quoteIdent(column)})::text FROM ${qualifiedName(table)}`, rowMode: 'array' });
      const largest = max.rows[0]![0];
      if (largest !== null && largest !== undefined && /^-?\d+$/.test(largest)) raise(sequence, BigInt(largest));
    }
  }
  const out = [...last].map(([name, value]) => ({ name, last: value })).sort((a, b) => (a.name < b.name ? -1 : 1));
  await db.transact((tx) => {
    for (const { name, last: value } of out) store.setSequence(tx, name, value);
  });
  return out;
}

function positive(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RecordLayerError('invalid_query', `copy: ${name} must be a positive integer, not ${String(value)}`);
  return value;
}
