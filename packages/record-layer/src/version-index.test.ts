// Proves the version index: records come back in commit order across transactions and, inside one
// transaction, in the order of their first write; an update moves a record to the end and a delete
// removes its entry, leaving exactly one entry per record and one version key per record (checked
// on the raw keys); pages with cursors in both directions; explain names the index; a record
// written and deleted in one transaction leaves nothing; an online build gives stored records the
// build's versionstamp and records written meanwhile their own.
import { open, type Database } from '@strata/core';
import { Versionstamp } from '@strata/tuple';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordStore, type StoreView } from './record-store.js';
import { defineSchema, index, recordType, type IndexDefinition } from './schema.js';

const item = z.object({ id: z.number().int(), name: z.string() });
const schemaWith = (indexes: Record<string, IndexDefinition>) => defineSchema({ items: recordType({ schema: item, primaryKey: ['id'], indexes }) });
const schema = schemaWith({ byVersion: index.version() });
type Store = RecordStore<ReturnType<typeof schemaWith>['types']>;

let db: Database;
beforeEach(async () => {
  db = await open();
});
afterEach(async () => {
  await db.close();
});

const run = <R>(store: Store, fn: (view: StoreView<Store['schema']['types']>) => Promise<R>): Promise<R> => db.transact((tx) => fn(tx.at(store)));
const ids = async (store: Store, direction: 'asc' | 'desc' = 'asc'): Promise<number[]> =>
  (await run(store, (v) => v.items.findMany({ orderBy: { $version: direction } }))).records.map((r) => r.id);

// Every raw key of the version index and of the stored versions, decoded.
async function raw(store: Store): Promise<{ entries: [Versionstamp, number][]; versions: Map<number, Versionstamp> }> {
  return db.transact(async (tx) => {
    const entries: [Versionstamp, number][] = [];
    const ix = store.subspace.range([2, 'items', 'byVersion']);
    for (const row of await tx.getRangeAll(ix.begin, ix.end)) {
      const [, , , stamp, id] = store.subspace.unpack(row.key);
      expect(stamp).toBeInstanceOf(Versionstamp);
      entries.push([stamp as Versionstamp, id as number]);
    }
    const versions = new Map<number, Versionstamp>();
    const vs = store.subspace.range([4, 'items']);
    for (const row of await tx.getRangeAll(vs.begin, vs.end)) {
      const [, , id] = store.subspace.unpack(row.key);
      versions.set(id as number, (await import('@strata/tuple')).unpack(row.value)[0] as Versionstamp);
    }
    return { entries, versions };
  });
}

// The index holds exactly one entry per stored record, under the record's stored version.
async function expectExact(store: Store): Promise<void> {
  const { entries, versions } = await raw(store);
  const stored = (await run(store, (v) => v.items.findMany({ orderBy: { id: 'asc' } }))).records.map((r) => r.id);
  expect(entries.map(([, id]) => id).sort((a, b) => a - b)).toEqual(stored);
  expect([...versions.keys()].sort((a, b) => a - b)).toEqual(stored);
  for (const [stamp, id] of entries) {
    const version = versions.get(id)!;
    expect(Buffer.from(stamp.transactionVersion!)).toEqual(Buffer.from(version.transactionVersion!));
    expect(stamp.userVersion).toBe(version.userVersion);
  }
}

describe('version index', () => {
  it('lists records in commit order, updates move a record to the end, deletes remove it', async () => {
    const store: Store = await RecordStore.open(db, { path: ['v'], schema });
    await run(store, (v) => v.items.insert({ id: 5, name: 'a' }));
    await run(store, (v) => v.items.insert({ id: 1, name: 'b' }));
    await run(store, async (v) => {
      await v.items.insert({ id: 9, name: 'c' });
      await v.items.insert({ id: 3, name: 'd' });
      await v.items.insert({ id: 7, name: 'e' });
      await v.items.update({ id: 9 }, { name: 'c2' }); // keeps its first-write position in the transaction
    });
    expect(await ids(store)).toEqual([5, 1, 9, 3, 7]);
    expect(await ids(store, 'desc')).toEqual([7, 3, 9, 1, 5]);
    await expectExact(store);
    await run(store, (v) => v.items.update({ id: 5 }, { name: 'a2' }));
    await run(store, (v) => v.items.upsert({ id: 1, name: 'b2' }));
    expect(await ids(store)).toEqual([9, 3, 7, 5, 1]);
    await run(store, (v) => v.items.delete({ id: 3 }));
    await run(store, async (v) => {
      await v.items.delete({ id: 7 });
      await v.items.insert({ id: 7, name: 'again' }); // deleted then inserted: one entry, at the end
    });
    expect(await ids(store)).toEqual([9, 5, 1, 7]);
    await expectExact(store);
    const { entries } = await raw(store);
    expect(entries.map(([, id]) => id)).toEqual([9, 5, 1, 7]);
  });

  it('pages with cursors in both directions and explains the index', async () => {
    const store: Store = await RecordStore.open(db, { path: ['v'], schema });
    const order: number[] = [];
    for (let t = 0; t < 6; t++) {
      await run(store, async (v) => {
        for (const id of [t * 10 + 3, t * 10 + 1, t * 10 + 2]) {
          await v.items.insert({ id, name: `n${id}` });
          order.push(id);
        }
      });
    }
    for (const direction of ['asc', 'desc'] as const) {
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const page: { records: { id: number }[]; cursor: string | null } = await run(store, (v) => v.items.findMany({ orderBy: { $version: direction }, limit: 4, cursor }));
        seen.push(...page.records.map((r) => r.id));
        cursor = page.cursor;
      } while (cursor !== null);
      expect(seen).toEqual(direction === 'asc' ? order : [...order].reverse());
    }
    const plan = await run(store, async (v) => v.items.explain({ orderBy: { $version: 'desc' } }));
    expect(plan).toMatchObject({ index: 'byVersion', fullScan: false, ordered: true, sortInMemory: false });
    // A filter needs allowFullScan; then it is checked on each record in commit order.
    await expect(run(store, (v) => v.items.findMany({ where: { name: 'n1' }, orderBy: { $version: 'asc' } }))).rejects.toMatchObject({ code: 'no_index_for_query' });
    const filtered = await run(store, (v) => v.items.findMany({ where: { name: { startsWith: 'n1' } }, orderBy: { $version: 'asc' }, allowFullScan: true }));
    expect(filtered.records.map((r) => r.id)).toEqual(order.filter((id) => `n${id}`.startsWith('n1')));
    await expect(run(store, (v) => v.items.findMany({ orderBy: [{ $version: 'asc' }, { id: 'asc' }] as never }))).rejects.toMatchObject({ code: 'invalid_query' });
  });

  it('leaves nothing for a record written and deleted in one transaction, and keeps the others', async () => {
    const store: Store = await RecordStore.open(db, { path: ['v'], schema });
    await run(store, (v) => v.items.insert({ id: 7, name: 'kept from before' }));
    await run(store, async (v) => {
      await v.items.insert({ id: 1, name: 'a' });
      await v.items.insert({ id: 2, name: 'b' });
      await v.items.delete({ id: 1 });
      await v.items.update({ id: 7 }, { name: 'changed' });
      await v.items.delete({ id: 7 });
    });
    expect(await ids(store)).toEqual([2]);
    await expectExact(store);
  });

  it('is refused without a version index, and describe() records it', async () => {
    const plain: Store = await RecordStore.open(db, { path: ['p'], schema: schemaWith({}) });
    await expect(run(plain, (v) => v.items.findMany({ orderBy: { $version: 'asc' } }))).rejects.toMatchObject({ code: 'no_index_for_query' });
    expect(schema.describe().types.items!.indexes).toEqual({ byVersion: { kind: 'version' } });
  });

  it('is built online: stored records get the build versionstamp, records written since keep theirs', async () => {
    const plain: Store = await RecordStore.open(db, { path: ['b'], schema: schemaWith({}) });
    await run(plain, async (v) => {
      for (const id of [4, 2, 6]) await v.items.insert({ id, name: 'old' });
    });
    const store: Store = await RecordStore.open(db, { path: ['b'], schema });
    expect(store.writeOnlyIndexes('items').has('byVersion')).toBe(true);
    // Written while the index is write-only (outside its built range): a version is stored, no entry.
    await run(store, (v) => v.items.insert({ id: 8, name: 'new' }));
    await run(store, (v) => v.items.update({ id: 2 }, { name: 'changed' }));
    const result = await store.buildIndexes(db, { transactionRecords: 2 });
    expect(result.built).toEqual(['items.byVersion']);
    await expectExact(store);
    // 8 and 2 kept the stamps of their writes; 4 and 6, with none stored, got the stamps of the
    // build transactions (one each, two records per transaction), which committed later.
    expect(await ids(store)).toEqual([8, 2, 4, 6]);
    await run(store, (v) => v.items.update({ id: 4 }, { name: 'last' }));
    expect(await ids(store)).toEqual([8, 2, 6, 4]);
    await expectExact(store);
    // Dropping the last version index drops the stored versions with it.
    const dropped: Store = await RecordStore.open(db, { path: ['b'], schema: schemaWith({}) });
    expect((await raw(dropped)).versions.size).toBe(0);
  });
});
