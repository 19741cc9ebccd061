// Proves sequences: nextValue counts from 1 and continues after setSequence; a record type's
// sequence-fed fields are filled on insert, insertMany and upsert when left out (as numbers or
// bigints, per the field's type) and kept when given; a value is handed out only if its
// transaction commits, so concurrent inserters get distinct, gapless ids; values survive a reopen
// of a data directory; and a malformed sequence declaration is refused when the schema is defined.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { open, type Database } from '@strata/core';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordStore } from './record-store.js';
import { defineSchema, index, recordType } from './schema.js';

const schema = defineSchema({
  films: recordType({
    schema: z.object({ id: z.number().int(), title: z.string() }),
    primaryKey: ['id'],
    sequences: { id: 'film_id_seq' },
  }),
  rentals: recordType({
    schema: z.object({ id: z.bigint(), filmId: z.number().int(), receipt: z.bigint() }),
    primaryKey: ['id'],
    indexes: { byReceipt: index.value(['receipt'], { unique: true }) },
    sequences: { id: 'rental_id_seq', receipt: 'receipt_seq' },
  }),
});

const databases: Database[] = [];
const directories: string[] = [];
afterEach(async () => {
  for (const db of databases.splice(0)) await db.close();
  for (const dir of directories.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function setup(dataPath?: string) {
  const db = await open(dataPath === undefined ? undefined : { path: dataPath });
  databases.push(db);
  const store = await RecordStore.open(db, { path: ['desk'], schema });
  return { db, store };
}

describe('sequences', () => {
  it('hand out 1, 2, 3 ... and continue after setSequence', async () => {
    const { db, store } = await setup();
    expect(await db.transact((tx) => store.readSequence(tx, 's'))).toBeNull();
    expect(await db.transact(async (tx) => [await store.nextValue(tx, 's'), await store.nextValue(tx, 's')])).toEqual([1n, 2n]);
    expect(await db.transact((tx) => store.nextValue(tx, 's'))).toBe(3n);
    await db.transact((tx) => store.setSequence(tx, 's', 1000n));
    expect(await db.transact((tx) => store.readSequence(tx, 's'))).toBe(1000n);
    expect(await db.transact((tx) => store.nextValue(tx, 's'))).toBe(1001n);
    // Sequences are independent of each other.
    expect(await db.transact((tx) => store.nextValue(tx, 't'))).toBe(1n);
    await expect(db.transact((tx) => store.nextValue(tx, ''))).rejects.toMatchObject({ code: 'invalid_query' });
    await expect(db.transact(async (tx) => store.setSequence(tx, 's', 5 as unknown as bigint))).rejects.toMatchObject({ code: 'invalid_query' });
  });

  it('fill the fields an insert leaves out, as numbers or bigints, and keep given values', async () => {
    const { db, store } = await setup();
    const film = await db.transact((tx) => tx.at(store).films.insert({ title: 'Alien' }));
    expect(film).toEqual({ id: 1, title: 'Alien' });
    const many = await db.transact((tx) => tx.at(store).films.insertMany([{ title: 'Brazil' }, { id: 50, title: 'Casablanca' }, { title: 'Dune' }]));
    expect(many.map((f) => f.id)).toEqual([2, 50, 3]);
    const rental = await db.transact((tx) => tx.at(store).rentals.insert({ filmId: 1 }));
    expect(rental).toEqual({ id: 1n, filmId: 1, receipt: 1n });
    const upserted = await db.transact((tx) => tx.at(store).rentals.upsert({ id: 1n, filmId: 2 }));
    expect(upserted).toEqual({ id: 1n, filmId: 2, receipt: 2n });
    expect(await db.transact((tx) => tx.at(store).rentals.get({ id: 1n }))).toEqual(upserted);
  });

  it('hand out a value only when its transaction commits: concurrent inserters get distinct, gapless ids', async () => {
    const { db, store } = await setup();
    await expect(
      db.transact(async (tx) => {
        await tx.at(store).films.insert({ title: 'lost' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => db.transact((tx) => tx.at(store).films.insert({ title: `film ${i}` }))));
    expect(results.map((f) => f.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('hand out no value for a refused insert or insertMany, even when the caller catches it and commits', async () => {
    const { db, store } = await setup();
    await db.transact((tx) => tx.at(store).rentals.insert({ filmId: 1, receipt: 5n }));
    await db.transact(async (tx) => {
      // The second record's receipt (5n, given) is taken; in the next batch, the second record
      // gives the id the sequence hands the first (2n).
      await expect(tx.at(store).rentals.insertMany([{ filmId: 2 }, { filmId: 3, receipt: 5n }])).rejects.toMatchObject({ code: 'unique_violation' });
      await expect(tx.at(store).rentals.insertMany([{ filmId: 2 }, { id: 2n, filmId: 3 }])).rejects.toMatchObject({ code: 'record_exists' });
      await expect(tx.at(store).rentals.insert({ filmId: 2, receipt: 5n })).rejects.toMatchObject({ code: 'unique_violation' });
      await expect(tx.at(store).rentals.upsert({ id: 1n, filmId: 'x' as never })).rejects.toMatchObject({ code: 'record_invalid' });
    });
    expect(await db.transact((tx) => store.readSequence(tx, 'rental_id_seq'))).toBe(1n);
    expect(await db.transact((tx) => store.readSequence(tx, 'receipt_seq'))).toBeNull();
    const next = await db.transact((tx) => tx.at(store).rentals.insertMany([{ filmId: 2 }, { filmId: 3 }]));
    expect(next.map((r) => [r.id, r.receipt])).toEqual([
      [2n, 1n],
      [3n, 2n],
    ]);
  });

  it('keep their values across a reopen of a data directory', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-sequences-'));
    directories.push(dir);
    const first = await setup(dir);
    await first.db.transact((tx) => tx.at(first.store).films.insertMany([{ title: 'a' }, { title: 'b' }]));
    await first.db.close();
    databases.splice(databases.indexOf(first.db), 1);
    const second = await setup(dir);
    expect(await second.db.transact((tx) => tx.at(second.store).films.insert({ title: 'c' }))).toEqual({ id: 3, title: 'c' });
  });

  it('refuse a number field past the largest safe integer, naming the field', async () => {
    const { db, store } = await setup();
    await db.transact((tx) => store.setSequence(tx, 'film_id_seq', BigInt(Number.MAX_SAFE_INTEGER)));
    await expect(db.transact((tx) => tx.at(store).films.insert({ title: 'x' }))).rejects.toMatchObject({ code: 'record_invalid', details: { type: 'films', field: 'id' } });
  });

  it('refuse a malformed declaration when the schema is defined', () => {
    const bad = (sequences: Record<string, string>, field: z.ZodType = z.number()) => () =>
      defineSchema({ t: recordType({ schema: z.object({ id: field, name: z.string() }), primaryKey: ['id'], sequences: sequences as never }) });
    expect(bad({ nope: 's' })).toThrow(/sequence field "nope" is not a field/);
    expect(bad({ id: '' })).toThrow(/needs a sequence name/);
    expect(bad({ name: 's' })).toThrow(/has type string; a sequence fills a number or a bigint field/);
    expect(bad({ id: 's' }, z.number().optional())).toThrow(/has type optional<number>/);
  });
});
