/**
 * What a benchmark prints: one JSON line per result on stdout, progress on stderr, rounding, and
 * the machine's description and load.
 */
import os from 'node:os';

/** Rounds a rate for printing (to a whole number). */
export function roundRate(value: number): number {
  return Math.round(value);
}

/** Rounds a ratio to three decimals. */
export function roundRatio(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/**
 * Prints one result as a JSON line on stdout.
 *
 * @remarks
 * stdout holds nothing but these lines (progress goes to stderr), so `npm run -s bench | jq` works.
 */
export function emit(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/**
 * Makes a progress logger that writes `[<name>] <message>` lines to stderr.
 *
 * @example
 * ```ts
 * const info = createLog('records-bench');
 * info('loading 50000 orders');
 * ```
 */
export function createLog(name: string): (message: string) => void {
  return (message) => void process.stderr.write(`[${name}] ${message}\n`);
}

/** `"<n> cpus"`: the number of logical CPUs. */
export function machine(): string {
  return `${os.cpus().length} cpus`;
}

/** The one-minute load average, to two decimals (results from a busy machine move with it). */
export function loadAverage(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}

/**
 * The `p`-th percentile (0 to 100) of `sorted` (ascending) by the nearest-rank method, or null
 * when it is empty.
 *
 * @example
 * ```ts
 * const latencies = samples.sort((a, b) => a - b);
 * const p99 = percentile(latencies, 99);
 * ```
 */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}
