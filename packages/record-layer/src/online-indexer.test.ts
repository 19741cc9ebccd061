// Proves the online index build: an index added to a type with records is write-only (queries
// refuse it, saying it is still building), buildIndexes backfills value, unique, count, sum, min
// and max indexes in bounded transactions so that each equals the same index written record by
// record into an empty store; a duplicate met by a unique build fails with unique_violation naming
// the values and leaves the index write-only; an interrupted build resumes from its stored progress
// in a reopened store, with writes in between; a new index on an empty type is readable at once;
// and index entries of records stored without a field that has a default hold the default, as reads
// do, through the build and every later write.
import { open, type Database } from '@strata/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { readInt64 } from './int64.js';
import { RecordStore, type StoreView } from './record-store.js';
import { defineSchema, index, recordType, type IndexDefinition, type SchemaTypes } from './schema.js';

const player = z.object({ id: z.number().int(), name: z.string(), team: z.string(), score: z.number().int() });
type Player = z.output<typeof player>;
const indexes: Record<string, IndexDefinition> = {
  byScore: index.value(['score']),
  byName: index.value(['name'], { unique: true }),
  perTeam: index.count({ groupBy: ['team'] }),
  all: index.count(),
  scorePerTeam: index.sum('score', { groupBy: ['team'] }),
  lowest: index.min('score', { groupBy: ['team'] }),
  highest: index.max('score'),
};
const schemaWith = (ix: Record<string, IndexDefinition>) => defineSchema({ players: recordType({ schema: player, primaryKey: ['id'], indexes: ix }) });

let db: Database;
beforeEach(async () => {
  db = await open();
});
afterEach(async () => {
  await db.close();
});

const at =
  <T extends SchemaTypes>(s: RecordStore<T>) =>
  <R>(fn: (view: StoreView<T>) => Promise<R>): Promise<R> =>
    db.transact((tx) => fn(tx.at(s)));

const players = (n: number, from = 0): Player[] =>
  Array.from({ length: n }, (_, i) => ({ id: from + i, name: `p${from + i}`, team: ['red', 'blue', 'green'][(from + i) % 3]!, score: ((from + i) * 37) % 50 }));

/** Every index entry of a store as text (count and sum groups with a zero total left out). */
async function indexEntries(s: RecordStore<SchemaTypes>): Promise<string[]> {
  const { begin, end } = s.subspace.range([2]);
  const rows = await db.transact((tx) => tx.getRangeAll(begin, end));
  const out: string[] = [];
  for (const row of rows) {
    const key = s.subspace.unpack(row.key) as unknown[];
    const definition = s.schema.types[key[1] as string]!.indexes[key[2] as string]!;
    if (definition.kind === 'count' || definition.kind === 'sum') {
      const total = readInt64(row.value);
      if (total !== 0n) out.push(`${JSON.stringify(key.slice(1), (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}=${total}`);
    } else out.push(JSON.stringify(key.slice(1), (_, v) => (typeof v === 'bigint' ? `${v}n` : v)));
  }
  return out;
}

/** The index entries the ordinary write path gives the store's current records, in a fresh directory. */
async function fromScratch(s: RecordStore<SchemaTypes>, path: string[]): Promise<string[]> {
  const records = await db.transact(async (tx) => (await (tx.at(s) as StoreView<SchemaTypes>).players!.findMany({})).records);
  const fresh = await RecordStore.open(db, { path, schema: s.schema });
  for (let i = 0; i < records.length; i += 50) await db.transact((tx) => (tx.at(fresh) as StoreView<SchemaTypes>).players!.insertMany(records.slice(i, i + 50)));
  return indexEntries(fresh);
}

async function refusal(promise: Promise<unknown>): Promise<RecordLayerError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RecordLayerError);
    return error as RecordLayerError;
  }
  throw new Error('expected a RecordLayerError');
}

describe('online index build', () => {
  it('builds value, unique, count, sum, min and max indexes over stored records in bounded transactions', async () => {
    const before = await RecordStore.open(db, { path: ['game'], schema: schemaWith({}) });
    for (let i = 0; i < 40; i += 20) await at(before)((v) => v.players.insertMany(players(20, i)));
    const store = await RecordStore.open(db, { path: ['game'], schema: schemaWith(indexes) });
    expect([...store.writeOnlyIndexes('players')].sort()).toEqual(Object.keys(indexes).sort());

    // Write-only indexes serve no query, and the refusal says why.
    const query = await refusal(at(store)((v) => v.players.findMany({ where: { score: 3 } })));
    expect(query.code).toBe('no_index_for_query');
    expect(query.message).toContain('players.byScore');
    expect(query.message).toContain('still building');
    const count = await refusal(at(store)((v) => v.players.count({ where: { team: 'red' } })));
    expect(count.code).toBe('no_index_for_query');
    expect(count.message).toContain('still building');

    const result = await store.buildIndexes(db, { transactionRecords: 7 });
    expect(result.built.sort()).toEqual(Object.keys(indexes).map((name) => `players.${name}`).sort());
    expect(result.records).toBe(40 * Object.keys(indexes).length);
    // 40 records, 7 per transaction: 6 transactions with records and one that finds none, per index.
    expect(result.transactions).toBe(7 * Object.keys(indexes).length);
    expect(store.writeOnlyIndexes('players').size).toBe(0);

    expect(await indexEntries(store)).toEqual(await fromScratch(store, ['scratch']));
    const all = players(40);
    expect(await at(store)((v) => v.players.count({ where: { team: 'red' } }))).toBe(BigInt(all.filter((p) => p.team === 'red').length));
    expect(await at(store)((v) => v.players.sum('score', { where: { team: 'blue' } }))).toBe(BigInt(all.filter((p) => p.team === 'blue').reduce((a, p) => a + p.score, 0)));
    expect(await at(store)((v) => v.players.min('score', { where: { team: 'green' } }))).toBe(Math.min(...all.filter((p) => p.team === 'green').map((p) => p.score)));
    expect(await at(store)((v) => v.players.max('score'))).toBe(Math.max(...all.map((p) => p.score)));
    expect((await at(store)((v) => v.players.findMany({ where: { score: 3 } }))).records.map((p) => p.id)).toEqual(all.filter((p) => p.score === 3).map((p) => p.id));
    // A store opened before the build finished learns the index is readable from its state key.
    expect(await at(store)((v) => v.players.findFirst({ where: { name: 'p7' } }))).toMatchObject({ id: 7 });
  });

  it('fails a unique build on a duplicate, naming the values, and leaves the index write-only', async () => {
    const before = await RecordStore.open(db, { path: ['game'], schema: schemaWith({}) });
    await at(before)((v) => v.players.insertMany([...players(10), { id: 20, name: 'p3', team: 'red', score: 1 }]));
    const store = await RecordStore.open(db, { path: ['game'], schema: schemaWith({ byName: index.value(['name'], { unique: true }) }) });
    const error = await refusal(store.buildIndexes(db, { transactionRecords: 4 }));
    expect(error.code).toBe('unique_violation');
    expect(error.message).toContain('"p3"');
    expect(error.details).toMatchObject({ type: 'players', index: 'byName', values: ['p3'] });
    expect([...store.writeOnlyIndexes('players')]).toEqual(['byName']);
    const reopened = await RecordStore.open(db, { path: ['game'], schema: schemaWith({ byName: index.value(['name'], { unique: true }) }) });
    expect([...reopened.writeOnlyIndexes('players')]).toEqual(['byName']);
    // While write-only, a writer inside the built range is checked like a readable unique index.
    expect((await refusal(at(reopened)((v) => v.players.update({ id: 5 }, { name: 'p0' })))).code).toBe('unique_violation');
    // Fixing the duplicate lets the build finish from where it stopped.
    await at(reopened)((v) => v.players.update({ id: 20 }, { name: 'p20' }));
    expect(await reopened.buildIndexes(db, { transactionRecords: 4 })).toMatchObject({ built: ['players.byName'] });
    expect(await indexEntries(reopened)).toEqual(await fromScratch(reopened, ['scratch']));
  });

  it('resumes an interrupted build from its stored progress, with writes in between', async () => {
    const before = await RecordStore.open(db, { path: ['game'], schema: schemaWith({}) });
    await at(before)((v) => v.players.insertMany(players(30)));
    const first = await RecordStore.open(db, { path: ['game'], schema: schemaWith(indexes) });
    const partial = await first.buildIndexes(db, { transactionRecords: 5, transactionsMax: 2, indexes: ['players.scorePerTeam', 'players.byScore'] });
    expect(partial).toMatchObject({ built: [], transactions: 2, records: 10 });
    expect(partial.pending.length).toBeGreaterThan(0);
    // Writes inside and outside the built range (the last record built, 9, and the next, 10, at
    // its edge), then a new store object (as after a crash).
    await at(first)(async (v) => {
      await v.players.update({ id: 9 }, { score: 97, team: 'green' });
      await v.players.update({ id: 10 }, { score: 96, team: 'green' });
      await v.players.update({ id: 2 }, { score: 99, team: 'blue' });
      await v.players.delete({ id: 3 });
      await v.players.update({ id: 25 }, { score: 98 });
      await v.players.delete({ id: 26 });
      await v.players.insert({ id: 100, name: 'late', team: 'red', score: 7 });
      await v.players.insert({ id: -1, name: 'early', team: 'red', score: 8 });
    });
    const second = await RecordStore.open(db, { path: ['game'], schema: schemaWith(indexes) });
    expect(second.writeOnlyIndexes('players').size).toBe(Object.keys(indexes).length);
    const rest = await second.buildIndexes(db, { transactionRecords: 5 });
    expect(rest.built.length).toBe(Object.keys(indexes).length);
    expect(await indexEntries(second)).toEqual(await fromScratch(second, ['scratch']));
  });

  it('makes a new index on a type without records readable at once', async () => {
    await RecordStore.open(db, { path: ['game'], schema: schemaWith({}) });
    const store = await RecordStore.open(db, { path: ['game'], schema: schemaWith(indexes) });
    expect(store.writeOnlyIndexes('players').size).toBe(0);
    await at(store)((v) => v.players.insertMany(players(5)));
    expect(await at(store)((v) => v.players.count())).toBe(5n);
    expect(await store.buildIndexes(db)).toEqual({ built: [], pending: [], transactions: 0, records: 0 });
  });
});

describe('indexes over fields with defaults', () => {
  // Records stored before a field with a default existed read with the default; their index entries
  // must hold it too, or the index disagrees with every read of them.
  const v1 = defineSchema({ users: recordType({ schema: z.object({ id: z.number().int(), name: z.string() }), primaryKey: ['id'] }) });
  const withStatus = (status: z.ZodType, ix: Record<string, IndexDefinition>) =>
    defineSchema({ users: recordType({ schema: z.object({ id: z.number().int(), name: z.string(), status }), primaryKey: ['id'], indexes: ix }) });
  const byStatus = { byStatus: index.value(['status']), perStatus: index.count({ groupBy: ['status'] }) };
  const ids = (records: { id: number }[]): number[] => records.map((r) => r.id);

  async function seed(): Promise<void> {
    const s = await RecordStore.open(db, { path: ['app'], schema: v1 });
    await at(s)((v) => v.users.insertMany([{ id: 1, name: 'a' }, { id: 2, name: 'b' }]));
  }

  /** The stored fields of record `id` of `s`, read raw (not through the schema). */
  async function storedFields(s: RecordStore<SchemaTypes>, id: number): Promise<unknown> {
    const { begin, end } = s.subspace.range([1, 'users', id]);
    const rows = await db.transact((tx) => tx.getRangeAll(begin, end));
    return s.typeFacts('users').codec.decode(Buffer.concat(rows.map((r) => r.value)));
  }

  it('builds value and count indexes with the default for records stored before the field, and later writes keep them exact', async () => {
    await seed();
    const s = await RecordStore.open(db, { path: ['app'], schema: withStatus(z.string().default('active'), byStatus) });
    expect(await s.buildIndexes(db)).toMatchObject({ built: ['users.byStatus', 'users.perStatus'] });
    await at(s)((v) => v.users.insert({ id: 3, name: 'c' }));
    expect(ids((await at(s)((v) => v.users.findMany({ where: { status: 'active' } }))).records)).toEqual([1, 2, 3]);
    expect((await at(s)((v) => v.users.findMany({ where: { status: null } }))).records).toEqual([]);
    expect(await at(s)((v) => v.users.count({ where: { status: 'active' } }))).toBe(3n);
    // The build stored the default in the records it indexed.
    expect(await storedFields(s, 1)).toEqual({ id: 1, name: 'a', status: 'active' });
    await at(s)((v) => v.users.update({ id: 1 }, { status: 'gone' }));
    await at(s)((v) => v.users.delete({ id: 2 }));
    expect(ids((await at(s)((v) => v.users.findMany({ where: { status: 'active' } }))).records)).toEqual([3]);
    expect(ids((await at(s)((v) => v.users.findMany({ where: { status: 'gone' } }))).records)).toEqual([1]);
    expect(await at(s)((v) => v.users.count({ where: { status: 'active' } }))).toBe(1n);
    expect(await at(s)((v) => v.users.count({ where: { status: 'gone' } }))).toBe(1n);
    expect(await indexEntries(s)).toEqual(['["users","byStatus","active",3]', '["users","byStatus","gone",1]', '["users","perStatus","active"]=1', '["users","perStatus","gone"]=1']);
  });

  it('keeps the value a default computed by a function gave the index, on reads and on later writes', async () => {
    await seed();
    let next = 0;
    const s = await RecordStore.open(db, { path: ['app'], schema: withStatus(z.string().default(() => `s${next++}`), { byStatus: index.value(['status']) }) });
    await s.buildIndexes(db);
    const first = await at(s)((v) => v.users.get({ id: 1 }));
    expect(await at(s)((v) => v.users.get({ id: 1 }))).toEqual(first);
    expect(ids((await at(s)((v) => v.users.findMany({ where: { status: first!.status } }))).records)).toEqual([1]);
    // An update removes the entry the build wrote, not one for a fresh default.
    await at(s)((v) => v.users.update({ id: 1 }, { name: 'renamed' }));
    await at(s)((v) => v.users.delete({ id: 2 }));
    expect(await indexEntries(s)).toEqual([JSON.stringify(['users', 'byStatus', first!.status, 1])]);
  });

  it('checks a unique index against the default: records stored before the field share it', async () => {
    await seed();
    const s = await RecordStore.open(db, { path: ['app'], schema: withStatus(z.string().default('active'), { byStatus: index.value(['status'], { unique: true }) }) });
    const error = await refusal(s.buildIndexes(db));
    expect(error.code).toBe('unique_violation');
    expect(error.details).toMatchObject({ index: 'byStatus', values: ['active'] });
  });

  it('a write removes the entries of a record stored without a defaulted field under the default', async () => {
    // A record stored without the field (as one written before it existed), whose entries hold the
    // default, as every read of it does.
    const s = await RecordStore.open(db, { path: ['app'], schema: withStatus(z.string().default('active'), byStatus) });
    await at(s)((v) => v.users.insert({ id: 1, name: 'a' }));
    const recordKey = s.subspace.pack([1, 'users', 1, 0]);
    const bytes = s.typeFacts('users').codec.encode({ id: 1, name: 'a' });
    await db.transact((tx) => tx.set(recordKey, bytes));
    expect(await at(s)((v) => v.users.get({ id: 1 }))).toEqual({ id: 1, name: 'a', status: 'active' });
    await at(s)((v) => v.users.update({ id: 1 }, { status: 'gone' }));
    expect(await indexEntries(s)).toEqual(['["users","byStatus","gone",1]', '["users","perStatus","gone"]=1']);
    await at(s)((v) => v.users.delete({ id: 1 }));
    expect(await indexEntries(s)).toEqual([]);
  });
});
