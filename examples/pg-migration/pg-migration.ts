/**
 * The whole move of the rental desk from PostgreSQL to Strata, as a newcomer would do it: a real
 * PostgreSQL with Pagila, the desk's day on it, then `strata-pg introspect`, `copy` and `verify`
 * (the real command, run as a child process), then the same day on the record layer, and a check
 * that both days printed the same results.
 *
 * Every step prints through `options.log`; the function returns a {@link PgMigrationSummary} so
 * that a test can check the facts the reader is told.
 *
 * Invariants:
 * 1. Both runs of the desk start from the same data: the PostgreSQL run works on a clone of the
 *    freshly loaded database (`CREATE DATABASE ... TEMPLATE pagila`), and the migration copies
 *    `pagila` itself, untouched.
 * 2. The module the introspection writes is compared, byte for byte, with the schema.ts the app
 *    is compiled with: the checked-in module cannot drift from what `strata-pg` generates.
 * 3. The PostgreSQL server and its files are removed when the function returns or fails.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadDataset, startPostgres } from '@strata/bench-support';
import { open } from '@strata/core';
import { RecordStore } from '@strata/records';
import pg from 'pg';
import { compareReports, runDeskScenario, type DeskReport } from './desk-scenario.js';
import { deskSchema } from './desk-schema.js';
import { PostgresDesk } from './postgres-desk.js';
import { StrataDesk } from './strata-desk.js';

/** Where to work and where to print. */
export interface PgMigrationOptions {
  /**
   * A directory for the generated module (`schema.ts`) and the Strata data directory (`data/`).
   * It should be empty or missing.
   */
  path: string;
  /** Receives each printed line. */
  log: (line: string) => void;
}

/** What the run established, for a test to check. */
export interface PgMigrationSummary {
  /** The desk's day on PostgreSQL. */
  postgres: DeskReport;
  /** The same day on Strata. */
  strata: DeskReport;
  /** Whether the two reports are identical. */
  identical: boolean;
  /** Where they first differ, or null. */
  difference: string | null;
  migration: {
    /** Whether `strata-pg introspect` wrote exactly the checked-in schema.ts. */
    schemaModuleMatches: boolean;
    /** The `not mapped:` lines `strata-pg introspect` printed. */
    notMapped: string[];
    /** What `strata-pg copy` printed on stdout. */
    copyOutput: string[];
    /** What `strata-pg verify` printed on stdout, and its exit status (0: identical). */
    verifyOutput: string[];
    verifyStatus: number | null;
    /** The indexes `store.buildIndexes` built for the desk, as `type.index`, and the records it indexed. */
    builtIndexes: string[];
    indexedRecords: number;
  };
}

/** The folder of this example's sources: where schema.ts is checked in, whether this runs from `dist/` or from the sources. */
export const EXAMPLE_DIRECTORY: string = (() => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.basename(path.dirname(here)) === 'dist' ? path.resolve(here, '../../pg-migration') : here;
})();

/** The `strata-pg` command of `@strata/records` (its package `bin`). */
export const STRATA_PG_CLI: string = path.join(path.dirname(createRequire(import.meta.url).resolve('@strata/records')), 'pg', 'cli.js');

/** The database name the migration copies from, and so the store's directory (`strata-pg`'s default `--store`). */
const SOURCE_DATABASE = 'pagila';
/** The clone the PostgreSQL run of the desk writes to (invariant 1). */
const DESK_DATABASE = 'pagila_desk';

/**
 * Runs the whole migration story (see the file's header) and returns its summary.
 *
 * @throws Error when PostgreSQL cannot start or load Pagila, or a `strata-pg` command fails (with
 * its output); a difference between the two runs is not an error, it is in the summary.
 * @example
 * ```ts
 * const summary = await runPgMigration({ path: '.data/pg-migration', log: console.log });
 * if (!summary.identical) process.exitCode = 1;
 * ```
 */
export async function runPgMigration(options: PgMigrationOptions): Promise<PgMigrationSummary> {
  const { log } = options;
  const heading = (text: string): void => {
    log('');
    log(`--- ${text}`);
  };
  fs.mkdirSync(options.path, { recursive: true });
  const moduleFile = path.join(options.path, 'schema.ts');
  const dataDir = path.join(options.path, 'data');

  heading('1. PostgreSQL with Pagila');
  const server = await startPostgres({ label: 'pg-migration-postgres' });
  try {
    const loaded = await loadDataset(server, 'pagila', { database: SOURCE_DATABASE });
    const url = loaded.connectionString;
    log(`A PostgreSQL server on ${server.host}:${server.port}; Pagila loaded into database ${SOURCE_DATABASE} as psql would (${loaded.copiedRows} rows).`);
    log(`The desk's day writes, so it runs on a clone, ${DESK_DATABASE} (CREATE DATABASE ${DESK_DATABASE} TEMPLATE ${SOURCE_DATABASE}),`);
    log(`and the migration copies ${SOURCE_DATABASE}, untouched: both runs start from the same data.`);
    await createClone(server.connectionString);

    heading('2. The desk on PostgreSQL (postgres-desk.ts: SQL, joins in the database)');
    const onPostgres = new PostgresDesk({ connectionString: server.connectionStringFor(DESK_DATABASE) });
    let postgres: DeskReport;
    try {
      postgres = await runDeskScenario(onPostgres, { log });
    } finally {
      await onPostgres.close();
    }

    heading('3. Migrate: strata-pg introspect, copy, verify');
    const introspected = await strataPg(['introspect', '--url', url, '--out', moduleFile], log);
    log(`  ${introspected.stderr.find((line) => line.startsWith('wrote ')) ?? ''}`);
    const notMapped = introspected.stderr.filter((line) => line.startsWith('not mapped: '));
    log(`  ${notMapped.length} things not mapped (${countByKind(notMapped)}); those that matter to the desk:`);
    for (const line of notMapped.filter((line) => MATTERS_TO_THE_DESK.test(line))) log(`    ${line}`);
    const checkedIn = fs.readFileSync(path.join(EXAMPLE_DIRECTORY, 'schema.ts'), 'utf8');
    const schemaModuleMatches = fs.readFileSync(moduleFile, 'utf8') === checkedIn;
    log(
      schemaModuleMatches
        ? '  The module is identical to the checked-in examples/pg-migration/schema.ts the app is compiled with.'
        : `  WARNING: the module differs from the checked-in examples/pg-migration/schema.ts; ${path.relative(process.cwd(), moduleFile)} is what strata-pg writes now: check it in.`,
    );
    const copied = await strataPg(['copy', '--url', url, '--to', dataDir], log);
    const copyOutput = copied.stdout;
    log(`  ${copyOutput[0] ?? ''}`);
    for (const line of copyOutput.filter((line) => /rental_rental_id_seq|payment_payment_id_seq/.test(line))) log(`  ${line}`);
    log(`  (and ${copyOutput.filter((line) => line.startsWith('sequence ')).length - 2} more sequences)`);
    const verified = await strataPg(['verify', '--url', url, '--to', dataDir], log, { allowStatus: [0, 1] });
    for (const line of verified.stdout) log(`  ${line}`);

    heading('4. The desk on Strata (strata-desk.ts: the record layer, joins in TypeScript)');
    const db = await open({ path: dataDir });
    let strata: DeskReport;
    let built: Awaited<ReturnType<RecordStore<typeof deskSchema.types>['buildIndexes']>>;
    try {
      const store = await RecordStore.open(db, { path: [SOURCE_DATABASE], schema: deskSchema });
      log(`RecordStore.open(db, { path: ['${SOURCE_DATABASE}'], schema: deskSchema }): Pagila's record types plus two indexes the desk needs.`);
      built = await store.buildIndexes(db);
      log(`store.buildIndexes(db) built ${built.built.join(' and ')} online: ${built.records} records in ${built.transactions} transactions.`);
      log('');
      strata = await runDeskScenario(new StrataDesk({ db, store }), { log });
    } finally {
      await db.close();
    }

    heading('5. The same results?');
    const difference = compareReports(postgres, strata);
    log(difference === null ? `Yes: all ${postgres.steps.length} calls returned identical results on PostgreSQL and on Strata.` : `NO. ${difference}`);
    return {
      postgres,
      strata,
      identical: difference === null,
      difference,
      migration: {
        schemaModuleMatches,
        notMapped,
        copyOutput,
        verifyOutput: verified.stdout,
        verifyStatus: verified.status,
        builtIndexes: built.built,
        indexedRecords: built.records,
      },
    };
  } finally {
    await server.stop();
  }
}

/** The `not mapped` lines the README discusses: the stored functions the desk replaces, the trigger it takes over, the partitioning of payments. */
const MATTERS_TO_THE_DESK = /public\.(film_in_stock|inventory_in_stock)\(|trigger public\.rental\.last_updated|partitioning public\.payment/;

function countByKind(lines: string[]): string {
  const counts = new Map<string, number>();
  for (const line of lines) {
    const kind = /^not mapped: (\S+)/.exec(line)?.[1] ?? '?';
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  }
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
}

async function createClone(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${DESK_DATABASE} TEMPLATE ${SOURCE_DATABASE}`);
  } finally {
    await admin.end();
  }
}

/** What a `strata-pg` run printed, by line. */
interface CommandOutput {
  status: number | null;
  stdout: string[];
  stderr: string[];
}

/**
 * Runs `strata-pg <args>` as the README does (`npx strata-pg` runs the same file), printing the
 * command first, with paths relative to the working directory.
 */
async function strataPg(args: string[], log: (line: string) => void, options: { allowStatus?: number[] } = {}): Promise<CommandOutput> {
  const shown = args.map((arg) => (path.isAbsolute(arg) ? path.relative(process.cwd(), arg) || '.' : arg));
  log(`$ npx strata-pg ${shown.join(' ')}`);
  const started = performance.now();
  const output = await new Promise<CommandOutput>((resolve, reject) => {
    // The child runs in this process's working directory, so the relative paths shown are the paths used.
    const child = spawn(process.execPath, [STRATA_PG_CLI, ...shown], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: lines(stdout), stderr: lines(stderr) }));
  });
  log(`  (${((performance.now() - started) / 1000).toFixed(1)} s, exit status ${output.status})`);
  if (!(options.allowStatus ?? [0]).includes(output.status ?? -1)) {
    throw new Error(`strata-pg ${args[0]} failed with status ${output.status}:\n${[...output.stderr, ...output.stdout].join('\n')}`);
  }
  return output;
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.length > 0);
}
