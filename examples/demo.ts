/**
 * The Strata demo: runs each example section in turn on a fresh data directory and prints what
 * happened. Run it with `npm run demo` from the repository root.
 *
 * Each section gets its own subdirectory, so sections never see each other's keys and can be
 * added, removed or reordered freely. To add a section, append an entry to `sections`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBasics } from './basics/basics.js';
import { runJobs } from './jobs/jobs.js';
import { runRecords } from './records/records.js';
import { runTuples } from './tuples/tuples.js';

/** What a section receives: its own empty data directory and a place to print. */
interface SectionContext {
  dataDir: string;
  log: (line: string) => void;
}

interface Section {
  /** Printed as the section's header. */
  title: string;
  /** The subdirectory of the demo's data directory that this section uses. */
  directory: string;
  run: (context: SectionContext) => Promise<void>;
}

const sections: Section[] = [
  {
    title: 'Basics: the transactional key-value core',
    directory: 'basics',
    run: async ({ dataDir, log }) => {
      await runBasics({ path: dataDir, log });
    },
  },
  {
    title: 'Tuple keys, subspaces and directories',
    directory: 'tuples',
    run: async ({ dataDir, log }) => {
      await runTuples({ path: dataDir, log });
    },
  },
  {
    title: 'Typed records, indexes and queries',
    directory: 'records',
    run: async ({ dataDir, log }) => {
      await runRecords({ path: dataDir, log });
    },
  },
  {
    title: 'Jobs: lease-based queues',
    directory: 'jobs',
    run: async ({ dataDir, log }) => {
      await runJobs({ path: dataDir, log });
    },
  },
];

/**
 * The data directory sits in the repository's git-ignored `.data/` folder. It is resolved from
 * this file's location (examples/dist/demo.js), so the demo works from any working directory.
 */
const DEMO_DIR = fileURLToPath(new URL('../../.data/demo', import.meta.url));

async function main(): Promise<void> {
  // Start from nothing, so every run of the demo shows the same story.
  fs.rmSync(DEMO_DIR, { recursive: true, force: true });
  fs.mkdirSync(DEMO_DIR, { recursive: true });
  const started = performance.now();
  for (const section of sections) {
    console.log('');
    console.log(`=== ${section.title} ===`);
    await section.run({ dataDir: path.join(DEMO_DIR, section.directory), log: (line) => console.log(line) });
  }
  console.log('');
  console.log(`Demo finished in ${((performance.now() - started) / 1000).toFixed(1)} s. Data left in ${path.relative(process.cwd(), DEMO_DIR) || '.'}/.`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
