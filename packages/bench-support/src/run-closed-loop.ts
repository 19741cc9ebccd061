/**
 * Measured runs: closed-loop clients for a fixed time, or a timed body, each with the CPU this
 * process used in the measured interval (and, given a clock for it, the CPU a server used).
 */

/** Operations completed in a measured interval, the interval's length and the process's CPU in it. */
export interface RunResult {
  /** Operations that completed inside the measured interval. */
  operations: number;
  /** Length of the measured interval, in milliseconds. */
  elapsedMs: number;
  /**
   * CPU (user + system, all threads) this Node process used in the interval, in milliseconds. It
   * leaves out other processes, such as a database server's.
   */
  cpuMs: number;
  /**
   * CPU another process (a database server) used in the interval, in milliseconds, from the
   * `serverCpuMs` clock the run was given; null without one.
   */
  serverCpuMs: number | null;
}

/** Options both kinds of run take. */
export interface RunClocks {
  /**
   * A clock of CPU milliseconds used by a server outside this process (for example
   * the `cpuMs` of a server from `startPostgres`), sampled at the start and end of the measured
   * interval.
   */
  serverCpuMs?: () => number | null;
}

/**
 * Runs `clients` concurrent closed-loop clients (each awaits one operation, then starts the next)
 * for `warmupMs` unmeasured, then `durationMs` measured.
 *
 * @remarks
 * An operation counts when it completes inside the measured interval. Returns once every client's
 * last operation has finished; `elapsedMs` is `durationMs`.
 * @example
 * ```ts
 * const result = await runClosedLoop({ clients: 16, warmupMs: 500, durationMs: 3000, operation: () => insertOne() });
 * console.log(rate(result), 'operations/s');
 * ```
 */
export async function runClosedLoop(
  options: RunClocks & { clients: number; durationMs: number; warmupMs: number; operation: (client: number) => Promise<unknown> },
): Promise<RunResult> {
  const { clients, durationMs, warmupMs, operation } = options;
  const serverClock = options.serverCpuMs ?? (() => null);
  const measureFrom = performance.now() + warmupMs;
  const stopAt = measureFrom + durationMs;
  let operations = 0;
  let cpuStart = process.cpuUsage();
  let serverStart = serverClock();
  let cpuMs: number | null = null;
  let serverCpuMs: number | null = null;
  const startTimer = setTimeout(() => {
    cpuStart = process.cpuUsage();
    serverStart = serverClock();
  }, warmupMs);
  const stopTimer = setTimeout(() => {
    cpuMs = cpuMsSince(cpuStart);
    serverCpuMs = difference(serverClock(), serverStart);
  }, warmupMs + durationMs);
  const client = async (index: number): Promise<void> => {
    while (performance.now() < stopAt) {
      await operation(index);
      const now = performance.now();
      if (now >= measureFrom && now <= stopAt) operations++;
    }
  };
  try {
    await Promise.all(Array.from({ length: clients }, (_, index) => client(index)));
  } finally {
    clearTimeout(startTimer);
    clearTimeout(stopTimer);
  }
  return { operations, elapsedMs: durationMs, cpuMs: cpuMs ?? cpuMsSince(cpuStart), serverCpuMs: cpuMs === null ? difference(serverClock(), serverStart) : serverCpuMs };
}

/**
 * Times `body` (wall clock and this process's CPU), which performs `operations` operations.
 *
 * @example
 * ```ts
 * const result = await timed(10_000, async () => {
 *   for (let i = 0; i < 100; i++) await insertBatchOf100();
 * });
 * ```
 */
export async function timed(operations: number, body: () => Promise<void>, clocks: RunClocks = {}): Promise<RunResult> {
  const serverClock = clocks.serverCpuMs ?? (() => null);
  const serverStart = serverClock();
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await body();
  const elapsedMs = performance.now() - start;
  return { operations, elapsedMs, cpuMs: cpuMsSince(cpuStart), serverCpuMs: difference(serverClock(), serverStart) };
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

function difference(end: number | null, start: number | null): number | null {
  return end === null || start === null ? null : end - start;
}

/** Operations per second of a run (0 for an empty interval). */
export function rate(result: RunResult): number {
  return result.elapsedMs > 0 ? (result.operations * 1000) / result.elapsedMs : 0;
}
