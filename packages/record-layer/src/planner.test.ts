// Proves the planner's choices as a user sees them through explain() on a real store: the index
// picked for equality, range, startsWith, in and or conditions, compound indexes with an orderBy
// (forward and reverse), the residual filter, the key ranges in words, and the refusals: a query no
// index serves names the value index to add, unknown fields are named, malformed queries are
// refused, and allowFullScan turns a refusal into a full scan.
import { open, type Database } from '@strata/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { PRIMARY_KEY_INDEX, normalizeWhere } from './planner.js';
import { RecordStore } from './record-store.js';
import { defineSchema, index, recordType } from './schema.js';
import { timestamp } from './timestamp.js';

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
  },
});
const schema = defineSchema({ orders });

let db: Database;
let store: RecordStore<typeof schema.types>;
beforeAll(async () => {
  db = await open();
  store = await RecordStore.open(db, { path: ['planner-test'], schema });
});
afterAll(() => db.close());

type Explained = ReturnType<ReturnType<typeof store.bind>['orders']['explain']>;
const explain = (query: Parameters<ReturnType<typeof store.bind>['orders']['explain']>[0]): Promise<Explained> =>
  db.transact((tx) => tx.at(store).orders.explain(query));
const refusal = async (query: Parameters<ReturnType<typeof store.bind>['orders']['explain']>[0]): Promise<RecordLayerError> => {
  try {
    await explain(query);
  } catch (error) {
    expect(error).toBeInstanceOf(RecordLayerError);
    return error as RecordLayerError;
  }
  throw new Error('expected the query to be refused');
};

describe('planner', () => {
  it('serves equality on the primary key and on an index, with no residual', async () => {
    expect(await explain({ where: { id: 5n } })).toMatchObject({ index: PRIMARY_KEY_INDEX, ranges: ['primaryKey: id = 5n'], residual: null, fullScan: false });
    expect(await explain({ where: { customerId: 7n } })).toMatchObject({ index: 'byCustomer', ranges: ['byCustomer: customerId = 7n'], residual: null });
  });

  it('uses equality then one range on a compound index, keeping the rest as residual', async () => {
    const plan = await explain({ where: { status: 'open', createdAt: { gte: 10n, lt: 20n }, note: 'x' } });
    expect(plan.index).toBe('byStatusDate');
    expect(plan.ranges).toEqual(['byStatusDate: status = "open", createdAt >= 10n, createdAt < 20n']);
    expect(plan.residual).toBe('note = "x"');
  });

  it('serves orderBy on the fields after the equality prefix, forward and reverse', async () => {
    expect(await explain({ where: { status: 'open' }, orderBy: { createdAt: 'asc' } })).toMatchObject({ index: 'byStatusDate', ordered: true, sortInMemory: false });
    const reverse = await explain({ where: { status: 'open' }, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] });
    expect(reverse).toMatchObject({ index: 'byStatusDate', ordered: true });
    expect(reverse.ranges[0]).toContain('(reverse)');
    // Ordering by a field fixed by equality costs nothing.
    expect(await explain({ where: { status: 'open' }, orderBy: [{ status: 'desc' }, { createdAt: 'asc' }] })).toMatchObject({ index: 'byStatusDate', ordered: true });
  });

  it('plans in as one range per value, merged when the order needs it', async () => {
    const plan = await explain({ where: { status: { in: ['paid', 'open', 'paid'] } }, orderBy: { createdAt: 'desc' } });
    expect(plan.index).toBe('byStatusDate');
    expect(plan.ranges).toEqual(['byStatusDate: status = "open" (reverse)', 'byStatusDate: status = "paid" (reverse)']);
    expect(plan.ordered).toBe(true);
  });

  it('plans startsWith as a prefix range', async () => {
    expect(await explain({ where: { sku: { startsWith: 'AB' } } })).toMatchObject({ index: 'bySku', ranges: ['bySku: sku startsWith "AB"'], residual: null });
  });

  it('unions the branches of an or that indexes serve, and refuses one they do not', async () => {
    const plan = await explain({ where: { or: [{ customerId: 1n }, { sku: 'A' }] } });
    expect(plan.index).toBe('union');
    expect(plan.branches!.map((b) => b.index)).toEqual(['byCustomer', 'bySku']);
    const error = await refusal({ where: { or: [{ customerId: 1n }, { note: 'x' }] } });
    expect(error.code).toBe('no_index_for_query');
    expect(error.message).toContain("index.value(['note'])");
  });

  it('keeps an or as residual when an and beside it is served', async () => {
    const plan = await explain({ where: { customerId: 3n, or: [{ note: 'a' }, { note: 'b' }] } });
    expect(plan).toMatchObject({ index: 'byCustomer', residual: '(note = "a" or note = "b")' });
  });

  it('refuses a query no index serves, naming the index to add', async () => {
    const filter = await refusal({ where: { note: 'x' } });
    expect(filter.code).toBe('no_index_for_query');
    expect(filter.message).toContain("add index.value(['note'])");
    const order = await refusal({ where: { customerId: 1n }, orderBy: { createdAt: 'desc' } });
    expect(order.code).toBe('no_index_for_query');
    expect(order.message).toContain("add index.value(['customerId', 'createdAt'])");
    const mixed = await refusal({ where: { status: 'open' }, orderBy: [{ createdAt: 'asc' }, { id: 'desc' }] });
    expect(mixed.code).toBe('no_index_for_query');
    // A range on one field and an order by another cannot come from one index: the index named is
    // the filter's, and the message says the order then needs an in-memory sort.
    const apart = await refusal({ where: { total: { gt: 1n } }, orderBy: { customerId: 'asc' } });
    expect(apart.message).toContain("add index.value(['total'])");
    expect(apart.message).toContain('a range on total and an order by customerId cannot come from one index');
    expect(apart.details).toMatchObject({ suggestedIndex: ['total'] });
    // With an equality field, the equality and the order make the index (the range filters).
    const withEquality = await refusal({ where: { note: 'x', total: { gt: 1n } }, orderBy: { sku: 'asc' } });
    expect(withEquality.message).toContain("add index.value(['note', 'sku'])");
    // When the filter's index exists, it is not suggested again.
    const served = await refusal({ where: { customerId: { gt: 1n } }, orderBy: { sku: 'asc' } });
    expect(served.message).toContain('byCustomer serves the filter, but a range on customerId and an order by sku cannot come from one index; pass allowFullScan: true');
    expect(served.message).not.toContain('add index');
  });

  it('turns a refusal into a full scan or an in-memory sort with allowFullScan', async () => {
    expect(await explain({ where: { note: 'x' }, allowFullScan: true })).toMatchObject({ index: PRIMARY_KEY_INDEX, fullScan: true, residual: 'note = "x"', sortInMemory: false });
    expect(await explain({ where: { customerId: 1n }, orderBy: { createdAt: 'desc' }, allowFullScan: true })).toMatchObject({ index: 'byCustomer', sortInMemory: true, ordered: false });
    // A full scan in an index's order streams without sorting.
    expect(await explain({ where: { note: 'x' }, orderBy: { sku: 'asc' }, allowFullScan: true })).toMatchObject({ index: 'bySku', fullScan: true, sortInMemory: false, ordered: true });
  });

  it('names unknown fields in where and orderBy', async () => {
    const inWhere = await refusal({ where: { colour: 'red' } as never });
    expect(inWhere.code).toBe('unknown_field');
    expect(inWhere.message).toContain('"colour"');
    const inOrder = await refusal({ orderBy: { size: 'asc' } as never });
    expect(inOrder.code).toBe('unknown_field');
    expect(inOrder.message).toContain('"size"');
    const nested = await refusal({ where: { or: [{ id: 1n }, { shade: 2n }] } as never });
    expect(nested.code).toBe('unknown_field');
  });

  it('refuses malformed conditions with invalid_query', async () => {
    expect((await refusal({ where: { id: { near: 5n } } as never })).code).toBe('invalid_query');
    expect((await refusal({ where: { id: 5 } as never })).code).toBe('invalid_query');
    expect((await refusal({ orderBy: { id: 'up' } as never })).code).toBe('invalid_query');
    expect((await refusal({ where: { or: [] } })).code).toBe('invalid_query');
    // A prefix of another kind than the field's would match nothing.
    const prefix = await refusal({ where: { customerId: { startsWith: '1' } } as never });
    expect(prefix.code).toBe('invalid_query');
    expect(prefix.message).toContain('orders.customerId does not hold strings');
    expect((await refusal({ where: { sku: { startsWith: new Uint8Array([65]) } } as never })).message).toContain('orders.sku does not hold bytes');
    // By the kinds a field may hold: a Timestamp or a string|number union holds no bytes; a
    // length-checked bytes field takes a shorter prefix.
    const kinds = recordType({
      schema: z.object({ id: z.bigint(), at: timestamp(), either: z.union([z.string(), z.number()]), hash: z.instanceof(Uint8Array).refine((b) => b.length === 4) }),
      primaryKey: ['id'],
    });
    const target = { typeName: 'kinds', definition: kinds, doubles: new Set<string>() } as unknown as Parameters<typeof normalizeWhere>[0];
    const bytes = new Uint8Array([1]);
    expect(() => normalizeWhere(target, { at: { startsWith: bytes } })).toThrow('kinds.at does not hold bytes');
    expect(() => normalizeWhere(target, { either: { startsWith: bytes } })).toThrow('kinds.either does not hold bytes');
    expect(normalizeWhere(target, { either: { startsWith: 'a' } })).toMatchObject({ kind: 'startsWith', field: 'either' });
    expect(normalizeWhere(target, { hash: { startsWith: bytes } })).toMatchObject({ kind: 'startsWith', field: 'hash' });
    // A condition that says nothing is refused rather than dropped: dropped, it would match every record.
    const empty = await refusal({ where: { status: {} } as never });
    expect(empty.code).toBe('invalid_query');
    expect(empty.message).toContain('where.status has no condition');
    expect((await refusal({ where: { status: undefined } })).message).toContain('where.status is undefined');
    expect((await refusal({ where: { and: [{ customerId: undefined }] } })).message).toContain('where.and[0].customerId is undefined');
    expect((await refusal({ where: { createdAt: { gte: undefined } } })).message).toContain('where.createdAt.gte is undefined');
    expect((await refusal({ where: { or: [{}, { status: 'open' }] } })).message).toContain('where.or[0] is empty');
    expect((await refusal({ where: { and: [{}] } })).message).toContain('where.and[0] is empty');
    expect((await refusal({ where: { or: [{ and: [] }, { status: 'open' }] } })).message).toContain('where.or[0].and needs at least one condition');
  });
});
