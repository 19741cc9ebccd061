// Proves that queries return what a brute-force filter and sort of the same records returns: every
// operator, compound indexes with equality + range + orderBy, reverse order, in, startsWith,
// and/or, full scans and in-memory sorts; that cursors page a result across transactions without
// duplicates or skips while other transactions insert; that a stream reads 20,000 records in
// bounded transactions; and that count/sum/min/max read from aggregate indexes agree with a
// brute-force computation after random inserts, updates and deletes (seed printed; SEED=<n> replays).
import { open, seededRandom, type Database } from '@strata/core';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { RecordStore } from './record-store.js';
import { defineSchema, doubleFields, index, recordType, type RecordOf } from './schema.js';

const orders = recordType({
  schema: z.object({
    id: z.bigint(),
    customerId: z.bigint(),
    status: z.string(),
    createdAt: z.bigint(),
    total: z.bigint(),
    sku: z.string(),
    note: z.string().optional(),
  }),
  primaryKey: ['id'],
  indexes: {
    byCustomer: index.value(['customerId']),
    byStatusDate: index.value(['status', 'createdAt']),
    bySku: index.value(['sku']),
    countAll: index.count(),
    countByStatus: index.count({ groupBy: ['status'] }),
    totalByCustomer: index.sum('total', { groupBy: ['customerId'] }),
    minTotalByCustomer: index.min('total', { groupBy: ['customerId'] }),
    latest: index.max('createdAt'),
  },
});
const customers = recordType({
  schema: z.object({ id: z.bigint(), email: z.string(), name: z.string() }),
  primaryKey: ['id'],
  indexes: { byEmail: index.value(['email'], { unique: true }) },
});
const schema = defineSchema({ orders, customers });
type Order = RecordOf<typeof orders>;
type Store = RecordStore<typeof schema.types>;

const SEED = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
console.log(`query.test.ts SEED=${SEED}`);

const STATUSES = ['open', 'paid', 'shipped'];
const SKUS = ['AB1', 'AB2', 'AC1', 'B', 'ABX'];

function randomOrder(random: () => number, id: bigint): Order {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  return {
    id,
    customerId: BigInt(1 + Math.floor(random() * 10)),
    status: pick(STATUSES),
    createdAt: BigInt(Math.floor(random() * 1000)),
    total: BigInt(Math.floor(random() * 500)),
    sku: pick(SKUS),
    ...(random() < 0.5 ? { note: pick(['gift', 'rush']) } : {}),
  };
}

async function insertAll(db: Database, store: Store, records: Order[], perTransaction = 1000): Promise<void> {
  for (let i = 0; i < records.length; i += perTransaction) {
    await db.transact((tx) => tx.at(store).orders.insertMany(records.slice(i, i + perTransaction)));
  }
}

let db: Database;
beforeAll(async () => {
  db = await open();
});
afterAll(() => db.close());

describe('findMany against brute force', () => {
  let store: Store;
  const data: Order[] = [];
  beforeAll(async () => {
    store = await RecordStore.open(db, { path: ['query-brute'], schema });
    const random = seededRandom(SEED);
    for (let i = 0; i < 300; i++) data.push(randomOrder(random, BigInt(i)));
    await insertAll(db, store, data);
  });

  type Query = Parameters<ReturnType<Store['bind']>['orders']['findMany']>[0] & object;
  const cases: { name: string; query: Query; keep: (o: Order) => boolean; order?: (o: Order) => bigint | string; desc?: boolean }[] = [
    { name: 'eq on the primary key', query: { where: { id: 17n } }, keep: (o) => o.id === 17n },
    { name: 'eq on an index', query: { where: { customerId: 3n } }, keep: (o) => o.customerId === 3n },
    { name: 'gt', query: { where: { id: { gt: 250n } } }, keep: (o) => o.id > 250n },
    { name: 'gte and lte', query: { where: { id: { gte: 10n, lte: 20n } } }, keep: (o) => o.id >= 10n && o.id <= 20n },
    { name: 'lt', query: { where: { id: { lt: 5n } } }, keep: (o) => o.id < 5n },
    {
      name: 'compound eq + range + orderBy',
      query: { where: { status: 'paid', createdAt: { gte: 100n, lt: 600n } }, orderBy: { createdAt: 'asc' } },
      keep: (o) => o.status === 'paid' && o.createdAt >= 100n && o.createdAt < 600n,
      order: (o) => o.createdAt,
    },
    {
      name: 'reverse order',
      query: { where: { status: 'open' }, orderBy: { createdAt: 'desc' } },
      keep: (o) => o.status === 'open',
      order: (o) => o.createdAt,
      desc: true,
    },
    {
      name: 'in, merged in order',
      query: { where: { status: { in: ['shipped', 'open'] }, createdAt: { gt: 500n } }, orderBy: { createdAt: 'asc' } },
      keep: (o) => (o.status === 'shipped' || o.status === 'open') && o.createdAt > 500n,
      order: (o) => o.createdAt,
    },
    { name: 'in, concatenated', query: { where: { customerId: { in: [2n, 9n, 4n] } } }, keep: (o) => [2n, 9n, 4n].includes(o.customerId) },
    { name: 'startsWith', query: { where: { sku: { startsWith: 'AB' } } }, keep: (o) => o.sku.startsWith('AB') },
    {
      name: 'and with a residual',
      query: { where: { and: [{ customerId: 5n }, { total: { gte: 250n } }], note: 'gift' } },
      keep: (o) => o.customerId === 5n && o.total >= 250n && o.note === 'gift',
    },
    {
      name: 'or as a union',
      query: { where: { or: [{ customerId: 1n }, { sku: { startsWith: 'AC' } }, { status: 'paid', createdAt: { lt: 50n } }] } },
      keep: (o) => o.customerId === 1n || o.sku.startsWith('AC') || (o.status === 'paid' && o.createdAt < 50n),
    },
    {
      name: 'or with an orderBy, sorted in memory',
      query: { where: { or: [{ customerId: 1n }, { customerId: 2n }] }, orderBy: { total: 'desc' } },
      keep: (o) => o.customerId === 1n || o.customerId === 2n,
      order: (o) => o.total,
      desc: true,
    },
    { name: 'full scan', query: { where: { note: 'rush' }, allowFullScan: true }, keep: (o) => o.note === 'rush' },
    {
      name: 'full scan sorted in memory',
      query: { where: { total: { lt: 100n } }, orderBy: { customerId: 'desc' }, allowFullScan: true },
      keep: (o) => o.total < 100n,
      order: (o) => o.customerId,
      desc: true,
    },
    { name: 'no where', query: {}, keep: () => true },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const expected = data.filter(c.keep);
      const ids = (list: Order[]): bigint[] => list.map((o) => o.id).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const { records, cursor } = await db.transact((tx) => tx.at(store).orders.findMany(c.query));
      expect(cursor).toBeNull();
      expect(ids(records)).toEqual(ids(expected));
      if (c.order !== undefined) {
        const key = c.order;
        const sorted = expected.map(key).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        if (c.desc === true) sorted.reverse();
        expect(records.map(key)).toEqual(sorted);
      }
      // The same query paged in small pages, one transaction each, gives the same records in the same order.
      const paged: Order[] = [];
      let next: string | null = null;
      for (let page = 0; page < 1000; page++) {
        const result: { records: Order[]; cursor: string | null } = await db.transact((tx) => tx.at(store).orders.findMany({ ...c.query, limit: 7, cursor: next }));
        paged.push(...result.records);
        next = result.cursor;
        if (next === null) break;
      }
      expect(paged.map((o) => o.id)).toEqual(records.map((o) => o.id));
    });
  }

  it('findFirst returns the first in order, or null', async () => {
    const first = await db.transact((tx) => tx.at(store).orders.findFirst({ where: { status: 'open' }, orderBy: { createdAt: 'desc' } }));
    const best = data.filter((o) => o.status === 'open').reduce((a, b) => (b.createdAt > a.createdAt || (b.createdAt === a.createdAt && b.id > a.id) ? b : a));
    expect(first).toEqual(best);
    expect(await db.transact((tx) => tx.at(store).orders.findFirst({ where: { id: 99_999n } }))).toBeNull();
  });

  it('limit 0 returns no records and keeps the cursor it was given; a limit that is not a count is refused', async () => {
    const query = { where: { status: 'open' }, orderBy: { createdAt: 'desc' } } as const;
    expect(await db.transact((tx) => tx.at(store).orders.findMany({ ...query, limit: 0 }))).toEqual({ records: [], cursor: null });
    const first = await db.transact((tx) => tx.at(store).orders.findMany({ ...query, limit: 3 }));
    expect(await db.transact((tx) => tx.at(store).orders.findMany({ ...query, limit: 0, cursor: first.cursor }))).toEqual({ records: [], cursor: first.cursor });
    // The query and its cursor are still checked.
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ where: { sku: 'B' }, limit: 0, cursor: first.cursor }))).rejects.toMatchObject({ code: 'invalid_query' });
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ where: { note: 'gift' }, limit: 0 }))).rejects.toMatchObject({ code: 'no_index_for_query' });
    for (const limit of [-1, 1.5, Number.NaN, '3']) {
      await expect(db.transact((tx) => tx.at(store).orders.findMany({ ...query, limit: limit as number }))).rejects.toMatchObject({
        code: 'invalid_query',
        message: expect.stringContaining('limit must be a non-negative integer'),
      });
    }
    const streamed: unknown[] = [];
    for await (const record of store.stream(db, 'orders', { ...query, limit: 0 })) streamed.push(record);
    expect(streamed).toEqual([]);
    // A stream's transactions each take at least one record, or it would never move on.
    for (const transactionRecords of [0, -1, 0.5]) {
      await expect(store.stream(db, 'orders', query, { transactionRecords }).next()).rejects.toMatchObject({ code: 'invalid_query', message: expect.stringContaining('transactionRecords must be a positive integer') });
    }
  });

  it('refuses a cursor of another query', async () => {
    const { cursor } = await db.transact((tx) => tx.at(store).orders.findMany({ where: { customerId: 1n }, limit: 1 }));
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ where: { sku: 'B' }, cursor }))).rejects.toMatchObject({ code: 'invalid_query' });
    // The same index with other values, or another residual filter, is another query too.
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ where: { customerId: 2n }, cursor }))).rejects.toMatchObject({ code: 'invalid_query' });
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ where: { customerId: 1n, note: 'gift' }, cursor }))).rejects.toMatchObject({ code: 'invalid_query' });
    const sorted = await db.transact((tx) => tx.at(store).orders.findMany({ where: { total: { lt: 100n } }, orderBy: { customerId: 'desc' }, allowFullScan: true, limit: 1 }));
    await expect(
      db.transact((tx) => tx.at(store).orders.findMany({ where: { total: { lt: 200n } }, orderBy: { customerId: 'desc' }, allowFullScan: true, cursor: sorted.cursor! })),
    ).rejects.toMatchObject({ code: 'invalid_query' });
    // The same query takes it.
    await db.transact((tx) => tx.at(store).orders.findMany({ where: { customerId: 1n }, cursor }));
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ cursor: 'not a cursor' }))).rejects.toMatchObject({ code: 'invalid_query' });
    // Damaged: cut short inside its header, or with its kind changed.
    const bytes = Buffer.from(cursor!, 'base64url');
    for (const damaged of [bytes.subarray(0, 5), Buffer.concat([bytes.subarray(0, 1), Buffer.from([7]), bytes.subarray(2)])]) {
      const query = { where: { customerId: 1n }, limit: 1, cursor: damaged.toString('base64url') };
      await expect(db.transact((tx) => tx.at(store).orders.findMany(query))).rejects.toMatchObject({ code: 'invalid_query' });
    }
  });

  it('refuses unserved queries and unknown fields through findMany', async () => {
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ where: { note: 'gift' } }))).rejects.toMatchObject({ code: 'no_index_for_query' });
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ where: { colour: 1 } as never }))).rejects.toMatchObject({ code: 'unknown_field' });
  });
});

describe('cursors', () => {
  it('page 1,000 records in pages of 100 across transactions while others insert, without duplicates or skips', async () => {
    const store = await RecordStore.open(db, { path: ['query-paging'], schema });
    const random = seededRandom(SEED + 1);
    const before = Array.from({ length: 1000 }, (_, i) => ({ ...randomOrder(random, BigInt(i)), status: 'open' }));
    await insertAll(db, store, before, 250);
    const seen: bigint[] = [];
    let cursor: string | null = null;
    let pages = 0;
    let nextId = 10_000n;
    for (; pages < 100; pages++) {
      const page: { records: Order[]; cursor: string | null } = await db.transact((tx) =>
        tx.at(store).orders.findMany({ where: { status: 'open' }, orderBy: { createdAt: 'asc' }, limit: 100, cursor }),
      );
      seen.push(...page.records.map((o) => o.id));
      // Concurrent writers insert records both before and after the position of the cursor.
      await db.transact((tx) => tx.at(store).orders.insertMany(Array.from({ length: 20 }, () => ({ ...randomOrder(random, nextId++), status: 'open' }))));
      cursor = page.cursor;
      if (cursor === null) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const old = seen.filter((id) => id < 10_000n);
    expect(old.sort((a, b) => (a < b ? -1 : 1))).toEqual(before.map((o) => o.id));
    expect(pages).toBeGreaterThanOrEqual(10);
  });
});

describe('queries a demanding user writes', () => {
  async function refusal(promise: Promise<unknown>): Promise<RecordLayerError> {
    const error = await promise.then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(RecordLayerError);
    return error as RecordLayerError;
  }

  it('an in list longer than one scan reads leaves it to the residual filter of another plan, or says why it is refused', async () => {
    const store = await RecordStore.open(db, { path: ['query-long-in'], schema });
    const random = seededRandom(SEED + 7);
    await insertAll(db, store, Array.from({ length: 300 }, (_, i) => randomOrder(random, BigInt(i))));
    const ids = Array.from({ length: 1500 }, (_, i) => BigInt(i * 2));
    const all = await db.transact(async (tx) => (await tx.at(store).orders.findMany({ allowFullScan: true })).records);
    const even = (o: Order): boolean => o.id % 2n === 0n;
    const open = await db.transact(async (tx) => (await tx.at(store).orders.findMany({ where: { status: 'open', id: { in: ids } } })).records);
    expect(open.map((o) => o.id).sort()).toEqual(all.filter((o) => o.status === 'open' && even(o)).map((o) => o.id).sort());
    const scanned = await db.transact(async (tx) => (await tx.at(store).orders.findMany({ where: { id: { in: ids } }, allowFullScan: true })).records);
    expect(scanned.length).toBe(all.filter(even).length);
    const refused = await refusal(db.transact((tx) => tx.at(store).orders.findMany({ where: { id: { in: ids } } })));
    expect(refused.code).toBe('no_index_for_query');
    expect(refused.message).toContain('where.id.in has more than 1000 values');
    const branch = await refusal(db.transact((tx) => tx.at(store).orders.findMany({ where: { or: [{ id: { in: ids } }, { status: 'open' }] } })));
    expect(branch.message).toContain('where.id.in has more than 1000 values');
  });

  it('an order by an in field (then the fields after it) reads the ranges one after another, paged as a brute-force sort says', async () => {
    const store = await RecordStore.open(db, { path: ['query-in-order'], schema });
    const random = seededRandom(SEED + 9);
    const records = Array.from({ length: 400 }, (_, i) => randomOrder(random, BigInt(i)));
    await insertAll(db, store, records);
    const compare = (a: Order, b: Order, direction: 'asc' | 'desc'): number => {
      const sign = direction === 'asc' ? 1 : -1;
      if (a.status !== b.status) return sign * (a.status < b.status ? -1 : 1);
      if (a.createdAt !== b.createdAt) return sign * (a.createdAt < b.createdAt ? -1 : 1);
      return sign * (a.id < b.id ? -1 : 1);
    };
    for (const direction of ['asc', 'desc'] as const) {
      for (const orderBy of [{ status: direction }, [{ status: direction }, { createdAt: direction }]]) {
        const query = { where: { status: { in: ['shipped', 'open'] } }, orderBy };
        const plan = await db.transact(async (tx) => tx.at(store).orders.explain(query as never));
        expect(plan).toMatchObject({ index: 'byStatusDate', ordered: true, sortInMemory: false });
        const seen: Order[] = [];
        let cursor: string | null = null;
        do {
          const page: { records: Order[]; cursor: string | null } = await db.transact((tx) => tx.at(store).orders.findMany({ ...query, limit: 37, cursor } as never));
          seen.push(...page.records);
          cursor = page.cursor;
        } while (cursor !== null);
        const expected = records.filter((o) => o.status === 'shipped' || o.status === 'open').sort((a, b) => compare(a, b, direction));
        // Ties in the requested order may come in any order: only the ordered fields are compared.
        const key = (o: Order): string => (Array.isArray(orderBy) ? `${o.status}/${o.createdAt}` : o.status);
        expect(seen.map(key), `seed ${SEED} ${JSON.stringify(orderBy)}`).toEqual(expected.map(key));
        expect(new Set(seen.map((o) => o.id)).size).toBe(expected.length);
      }
    }
  });

  it('a cursor made under another version of the store schema is refused (an index rebuilt under its name)', async () => {
    const v1 = defineSchema({ scores: recordType({ schema: z.object({ id: z.number().int(), score: z.number().int() }), primaryKey: ['id'], indexes: { byScore: index.value(['score']) } }) });
    const v2 = defineSchema({ scores: recordType({ schema: z.object({ id: z.number().int(), score: z.number() }), primaryKey: ['id'], indexes: { byScore: index.value(['score']) } }) });
    const first = await RecordStore.open(db, { path: ['query-reform'], schema: v1 });
    await db.transact((tx) => tx.at(first).scores.insertMany(Array.from({ length: 10 }, (_, i) => ({ id: i, score: i * 10 }))));
    const page = await db.transact((tx) => tx.at(first).scores.findMany({ orderBy: { score: 'desc' }, limit: 4 }));
    const second = await RecordStore.open(db, { path: ['query-reform'], schema: v2 });
    await second.buildIndexes(db);
    const error = await refusal(db.transact((tx) => tx.at(second).scores.findMany({ orderBy: { score: 'desc' }, limit: 4, cursor: page.cursor })));
    expect(error.message).toContain('or to a store whose schema changed since it was made');
  });

  it('refuses conditions and orders on object and array fields, and a query that is not an object, as invalid_query', async () => {
    const nested = defineSchema({
      places: recordType({
        schema: z.object({ id: z.number().int(), address: z.object({ city: z.string() }), tags: z.array(z.string()) }),
        primaryKey: ['id'],
      }),
    });
    const store = await RecordStore.open(db, { path: ['query-nested'], schema: nested });
    await db.transact((tx) => tx.at(store).places.insert({ id: 1, address: { city: 'Paris' }, tags: ['a'] }));
    for (const query of [
      { where: { address: { city: 'Paris' } } },
      { where: { tags: ['a'] } },
      { orderBy: { address: 'asc' } },
      { orderBy: { tags: 'desc' } },
    ]) {
      const error = await refusal(db.transact((tx) => tx.at(store).places.findMany({ ...query, allowFullScan: true } as never)));
      expect(error.code).toBe('invalid_query');
      expect(error.message).toMatch(/places\.(address|tags) holds (an object|a list), which queries cannot compare or order by/);
    }
    for (const query of [null, 5, 'x']) {
      const error = await refusal(db.transact((tx) => tx.at(store).places.findMany(query as never)));
      expect(error.code).toBe('invalid_query');
      expect(error.message).toContain('a query must be an object');
    }
  });

  it('a cursor made before an index finished building pages on over the index it began with', async () => {
    const before = defineSchema({ orders: recordType({ schema: orders.schema, primaryKey: ['id'] }) });
    const old = await RecordStore.open(db, { path: ['query-plan-change'], schema: before });
    const random = seededRandom(SEED + 8);
    const records = Array.from({ length: 60 }, (_, i) => randomOrder(random, BigInt(i)));
    await insertAll(db, old as unknown as Store, records);
    const store = await RecordStore.open(db, { path: ['query-plan-change'], schema });
    const query = { where: { sku: 'B' }, allowFullScan: true, limit: 2 };
    const first = await db.transact((tx) => tx.at(store).orders.findMany(query));
    expect(first.cursor).not.toBeNull();
    await store.buildIndexes(db);
    expect(await db.transact(async (tx) => tx.at(store).orders.explain(query).index)).toBe('bySku');
    const seen = first.records.map((o) => o.id);
    let cursor = first.cursor;
    while (cursor !== null) {
      const page: { records: Order[]; cursor: string | null } = await db.transact((tx) => tx.at(store).orders.findMany({ ...query, cursor }));
      seen.push(...page.records.map((o) => o.id));
      cursor = page.cursor;
    }
    expect(seen).toEqual(records.filter((o) => o.sku === 'B').map((o) => o.id));
    // A cursor of another order over the same ranges is refused: a position means another thing.
    const merged = await db.transact((tx) => tx.at(store).orders.findMany({ where: { status: { in: ['open', 'paid'] } }, orderBy: { createdAt: 'asc' }, limit: 3 }));
    const sequence = await refusal(
      db.transact((tx) => tx.at(store).orders.findMany({ where: { status: { in: ['open', 'paid'] } }, orderBy: [{ status: 'asc' }, { createdAt: 'asc' }], cursor: merged.cursor })),
    );
    expect(sequence.message).toContain('the cursor belongs to another query');
    // Another query's cursor is still refused, naming both plans.
    const error = await refusal(db.transact((tx) => tx.at(store).orders.findMany({ where: { customerId: 1n }, cursor: first.cursor })));
    expect(error.message).toContain('the cursor was made by a plan that read index primaryKey, and this query now reads index byCustomer');
  });

});

describe('stream', () => {
  it('reads 20,000 records in bounded transactions, and the in-memory sort limit is enforced', async () => {
    const store = await RecordStore.open(db, { path: ['query-stream'], schema });
    const random = seededRandom(SEED + 2);
    const records = Array.from({ length: 20_000 }, (_, i) => randomOrder(random, BigInt(i)));
    await insertAll(db, store, records, 2000);
    let count = 0;
    let previous = -1n;
    let ordered = true;
    for await (const order of store.stream(db, 'orders', { where: { status: 'paid' }, orderBy: { createdAt: 'asc' } })) {
      count++;
      if (order.createdAt < previous) ordered = false;
      previous = order.createdAt;
    }
    expect(count).toBe(records.filter((o) => o.status === 'paid').length);
    expect(ordered).toBe(true);
    // A clock that jumps a second per reading ends every transaction after its first batch, and the
    // stream still yields each record once.
    let clock = 0;
    const ids: bigint[] = [];
    for await (const order of store.stream(db, 'orders', { where: { customerId: 3n } }, { now: () => (clock += 1000), transactionMs: 500 })) ids.push(order.id);
    expect(ids).toEqual(records.filter((o) => o.customerId === 3n).map((o) => o.id));
    await expect(db.transact((tx) => tx.at(store).orders.findMany({ orderBy: { total: 'asc' }, allowFullScan: true, limit: 1 }))).rejects.toMatchObject({
      code: 'invalid_query',
      message: expect.stringContaining('10000') as unknown as string,
    });
  });
});

describe('aggregates', () => {
  it('agree with brute force after random inserts, updates and deletes', async () => {
    const store = await RecordStore.open(db, { path: ['query-aggregates'], schema });
    const random = seededRandom(SEED + 3);
    const live = new Map<bigint, Order>();
    for (let step = 0; step < 40; step++) {
      await db.transact(async (tx) => {
        const view = tx.at(store).orders;
        for (let i = 0; i < 10; i++) {
          const id = BigInt(Math.floor(random() * 120));
          const roll = random();
          const existing = live.get(id);
          if (existing === undefined) {
            const order = randomOrder(random, id);
            await view.insert(order);
            live.set(id, order);
          } else if (roll < 0.5) {
            const changes = { total: BigInt(Math.floor(random() * 500)), customerId: BigInt(1 + Math.floor(random() * 10)), createdAt: BigInt(Math.floor(random() * 1000)) };
            live.set(id, await view.update({ id }, changes));
          } else {
            await view.delete({ id });
            live.delete(id);
          }
        }
      });
    }
    const all = [...live.values()];
    await db.transact(async (tx) => {
      const view = tx.at(store).orders;
      expect(await view.count()).toBe(BigInt(all.length));
      for (const status of STATUSES) expect(await view.count({ where: { status } })).toBe(BigInt(all.filter((o) => o.status === status).length));
      for (let customer = 1n; customer <= 11n; customer++) {
        const mine = all.filter((o) => o.customerId === customer);
        expect(await view.sum('total', { where: { customerId: customer } })).toBe(mine.reduce((s, o) => s + o.total, 0n));
        const least = mine.length === 0 ? null : mine.map((o) => o.total).reduce((a, b) => (b < a ? b : a));
        const most = mine.length === 0 ? null : mine.map((o) => o.total).reduce((a, b) => (b > a ? b : a));
        expect(await view.min('total', { where: { customerId: customer } })).toBe(least);
        // A min index also answers max (the last entry of the group).
        expect(await view.max('total', { where: { customerId: customer } })).toBe(most);
      }
      const latest = all.length === 0 ? null : all.map((o) => o.createdAt).reduce((a, b) => (b > a ? b : a));
      expect(await view.max('createdAt')).toBe(latest);
    });
  });

  it('refuses an aggregate no index serves, naming the index to add', async () => {
    const store = await RecordStore.open(db, { path: ['query-aggregates'], schema });
    const failure = (promise: Promise<unknown>): Promise<RecordLayerError> =>
      promise.then(
        () => {
          throw new Error('expected a refusal');
        },
        (error: unknown) => error as RecordLayerError,
      );
    const count = await failure(db.transact((tx) => tx.at(store).orders.count({ where: { customerId: 1n } })));
    expect(count.code).toBe('no_index_for_query');
    expect(count.message).toContain("index.count({ groupBy: ['customerId'] })");
    const sum = await failure(db.transact((tx) => tx.at(store).orders.sum('createdAt')));
    expect(sum.message).toContain("index.sum('createdAt')");
    const range = await failure(db.transact((tx) => tx.at(store).orders.count({ where: { status: { gt: 'a' } } })));
    expect(range.code).toBe('no_index_for_query');
    const unknown = await failure(db.transact((tx) => tx.at(store).orders.sum('weight' as never)));
    expect(unknown.code).toBe('unknown_field');
  });
});

describe('deleteMany', () => {
  it('deletes exactly the matching records and keeps every index right', async () => {
    const store = await RecordStore.open(db, { path: ['query-delete-many'], schema });
    const random = seededRandom(SEED + 99);
    const all = Array.from({ length: 1_200 }, (_, i) => randomOrder(random, BigInt(i + 1)));
    await insertAll(db, store, all);
    const deleted = await db.transact((tx) => tx.at(store).orders.deleteMany({ where: { status: 'paid' } }));
    const paid = all.filter((order) => order.status === 'paid');
    expect(deleted).toBe(paid.length);
    const left = await db.transact(async (tx) => {
      const view = tx.at(store).orders;
      return {
        paid: await view.count({ where: { status: 'paid' } }),
        all: await view.count(),
        open: (await view.findMany({ where: { status: 'open' } })).records.length,
        byCustomer: (await view.findMany({ where: { customerId: 1n } })).records.map((order) => order.status),
      };
    });
    expect(left.paid).toBe(0n);
    expect(left.all).toBe(BigInt(all.length - paid.length));
    expect(left.open).toBe(all.filter((order) => order.status === 'open').length);
    expect(left.byCustomer).not.toContain('paid');
    await expect(db.transact((tx) => tx.at(store).orders.deleteMany({ where: { total: { gt: 10n } } }))).rejects.toMatchObject({ code: 'no_index_for_query' });
    // A condition left empty or undefined is refused and deletes nothing (dropped, it would match all).
    const before = await db.transact((tx) => tx.at(store).orders.count());
    await expect(db.transact((tx) => tx.at(store).orders.deleteMany({ where: { status: {} } as never }))).rejects.toMatchObject({ code: 'invalid_query' });
    await expect(db.transact((tx) => tx.at(store).orders.deleteMany({ where: { customerId: undefined } }))).rejects.toMatchObject({ code: 'invalid_query' });
    expect(await db.transact((tx) => tx.at(store).orders.count())).toBe(before);
  });
});

describe('numbers that may hold fractions', () => {
  // A z.number() field holds integers and fractions alike; keys hold all of them as doubles, so
  // ranges, orders, min and max, filters and in-memory sorts follow numeric order.
  const prices = recordType({
    schema: z.object({ id: z.number(), price: z.number(), weight: z.number().optional(), code: z.string() }),
    primaryKey: ['id'],
    indexes: {
      byPrice: index.value(['price']),
      byCode: index.value(['code'], { unique: true }),
      cheapest: index.min('price'),
      dearest: index.max('price'),
    },
  });
  const numbers = defineSchema({ prices });
  type Price = RecordOf<typeof prices>;

  it('keys numbers as doubles through lazy, piped, intersected and union fields', async () => {
    const composed = defineSchema({
      t: recordType({
        schema: z.object({
          id: z.number().int(),
          lazy: z.lazy(() => z.number()),
          piped: z.number().pipe(z.number().max(1000)),
          both: z.intersection(z.number(), z.any()),
          either: z.union([z.number(), z.string()]),
          whole: z.number().pipe(z.number().int()),
        }),
        primaryKey: ['id'],
        indexes: { byLazy: index.value(['lazy']), byPiped: index.value(['piped']), byBoth: index.value(['both']), byEither: index.value(['either']), byWhole: index.value(['whole']) },
      }),
    });
    expect([...doubleFields(composed.type('t'))].sort()).toEqual(['both', 'either', 'lazy', 'piped']);
    const store = await RecordStore.open(db, { path: ['query-fractions-composed'], schema: composed });
    const values = [100, 1.5, 2, 1];
    await db.transact((tx) => tx.at(store).t.insertMany(values.map((v, id) => ({ id, lazy: v, piped: v, both: v, either: v, whole: Math.round(v) }))));
    for (const field of ['lazy', 'piped', 'both', 'either']) {
      const find = async (query: object): Promise<number[]> => (await db.transact((tx) => tx.at(store).t.findMany(query as never))).records.map((r) => r[field as 'lazy']);
      expect(await find({ orderBy: { [field]: 'asc' } }), field).toEqual([1, 1.5, 2, 100]);
      expect(await find({ where: { [field]: { lt: 1.8 } }, orderBy: { [field]: 'asc' } }), field).toEqual([1, 1.5]);
      expect(await find({ where: { [field]: { gt: 1.2 } }, orderBy: { [field]: 'desc' } }), field).toEqual([100, 2, 1.5]);
    }
  });

  it('keeps numeric order across integers and fractions', async () => {
    const store = await RecordStore.open(db, { path: ['query-fractions'], schema: numbers });
    const random = seededRandom(SEED + 7);
    const values = [-3, -2.5, -0, 0, 0.5, 1, 1.5, 2, 10, 1e15, -1e-9, 123.456];
    for (let i = 0; i < 40; i++) values.push(Math.round((random() * 200 - 100) * 4) / 4);
    const all: Price[] = values.map((price, i) => ({ id: i % 3 === 0 ? i + 0.5 : i, price, code: `c${i}`, ...(i % 2 === 0 ? { weight: values[(i * 7) % values.length]! } : {}) }));
    await db.transact((tx) => tx.at(store).prices.insertMany(all));
    const ids = (records: readonly Price[]): number[] => records.map((r) => r.id);
    const sorted = (records: readonly Price[], by: (r: Price) => number): Price[] => [...records].sort((a, b) => by(a) - by(b) || a.id - b.id);
    const find = (query: Parameters<ReturnType<typeof store.bind>['prices']['findMany']>[0]) => db.transact((tx) => tx.at(store).prices.findMany(query));

    for (const [bound, keep] of [
      [{ gt: 1.5 }, (p: number) => p > 1.5],
      [{ lt: 2 }, (p: number) => p < 2],
      [{ gte: -2.5, lte: 1 }, (p: number) => p >= -2.5 && p <= 1],
      [{ gt: 0 }, (p: number) => p > 0],
    ] as const) {
      const expected = sorted(all.filter((r) => keep(r.price)), (r) => r.price);
      expect(ids((await find({ where: { price: bound }, orderBy: { price: 'asc' } })).records), JSON.stringify(bound)).toEqual(ids(expected));
      // The same condition as a residual filter over a full scan.
      expect(ids(sorted((await find({ where: { code: { startsWith: 'c' }, price: bound }, allowFullScan: true })).records, (r) => r.price))).toEqual(ids(expected));
    }
    // -0 and 0 are one key, as === has them.
    expect(ids((await find({ where: { price: 0 } })).records).sort((a, b) => a - b)).toEqual(ids(all.filter((r) => r.price === 0)).sort((a, b) => a - b));
    expect(ids((await find({ where: { price: { in: [1, 1.5, -0] } } })).records).sort((a, b) => a - b)).toEqual(
      ids(all.filter((r) => [1, 1.5, 0].includes(r.price))).sort((a, b) => a - b),
    );
    expect(ids((await find({ orderBy: { price: 'desc' } })).records)).toEqual(ids(sorted(all, (r) => r.price).reverse().sort((a, b) => b.price - a.price || b.id - a.id)));
    expect(ids((await find({ orderBy: { id: 'asc' } })).records)).toEqual(ids(sorted(all, (r) => r.id)));
    // An order no index gives is sorted in memory, and pages by cursor without skips.
    const byWeight = sorted(all, (r) => r.weight ?? Number.NEGATIVE_INFINITY);
    const paged: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await find({ orderBy: { weight: 'asc' }, allowFullScan: true, limit: 7, ...(cursor === undefined ? {} : { cursor }) });
      paged.push(...ids(page.records));
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
    expect(paged).toEqual(ids(byWeight));
    const [min, max] = await db.transact(async (tx) => [await tx.at(store).prices.min('price'), await tx.at(store).prices.max('price')]);
    expect([min, max]).toEqual([Math.min(...values), Math.max(...values)]);

    // Records keyed by integral and fractional ids are found, updated (their unique entries are their
    // own) and deleted.
    await db.transact(async (tx) => {
      const view = tx.at(store).prices;
      expect((await view.get({ id: 3.5 }))?.code).toBe('c3');
      expect((await view.get({ id: 4 }))?.code).toBe('c4');
      await view.update({ id: 4 }, { price: 4.25, code: 'c4' });
      await view.update({ id: 3.5 }, { price: -4.25 });
      expect(await view.delete({ id: 1 })).toBe(true);
    });
    const after = await find({ where: { price: { gte: -4.25, lte: 4.25 } }, orderBy: { price: 'asc' } });
    const left = all.filter((r) => r.id !== 1).map((r) => (r.id === 4 ? { ...r, price: 4.25 } : r.id === 3.5 ? { ...r, price: -4.25 } : r));
    expect(ids(after.records)).toEqual(ids(sorted(left.filter((r) => r.price >= -4.25 && r.price <= 4.25), (r) => r.price)));
  });

  // A store of two records whose numbers are all integer fields, keyed as integers.
  async function integerStore(path: string[]) {
    const integers = defineSchema({
      items: recordType({ schema: z.object({ id: z.number().int(), n: z.number().int() }), primaryKey: ['id'], indexes: { byN: index.value(['n']) } }),
    });
    const store = await RecordStore.open(db, { path, schema: integers });
    await db.transact((tx) => tx.at(store).items.insertMany([{ id: 1, n: 5 }, { id: 2, n: -1 }]));
    return store;
  }

  it('rebuilds an index, and refuses a primary key, whose numbers change key form', async () => {
    const path = ['query-fraction-forms'];
    await integerStore(path);
    // n may now hold fractions: byN is built again in the double form, write-only until built.
    const fractions = defineSchema({
      items: recordType({ schema: z.object({ id: z.number().int(), n: z.number() }), primaryKey: ['id'], indexes: { byN: index.value(['n']) } }),
    });
    const second = await RecordStore.open(db, { path, schema: fractions });
    expect(second.writeOnlyIndexes('items').has('byN')).toBe(true);
    await second.buildIndexes(db);
    await db.transact((tx) => tx.at(second).items.insert({ id: 3, n: 0.5 }));
    const found = await db.transact((tx) => tx.at(second).items.findMany({ where: { n: { gt: 0 } }, orderBy: { n: 'asc' } }));
    expect(found.records.map((r) => r.id)).toEqual([3, 1]);
    // The primary key's form cannot change under stored records.
    const fractionalIds = defineSchema({
      items: recordType({ schema: z.object({ id: z.number(), n: z.number() }), primaryKey: ['id'], indexes: { byN: index.value(['n']) } }),
    });
    await expect(RecordStore.open(db, { path, schema: fractionalIds })).rejects.toMatchObject({ code: 'schema_incompatible', message: expect.stringContaining('primary key field id') });
  });

  it('keeps the keys of a store written before numbers were keyed by field', async () => {
    const path = ['query-fraction-legacy'];
    // Such a store keyed every integral number as an integer: as an integer field is keyed now.
    const first = await integerStore(path);
    const packr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true, copyBuffers: true });
    const schemaKey = first.subspace.pack([0]);
    const description = packr.unpack((await db.transact((tx) => tx.get(schemaKey)))!) as { types: Record<string, Record<string, unknown>> };
    delete description.types.items!.doubles;
    await db.transact((tx) => tx.set(schemaKey, packr.pack(description)));
    // Opened with fields that may hold fractions, it keeps their integral form: its keys stay valid,
    // nothing is rebuilt, and its primary key still opens.
    const fractions = defineSchema({
      items: recordType({ schema: z.object({ id: z.number(), n: z.number() }), primaryKey: ['id'], indexes: { byN: index.value(['n']) } }),
    });
    for (let open = 0; open < 2; open++) {
      const store = await RecordStore.open(db, { path, schema: fractions });
      expect([...store.writeOnlyIndexes('items')]).toEqual([]);
      expect(await db.transact((tx) => tx.at(store).items.get({ id: 1 }))).toEqual({ id: 1, n: 5 });
      expect((await db.transact((tx) => tx.at(store).items.findMany({ where: { n: { gt: 0 } } }))).records.map((r) => r.id)).toEqual([1]);
    }
    expect(packr.unpack((await db.transact((tx) => tx.get(schemaKey)))!)).toMatchObject({ types: { items: { doubles: [], integral: ['id', 'n'] } } });
  });
});
