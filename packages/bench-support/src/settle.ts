/**
 * Waiting between benchmark cases until the system under test has finished the background work an
 * earlier case left behind, so that each case measures its own workload only.
 */
import type { RunClocks } from './run-closed-loop.js';

/** Options of {@link settle}. */
export interface SettleOptions extends RunClocks {
  /** The shortest wait, in milliseconds (say, longer than the system's delay before it flushes). */
  minMs: number;
  /** The longest wait, in milliseconds; past it the run goes on, reported as not quiet. */
  maxMs: number;
  /** Length of each stretch checked for quiet, in milliseconds (default 500). */
  stretchMs?: number;
  /**
   * A stretch is quiet when this process and the server together used less CPU than this share of
   * one core in it (default 0.1).
   */
  quietShare?: number;
}

/** How a {@link settle} ended. */
export interface SettleResult {
  /** Milliseconds waited. */
  waitedMs: number;
  /** Whether the last stretch was quiet; false when `maxMs` ran out first. */
  quiet: boolean;
}

/**
 * Waits at least `minMs`, then until a stretch of `stretchMs` in which this process (every thread)
 * and the server (`serverCpuMs`, when given) used less than `quietShare` of one core, or until
 * `maxMs` has passed.
 *
 * @remarks
 * A storage engine that moves writes to disk some seconds after they commit, or a database
 * server's checkpoints and vacuum, would otherwise run inside the next case and charge it for
 * the previous one's work. A case that starts after `settle` measures its own workload on a quiet
 * machine; every system of a benchmark gets the same settle, so none is favoured.
 * @example
 * ```ts
 * const { waitedMs, quiet } = await settle({ minMs: 6000, maxMs: 60_000, serverCpuMs: () => server.cpuMs() });
 * ```
 */
export async function settle(options: SettleOptions): Promise<SettleResult> {
  const stretchMs = options.stretchMs ?? 500;
  const quietShare = options.quietShare ?? 0.1;
  if (!(options.minMs >= 0) || !(options.maxMs >= options.minMs)) {
    throw new RangeError(`settle needs 0 <= minMs <= maxMs, got minMs ${options.minMs} and maxMs ${options.maxMs}`);
  }
  if (!(stretchMs > 0)) throw new RangeError(`settle needs a positive stretchMs, got ${stretchMs}`);
  const serverClock = options.serverCpuMs ?? (() => null);
  const start = performance.now();
  await sleep(options.minMs);
  for (;;) {
    const cpuStart = process.cpuUsage();
    const serverStart = serverClock();
    const stretchStart = performance.now();
    await sleep(stretchMs);
    const elapsed = performance.now() - stretchStart;
    const used = process.cpuUsage(cpuStart);
    const serverEnd = serverClock();
    const serverMs = serverStart === null || serverEnd === null ? 0 : serverEnd - serverStart;
    const cpuMs = (used.user + used.system) / 1000 + serverMs;
    const waitedMs = performance.now() - start;
    if (cpuMs < quietShare * elapsed) return { waitedMs, quiet: true };
    if (waitedMs >= options.maxMs) return { waitedMs, quiet: false };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
