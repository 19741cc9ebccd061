/**
 * `verify`: compares every mapped table of a PostgreSQL database with the record store a copy
 * filled, row by row, and names each difference by primary key.
 *
 * Invariants:
 * 1. The source is read in one snapshot; every source row is looked up by primary key in the
 *    store and compared by a digest of its mapped columns' canonical texts (field by field when the
 *    digests differ, to name the fields).
 * 2. Every stored record of the type is looked up in the source by primary key: a record without a
 *    source row is reported `extra`. With (1), the two sides hold exactly the same keys when
 *    nothing is reported.
 * 3. Columns the mapping skipped are not compared; they are listed in the result.
 */
import { createHash } from 'node:crypto';
import type { Database } from '@strata/core';
import type { DirectoryLayer, DirectoryPath } from '@strata/tuple';
import type pg from 'pg';
import { RecordLayerError } from '../errors.js';
import { RecordStore } from '../record-store.js';
import type { SchemaTypes } from '../schema.js';
import type { PgUnmapped } from './model.js';
import { beginSnapshot, connectSource, keyCasts, keyColumns, qualifiedName, quoteIdent, readTable, type SourceConnection } from './source.js';
import type { MappedSchema, TableMapping } from './type-map.js';

/** Differences {@link verify} lists at most (default of {@link VerifyOptions.differencesMax}). */
export const VERIFY_DIFFERENCES_MAX = 100;
/** Rows compared per store transaction and per source query. */
export const VERIFY_BATCH_ROWS = 500;

/** One row that differs. */
export interface VerifyDifference {
  /** `schema.table` in PostgreSQL. */
  table: string;
  /** The record type. */
  typeName: string;
  /**
   * `missing`: in PostgreSQL, not in the store; `extra`: in the store, not in PostgreSQL;
   * `different`: in both, with different values in `fields`; `unreadable`: the stored record no
   * longer matches its record type (`fields` names the field).
   */
  kind: 'missing' | 'extra' | 'different' | 'unreadable';
  /** The primary key, as record fields. */
  key: Record<string, unknown>;
  /** The fields that differ (for `different` and `unreadable`). */
  fields: string[];
}

/** The comparison of one table. */
export interface VerifiedTable {
  table: string;
  typeName: string;
  /** Rows in PostgreSQL (in the snapshot). */
  sourceRows: number;
  /** Records of the type in the store. */
  storedRecords: number;
  /** Rows that differ. */
  differences: number;
}

/** The result of {@link verify}. */
export interface VerifyResult {
  /** Whether both sides hold the same rows. */
  identical: boolean;
  tables: VerifiedTable[];
  /** Differing rows, at most `differencesMax`, in table order. */
  differences: VerifyDifference[];
  /** Differing rows in all. */
  differenceCount: number;
  /** Columns not compared because the mapping skipped them (invariant 3). */
  skippedColumns: PgUnmapped[];
}

/** Options of {@link verify}. */
export interface VerifyOptions {
  /** The record store's directory. */
  path: DirectoryPath;
  /** Differences to list at most (default {@link VERIFY_DIFFERENCES_MAX}); all are counted. */
  differencesMax?: number;
  /** Called after each table. */
  onTable?: (table: VerifiedTable) => void;
  /** The directory layer (default: the standard one). */
  directoryLayer?: DirectoryLayer;
}

/**
 * Compares every table of `mapped` in PostgreSQL with the record store at `options.path`.
 *
 * @example
 * ```ts
 * const result = await verify('postgres://localhost/app', db, mapSchema(await introspect(client)), { path: ['app'] });
 * for (const d of result.differences) console.log(d.kind, d.table, d.key, d.fields);
 * ```
 */
export async function verify(source: SourceConnection, db: Database, mapped: MappedSchema, options: VerifyOptions): Promise<VerifyResult> {
  const differencesMax = options.differencesMax ?? VERIFY_DIFFERENCES_MAX;
  if (!Number.isSafeInteger(differencesMax) || differencesMax < 0) throw new RecordLayerError('invalid_query', `verify: differencesMax must be a non-negative integer, not ${String(differencesMax)}`);
  const store = await RecordStore.open(db, { path: options.path, schema: mapped.schema, ...(options.directoryLayer ? { directoryLayer: options.directoryLayer } : {}) });
  const client = await connectSource(source);
  const result: VerifyResult = { identical: true, tables: [], differences: [], differenceCount: 0, skippedColumns: mapped.tables.flatMap((t) => t.skipped) };
  const note = (difference: VerifyDifference): void => {
    result.differenceCount++;
    if (result.differences.length < differencesMax) result.differences.push(difference);
  };
  try {
    await beginSnapshot(client);
    for (const table of mapped.tables) {
      const before = result.differenceCount;
      const sourceRows = await compareSourceRows(client, db, store, table, note);
      const storedRecords = await findExtraRecords(client, db, store, table, note);
      const verified: VerifiedTable = { table: `${table.schema}.${table.table}`, typeName: table.typeName, sourceRows, storedRecords, differences: result.differenceCount - before };
      result.tables.push(verified);
      options.onTable?.(verified);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  result.identical = result.differenceCount === 0;
  return result;
}

function keyOf(table: TableMapping, record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(table.primaryKey.map((field) => [field, record[field]]));
}

// The canonical text of each mapped column of a record, in column order.
function canonicalTexts(table: TableMapping, record: Record<string, unknown>): string[] {
  return table.columns.map((column) => column.canonical(record[column.field] ?? null));
}

function digest(texts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(texts)).digest('base64');
}

// Invariant 1: each source row against the stored record of the same key. Returns the source rows.
async function compareSourceRows(client: pg.Client, db: Database, store: RecordStore<SchemaTypes>, table: TableMapping, note: (d: VerifyDifference) => void): Promise<number> {
  const name = `${table.schema}.${table.table}`;
  let rows = 0;
  for await (const page of readTable(client, table, null, VERIFY_BATCH_ROWS)) {
    rows += page.length;
    const stored = await db.transact((tx) => {
      const collection = store.collection(tx, table.typeName);
      return Promise.all(
        page.map((row) =>
          collection
            .get(keyOf(table, row.record))
            .catch((error: unknown) => {
              if (error instanceof RecordLayerError && error.code === 'record_invalid') return error;
              throw error;
            }),
        ),
      );
    });
    for (let i = 0; i < page.length; i++) {
      const key = keyOf(table, page[i]!.record);
      const record = stored[i]!;
      if (record === null) note({ table: name, typeName: table.typeName, kind: 'missing', key, fields: [] });
      else if (record instanceof RecordLayerError) {
        note({ table: name, typeName: table.typeName, kind: 'unreadable', key, fields: [String(record.details?.['field'] ?? '')] });
      } else {
        const expected = canonicalTexts(table, page[i]!.record);
        const actual = canonicalTexts(table, record as Record<string, unknown>);
        if (digest(expected) !== digest(actual)) {
          note({ table: name, typeName: table.typeName, kind: 'different', key, fields: table.columns.filter((_, c) => expected[c] !== actual[c]).map((c) => c.field) });
        }
      }
    }
  }
  return rows;
}

// Invariant 2: each stored record's key looked up in the source. Returns the stored records.
async function findExtraRecords(client: pg.Client, db: Database, store: RecordStore<SchemaTypes>, table: TableMapping, note: (d: VerifyDifference) => void): Promise<number> {
  const name = `${table.schema}.${table.table}`;
  const keyFields = table.primaryKey.map((field) => table.columns.find((column) => column.field === field)!);
  const columns = keyColumns(table).map(quoteIdent);
  // The source rows among a batch of keys, found with one query: (k1, k2) IN unnest($1::t1[], $2::t2[]).
  const query = `SELECT ${keyFields.map((f) => f.select(quoteIdent(f.column))).join(', ')} FROM ${qualifiedName(table)}
    WHERE (${columns.join(', ')}) IN (SELECT * FROM unnest(${keyCasts(table).map((cast, i) => `$${i + 1}::${cast}[]`).join(', ')}))`;
  const canonicalKey = (values: readonly unknown[]): string => JSON.stringify(keyFields.map((f, i) => f.canonical(values[i] ?? null)));
  let records = 0;
  let batch: Record<string, unknown>[] = [];
  const check = async (): Promise<void> => {
    const values = keyFields.map((f) => batch.map((record) => f.toText(record[f.field])));
    const found = await client.query<(string | null)[]>({ text: query, values, rowMode: 'array' });
    const present = new Set(found.rows.map((row) => canonicalKey(row.map((text, i) => keyFields[i]!.fromText(text)))));
    for (const record of batch) {
      if (!present.has(canonicalKey(keyFields.map((f) => record[f.field])))) note({ table: name, typeName: table.typeName, kind: 'extra', key: keyOf(table, record), fields: [] });
    }
    batch = [];
  };
  for await (const record of store.stream(db, table.typeName)) {
    records++;
    batch.push(record as Record<string, unknown>);
    if (batch.length >= VERIFY_BATCH_ROWS) await check();
  }
  if (batch.length > 0) await check();
  return records;
}
