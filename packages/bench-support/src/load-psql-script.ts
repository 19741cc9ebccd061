/**
 * The sample databases vendored in the repository (Pagila, Chinook, under
 * `packages/record-layer/test/datasets/`), loaded into a real PostgreSQL server the way psql
 * would load them, and the parser of the psql scripts they are.
 *
 * Invariants:
 * 1. A dataset is loaded into a database that `loadDataset` creates; it fails, and never reuses
 *    or replaces anything, when that database already exists.
 * 2. Every statement of a dataset runs, in file order, each file in its own session as
 *    `psql -v ON_ERROR_STOP=1 -f <file>` would run it: the first error stops the load and is
 *    rethrown with the file and line, so a partial load never passes for a complete one.
 * 3. The scripts' psql meta-commands are the only text not sent to the server: COPY data lines up
 *    to `\.` are streamed to their `COPY ... FROM stdin`, and `\connect <name>` is accepted only
 *    after statements that create that very database (which are replaced by creating
 *    `options.database`). Any other meta-command is an error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { PostgresServer } from './start-postgres.js';

/** The vendored sample databases. */
export type DatasetName = 'pagila' | 'chinook';

/**
 * The folder of the vendored sample databases: `packages/record-layer/test/datasets/` of this
 * repository.
 *
 * @remarks
 * Found from this module's own place in the repository (`packages/bench-support/src` or `dist`),
 * so it works from any working directory, and only inside the repository: this package is private
 * and never published.
 */
export const DATASETS_DIRECTORY: string = fileURLToPath(new URL('../../record-layer/test/datasets/', import.meta.url));

// Files of each dataset, in the order psql must run them.
const DATASET_FILES: Record<DatasetName, readonly string[]> = {
  pagila: ['pagila/pagila-schema.sql', 'pagila/pagila-data.sql'],
  chinook: ['chinook/Chinook_PostgreSql.sql'],
};

const DATABASE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Where {@link loadDataset} loads: a server's `postgres` database, to create the new one from, and the address of any of its databases. */
export type DatasetServer = Pick<PostgresServer, 'connectionString' | 'connectionStringFor'>;

/** Options of {@link loadDataset}. */
export interface LoadDatasetOptions {
  /** Name of the database to create and load; lower-case letters, digits and `_`. */
  database: string;
}

/** What {@link loadDataset} loaded. */
export interface LoadedDataset {
  database: string;
  /** Connection string of the loaded database. */
  connectionString: string;
  /** SQL chunks sent with the simple query protocol (each may hold many statements). */
  sqlChunks: number;
  /** `COPY ... FROM stdin` blocks streamed, and the rows the server reported copying. */
  copyBlocks: number;
  copiedRows: number;
}

/** One step of a psql script, with the 1-based line where it starts. */
export type ScriptStep =
  | { kind: 'sql'; line: number; text: string }
  | { kind: 'copy'; line: number; statement: string; dataLines: string[] }
  | { kind: 'connect'; line: number; database: string };

/**
 * The files of dataset `name`, as absolute paths, in the order they are loaded.
 *
 * @example
 * ```ts
 * const [schemaFile, dataFile] = datasetFiles('pagila');
 * ```
 */
export function datasetFiles(name: DatasetName): string[] {
  return DATASET_FILES[name].map((file) => path.join(DATASETS_DIRECTORY, file));
}

/**
 * Creates database `options.database` on `server` and loads dataset `name` into it, as psql
 * would run the dataset's files (see the invariants above).
 *
 * @remarks
 * Pagila is its schema, then 46,273 rows in 21 COPY blocks, then its indexes, constraints and
 * sequence values; Chinook is one script of INSERTs.
 * @throws Error when the database name is invalid or exists, when a script holds a meta-command
 * this loader does not know, or when any statement fails (with the file and line; `cause` is
 * the server's error).
 * @example
 * ```ts
 * const server = await startPostgres({ label: 'my-test-postgres' });
 * try {
 *   const pagila = await loadDataset(server, 'pagila', { database: 'pagila' });
 *   const client = new pg.Client({ connectionString: pagila.connectionString });
 *   // ...
 * } finally {
 *   await server.stop();
 * }
 * ```
 */
export async function loadDataset(server: DatasetServer, name: DatasetName, options: LoadDatasetOptions): Promise<LoadedDataset> {
  const { database } = options;
  if (!DATABASE_NAME.test(database)) throw new Error(`loadDataset: database name ${JSON.stringify(database)} must match ${DATABASE_NAME}`);
  const files = DATASET_FILES[name];
  // Read every file before creating anything, so a missing file changes nothing on the server.
  const scripts = files.map((file) => {
    const fullPath = path.join(DATASETS_DIRECTORY, file);
    try {
      return fs.readFileSync(fullPath, 'utf8');
    } catch (error) {
      throw new Error(`loadDataset: cannot read ${fullPath} (the ${name} dataset is vendored in the repository, see DATASETS_DIRECTORY)`, { cause: error });
    }
  });
  const admin = new pg.Client({ connectionString: server.connectionString });
  await admin.connect();
  try {
    // Invariant 1: CREATE DATABASE fails with duplicate_database if the name is taken.
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  const loaded: LoadedDataset = { database, connectionString: server.connectionStringFor(database), sqlChunks: 0, copyBlocks: 0, copiedRows: 0 };
  for (const [i, file] of files.entries()) {
    const steps = replaceDatabaseCreation(parsePsqlScript(scripts[i]!), file);
    // Invariant 2: each file in its own session, so one file's SET commands do not leak into the next.
    const client = new pg.Client({ connectionString: loaded.connectionString });
    await client.connect();
    try {
      for (const step of steps) await runStep(client, step, { file, loaded });
    } finally {
      await client.end();
    }
  }
  return loaded;
}

async function runStep(client: pg.Client, step: ScriptStep, context: { file: string; loaded: LoadedDataset }): Promise<void> {
  try {
    if (step.kind === 'sql') {
      // No parameters: node-postgres uses the simple query protocol, which runs every statement of the text.
      await client.query(step.text);
      context.loaded.sqlChunks++;
    } else if (step.kind === 'copy') {
      const copy = client.query(copyFrom(step.statement));
      const data = step.dataLines.length === 0 ? '' : step.dataLines.join('\n') + '\n';
      await pipeline(Readable.from([Buffer.from(data, 'utf8')]), copy);
      if (copy.rowCount !== step.dataLines.length) throw new Error(`copied ${copy.rowCount} rows, the block has ${step.dataLines.length} lines`);
      context.loaded.copyBlocks++;
      context.loaded.copiedRows += copy.rowCount;
    } else {
      // replaceDatabaseCreation leaves only the \connect that names the database being loaded.
      throw new Error(`unexpected \\connect ${step.database}`);
    }
  } catch (error) {
    const what = step.kind === 'copy' ? step.statement : step.kind;
    throw new Error(`loading ${context.file} failed at line ${step.line} (${what}): ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Splits a psql script into SQL text, COPY blocks and `\connect` commands.
 *
 * @remarks
 * Meta-commands are recognised at the start of a line only, which is where pg_dump and the
 * Chinook script put them (neither file has a backslash at the start of a line inside a
 * statement). A `COPY ... FROM stdin;` line opens a data block that ends at a line `\.`.
 * @throws Error on any other meta-command, or a data block without its `\.`.
 * @example
 * ```ts
 * const steps = parsePsqlScript('COPY t (x) FROM stdin;\n1\n\\.\nSELECT 1;');
 * // [{ kind: 'copy', line: 1, statement: 'COPY t (x) FROM stdin;', dataLines: ['1'] }, { kind: 'sql', line: 4, text: 'SELECT 1;' }]
 * ```
 */
export function parsePsqlScript(script: string): ScriptStep[] {
  const lines = script.split('\n');
  const steps: ScriptStep[] = [];
  let sql: string[] = [];
  let sqlLine = 1;
  const flushSql = (nextLine: number): void => {
    const text = sql.join('\n');
    if (stripComments(text).trim() !== '') steps.push({ kind: 'sql', line: sqlLine, text });
    sql = [];
    sqlLine = nextLine;
  };
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!;
    const lineNumber = index + 1;
    if (/^COPY\s.+\sFROM\s+stdin\s*;\s*$/i.test(line)) {
      flushSql(lineNumber);
      const end = lines.indexOf('\\.', index + 1);
      if (end === -1) throw new Error(`line ${lineNumber}: COPY data block has no terminating \\. line`);
      steps.push({ kind: 'copy', line: lineNumber, statement: line, dataLines: lines.slice(index + 1, end) });
      index = end;
      sqlLine = end + 2;
    } else if (line.startsWith('\\')) {
      const connect = /^\\(?:c|connect)\s+("?)([A-Za-z_][A-Za-z0-9_]*)\1\s*;?\s*$/.exec(line);
      if (connect === null) throw new Error(`line ${lineNumber}: unsupported psql meta-command ${JSON.stringify(line)}`);
      flushSql(lineNumber + 1);
      steps.push({ kind: 'connect', line: lineNumber, database: connect[2]! });
    } else {
      sql.push(line);
    }
  }
  flushSql(lines.length + 1);
  return steps;
}

// Invariant 3: a script that drops, creates and connects to its own database (Chinook) is loaded
// into options.database instead, so callers choose the name and never touch another database.
function replaceDatabaseCreation(steps: ScriptStep[], file: string): ScriptStep[] {
  const connectAt = steps.findIndex((step) => step.kind === 'connect');
  if (connectAt === -1) return steps;
  const connect = steps[connectAt] as Extract<ScriptStep, { kind: 'connect' }>;
  const target = connect.database.toLowerCase();
  const allowed = new Set([`drop database if exists ${target}`, `create database ${target}`]);
  for (const step of steps.slice(0, connectAt)) {
    const statements = step.kind === 'sql' ? stripComments(step.text).split(';').map((statement) => statement.trim().replace(/\s+/g, ' ').toLowerCase()) : ['<copy>'];
    for (const statement of statements) {
      if (statement !== '' && !allowed.has(statement)) {
        throw new Error(`${file}: \\connect ${connect.database} at line ${connect.line} follows ${JSON.stringify(statement)}, which is not creating that database`);
      }
    }
  }
  const rest = steps.slice(connectAt + 1);
  const another = rest.find((step) => step.kind === 'connect');
  if (another !== undefined) throw new Error(`${file}: a second \\connect at line ${another.line} is not supported`);
  return rest;
}

// Removes -- and /* */ comments; used only to classify text, never on text sent to the server.
function stripComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/--[^\n]*/g, '');
}
