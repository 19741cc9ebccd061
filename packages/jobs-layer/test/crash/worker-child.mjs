// A worker process for the jobs crash test: it connects to the database its parent serves, runs a
// worker on the `crash` queue, and completes each job together with the job's effect (an atomic
// add of 1 under `effect/<n>`), so the parent can SIGKILL it at any moment and then check that
// every effect landed exactly once.
//
// Usage (through child_process.fork with an IPC channel): node worker-child.mjs <url> <options JSON>
// Options: { concurrency, leaseMs, seed }. Reports { type: 'ready' } once its worker runs, and
// { type: 'fatal', message } if it cannot start.
import { connect, seededRandom } from '@strata/core';
import { JobStore, Queue } from '@strata/jobs';
import { z } from 'zod';

const [url, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}');
process.on('disconnect', () => process.exit(3));

try {
  const db = await connect(url);
  const store = await JobStore.open(db, { path: ['crash-jobs'] });
  const queue = new Queue(store, 'crash', { payload: z.object({ n: z.number().int() }), maxAttempts: 1_000, backoff: { type: 'fixed', delayMs: 0 } });
  const random = seededRandom(options.seed);
  const one = Buffer.alloc(8);
  one.writeBigInt64LE(1n);
  queue.work(
    async (job) => {
      // Long enough that kills land while jobs run and while completions are in flight.
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.floor(random() * 40)));
      await job.complete((tx) => tx.add(new TextEncoder().encode(`effect/${job.payload.n}`), one));
    },
    { concurrency: options.concurrency, leaseMs: options.leaseMs, pollMs: 100 },
  );
  process.send({ type: 'ready' });
} catch (error) {
  process.send({ type: 'fatal', message: String(error?.stack ?? error) });
  process.exit(1);
}
