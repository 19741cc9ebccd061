// Proves references (foreign keys) between record types: a write naming a missing record and a
// delete that would leave a reference dangling are refused by name and write nothing; references
// with an empty field, unenforced ones and a record naming itself are let through; a malformed
// reference is refused when the schema is defined; and a delete racing an insert that names the
// deleted record never leaves a dangling reference (seeded, printed).
import { open, seededRandom, type Database } from '@strata/core';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordStore } from './record-store.js';
import { defineSchema, index, recordType } from './schema.js';

const SEED = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));

const databases: Database[] = [];
afterEach(async () => {
  for (const db of databases.splice(0)) await db.close();
});

const schema = defineSchema({
  customers: recordType({ schema: z.object({ id: z.number().int(), name: z.string() }), primaryKey: ['id'] }),
  orders: recordType({
    schema: z.object({ id: z.number().int(), customerId: z.number().int().nullable(), note: z.string().optional() }),
    primaryKey: ['id'],
    indexes: { byCustomer: index.value(['customerId']) },
    references: { customer: { type: 'customers', fields: ['customerId'] } },
  }),
  employees: recordType({
    schema: z.object({ id: z.number().int(), managerId: z.number().int().optional(), mentorId: z.number().int().optional() }),
    primaryKey: ['id'],
    indexes: { byManager: index.value(['managerId']) },
    references: { manager: { type: 'employees', fields: ['managerId'] }, mentor: { type: 'employees', fields: ['mentorId'], enforced: false } },
  }),
});

async function setup() {
  const db = await open();
  databases.push(db);
  const store = await RecordStore.open(db, { path: ['shop'], schema });
  return { db, store };
}

describe('references between record types', () => {
  it('refuses a record naming a missing record, by reference and key, and writes nothing', async () => {
    const { db, store } = await setup();
    const error = await db.transact((tx) => tx.at(store).orders.insert({ id: 1, customerId: 7 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'foreign_key_violation', details: { type: 'orders', reference: 'customer', references: 'customers' } });
    expect(String(error)).toContain('orders.customer: no customers record has primary key (7)');
    expect(await db.transact((tx) => tx.at(store).orders.get({ id: 1 }))).toBeNull();
    await db.transact((tx) => tx.at(store).customers.insert({ id: 7, name: 'Ada' }));
    await db.transact((tx) => tx.at(store).orders.insert({ id: 1, customerId: 7 }));
    // Changing the reference checks it again; other changes do not need the referenced record.
    await expect(db.transact((tx) => tx.at(store).orders.update({ id: 1 }, { customerId: 8 }))).rejects.toMatchObject({ code: 'foreign_key_violation' });
    await db.transact((tx) => tx.at(store).orders.update({ id: 1 }, { note: 'gift' }));
    // A null reference names nothing.
    await db.transact((tx) => tx.at(store).orders.insert({ id: 2, customerId: null }));
  });

  it('insertMany with checkReferences false loads records before the ones they name (a cycle)', async () => {
    const { db, store } = await setup();
    // A manager and a report naming each other: no order of single checked inserts can load them.
    const pair = [
      { id: 1, managerId: 2 },
      { id: 2, managerId: 1 },
    ];
    await expect(db.transact((tx) => tx.at(store).employees.insertMany(pair))).rejects.toMatchObject({ code: 'foreign_key_violation' });
    await db.transact((tx) => tx.at(store).employees.insertMany(pair, { checkReferences: false }));
    expect(await db.transact((tx) => tx.at(store).employees.findMany({ orderBy: { id: 'asc' } }))).toMatchObject({ records: pair });
    // Deletes are still checked.
    await expect(db.transact((tx) => tx.at(store).employees.delete({ id: 1 }))).rejects.toMatchObject({ code: 'foreign_key_violation' });
  });

  it('insertMany checks every reference before it writes: a record may name one earlier in the batch, and a refusal writes nothing', async () => {
    const { db, store } = await setup();
    // Earlier in the batch counts as existing, as if the records were inserted one by one.
    await db.transact((tx) => tx.at(store).employees.insertMany([{ id: 1 }, { id: 2, managerId: 1 }, { id: 3, managerId: 2 }]));
    // A later record does not (that is a cycle's case: checkReferences false).
    await expect(db.transact((tx) => tx.at(store).employees.insertMany([{ id: 4, managerId: 5 }, { id: 5 }]))).rejects.toMatchObject({ code: 'foreign_key_violation' });
    await db.transact(async (tx) => {
      const error = await tx
        .at(store)
        .orders.insertMany([
          { id: 1, customerId: null },
          { id: 2, customerId: 7 },
        ])
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'foreign_key_violation', details: { reference: 'customer', key: [7] } });
    });
    expect(await db.transact((tx) => tx.at(store).orders.findMany({ allowFullScan: true }))).toMatchObject({ records: [] });
    expect((await db.transact((tx) => tx.at(store).employees.findMany({ orderBy: { id: 'asc' } }))).records.map((e) => e.id)).toEqual([1, 2, 3]);
  });

  it('refuses to delete a record others name, and deletes it once they are gone', async () => {
    const { db, store } = await setup();
    await db.transact(async (tx) => {
      await tx.at(store).customers.insert({ id: 7, name: 'Ada' });
      await tx.at(store).orders.insertMany([
        { id: 1, customerId: 7 },
        { id: 2, customerId: 7 },
      ]);
    });
    const error = await db.transact((tx) => tx.at(store).customers.delete({ id: 7 })).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'foreign_key_violation', details: { type: 'customers', referencedBy: 'orders', reference: 'customer' } });
    expect(String(error)).toContain('cannot delete customers (7): orders (1) refers to it through orders.customer');
    expect(await db.transact((tx) => tx.at(store).customers.get({ id: 7 }))).not.toBeNull();
    // Children deleted first, in the same transaction: the parent may go.
    await db.transact(async (tx) => {
      await tx.at(store).orders.delete({ id: 1 });
      await tx.at(store).orders.delete({ id: 2 });
      expect(await tx.at(store).customers.delete({ id: 7 })).toBe(true);
    });
  });

  it('finds the records that name one when the two sides key their numbers in different forms', async () => {
    // A z.number() key is keyed as a double, a z.number().int() reference as an integer, and back.
    for (const [parentId, childRef] of [
      [z.number(), z.number().int()],
      [z.number().int(), z.number()],
    ] as const) {
      const mixed = defineSchema({
        parents: recordType({ schema: z.object({ id: parentId }), primaryKey: ['id'] }),
        children: recordType({
          schema: z.object({ id: z.number().int(), parentId: childRef }),
          primaryKey: ['id'],
          indexes: { byParent: index.value(['parentId']) },
          references: { parent: { type: 'parents', fields: ['parentId'] } },
        }),
      });
      const db = await open();
      databases.push(db);
      const store = await RecordStore.open(db, { path: ['mixed'], schema: mixed });
      await db.transact(async (tx) => {
        await tx.at(store).parents.insert({ id: 1 });
        await tx.at(store).children.insert({ id: 10, parentId: 1 });
      });
      await expect(db.transact((tx) => tx.at(store).children.insert({ id: 11, parentId: 2 }))).rejects.toMatchObject({ code: 'foreign_key_violation' });
      await expect(db.transact((tx) => tx.at(store).parents.delete({ id: 1 }))).rejects.toMatchObject({ code: 'foreign_key_violation', details: { child: [10] } });
    }
  });

  it('lets a record name itself and be deleted, and leaves unenforced references unchecked', async () => {
    const { db, store } = await setup();
    await db.transact((tx) => tx.at(store).employees.insert({ id: 1 }));
    await db.transact((tx) => tx.at(store).employees.update({ id: 1 }, { managerId: 1, mentorId: 99 }));
    await db.transact((tx) => tx.at(store).employees.insert({ id: 2, managerId: 1 }));
    await expect(db.transact((tx) => tx.at(store).employees.delete({ id: 1 }))).rejects.toMatchObject({ code: 'foreign_key_violation', details: { child: [2] } });
    await db.transact((tx) => tx.at(store).employees.delete({ id: 2 }));
    expect(await db.transact((tx) => tx.at(store).employees.delete({ id: 1 }))).toBe(true);
  });

  it('refuses a malformed reference when the schema is defined', () => {
    const customers = recordType({ schema: z.object({ id: z.number() }), primaryKey: ['id'] });
    const orders = (references: Record<string, { type: string; fields: ('id' | 'customerId')[] }>, indexed = true) =>
      recordType({
        schema: z.object({ id: z.number(), customerId: z.number() }),
        primaryKey: ['id'],
        indexes: indexed ? { byCustomer: index.value(['customerId']) } : {},
        references,
      });
    expect(() => defineSchema({ customers, orders: orders({ customer: { type: 'clients', fields: ['customerId'] } }) })).toThrow(/names record type "clients"/);
    expect(() => defineSchema({ customers, orders: orders({ customer: { type: 'customers', fields: ['id', 'customerId'] } }) })).toThrow(/has 2 fields; the primary key of customers has 1/);
    expect(() => defineSchema({ customers, orders: orders({ customer: { type: 'customers', fields: ['customerId'] } }, false) })).toThrow(
      /add index.value\(\["customerId"\]\)/,
    );
  });

  it(`never leaves a dangling reference when deletes race inserts that name the deleted record (seed ${SEED})`, async () => {
    console.log(`references race SEED=${SEED}`);
    const { db, store } = await setup();
    const random = seededRandom(SEED);
    const outcomes = { deleted: 0, refused: 0 };
    for (let round = 0; round < 40; round++) {
      await db.transact((tx) => tx.at(store).customers.insert({ id: round, name: `c${round}` }));
      const remove = (): Promise<string | undefined> =>
        db.transact((tx) => tx.at(store).customers.delete({ id: round })).then(
          () => 'deleted',
          (e: { code?: string }) => e.code,
        );
      const insert = (): Promise<string | undefined> =>
        db.transact((tx) => tx.at(store).orders.insert({ id: round, customerId: round })).then(
          () => 'inserted',
          (e: { code?: string }) => e.code,
        );
      // One starts, the other a random few turns of the event loop later: they overlap, and
      // either may commit first.
      const deleteFirst = random() < 0.5;
      const first = deleteFirst ? remove() : insert();
      for (let turns = Math.floor(random() * 3); turns > 0; turns--) await new Promise((resolve) => setImmediate(resolve));
      const second = deleteFirst ? insert() : remove();
      const [removed, inserted] = deleteFirst ? await Promise.all([first, second]) : (await Promise.all([first, second])).reverse();
      const customer = await db.transact((tx) => tx.at(store).customers.get({ id: round }));
      const order = await db.transact((tx) => tx.at(store).orders.get({ id: round }));
      // Exactly one of the two won, and the state says which.
      if (removed === 'deleted') {
        expect(inserted, `seed ${SEED} round ${round}`).toBe('foreign_key_violation');
        expect(customer === null && order === null, `seed ${SEED} round ${round}`).toBe(true);
        outcomes.deleted++;
      } else {
        expect([removed, inserted], `seed ${SEED} round ${round}`).toEqual(['foreign_key_violation', 'inserted']);
        expect(customer !== null && order !== null, `seed ${SEED} round ${round}`).toBe(true);
        outcomes.refused++;
      }
    }
    console.log(`references race SEED=${SEED}: ${outcomes.deleted} deletes won, ${outcomes.refused} inserts won`);
    expect(outcomes.deleted + outcomes.refused).toBe(40);
  });
});
