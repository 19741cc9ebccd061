/**
 * Measuring several systems' closed-loop rates in alternating slices, so that a machine whose speed
 * drifts during a run (other work on a shared host) moves every system's figure alike.
 */
import { runClosedLoop, type RunClocks, type RunResult } from './run-closed-loop.js';

/** One system's part in {@link runInterleaved} (with the CPU clock of its server, if it has one). */
export interface InterleavedSystem<K extends string> extends RunClocks {
  /** The name its result is reported under. */
  name: K;
  /** Runs one operation as client `client` (as {@link runClosedLoop}'s `operation`). */
  operation: (client: number) => Promise<unknown>;
}

/** Options of {@link runInterleaved}. */
export interface InterleaveOptions<K extends string> {
  systems: readonly InterleavedSystem<K>[];
  /** Concurrent closed-loop clients of each slice. */
  clients: number;
  /** Measured milliseconds per system, summed over its slices. */
  durationMs: number;
  /** Slices each system's measurement is cut into (at least 1). */
  slices: number;
  /** Unmeasured milliseconds before each slice (its clients start anew). */
  sliceWarmupMs: number;
}

/**
 * Measures each system for `durationMs` in total, as `slices` closed-loop runs of
 * `durationMs / slices` taken in turns: every system runs its first slice, then every system its
 * second, and so on, the order rotating by one each round so that no system always follows the
 * same one. Returns each system's slices summed into one {@link RunResult}.
 *
 * @remarks
 * Run one after another, two systems' figures measure two different stretches of the machine's
 * time; a host that slows down for a few seconds then shows up as a difference between the
 * systems. In slices of a fraction of a second, each system meets the slow stretches about as
 * often as the others. Only one system runs at a time.
 * @throws RangeError when `slices` is not a positive integer, `durationMs` or `sliceWarmupMs` is
 * negative, or two systems share a name.
 * @example
 * ```ts
 * const results = await runInterleaved({
 *   systems: [{ name: 'a', operation: () => queryA() }, { name: 'b', operation: () => queryB() }],
 *   clients: 1, durationMs: 3000, slices: 12, sliceWarmupMs: 20,
 * });
 * console.log(rate(results.a), rate(results.b));
 * ```
 */
export async function runInterleaved<K extends string>(options: InterleaveOptions<K>): Promise<Record<K, RunResult>> {
  const { systems, clients, durationMs, slices, sliceWarmupMs } = options;
  if (!Number.isInteger(slices) || slices < 1) throw new RangeError(`runInterleaved needs a positive integer number of slices, got ${slices}`);
  if (!(durationMs >= 0)) throw new RangeError(`runInterleaved needs durationMs >= 0, got ${durationMs}`);
  if (!(sliceWarmupMs >= 0)) throw new RangeError(`runInterleaved needs sliceWarmupMs >= 0, got ${sliceWarmupMs}`);
  const names = new Set(systems.map((system) => system.name));
  if (names.size !== systems.length) throw new RangeError(`runInterleaved needs distinct system names, got ${systems.map((system) => system.name).join(', ')}`);
  const totals = new Map<K, RunResult>(systems.map((system) => [system.name, { operations: 0, elapsedMs: 0, cpuMs: 0, serverCpuMs: system.serverCpuMs === undefined ? null : 0 }]));
  for (let round = 0; round < slices; round++) {
    for (let turn = 0; turn < systems.length; turn++) {
      const system = systems[(round + turn) % systems.length]!;
      const slice = await runClosedLoop({
        clients,
        warmupMs: sliceWarmupMs,
        durationMs: durationMs / slices,
        operation: system.operation,
        ...(system.serverCpuMs === undefined ? {} : { serverCpuMs: system.serverCpuMs }),
      });
      const total = totals.get(system.name)!;
      total.operations += slice.operations;
      total.elapsedMs += slice.elapsedMs;
      total.cpuMs += slice.cpuMs;
      if (total.serverCpuMs !== null) total.serverCpuMs = slice.serverCpuMs === null ? null : total.serverCpuMs + slice.serverCpuMs;
    }
  }
  return Object.fromEntries(totals) as Record<K, RunResult>;
}
