// Proves invariants 1-4 of online-indexer.ts under concurrency: while writers insert, update,
// upsert and delete records at random (conflicting with the build's transactions and retrying), an
// online build of value, unique, count, sum, min and max indexes finishes, and afterwards every
// built index equals exactly the same index written record by record into an empty store from the
// final records. Replay with SEED=<n>: the seed fixes the operations; client interleaving may still
// vary, because commits wait on real callbacks.
import { nodeRuntime, open, seededRandom, type Database } from '@strata/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordLayerError, RecordStore, defineSchema, index, readInt64, recordType, type IndexDefinition, type SchemaTypes, type StoreView } from '../../src/index.js';

const SEED = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
console.log(`online-index-build: SEED=${SEED}`);

const RECORDS_BEFORE = 120;
const IDS = 160;
const WRITERS = 4;
const OPERATIONS_AFTER_BUILD = 10;
const TEAMS = ['red', 'blue', 'green', 'gold'];

const item = z.object({ id: z.number().int(), name: z.string(), team: z.string(), score: z.number().int(), bonus: z.bigint().optional() });
const indexes: Record<string, IndexDefinition> = {
  byScore: index.value(['team', 'score']),
  byName: index.value(['name'], { unique: true }),
  perTeam: index.count({ groupBy: ['team'] }),
  all: index.count(),
  bonusPerTeam: index.sum('bonus', { groupBy: ['team'] }),
  lowest: index.min('score', { groupBy: ['team'] }),
  highest: index.max('score'),
};
const schemaWith = (ix: Record<string, IndexDefinition>) => defineSchema({ items: recordType({ schema: item, primaryKey: ['id'], indexes: ix }) });

function randomItem(random: () => number, id: number): z.output<typeof item> {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  // Names are unique per id, so the unique index meets no duplicate and the build must finish.
  return { id, name: `n${id}`, team: pick(TEAMS), score: Math.floor(random() * 30), ...(random() < 0.7 ? { bonus: BigInt(Math.floor(random() * 200) - 50) } : {}) };
}

async function indexEntries(db: Database, s: RecordStore<SchemaTypes>): Promise<string[]> {
  const { begin, end } = s.subspace.range([2]);
  const rows = await db.transact((tx) => tx.getRangeAll(begin, end));
  const text = (key: unknown[]): string => JSON.stringify(key, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
  const out: string[] = [];
  for (const row of rows) {
    const key = (s.subspace.unpack(row.key) as unknown[]).slice(1);
    const definition = s.schema.types[key[0] as string]!.indexes[key[1] as string]!;
    if (definition.kind === 'count' || definition.kind === 'sum') {
      const total = readInt64(row.value);
      if (total !== 0n) out.push(`${text(key)}=${total}`);
    } else out.push(text(key));
  }
  return out;
}

describe('online index build under concurrent writers', () => {
  it(`leaves every built index equal to one rebuilt from scratch (SEED=${SEED})`, async () => {
    const random = seededRandom(SEED);
    const db = await open({ runtime: { ...nodeRuntime, random: seededRandom(SEED ^ 0x5eed) } });
    try {
      const before = await RecordStore.open(db, { path: ['sim'], schema: schemaWith({}) });
      const ids = Array.from({ length: IDS }, (_, i) => i).filter(() => random() < RECORDS_BEFORE / IDS);
      for (let i = 0; i < ids.length; i += 40) await db.transact((tx) => tx.at(before).items.insertMany(ids.slice(i, i + 40).map((id) => randomItem(random, id))));
      const store = await RecordStore.open(db, { path: ['sim'], schema: schemaWith(indexes) });
      expect(store.writeOnlyIndexes('items').size).toBe(Object.keys(indexes).length);

      let building = true;
      let operations = 0;
      const writer = async (seed: number): Promise<void> => {
        const r = seededRandom(seed);
        // Runs until the build is over and then a few more operations (against readable indexes).
        for (let after = 0; after < OPERATIONS_AFTER_BUILD; ) {
          if (!building) after++;
          const id = Math.floor(r() * IDS);
          const choice = r();
          const next = randomItem(r, id);
          try {
            await db.transact(async (tx) => {
              const view = tx.at(store).items;
              if (choice < 0.35) await view.upsert(next);
              else if (choice < 0.65) await view.update({ id }, { team: next.team, score: next.score, bonus: next.bonus });
              else if (choice < 0.85) await view.delete({ id });
              else await view.insert(next);
            });
            operations++;
          } catch (error) {
            if (!(error instanceof RecordLayerError && (error.code === 'record_not_found' || error.code === 'record_exists'))) throw error;
          }
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      const build = store.buildIndexes(db, { transactionRecords: 5 }).finally(() => {
        building = false;
      });
      const [result] = await Promise.all([build, ...Array.from({ length: WRITERS }, (_, i) => writer(SEED + i + 1))]);
      expect(result.built.length).toBe(Object.keys(indexes).length);
      expect(operations).toBeGreaterThan(0);

      const records = (await db.transact((tx) => tx.at(store).items.findMany({}))).records;
      const fresh = await RecordStore.open(db, { path: ['scratch'], schema: schemaWith(indexes) });
      for (let i = 0; i < records.length; i += 40) await db.transact((tx) => (tx.at(fresh) as StoreView<SchemaTypes>).items!.insertMany(records.slice(i, i + 40)));
      expect(await indexEntries(db, store), `SEED=${SEED}`).toEqual(await indexEntries(db, fresh));
    } finally {
      await db.close();
    }
  });
});
