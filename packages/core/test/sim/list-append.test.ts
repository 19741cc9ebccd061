// Proves that concurrent list-append transactions through db.transact are strictly serializable:
// the checker finds no anomaly in the committed history (point-read and range-read lists, blind and
// read-modify-write appends), every committed append and no aborted one is in the final lists,
// and the final lists equal the inferred version orders, in memory and on a data directory.
// Replay with SEED=<n>: the seed fixes the plans and yields; client interleaving may still vary.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Database, nodeRuntime, open, seededRandom } from '../../src/index.js';
import { makeLists, runListAppendWorkload, type ListAppendRun } from './list-append-workload.js';
import { checkListAppend, describeAnomalies } from './serializability-checker.js';

const SEED = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
console.log(`list-append: SEED=${SEED}`);

function runtimeFor(seed: number) {
  return { ...nodeRuntime, random: seededRandom(seed) };
}

/** Checks a run; returns nothing, fails the test with the anomalies found. */
function expectSerializable(run: ListAppendRun, seed: number): void {
  const result = checkListAppend(run.history);
  expect(result.valid, `SEED=${seed}\n${describeAnomalies(result)}`).toBe(true);
  expect(result.stats.realtime).toBe(true);

  const committedAppends = new Set<number>();
  const abortedAppends = new Set<number>();
  for (const transaction of run.history) {
    for (const op of transaction.ops) {
      if (op.type !== 'append') continue;
      (transaction.status === 'committed' ? committedAppends : abortedAppends).add(op.value);
    }
  }
  let elements = 0;
  for (const [name, list] of run.finalLists) {
    expect(list, `${name} (${run.kinds.get(name)}): final read vs inferred version order`).toEqual(result.versionOrders.get(name));
    for (const value of list) expect(committedAppends.has(value), `${name} holds ${value}, not a committed append`).toBe(true);
    elements += list.length;
  }
  // No committed append is lost and none appears twice.
  expect(elements).toBe(committedAppends.size);
  // The workload has to produce conflicts, or it proves little about conflict detection.
  expect(run.aborted, 'attempts that failed and retried').toBeGreaterThan(0);
  console.log(
    `list-append: ${run.committed} committed, ${run.aborted} aborted attempts, edges ${JSON.stringify(result.stats.edges)}, ${elements} elements`,
  );
}

async function listsOf(db: Database): Promise<Map<string, number[]>> {
  const lists = makeLists({});
  const out = new Map<string, number[]>();
  await db.transact(async (tx) => {
    for (const list of lists) out.set(list.name, await list.read(tx));
  });
  return out;
}

describe('list-append workload', () => {
  it('has no anomaly with 20 concurrent clients over 8 lists (in memory)', async () => {
    const db = await open({ runtime: runtimeFor(SEED) });
    try {
      const run = await runListAppendWorkload(db, { seed: SEED, clients: 20, transactionsPerClient: 150 });
      expectSerializable(run, SEED);
      // Each storage form saw appends.
      for (const [name, list] of run.finalLists) expect(list.length, `${name} (${run.kinds.get(name)})`).toBeGreaterThan(0);
    } finally {
      await db.close();
    }
  });

  it('has no anomaly on a data directory with a short MVCC window, and the lists survive reopening', async () => {
    const seed = (SEED + 1) >>> 0;
    const directory = await mkdtemp(path.join(os.tmpdir(), 'strata-list-append-'));
    try {
      // A short MVCC window makes the storage server move versions into the classic-level engine
      // during the run, so reads combine the in-memory window with the durable engine.
      const db = await open({ path: directory, mvccWindowMs: 100, runtime: runtimeFor(seed) });
      let run: ListAppendRun;
      try {
        run = await runListAppendWorkload(db, { seed, clients: 20, transactionsPerClient: 50 });
        expectSerializable(run, seed);
      } finally {
        await db.close();
      }
      const reopened = await open({ path: directory });
      try {
        expect(await listsOf(reopened)).toEqual(run.finalLists);
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
