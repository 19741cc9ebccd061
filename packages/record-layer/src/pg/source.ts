/**
 * Reading a PostgreSQL database for `copy` and `verify`: connections with fixed session settings,
 * snapshots shared between connections, and the SQL that selects a mapped table's rows as text.
 *
 * Invariants:
 * 1. Every connection runs with the same session settings ({@link SOURCE_SESSION_SETTINGS}), so
 *    the text PostgreSQL prints for a value does not depend on the server's or the role's
 *    configuration (time zone, date style, float digits, bytea output).
 * 2. Rows are read in primary key order, and each row carries its primary key as PostgreSQL's
 *    own text output, which PostgreSQL parses back to the same key: a position in a table is a
 *    list of those texts ({@link SourceKey}).
 */
import pg from 'pg';
import type { TableMapping } from './type-map.js';
import type { PgType } from './model.js';

/** Where to read: a connection string or node-postgres client settings. */
export type SourceConnection = string | pg.ClientConfig;

/** The session settings every source connection runs with. */
export const SOURCE_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  extra_float_digits: '3',
  bytea_output: 'hex',
  client_encoding: 'UTF8',
};

/** The primary key of a row as PostgreSQL prints its columns (invariant 2). */
export type SourceKey = string[];

// Every value arrives as the text PostgreSQL sent: the mapping parses it, not the driver.
const RAW_TEXT: pg.CustomTypesConfig = { getTypeParser: () => (value: string) => value };

/** Opens a connection with the fixed session settings (invariant 1). */
export async function connectSource(connection: SourceConnection): Promise<pg.Client> {
  const client = new pg.Client({ ...(typeof connection === 'string' ? { connectionString: connection } : connection), types: RAW_TEXT });
  await client.connect();
  try {
    const settings = Object.entries(SOURCE_SESSION_SETTINGS);
    await client.query(`SELECT ${settings.map((_, i) => `pg_catalog.set_config($${2 * i + 1}, $${2 * i + 2}, false)`).join(', ')}`, settings.flat());
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/**
 * Starts a read-only repeatable-read transaction on `client`: in the snapshot `snapshot` exported
 * by another connection, or in a new one exported for others. Returns the snapshot's id.
 */
export async function beginSnapshot(client: pg.Client, snapshot?: string): Promise<string> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  if (snapshot !== undefined) {
    await client.query(`SET TRANSACTION SNAPSHOT ${quoteLiteral(snapshot)}`);
    return snapshot;
  }
  const result = await client.query<{ id: string }>('SELECT pg_catalog.pg_export_snapshot() AS id');
  return result.rows[0]!.id;
}

/** `"name"`, with quotes doubled. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** `'text'`, with quotes doubled. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** `"schema"."table"`. */
export function qualifiedName(table: TableMapping): string {
  return `${quoteIdent(table.schema)}.${quoteIdent(table.table)}`;
}

/** The PostgreSQL column of each primary key field of `table`, in key order. */
export function keyColumns(table: TableMapping): string[] {
  return table.primaryKey.map((field) => table.columns.find((column) => column.field === field)!.column);
}

/** The name of `type` to cast a text to, e.g. `integer`, `"public"."mpaa_rating"`. */
export function castName(type: PgType): string {
  if (type.kind === 'enum' || type.kind === 'domain') return `${quoteIdent(type.schema)}.${quoteIdent(type.name)}`;
  return type.name;
}

/**
 * SQL selecting every mapped column of `table` (as the mapping's text), then its primary key
 * columns as text, in primary key order; rows after `after` when given.
 */
export function selectRows(table: TableMapping, after: SourceKey | null): { text: string; values: string[] } {
  // Every column is qualified by the table's alias and every output is named c<i> or k<i>: ORDER BY
  // would otherwise take a bare name for the output column of the same name (its text, sorted as text).
  const keys = keyColumns(table).map((column) => `${SOURCE_ALIAS}.${quoteIdent(column)}`);
  const columns = table.columns.map((column, i) => `${column.select(`${SOURCE_ALIAS}.${quoteIdent(column.column)}`)} AS c${i}`);
  const keyTexts = keys.map((key, i) => `${key}::text AS k${i}`);
  const where = after === null ? '' : ` WHERE (${keys.join(', ')}) > (${keyCasts(table).map((cast, i) => `$${i + 1}::${cast}`).join(', ')})`;
  return { text: `SELECT ${[...columns, ...keyTexts].join(', ')} FROM ${qualifiedName(table)} AS ${SOURCE_ALIAS}${where} ORDER BY ${keys.join(', ')}`, values: after ?? [] };
}

const SOURCE_ALIAS = '"source_row"';

/** The cast name of each primary key column of `table`. */
export function keyCasts(table: TableMapping): string[] {
  return table.primaryKey.map((field) => castName(table.columns.find((column) => column.field === field)!.type));
}

/** A row as the mapping sees it: the record, and the row's primary key texts (invariant 2). */
export interface SourceRow {
  record: Record<string, unknown>;
  key: SourceKey;
  /** Characters of text the row arrived as (to size batches). */
  size: number;
}

/**
 * Converts a row of {@link selectRows} (array mode) to a record.
 * @throws RecordLayerError `record_invalid` from the mapping, naming the column, for a value it
 * cannot keep exactly.
 */
export function toSourceRow(table: TableMapping, row: readonly (string | null)[]): SourceRow {
  const record: Record<string, unknown> = {};
  let size = 0;
  const columns = table.columns;
  for (let i = 0; i < columns.length; i++) {
    const text = row[i]!;
    if (text !== null) size += text.length;
    record[columns[i]!.field] = columns[i]!.fromText(text);
  }
  return { record, key: row.slice(columns.length) as string[], size };
}

/**
 * Reads a table in primary key order in pages of `pageRows`, through a cursor of the transaction
 * open on `client` (so every page comes from its snapshot).
 */
export async function* readTable(client: pg.Client, table: TableMapping, after: SourceKey | null, pageRows: number): AsyncGenerator<SourceRow[]> {
  const { text, values } = selectRows(table, after);
  const cursor = quoteIdent(`strata_${table.schema}_${table.table}`);
  await client.query({ text: `DECLARE ${cursor} NO SCROLL CURSOR FOR ${text}`, values });
  try {
    for (;;) {
      const page = await client.query<string[]>({ text: `FETCH ${pageRows} FROM ${cursor}`, rowMode: 'array' });
      if (page.rows.length === 0) return;
      yield page.rows.map((row) => toSourceRow(table, row));
    }
  } finally {
    // After a failed FETCH the transaction is aborted and CLOSE fails too: the FETCH's error is the one to see.
    await client.query(`CLOSE ${cursor}`).catch(() => undefined);
  }
}

/** Exact row count of `table` in the transaction open on `client`. */
export async function countRows(client: pg.Client, table: TableMapping): Promise<number> {
  const result = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${qualifiedName(table)}`);
  return Number(result.rows[0]!.n);
}
