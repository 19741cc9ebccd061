#!/usr/bin/env node
/**
 * `strata-pg`: moves a PostgreSQL database into a Strata record store.
 *
 *   strata-pg introspect --url <postgres url> [--out schema.ts] [--schema public] [--unenforced <fk>]
 *   strata-pg copy       --url <postgres url> --to <data dir> [--store <a/b>] [--batch-rows N] [--connections N]
 *   strata-pg verify     --url <postgres url> --to <data dir> [--store <a/b>] [--differences N]
 *
 * `copy` and `verify` introspect the database again and map it with the same options as
 * `introspect`, so pass them the same `--schema` and `--unenforced` flags. Exit status: 0 when done
 * (verify: when identical), 1 when verify found differences, 2 for bad usage or a failure, 130
 * when interrupted (run `copy` again to resume).
 */
import { parseArgs } from 'node:util';
import fs from 'node:fs/promises';
import pg from 'pg';
import { open, StrataError } from '@strata/core';
import { introspect } from './introspect.js';
import { mapSchema, type MappedSchema } from './type-map.js';
import { generateModule } from './generate.js';
import { copy, type CopyProgress } from './copy.js';
import { verify } from './verify.js';

const USAGE = `usage:
  strata-pg introspect --url <postgres url> [--out <file.ts>] [--schema <name>]... [--unenforced <foreign key>]...
  strata-pg copy       --url <postgres url> --to <data dir> [--store <dir/path>] [--schema <name>]... [--unenforced <fk>]...
                       [--batch-rows <n>] [--connections <n>]
  strata-pg verify     --url <postgres url> --to <data dir> [--store <dir/path>] [--schema <name>]... [--unenforced <fk>]...
                       [--differences <n>]

--store defaults to the PostgreSQL database's name; --schema to every schema but the system ones.`;

class UsageError extends Error {}

const OPTIONS = {
  url: { type: 'string' },
  out: { type: 'string' },
  to: { type: 'string' },
  store: { type: 'string' },
  schema: { type: 'string', multiple: true },
  unenforced: { type: 'string', multiple: true },
  'batch-rows': { type: 'string' },
  connections: { type: 'string' },
  differences: { type: 'string' },
  help: { type: 'boolean' },
} as const;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const command = positionals[0];
  if (values.help === true || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && values.help !== true ? 2 : 0;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  if (!['introspect', 'copy', 'verify'].includes(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const url = required(values.url, '--url');
  const mapped = await mapSource(url, values.schema, values.unenforced);

  if (command === 'introspect') {
    const module = generateModule(mapped);
    if (values.out === undefined) process.stdout.write(module);
    else {
      await fs.writeFile(values.out, module);
      process.stderr.write(`wrote ${values.out}: ${mapped.tables.length} record types\n`);
    }
    for (const item of mapped.unmapped) process.stderr.write(`not mapped: ${item.kind} ${item.schema}.${item.table === null ? '' : `${item.table}.`}${item.name}: ${item.reason}\n`);
    return 0;
  }

  const dataDir = required(values.to, '--to');
  const path = values.store === undefined ? [databaseName(url)] : values.store.split('/').filter((part) => part.length > 0);
  const db = await open({ path: dataDir });
  try {
    if (command === 'copy') return await runCopy(url, db, mapped, path, values);
    return await runVerify(url, db, mapped, path, values);
  } finally {
    await db.close();
  }
}

async function mapSource(url: string, schemas: string[] | undefined, unenforced: string[] | undefined): Promise<MappedSchema> {
  // introspect reads the catalog with the driver's own type parsing (arrays, booleans).
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const model = await introspect(client, schemas === undefined ? {} : { schemas });
    await client.query('COMMIT');
    return mapSchema(model, unenforced === undefined ? {} : { unenforced });
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function runCopy(url: string, db: Awaited<ReturnType<typeof open>>, mapped: MappedSchema, path: string[], values: Record<string, unknown>): Promise<number> {
  const controller = new AbortController();
  const interrupt = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const board = new ProgressBoard(process.stderr);
  try {
    const result = await copy(url, db, mapped, {
      path,
      onProgress: (progress) => board.update(progress),
      signal: controller.signal,
      ...optionalCount(values['batch-rows'], '--batch-rows', 'batchRows'),
      ...optionalCount(values['connections'], '--connections', 'connections'),
    });
    board.finish();
    const rows = result.tables.reduce((sum, table) => sum + table.rows, 0);
    process.stdout.write(`copied ${result.tables.length} tables, ${rows} rows into ${path.join('/')}\n`);
    for (const sequence of result.sequences) process.stdout.write(`sequence ${sequence.name} continues after ${sequence.last}\n`);
    return 0;
  } catch (error) {
    board.finish();
    if (controller.signal.aborted) {
      process.stderr.write('interrupted: run the same copy command again to resume after the last committed batch\n');
      return 130;
    }
    throw error;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
}

async function runVerify(url: string, db: Awaited<ReturnType<typeof open>>, mapped: MappedSchema, path: string[], values: Record<string, unknown>): Promise<number> {
  const result = await verify(url, db, mapped, {
    path,
    ...optionalCount(values['differences'], '--differences', 'differencesMax'),
    onTable: (table) => process.stdout.write(`${table.differences === 0 ? 'ok  ' : 'DIFF'} ${table.table}: ${table.sourceRows} rows in PostgreSQL, ${table.storedRecords} records in Strata, ${table.differences} differences\n`),
  });
  for (const column of result.skippedColumns) process.stdout.write(`not compared: ${column.schema}.${column.table}.${column.name} (${column.reason})\n`);
  for (const d of result.differences) process.stdout.write(`${d.kind} ${d.table} ${JSON.stringify(d.key, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}${d.fields.length > 0 ? ` fields ${d.fields.join(', ')}` : ''}\n`);
  process.stdout.write(result.identical ? 'identical\n' : `${result.differenceCount} rows differ\n`);
  return result.identical ? 0 : 1;
}

/** One line per table: a bar, rows, rows/s and time left; redrawn in place on a terminal. */
class ProgressBoard {
  readonly #out: NodeJS.WriteStream;
  readonly #lines = new Map<string, string>();
  readonly #interactive: boolean;
  #drawn = 0;
  #lastPrint = 0;

  constructor(out: NodeJS.WriteStream) {
    this.#out = out;
    this.#interactive = out.isTTY === true;
  }

  update(progress: CopyProgress): void {
    const width = 24;
    const fraction = progress.total === 0 ? 1 : Math.min(1, progress.rows / progress.total);
    const filled = Math.round(fraction * width);
    const eta = progress.done ? 'done' : progress.etaSeconds === null ? '' : `ETA ${formatSeconds(progress.etaSeconds)}`;
    const line = `${progress.table.padEnd(32)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${progress.rows}/${progress.total} rows ${Math.round(progress.rowsPerSecond)} rows/s ${eta}`;
    this.#lines.set(progress.table, line);
    if (this.#interactive) this.#redraw();
    else if (progress.done || performance.now() - this.#lastPrint > 2000) {
      this.#lastPrint = performance.now();
      this.#out.write(`${line}\n`);
    }
  }

  finish(): void {
    this.#drawn = 0;
  }

  #redraw(): void {
    if (this.#drawn > 0) this.#out.write(`\x1b[${this.#drawn}F`);
    for (const line of this.#lines.values()) this.#out.write(`\x1b[2K${line}\n`);
    this.#drawn = this.#lines.size;
  }
}

function formatSeconds(seconds: number): string {
  const s = Math.ceil(seconds);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.length === 0) throw new UsageError(`${flag} is required`);
  return value;
}

function optionalCount<K extends string>(value: unknown, flag: string, key: K): Partial<Record<K, number>> {
  if (value === undefined) return {};
  const n = Number(value);
  if (typeof value !== 'string' || !/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`${flag} takes a whole number, not ${JSON.stringify(value)}`);
  return { [key]: n } as Partial<Record<K, number>>;
}

function databaseName(url: string): string {
  let name: string;
  try {
    name = decodeURIComponent(new URL(url).pathname.slice(1));
  } catch {
    throw new UsageError(`--url is not a URL: ${JSON.stringify(url)}`);
  }
  if (name.length === 0) throw new UsageError('--url names no database; add one, or pass --store');
  return name;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError || String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) process.stderr.write(`strata-pg: ${(error as Error).message}\n\n${USAGE}\n`);
    else if (error instanceof StrataError) process.stderr.write(`strata-pg: ${error.code}: ${error.message}\n`);
    else process.stderr.write(`strata-pg: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
