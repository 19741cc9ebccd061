// Proves the jobs layer's central promise under real crashes: worker processes that share one
// database (served over WebSocket) are killed with SIGKILL at random while they run and complete
// jobs, replacements start, and in the end every job is completed and the effect each job writes
// in its completion transaction is there exactly once — none lost, none doubled.
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, seededRandom, serve, type Database, type DatabaseServer } from '@strata/core';
import { JobStore, Queue } from '@strata/jobs';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'worker-child.mjs');
const SEED = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const JOBS = 600;
const WORKERS = 3;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function startWorker(url: string, seed: number): { child: ChildProcess; ready: Promise<void>; exited: Promise<void> } {
  const child = fork(CHILD, [url, JSON.stringify({ concurrency: 4, leaseMs: 400, seed })], { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (message: { type: string; message?: string }) => {
      if (message.type === 'ready') resolve();
      else reject(new Error(`worker failed to start: ${message.message ?? ''}`));
    });
    void exited.then(() => reject(new Error(`worker exited before it was ready: ${stderr}`)));
  });
  ready.catch(() => {});
  return { child, ready, exited };
}

describe('jobs under worker crashes', () => {
  it(`completes every job with its effect exactly once while workers are SIGKILLed (seed ${SEED})`, { timeout: 120_000 }, async () => {
    console.log(`jobs worker-kill SEED=${SEED}`);
    const random = seededRandom(SEED);
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-jobs-crash-'));
    cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
    const db: Database = await open({ path: directory });
    cleanups.push(() => db.close());
    const server: DatabaseServer = await serve(db);
    cleanups.push(() => server.close());
    const store = await JobStore.open(db, { path: ['crash-jobs'] });
    const queue = new Queue(store, 'crash', { payload: z.object({ n: z.number().int() }), maxAttempts: 1_000, backoff: { type: 'fixed', delayMs: 0 } });
    const ids: string[] = [];
    for (let first = 0; first < JOBS; first += 100) {
      const enqueued = await db.transact((tx) => queue.enqueueMany(tx, Array.from({ length: 100 }, (_, i) => ({ payload: { n: first + i } }))));
      ids.push(...enqueued.map((job) => job.id));
    }

    const workers = new Set<ReturnType<typeof startWorker>>();
    cleanups.push(async () => {
      for (const worker of workers) worker.child.kill('SIGKILL');
      await Promise.all([...workers].map((worker) => worker.exited));
    });
    const spawn = async (): Promise<void> => {
      const worker = startWorker(server.url, Math.floor(random() * 2 ** 31));
      workers.add(worker);
      void worker.exited.then(() => workers.delete(worker));
      await worker.ready;
    };
    for (let i = 0; i < WORKERS; i++) await spawn();

    let kills = 0;
    const deadline = Date.now() + 100_000;
    for (;;) {
      const counts = await db.transact((tx) => queue.counts(tx));
      if (counts.completed === JOBS) break;
      if (Date.now() > deadline) throw new Error(`seed ${SEED}: not done after ${kills} kills: ${JSON.stringify(counts)}`);
      await new Promise((resolve) => setTimeout(resolve, 20 + Math.floor(random() * 100)));
      const victims = [...workers];
      const victim = victims[Math.floor(random() * victims.length)];
      if (victim !== undefined && counts.completed < JOBS * 0.9) {
        victim.child.kill('SIGKILL');
        await victim.exited;
        kills++;
        await spawn();
      }
    }

    const counts = await db.transact((tx) => queue.counts(tx));
    expect(counts, `seed ${SEED}`).toMatchObject({ completed: JOBS, running: 0, ready: 0, delayed: 0, dead: 0 });
    const effects = await db.transact((tx) => tx.getRangeAll(new TextEncoder().encode('effect/'), new TextEncoder().encode('effect0')));
    expect(effects.length, `seed ${SEED}`).toBe(JOBS);
    for (const row of effects) expect(Buffer.from(row.value).readBigInt64LE(0), `seed ${SEED}: ${new TextDecoder().decode(row.key)}`).toBe(1n);
    // The run only proves something if workers really died while holding jobs, which then ran
    // again under a new lease.
    const rerun = (await db.transact((tx) => Promise.all(ids.map((id) => queue.get(tx, id))))).filter((job) => job!.attempts > 1).length;
    expect(kills, `seed ${SEED}`).toBeGreaterThanOrEqual(5);
    expect(rerun, `seed ${SEED}`).toBeGreaterThan(0);
    console.log(`jobs worker-kill SEED=${SEED}: ${JOBS} jobs, ${kills} SIGKILLs, ${rerun} jobs ran again after their worker died`);
  });
});
