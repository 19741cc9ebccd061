/**
 * `@strata/bench-support`: the machinery Strata's benchmarks share, so that each benchmark holds
 * only its workload.
 *
 * @remarks
 * Settings from the environment ({@link envNumber}, {@link envNameList}), scratch directories and
 * exit handlers that clean up after success, failure and Ctrl-C ({@link makeScratchDirectory},
 * {@link onExit}), a free loopback port, closed-loop and timed runs with CPU accounting
 * ({@link runClosedLoop}, {@link timed}), closed-loop runs of several systems in alternating
 * slices ({@link runInterleaved}), a wait for quiet between cases ({@link settle}),
 * JSON-line output ({@link emit}), and a real PostgreSQL server ({@link startPostgres}) with the
 * vendored sample databases loaded as psql would load them ({@link loadDataset}). A private,
 * development-only package: the layers list it in `devDependencies`; their `src/bench` folders
 * and tests, and the examples, import it.
 * @example
 * ```ts
 * import { emit, rate, runClosedLoop, startPostgres } from '@strata/bench-support';
 *
 * const server = await startPostgres({ label: 'my-bench-postgres' });
 * try {
 *   const result = await runClosedLoop({ clients: 8, warmupMs: 200, durationMs: 1000, operation: () => work(server.connectionString) });
 *   emit({ bench: 'work', unit: 'operations/s', value: rate(result) });
 * } finally {
 *   await server.stop();
 * }
 * ```
 * @packageDocumentation
 */
export { BenchSettingError, envIntegerList, envNameList, envNumber } from './bench-settings.js';
export { freePort } from './free-port.js';
export { createLog, emit, loadAverage, machine, percentile, roundRate, roundRatio } from './output.js';
export { rate, runClosedLoop, timed, type RunClocks, type RunResult } from './run-closed-loop.js';
export { runInterleaved, type InterleaveOptions, type InterleavedSystem } from './interleave.js';
export { settle, type SettleOptions, type SettleResult } from './settle.js';
export { makeScratchDirectory, onExit, removeScratchDirectory } from './scratch-directory.js';
export { startPostgres, type PostgresServer, type StartPostgresOptions } from './start-postgres.js';
export {
  DATASETS_DIRECTORY,
  datasetFiles,
  loadDataset,
  parsePsqlScript,
  type DatasetName,
  type DatasetServer,
  type LoadDatasetOptions,
  type LoadedDataset,
  type ScriptStep,
} from './load-psql-script.js';
