// Proves the record store's write path through a real database: records of every field kind are
// written and read back exactly (in memory and on a data directory across a reopen); insert,
// insertMany, get, update, upsert and delete behave as documented; a refused write (invalid record,
// unknown field, existing or missing record, unique violation) names what is wrong and leaves every
// key of the store unchanged; two concurrent writers of one unique value cannot both commit; large
// records are split into chunks and shrink without stale chunks; and reopening with a changed
// schema accepts the safe changes and refuses the unsafe ones with schema_incompatible; and a
// store object whose schema another open changed fails every operation with schema_changed.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { METADATA_VERSION_KEY, nodeRuntime, open, StrataError, type Database, type Transaction } from '@strata/core';
import { DirectoryLayer, Double, packWithPrefix, unpack, type TupleItem } from '@strata/tuple';
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { readInt64 } from './int64.js';
import { RECORD_CHUNK_BYTES, RecordStore, type StoreView } from './record-store.js';
import { defineSchema, index, recordType, type IndexDefinition, type SchemaTypes } from './schema.js';
import { Timestamp, timestamp } from './timestamp.js';

const customers = recordType({
  schema: z.object({
    id: z.number().int(),
    email: z.string().email(),
    name: z.string().min(1),
    age: z.number().int().nonnegative().optional(),
    city: z.string().default('Oslo'),
    address: z.object({ street: z.string(), zip: z.string().regex(/^\d{4}$/) }).optional(),
  }),
  primaryKey: ['id'],
  indexes: {
    byEmail: index.value(['email'], { unique: true }),
    byCity: index.value(['city']),
    perCity: index.count({ groupBy: ['city'] }),
    agesPerCity: index.sum('age', { groupBy: ['city'] }),
    youngest: index.min('age'),
  },
});

const everything = recordType({
  schema: z.object({
    id: z.string(),
    text: z.string(),
    integer: z.number().int(),
    fraction: z.number(),
    big: z.bigint(),
    huge: z.bigint(),
    yes: z.boolean(),
    no: z.boolean(),
    at: timestamp(),
    when: z.date(),
    bytes: z.instanceof(Uint8Array),
    nested: z.object({ deep: z.object({ list: z.array(z.number()), name: z.string() }), flag: z.boolean() }),
    rows: z.array(z.object({ k: z.string(), v: z.bigint() })),
    maybe: z.string().optional(),
    missing: z.string().optional(),
    nothing: z.string().nullable(),
    level: z.number().default(3),
  }),
  primaryKey: ['id'],
});

const schema = defineSchema({ customers, everything });

let db: Database;
let store: RecordStore<typeof schema.types>;

beforeEach(async () => {
  db = await open();
  store = await RecordStore.open(db, { path: ['shop'], schema });
});
afterEach(async () => {
  await db.close();
});

const at =
  <T extends SchemaTypes>(s: RecordStore<T>) =>
  <R>(fn: (view: StoreView<T>) => Promise<R>): Promise<R> =>
    db.transact((tx) => fn(tx.at(s)));

/** Every key and value of a store's directory, as hex, in key order. */
async function storeKeys(database: Database, s: RecordStore<SchemaTypes>): Promise<[string, string][]> {
  const { begin, end } = s.subspace.range();
  const rows = await database.transact((tx) => tx.getRangeAll(begin, end));
  return rows.map((row) => [Buffer.from(row.key).toString('hex'), Buffer.from(row.value).toString('hex')]);
}

/** The store's keys as tuples (without the directory prefix). */
async function storeTuples(database: Database, s: RecordStore<SchemaTypes>): Promise<{ key: unknown[]; value: Uint8Array }[]> {
  const { begin, end } = s.subspace.range();
  const rows = await database.transact((tx) => tx.getRangeAll(begin, end));
  return rows.map((row) => ({ key: s.subspace.unpack(row.key) as unknown[], value: row.value }));
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

const ada = { id: 1, email: 'ada@example.com', name: 'Ada', age: 36, city: 'London' };
const bob = { id: 2, email: 'bob@example.com', name: 'Bob', age: 41 };

describe('writes and reads', () => {
  it('inserts, gets, updates, upserts and deletes', async () => {
    const inserted = await at(store)((s) => s.customers.insert(ada));
    expect(inserted).toEqual(ada);
    expect(await at(store)((s) => s.customers.get({ id: 1 }))).toEqual(ada);
    expect(await at(store)((s) => s.customers.get({ id: 99 }))).toBeNull();

    // insert applies defaults and returns the stored record.
    expect(await at(store)((s) => s.customers.insert(bob))).toEqual({ ...bob, city: 'Oslo' });

    // update is partial and returns the whole record.
    const updated = await at(store)((s) => s.customers.update({ id: 2 }, { age: 42 }));
    expect(updated).toEqual({ ...bob, city: 'Oslo', age: 42 });
    expect(await at(store)((s) => s.customers.get({ id: 2 }))).toEqual(updated);

    // upsert replaces the whole record (fields left out are gone) or inserts.
    await at(store)((s) => s.customers.upsert({ id: 2, email: 'bob@example.org', name: 'Robert' }));
    expect(await at(store)((s) => s.customers.get({ id: 2 }))).toEqual({ id: 2, email: 'bob@example.org', name: 'Robert', city: 'Oslo' });
    await at(store)((s) => s.customers.upsert({ id: 3, email: 'cy@example.com', name: 'Cy' }));
    expect(await at(store)((s) => s.customers.get({ id: 3 }))).toMatchObject({ name: 'Cy' });

    expect(await at(store)((s) => s.customers.delete({ id: 3 }))).toBe(true);
    expect(await at(store)((s) => s.customers.delete({ id: 3 }))).toBe(false);
    expect(await at(store)((s) => s.customers.get({ id: 3 }))).toBeNull();
  });

  it('insertMany writes every record in one transaction, or none when one is refused', async () => {
    const out = await at(store)((s) => s.customers.insertMany([ada, bob]));
    expect(out).toHaveLength(2);
    const before = await storeKeys(db, store);
    const error = await refusal(at(store)((s) => s.customers.insertMany([{ id: 5, email: 'e@example.com', name: 'E' }, { id: 6, email: 'nope', name: 'F' }])));
    expect(error.code).toBe('record_invalid');
    expect(await storeKeys(db, store)).toEqual(before);
    expect(await at(store)((s) => s.customers.get({ id: 5 }))).toBeNull();
  });

  it('sees its own writes inside the transaction', async () => {
    await db.transact(async (tx) => {
      const view = tx.at(store);
      await view.customers.insert(ada);
      expect(await view.customers.get({ id: 1 })).toEqual(ada);
      await view.customers.update({ id: 1 }, { name: 'Augusta' });
      expect((await view.customers.get({ id: 1 }))?.name).toBe('Augusta');
      await view.customers.delete({ id: 1 });
      expect(await view.customers.get({ id: 1 })).toBeNull();
    });
    expect(await at(store)((s) => s.customers.get({ id: 1 }))).toBeNull();
  });

  it('round-trips every field kind exactly', async () => {
    const record = {
      id: 'all',
      text: 'héllo \u0000 wörld 🌍',
      integer: -9_007_199_254_740_991,
      fraction: 0.1 + 0.2,
      big: -(2n ** 63n),
      huge: 2n ** 200n + 12345n,
      yes: true,
      no: false,
      at: Timestamp.parse('1969-07-20T20:17:40.123456Z'),
      when: new Date('2024-02-29T23:59:59.999Z'),
      bytes: new Uint8Array([0, 1, 2, 254, 255]),
      nested: { deep: { list: [1, 2.5, -3], name: 'inner' }, flag: false },
      rows: [{ k: 'a', v: 1n }, { k: 'b', v: 2n ** 64n }],
      maybe: 'present',
      nothing: null,
    };
    await at(store)((s) => s.everything.insert(record));
    const read = await at(store)((s) => s.everything.get({ id: 'all' }));
    expect(read).toEqual({ ...record, level: 3 });
    expect(read).not.toHaveProperty('missing');
    expect(read!.at).toBeInstanceOf(Timestamp);
    expect(read!.at.micros).toBe(record.at.micros);
    expect(read!.when).toBeInstanceOf(Date);
    expect(read!.when.getTime()).toBe(record.when.getTime());
    expect(read!.bytes).toBeInstanceOf(Uint8Array);
    expect([...read!.bytes]).toEqual([0, 1, 2, 254, 255]);
    // Records are read from borrowed stored bytes: a read record's bytes are its own.
    read!.bytes.fill(7);
    expect([...(await at(store)((s) => s.everything.get({ id: 'all' })))!.bytes]).toEqual([0, 1, 2, 254, 255]);
    expect(typeof read!.big).toBe('bigint');
    expect(typeof read!.rows[0]!.v).toBe('bigint');
    expect(read!.huge).toBe(2n ** 200n + 12345n);
    expect(read!.fraction).toBe(0.1 + 0.2);
    expect(read!.nothing).toBeNull();

    // An update of one field keeps every other exactly.
    await at(store)((s) => s.everything.update({ id: 'all' }, { text: 'changed' }));
    const again = await at(store)((s) => s.everything.get({ id: 'all' }));
    expect(again).toEqual({ ...record, text: 'changed', level: 3 });
    expect(again!.at.micros).toBe(record.at.micros);
  });

  it('keeps -0, in fields and in nested arrays and objects', async () => {
    const record = {
      id: 'zeros', text: '', integer: 0, fraction: -0, big: 0n, huge: 0n, yes: true, no: false,
      at: Timestamp.parse('1970-01-01T00:00:00Z'), when: new Date(0), bytes: new Uint8Array(0),
      nested: { deep: { list: [-0, 0, 1.5, -0], name: '' }, flag: true }, rows: [], nothing: null,
    };
    await at(store)((s) => s.everything.insert(record));
    const read = (await at(store)((s) => s.everything.get({ id: 'zeros' })))!;
    expect(Object.is(read.fraction, -0)).toBe(true);
    expect(read.nested.deep.list.map((n) => (Object.is(n, -0) ? '-0' : String(n)))).toEqual(['-0', '0', '1.5', '-0']);
    expect(Object.is(read.integer, 0)).toBe(true);
  });

  it('keeps records on a data directory across a reopen', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-records-'));
    try {
      let disk = await open({ path: dir });
      let onDisk = await RecordStore.open(disk, { path: ['app', 'shop'], schema });
      const moment = Timestamp.parse('2030-01-01T00:00:00.000001Z');
      await disk.transact(async (tx) => {
        await tx.at(onDisk).customers.insertMany([ada, bob]);
        await tx.at(onDisk).everything.insert({
          id: 'x', text: 't', integer: 1, fraction: 1.25, big: 5n, huge: 2n ** 100n, yes: true, no: false, at: moment, when: new Date(7),
          bytes: new Uint8Array(3), nested: { deep: { list: [], name: '' }, flag: true }, rows: [], nothing: 'n', level: 9,
        });
      });
      await disk.transact((tx) => tx.at(onDisk).customers.delete({ id: 2 }));
      const keysBefore = await storeKeys(disk, onDisk);
      await disk.close();

      disk = await open({ path: dir });
      onDisk = await RecordStore.open(disk, { path: ['app', 'shop'], schema });
      expect(await storeKeys(disk, onDisk)).toEqual(keysBefore);
      expect(await disk.transact((tx) => tx.at(onDisk).customers.get({ id: 1 }))).toEqual(ada);
      expect(await disk.transact((tx) => tx.at(onDisk).customers.get({ id: 2 }))).toBeNull();
      const x = await disk.transact((tx) => tx.at(onDisk).everything.get({ id: 'x' }));
      expect(x!.at.micros).toBe(moment.micros);
      expect(x!.huge).toBe(2n ** 100n);
      expect(x!.level).toBe(9);
      await disk.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts compound primary keys and keeps records with a shared key prefix apart', async () => {
    const lines = defineSchema({
      lines: recordType({
        schema: z.object({ order: z.bigint(), line: z.number().int(), at: timestamp(), sku: z.string(), qty: z.number().int() }),
        primaryKey: ['order', 'at', 'line'],
        indexes: { bySku: index.value(['sku']), qtyPerOrder: index.sum('qty', { groupBy: ['order'] }) },
      }),
    });
    const s = await RecordStore.open(db, { path: ['lines'], schema: lines });
    const t = Timestamp.parse('2024-01-01T00:00:00.000001Z');
    await at(s)((v) => v.lines.insertMany([
      { order: 1n, at: t, line: 1, sku: 'a', qty: 2 },
      { order: 1n, at: t, line: 2, sku: 'b', qty: 3 },
      { order: 12n, at: t, line: 1, sku: 'a', qty: 5 },
    ]));
    expect(await at(s)((v) => v.lines.get({ order: 1n, at: t, line: 2 }))).toMatchObject({ sku: 'b', qty: 3 });
    expect(await at(s)((v) => v.lines.get({ order: 1n, at: new Timestamp(t.micros + 1n), line: 2 }))).toBeNull();
    expect(await at(s)((v) => v.lines.delete({ order: 1n, at: t, line: 1 }))).toBe(true);
    expect(await at(s)((v) => v.lines.get({ order: 1n, at: t, line: 2 }))).not.toBeNull();
    const tuples = await storeTuples(db, s);
    const records = tuples.filter((r) => r.key[0] === 1).map((r) => r.key.slice(2));
    expect(records).toEqual([[1, t.micros < 2n ** 53n ? Number(t.micros) : t.micros, 2, 0], [12, Number(t.micros), 1, 0]]);
    const sums = tuples.filter((r) => r.key[0] === 2 && r.key[2] === 'qtyPerOrder').map((r) => [r.key[3], readInt64(r.value)]);
    expect(sums).toEqual([[1, 3n], [12, 5n]]);
    // A get needs every primary key field.
    const error = await refusal(at(s)((v) => v.lines.get({ order: 1n, line: 2 })));
    expect(error.code).toBe('invalid_query');
    expect(error.details).toMatchObject({ field: 'at' });
    // A value of another type than the field's is refused, not keyed apart to find nothing.
    for (const operation of [
      (v: StoreView<typeof lines.types>): Promise<unknown> => v.lines.get({ order: '1' as never, at: t, line: 2 }),
      (v: StoreView<typeof lines.types>): Promise<unknown> => v.lines.delete({ order: 1n, at: t, line: 2n as never }),
      (v: StoreView<typeof lines.types>): Promise<unknown> => v.lines.update({ order: 1, at: t, line: 2 } as never, { qty: 1 }),
    ]) {
      const wrong = await refusal(at(s)(operation));
      expect(wrong.code).toBe('invalid_query');
      expect(wrong.message).toMatch(/is not a valid value of primary key field lines\.(order|line)/);
    }
    expect(await at(s)((v) => v.lines.get({ order: 1n, at: t, line: 2 }))).toMatchObject({ qty: 3 });
  });
});

describe('refused writes change nothing', () => {
  beforeEach(async () => {
    await at(store)((s) => s.customers.insertMany([ada, bob]));
  });

  it('a sum index refuses a value outside the signed 64-bit integers, naming the field and the index', async () => {
    // The atomic add keeps 64 bits: 2^63 would be added as -2^63, so it must be refused instead.
    const scores = defineSchema({
      scores: recordType({
        schema: z.object({ id: z.number().int(), team: z.string(), points: z.bigint().optional() }),
        primaryKey: ['id'],
        indexes: { byTeam: index.value(['team']), pointsPerTeam: index.sum('points', { groupBy: ['team'] }) },
      }),
    });
    const s = await RecordStore.open(db, { path: ['scores'], schema: scores });
    await at(s)((v) => v.scores.insertMany([{ id: 1, team: 'a', points: 2n }, { id: 2, team: 'b', points: -(2n ** 63n) }, { id: 3, team: 'b', points: 2n ** 63n - 1n }, { id: 4, team: 'a' }]));
    expect(await at(s)((v) => v.scores.sum('points', { where: { team: 'b' } }))).toBe(-1n);
    const before = await storeKeys(db, s);
    for (const points of [2n ** 63n, -(2n ** 63n) - 1n, 2n ** 70n]) {
      const insert = await refusal(at(s)((v) => v.scores.insertMany([{ id: 5, team: 'a', points: 3n }, { id: 6, team: 'a', points }])));
      expect(insert.code).toBe('record_invalid');
      expect(insert.message).toBe(`scores.points holds ${points}, outside the signed 64-bit integers that sum index pointsPerTeam adds`);
      expect(insert.details).toEqual({ type: 'scores', field: 'points', index: 'pointsPerTeam' });
      // An update or upsert to such a value is refused the same way; no write left anything behind.
      expect((await refusal(at(s)((v) => v.scores.update({ id: 1 }, { points })))).code).toBe('record_invalid');
      expect((await refusal(at(s)((v) => v.scores.upsert({ id: 1, team: 'a', points })))).code).toBe('record_invalid');
    }
    expect(await storeKeys(db, s)).toEqual(before);
    expect(await at(s)((v) => v.scores.sum('points', { where: { team: 'a' } }))).toBe(2n);
  });

  it('an invalid record names the field and the rule', async () => {
    const before = await storeKeys(db, store);
    const cases: [unknown, string, string][] = [
      [{ id: 3, email: 'not-an-email', name: 'C' }, 'email', 'invalid_format'],
      [{ id: 3, email: 'c@example.com', name: '' }, 'name', 'too_small'],
      [{ id: 3, email: 'c@example.com', name: 'C', age: 1.5 }, 'age', 'invalid_type'],
      [{ id: 3, email: 'c@example.com', name: 'C', age: -1 }, 'age', 'too_small'],
      [{ id: 3, email: 'c@example.com' }, 'name', 'invalid_type'],
      [{ id: '3', email: 'c@example.com', name: 'C' }, 'id', 'invalid_type'],
      [{ id: 3, email: 'c@example.com', name: 'C', address: { street: 'Main', zip: '12' } }, 'address.zip', 'invalid_format'],
    ];
    for (const [record, field, rule] of cases) {
      const error = await refusal(at(store)((s) => s.customers.insert(record as never)));
      expect(error.code, field).toBe('record_invalid');
      expect(error.errno).toBe(7201);
      expect(error.details).toMatchObject({ type: 'customers', field, rule });
      expect(error.message).toContain(`customers.${field}`);
    }
    const notObject = await refusal(at(store)((s) => s.customers.insert('ada' as never)));
    expect(notObject.code).toBe('record_invalid');
    expect(await storeKeys(db, store)).toEqual(before);
  });

  it('an update is validated as a whole and cannot change the primary key', async () => {
    const before = await storeKeys(db, store);
    const invalid = await refusal(at(store)((s) => s.customers.update({ id: 1 }, { email: 'nope' })));
    expect(invalid.code).toBe('record_invalid');
    expect(invalid.details).toMatchObject({ field: 'email' });
    const required = await refusal(at(store)((s) => s.customers.update({ id: 1 }, { name: null as never })));
    expect(required.code).toBe('record_invalid');
    expect(required.details).toMatchObject({ field: 'name' });
    const moved = await refusal(at(store)((s) => s.customers.update({ id: 1 }, { id: 7 })));
    expect(moved.code).toBe('record_invalid');
    expect(moved.message).toContain('primary key');
    expect(await storeKeys(db, store)).toEqual(before);
    expect(await at(store)((s) => s.customers.get({ id: 7 }))).toBeNull();
  });

  it('unknown fields are refused on insert, update, upsert and in keys', async () => {
    const before = await storeKeys(db, store);
    for (const attempt of [
      (s: StoreView<typeof schema.types>) => s.customers.insert({ ...bob, id: 9, email: 'z@example.com', nickname: 'Z' } as never),
      (s: StoreView<typeof schema.types>) => s.customers.update({ id: 1 }, { nickname: 'A' } as never),
      (s: StoreView<typeof schema.types>) => s.customers.upsert({ ...ada, nickname: 'A' } as never),
      (s: StoreView<typeof schema.types>) => s.customers.get({ id: 1, nickname: 'A' } as never),
    ]) {
      const error = await refusal(at(store)(attempt));
      expect(error.code).toBe('unknown_field');
      expect(error.details).toMatchObject({ type: 'customers', field: 'nickname' });
      expect(error.message).toContain('"nickname"');
    }
    expect(await storeKeys(db, store)).toEqual(before);
  });

  it('unknown fields inside nested objects and arrays are refused by their full path, not dropped', async () => {
    const places = defineSchema({
      places: recordType({
        schema: z.object({
          id: z.number().int(),
          address: z.object({ street: z.string(), geo: z.object({ lat: z.number() }).optional() }),
          tags: z.array(z.object({ k: z.string() })).optional(),
          grid: z.array(z.array(z.object({ v: z.number() }))).default([]),
          owner: z.object({ name: z.string() }).nullable().optional(),
          strict: z.strictObject({ a: z.string() }).optional(),
          loose: z.looseObject({ a: z.string() }).optional(),
          labels: z.record(z.string(), z.object({ text: z.string() })).optional(),
          shape: z.union([z.object({ kind: z.literal('circle'), r: z.number() }), z.object({ kind: z.literal('square'), side: z.number() })]).optional(),
          seen: timestamp().optional(),
          bytes: z.instanceof(Uint8Array).optional(),
        }),
        primaryKey: ['id'],
      }),
    });
    const s = await RecordStore.open(db, { path: ['places'], schema: places });
    const base = { id: 1, address: { street: 'Main' } };
    await at(s)((v) => v.places.insert({ ...base, tags: [{ k: 'a' }], seen: new Timestamp(5n), bytes: new Uint8Array([1]), loose: { a: 'x', b: 1 }, labels: { en: { text: 'hi' } } }));
    // A loose object keeps its extra keys: nothing is lost, so nothing is refused.
    expect(await at(s)((v) => v.places.get({ id: 1 }))).toMatchObject({ loose: { a: 'x', b: 1 }, labels: { en: { text: 'hi' } } });
    const before = await storeKeys(db, s);
    const cases: [Record<string, unknown>, string][] = [
      [{ address: { street: 'Main', zipp: '1234' } }, 'address.zipp'],
      [{ address: { street: 'Main', geo: { lat: 1, lng: 2 } } }, 'address.geo.lng'],
      [{ tags: [{ k: 'a' }, { k: 'b', extra: 1 }] }, 'tags[1].extra'],
      [{ grid: [[], [{ v: 1 }, { v: 2, w: 3 }]] }, 'grid[1][1].w'],
      [{ owner: { name: 'Ada', age: 36 } }, 'owner.age'],
      [{ strict: { a: 'x', b: 'y' } }, 'strict.b'],
      [{ labels: { en: { text: 'hi', lang: 'en' } } }, 'labels.en.lang'],
      [{ shape: { kind: 'circle', r: 1, side: 2 } }, 'shape.side'],
      [{ address: { street: 'Main', zipp: undefined } }, 'address.zipp'],
    ];
    for (const [change, field] of cases) {
      for (const attempt of [
        (v: StoreView<typeof places.types>): Promise<unknown> => v.places.insert({ ...base, id: 2, ...change } as never),
        (v: StoreView<typeof places.types>): Promise<unknown> => v.places.insertMany([{ ...base, id: 2 }, { ...base, id: 3, ...change }] as never),
        (v: StoreView<typeof places.types>): Promise<unknown> => v.places.upsert({ ...base, ...change } as never),
        (v: StoreView<typeof places.types>): Promise<unknown> => v.places.update({ id: 1 }, change as never),
      ]) {
        const error = await refusal(at(s)(attempt));
        expect(error.code, field).toBe('unknown_field');
        expect(error.details, field).toEqual({ type: 'places', field });
        // Inside a union the message says which member read the value.
        const note = field === 'shape.side' ? ': the first member of the union at "shape" that accepts the value does not declare it' : '';
        expect(error.message, field).toBe(`places has no field ${JSON.stringify(field)}${note}`);
      }
    }
    expect(await storeKeys(db, s)).toEqual(before);
  });

  it('record_exists on inserting a primary key twice; record_not_found on updating a missing one', async () => {
    const before = await storeKeys(db, store);
    const exists = await refusal(at(store)((s) => s.customers.insert({ ...ada, email: 'other@example.com', name: 'Other' })));
    expect(exists.code).toBe('record_exists');
    expect(exists.message).toContain('(1)');
    const missing = await refusal(at(store)((s) => s.customers.update({ id: 404 }, { name: 'Nobody' })));
    expect(missing.code).toBe('record_not_found');
    expect(missing.details).toMatchObject({ type: 'customers', key: [404] });
    expect(await storeKeys(db, store)).toEqual(before);
    expect((await at(store)((s) => s.customers.get({ id: 1 })))?.email).toBe(ada.email);
  });

  it('unique_violation names the index and the value, on insert, update and upsert', async () => {
    const before = await storeKeys(db, store);
    for (const attempt of [
      (s: StoreView<typeof schema.types>) => s.customers.insert({ id: 3, email: ada.email, name: 'Copy' }),
      (s: StoreView<typeof schema.types>) => s.customers.update({ id: 2 }, { email: ada.email }),
      (s: StoreView<typeof schema.types>) => s.customers.upsert({ ...bob, email: ada.email }),
      (s: StoreView<typeof schema.types>) => s.customers.upsert({ id: 3, email: ada.email, name: 'Copy' }),
    ]) {
      const error = await refusal(at(store)(attempt));
      expect(error.code).toBe('unique_violation');
      expect(error.errno).toBe(7203);
      expect(error.details).toMatchObject({ type: 'customers', index: 'byEmail', values: [ada.email] });
      expect(error.message).toContain('customers.byEmail');
      expect(error.message).toContain(JSON.stringify(ada.email));
    }
    expect(await storeKeys(db, store)).toEqual(before);
  });

  it('a refused write caught inside the transaction still writes nothing when the transaction commits', async () => {
    const before = await storeKeys(db, store);
    await db.transact(async (tx) => {
      const s = tx.at(store);
      for (const attempt of [
        () => s.customers.insert({ id: 3, email: ada.email, name: 'Copy' }),
        () => s.customers.insert({ ...ada }),
        () => s.customers.update({ id: 2 }, { email: 'bad' }),
        () => s.customers.update({ id: 2 }, { email: ada.email }),
      ]) {
        await expect(attempt()).rejects.toBeInstanceOf(RecordLayerError);
      }
    });
    expect(await storeKeys(db, store)).toEqual(before);
  });

  it('a refused insertMany caught inside the transaction writes none of its records, whichever record is refused', async () => {
    // Each batch has good records before the one refused: none of them, nor any index entry or
    // count, may be left behind when the caller catches the refusal and the transaction commits.
    const carol = { id: 3, email: 'carol@example.com', name: 'Carol', city: 'Oslo', age: 20 };
    const dave = { id: 4, email: 'dave@example.com', name: 'Dave', city: 'Oslo', age: 30 };
    const cases: [string, unknown[], string, Record<string, unknown>][] = [
      ['a unique value twice in the batch', [carol, dave, { id: 5, email: carol.email, name: 'Copy' }], 'unique_violation', { index: 'byEmail', values: [carol.email] }],
      ['a unique value already stored', [carol, { id: 5, email: ada.email, name: 'Copy' }], 'unique_violation', { index: 'byEmail', values: [ada.email] }],
      ['a primary key twice in the batch', [carol, dave, { ...carol, email: 'other@example.com' }], 'record_exists', { key: [3] }],
      ['a primary key already stored', [carol, dave, { ...ada, email: 'other@example.com' }], 'record_exists', { key: [1] }],
      ['an invalid record', [carol, dave, { id: 5, email: 'nope', name: 'E' }], 'record_invalid', { field: 'email' }],
      ['a value a key cannot hold', [carol, { id: 5, email: 'e@example.com', name: 'E', city: ['x'] }], 'record_invalid', { field: 'city' }],
    ];
    const before = await storeKeys(db, store);
    for (const [label, records, code, details] of cases) {
      let caught: unknown = null;
      await db.transact(async (tx) => {
        caught = null;
        try {
          await tx.at(store).customers.insertMany(records as never);
        } catch (error) {
          caught = error;
        }
      });
      expect(caught, label).toBeInstanceOf(RecordLayerError);
      expect((caught as RecordLayerError).code, label).toBe(code);
      expect((caught as RecordLayerError).details, label).toMatchObject({ type: 'customers', ...details });
      expect(await storeKeys(db, store), label).toEqual(before);
    }
    // The same records without the refused one go in, and the batch's own unique values are kept apart.
    await at(store)((s) => s.customers.insertMany([carol, dave]));
    expect(await at(store)((s) => s.customers.count({ where: { city: 'Oslo' } }))).toBe(3n);
  });

  it('insertMany refuses a unique value repeated in the batch with the same message as inserts one by one', async () => {
    const carol = { id: 3, email: 'carol@example.com', name: 'Carol' };
    const many = await refusal(at(store)((s) => s.customers.insertMany([carol, { id: 4, email: carol.email, name: 'Copy' }])));
    const single = await refusal(
      at(store)(async (s) => {
        await s.customers.insert(carol);
        await s.customers.insert({ id: 4, email: carol.email, name: 'Copy' });
      }),
    );
    expect(many.message).toBe(single.message);
    expect(many.message).toBe('unique index customers.byEmail already holds ("carol@example.com") (for primary key (3))');
    // Null values never collide, in a batch as in the store.
    const people = defineSchema({
      people: recordType({ schema: z.object({ id: z.number().int(), badge: z.string().nullable() }), primaryKey: ['id'], indexes: { byBadge: index.value(['badge'], { unique: true }) } }),
    });
    const s = await RecordStore.open(db, { path: ['badges'], schema: people });
    await at(s)((v) => v.people.insertMany([{ id: 1, badge: null }, { id: 2, badge: null }, { id: 3, badge: 'b' }]));
    expect(await at(s)((v) => v.people.findMany({ allowFullScan: true }))).toMatchObject({ records: [{ id: 1 }, { id: 2 }, { id: 3 }] });
  });

  it('a record whose sum field the sum index cannot add is refused before anything is written', async () => {
    // z.bigint() admits 2^64, which the sum index cannot add: that must be a refusal that writes
    // nothing, even when the caller catches it and commits the rest of the transaction.
    const payments = defineSchema({
      payments: recordType({
        schema: z.object({ id: z.number().int(), payer: z.string(), amount: z.bigint() }),
        primaryKey: ['id'],
        indexes: { byPayer: index.value(['payer']), total: index.sum('amount', { groupBy: ['payer'] }), count: index.count() },
      }),
    });
    const s = await RecordStore.open(db, { path: ['payments'], schema: payments });
    await at(s)((v) => v.payments.insert({ id: 1, payer: 'p', amount: 10n }));
    const before = await storeKeys(db, s);
    let code: string | undefined;
    await db.transact(async (tx) => {
      code = undefined;
      try {
        await tx.at(s).payments.insert({ id: 2, payer: 'p', amount: 2n ** 64n });
      } catch (error) {
        code = (error as RecordLayerError).code;
      }
    });
    expect(code).toBe('record_invalid');
    expect(await storeKeys(db, s)).toEqual(before);
    expect(await at(s)((v) => v.payments.get({ id: 2 }))).toBeNull();
  });
});

describe('writes a demanding user makes', () => {
  // Each refusal below is caught inside the transaction, which then commits: a refused write must
  // have written nothing (invariant 3).
  async function caught(s: RecordStore<SchemaTypes>, fn: (view: StoreView<SchemaTypes>) => Promise<unknown>): Promise<RecordLayerError> {
    return db.transact(async (tx) => refusal(fn(tx.at(s))));
  }

  const titled = defineSchema({
    notes: recordType({
      schema: z.object({ id: z.string(), title: z.string(), n: z.number().int() }),
      primaryKey: ['id'],
      indexes: { byTitle: index.value(['title']), byN: index.value(['n']), perTitle: index.count({ groupBy: ['title'] }) },
    }),
  });
  const long = 'x'.repeat(12_000);

  it('refuses a value too long for an index key before writing anything, naming the index and the field', async () => {
    const s = await RecordStore.open(db, { path: ['long'], schema: titled });
    await at(s)((v) => v.notes.insert({ id: 'd', title: 'short', n: 1 }));
    const before = await storeKeys(db, s as unknown as RecordStore<SchemaTypes>);
    const insert = await caught(s as unknown as RecordStore<SchemaTypes>, (v) => v.notes!.insert({ id: 'a', title: long, n: 2 }));
    expect(insert.code).toBe('record_invalid');
    expect(insert.message).toContain('index notes.byTitle cannot hold this record');
    expect(insert.message).toContain('notes.title holds a value too long to index');
    expect(insert.details).toMatchObject({ type: 'notes', index: 'byTitle', fields: ['title'] });
    await caught(s as unknown as RecordStore<SchemaTypes>, (v) => v.notes!.insertMany([{ id: 'b', title: 'ok', n: 3 }, { id: 'c', title: long, n: 4 }]));
    await caught(s as unknown as RecordStore<SchemaTypes>, (v) => v.notes!.update({ id: 'd' }, { title: long }));
    const key = await caught(s as unknown as RecordStore<SchemaTypes>, (v) => v.notes!.insert({ id: long, title: 'ok', n: 5 }));
    expect(key.message).toContain('the primary key of this notes record is too long for the record');
    expect(await storeKeys(db, s as unknown as RecordStore<SchemaTypes>)).toEqual(before);
    // A condition on a value no key can hold finds nothing, as it should, instead of failing.
    expect(await at(s)((v) => v.notes.get({ id: long }))).toBeNull();
    expect((await at(s)((v) => v.notes.findMany({ where: { title: long } }))).records).toEqual([]);
    expect((await at(s)((v) => v.notes.findMany({ where: { title: { lt: long } } }))).records.map((r) => r.id)).toEqual(['d']);
    expect(await at(s)((v) => v.notes.count({ where: { title: long } }))).toBe(0n);
  });

  it('refuses a primary key too long for any key the record needs (its later chunks, its version entries) before writing anything', async () => {
    const docs = defineSchema({
      docs: recordType({ schema: z.object({ id: z.string(), body: z.string() }), primaryKey: ['id'], indexes: { changes: index.version() } }),
      plain: recordType({ schema: z.object({ id: z.string(), body: z.string() }), primaryKey: ['id'] }),
    });
    const s = await RecordStore.open(db, { path: ['chunks'], schema: docs });
    const prefix = packWithPrefix(s.subspace.prefix, [1, 'plain']).length;
    // Chunk 0 of this key takes exactly 10,000 bytes; chunk 1 would take one more.
    const id = 'a'.repeat(10_000 - prefix - 3);
    const before = await storeKeys(db, s as unknown as RecordStore<SchemaTypes>);
    for (const write of [
      (v: StoreView<typeof docs.types>) => v.plain.insert({ id, body: 'y'.repeat(100_000) }),
      (v: StoreView<typeof docs.types>) => v.plain.insertMany([{ id: 'first', body: 'b' }, { id, body: 'y'.repeat(100_000) }]),
      (v: StoreView<typeof docs.types>) => v.docs.insert({ id: 'b'.repeat(9_990 - prefix), body: 'small' }),
    ]) {
      const error = await db.transact(async (tx) => refusal(write(tx.at(s))));
      expect(error.code).toBe('record_invalid');
      expect(error.message).toMatch(/^the primary key of this (plain|docs) record is too long for/);
    }
    expect(await storeKeys(db, s as unknown as RecordStore<SchemaTypes>)).toEqual(before);
    // The same key holds a record of one chunk, which it fits exactly.
    await at(s)((v) => v.plain.insert({ id, body: 'small' }));
    expect(await at(s)((v) => v.plain.update({ id }, { body: 'still small' }))).toEqual({ id, body: 'still small' });
    expect((await refusal(at(s)((v) => v.plain.update({ id }, { body: 'y'.repeat(100_000) })))).message).toContain('too long for the chunks of a record this large');
  });

  it('refuses an over-long unique value and an over-long reference as what they are, not as a failed read', async () => {
    const linked = defineSchema({
      parents: recordType({ schema: z.object({ id: z.string(), email: z.string() }), primaryKey: ['id'], indexes: { byEmail: index.value(['email'], { unique: true }) } }),
      children: recordType({
        schema: z.object({ id: z.number().int(), parentId: z.string() }),
        primaryKey: ['id'],
        indexes: { byParent: index.value(['parentId']) },
        references: { parent: { fields: ['parentId'], type: 'parents' } },
      }),
    });
    const s = await RecordStore.open(db, { path: ['linked'], schema: linked });
    const unique = await refusal(at(s)((v) => v.parents.insert({ id: 'p', email: long })));
    expect(unique.message).toContain('index parents.byEmail cannot hold this record');
    const reference = await refusal(at(s)((v) => v.children.insert({ id: 1, parentId: long })));
    expect(reference.code).toBe('record_invalid');
    expect(reference.message).toContain('index children.byParent cannot hold this record');
  });

  it('update leaves a field given as undefined as it is, and refuses changes that are not an object', async () => {
    const s = await RecordStore.open(db, { path: ['u'], schema });
    await at(s)((v) => v.customers.insert(ada));
    expect(await at(s)((v) => v.customers.update({ id: 1 }, { city: undefined, name: 'Ada L.' }))).toMatchObject({ city: 'London', name: 'Ada L.' });
    expect(await at(s)((v) => v.customers.findMany({ where: { city: 'London' } }))).toMatchObject({ records: [{ id: 1 }] });
    for (const changes of [null, 'x', ['name']]) {
      const error = await refusal(at(s)((v) => v.customers.update({ id: 1 }, changes as never)));
      expect(error.code).toBe('record_invalid');
      expect(error.message).toContain('update of a customers record needs an object of the fields to change');
    }
  });

  it('asks conditions and primary keys for the kind of value a field holds, not its checks', async () => {
    const checked = defineSchema({
      items: recordType({
        schema: z.object({ code: z.string().min(3), price: z.number().positive(), qty: z.number().int().max(100), email: z.email() }),
        primaryKey: ['code'],
        indexes: { byPrice: index.value(['price']), byQty: index.value(['qty']), byEmail: index.value(['email']) },
      }),
    });
    const s = await RecordStore.open(db, { path: ['checked'], schema: checked });
    await at(s)((v) => v.items.insertMany([{ code: 'abc', price: 1.5, qty: 1, email: 'a@example.com' }, { code: 'bcd', price: 3, qty: 100, email: 'b@example.com' }]));
    const ids = (query: object): Promise<string[]> => at(s)(async (v) => (await v.items.findMany(query as never)).records.map((r) => r.code));
    expect(await ids({ where: { price: { gt: 0 } } })).toEqual(['abc', 'bcd']);
    expect(await ids({ where: { qty: { lt: 101 } } })).toEqual(['abc', 'bcd']);
    expect(await ids({ where: { qty: { in: [0, 1] } } })).toEqual(['abc']);
    expect(await ids({ where: { email: { gte: 'a', lt: 'b' } } })).toEqual(['abc']);
    expect(await at(s)((v) => v.items.get({ code: 'ab' }))).toBeNull();
    // The kind of a custom type is its own test, without checks refined on it; a numeric enum's
    // values are its numbers, not its reverse-mapping names.
    enum Color {
      Red,
      Green,
    }
    const custom = defineSchema({
      events: recordType({
        schema: z.object({ at: timestamp().refine((t) => t.micros > 5_000_000n), color: z.enum(Color) }),
        primaryKey: ['at'],
        indexes: { byColor: index.value(['color']) },
      }),
    });
    const e = await RecordStore.open(db, { path: ['custom'], schema: custom });
    expect(await at(e)((v) => v.events.get({ at: new Timestamp(1_000_000n) }))).toBeNull();
    expect(await at(e)((v) => v.events.delete({ at: new Timestamp(1_000_000n) }))).toBe(false);
    expect((await refusal(at(e)((v) => v.events.findMany({ where: { color: 'Red' as never } })))).code).toBe('invalid_query');
    expect((await at(e)((v) => v.events.findMany({ where: { color: Color.Green } }))).records).toEqual([]);
    // Lazy, piped and intersected types are asked through their parts, custom ones without their checks.
    const late = () => timestamp().refine((t) => t.micros > 5_000_000n);
    const composed = defineSchema({
      slots: recordType({
        schema: z.object({ id: z.number().int(), lazy: z.lazy(late), piped: timestamp().pipe(late() as z.ZodType<Timestamp, Timestamp>), both: z.intersection(timestamp(), late()) }),
        primaryKey: ['id'],
        indexes: { byLazy: index.value(['lazy']), byPiped: index.value(['piped']), byBoth: index.value(['both']) },
      }),
    });
    const c = await RecordStore.open(db, { path: ['composed'], schema: composed });
    const t = new Timestamp(6_000_000n);
    await at(c)((v) => v.slots.insert({ id: 1, lazy: t, piped: t, both: t }));
    for (const field of ['lazy', 'piped', 'both']) {
      const found = (where: object): Promise<number[]> => at(c)(async (v) => (await v.slots.findMany({ where: { [field]: where } as never })).records.map((r) => r.id));
      expect(await found({ gt: new Timestamp(1_000_000n) })).toEqual([1]);
      expect(await found({ lt: new Timestamp(1_000_000n) })).toEqual([]);
      expect((await refusal(found({ gt: 'x' }))).message).toContain(`is not a valid value of slots.${field}`);
    }
    // A lazy type that refers to itself is followed once on each path (twice in a union would
    // otherwise take exponential time).
    type Nested = string | Nested[];
    const nested: z.ZodType<Nested> = z.lazy(() => z.union([z.string(), nested, nested]));
    const n = await RecordStore.open(db, { path: ['nested'], schema: defineSchema({ n: recordType({ schema: z.object({ id: z.number().int(), x: nested }), primaryKey: ['id'], indexes: { byX: index.value(['x']) } }) }) });
    expect((await refusal(at(n)((v) => v.n.findMany({ where: { x: 5 as never } })))).message).toContain('is not a valid value of n.x');
    expect(await at(n)(async (v) => (await v.n.findMany({ where: { x: 'a' } })).records)).toEqual([]);
    // A value of another kind still matches nothing by accident: it is refused.
    expect((await refusal(ids({ where: { price: { gt: '0' } } }))).code).toBe('invalid_query');
    expect((await refusal(ids({ where: { qty: { gt: 1.5 } } }))).message).toContain('is not a valid value of items.qty');
    expect((await refusal(at(s)((v) => v.items.get({ code: 5 as never })))).code).toBe('invalid_query');
  });
});

describe('references within one write', () => {
  const threads = defineSchema({
    posts: recordType({
      schema: z.object({ id: z.number().int(), thread: z.number().int(), parentId: z.number().int().nullable() }),
      primaryKey: ['id'],
      indexes: { byThread: index.value(['thread']), byParent: index.value(['parentId']) },
      references: { parent: { fields: ['parentId'], type: 'posts' } },
    }),
  });

  it('a record may refer to itself', async () => {
    const s = await RecordStore.open(db, { path: ['self'], schema: threads });
    expect(await at(s)((v) => v.posts.insert({ id: 1, thread: 1, parentId: 1 }))).toEqual({ id: 1, thread: 1, parentId: 1 });
    expect(await at(s)((v) => v.posts.delete({ id: 1 }))).toBe(true);
  });

  it('deleteMany deletes a parent with its children, and refuses all of it when a record it keeps refers to one, writing nothing', async () => {
    const s = await RecordStore.open(db, { path: ['threads'], schema: threads });
    await at(s)((v) =>
      v.posts.insertMany([
        { id: 1, thread: 1, parentId: null },
        { id: 2, thread: 1, parentId: 1 },
        { id: 3, thread: 1, parentId: 2 },
        { id: 10, thread: 2, parentId: null },
        { id: 11, thread: 2, parentId: 10 },
        { id: 12, thread: 3, parentId: 11 },
      ]),
    );
    expect(await at(s)((v) => v.posts.deleteMany({ where: { thread: 1 } }))).toBe(3);
    const before = await storeKeys(db, s as unknown as RecordStore<SchemaTypes>);
    const error = await db.transact(async (tx) => refusal(tx.at(s).posts.deleteMany({ where: { thread: 2 } })));
    expect(error.code).toBe('foreign_key_violation');
    expect(error.message).toContain('posts (12) refers to it');
    expect(await storeKeys(db, s as unknown as RecordStore<SchemaTypes>)).toEqual(before);
    for (const option of [{ limit: 1 }, { cursor: 'x' }, { orderBy: { id: 'asc' } }]) {
      const refused = await refusal(at(s)((v) => v.posts.deleteMany({ where: { thread: 2 }, ...option } as never)));
      expect(refused.code).toBe('invalid_query');
      expect(refused.message).toContain('deleteMany deletes every record that matches');
    }
    expect((await at(s)((v) => v.posts.findMany({ where: { thread: 2 } }))).records.map((r) => r.id)).toEqual([10, 11]);
  });
});

describe('unique indexes', () => {
  it('updates and upserts of a record keep its own unique value (bigint primary key)', async () => {
    // The README's own example: customers keyed by a bigint id with a unique email.
    const readme = defineSchema({
      customers: recordType({
        schema: z.object({ id: z.bigint(), email: z.string().email(), name: z.string() }),
        primaryKey: ['id'],
        indexes: { byEmail: index.value(['email'], { unique: true }) },
      }),
    });
    const s = await RecordStore.open(db, { path: ['readme'], schema: readme });
    await at(s)((v) => v.customers.insert({ id: 1n, email: 'ada@example.com', name: 'Ada' }));
    expect(await at(s)((v) => v.customers.update({ id: 1n }, { name: 'Augusta' }))).toMatchObject({ name: 'Augusta' });
    expect(await at(s)((v) => v.customers.upsert({ id: 1n, email: 'ada@example.com', name: 'Ada' }))).toMatchObject({ name: 'Ada' });
  });

  it('updates of a record keep its own unique value (Timestamp primary key)', async () => {
    const events = defineSchema({
      events: recordType({ schema: z.object({ at: timestamp(), code: z.string() }), primaryKey: ['at'], indexes: { byCode: index.value(['code'], { unique: true }) } }),
    });
    const s = await RecordStore.open(db, { path: ['events'], schema: events });
    const t = Timestamp.parse('2024-01-01T00:00:00.000001Z');
    await at(s)((v) => v.events.insert({ at: t, code: 'boot' }));
    await at(s)((v) => v.events.upsert({ at: t, code: 'boot' }));
  });

  it('updates of a record keep its own unique value (string primary key)', async () => {
    const users = defineSchema({
      users: recordType({ schema: z.object({ login: z.string(), email: z.string() }), primaryKey: ['login'], indexes: { byEmail: index.value(['email'], { unique: true }) } }),
    });
    const s = await RecordStore.open(db, { path: ['users'], schema: users });
    await at(s)((v) => v.users.insert({ login: 'ada', email: 'a@x' }));
    await at(s)((v) => v.users.upsert({ login: 'ada', email: 'a@x' }));
    await at(s)((v) => v.users.update({ login: 'ada' }, { email: 'b@x' }));
    // The old value is free again.
    await at(s)((v) => v.users.insert({ login: 'bob', email: 'a@x' }));
    const error = await refusal(at(s)((v) => v.users.insert({ login: 'cy', email: 'b@x' })));
    expect(error.code).toBe('unique_violation');
  });

  it('records with a null or missing value in a unique index never collide (SQL: NULLS DISTINCT)', async () => {
    const people = defineSchema({
      people: recordType({
        schema: z.object({ id: z.number(), email: z.string().nullable(), phone: z.string().optional(), country: z.string() }),
        primaryKey: ['id'],
        indexes: { byEmail: index.value(['email'], { unique: true }), byPhone: index.value(['country', 'phone'], { unique: true }) },
      }),
    });
    const s = await RecordStore.open(db, { path: ['people'], schema: people });
    await at(s)((v) => v.people.insertMany([
      { id: 1, email: null, country: 'no' },
      { id: 2, email: null, country: 'no' },
      { id: 3, email: 'a@x', phone: '1', country: 'no' },
    ]));
    await at(s)((v) => v.people.update({ id: 2 }, { phone: '2' }));
    expect(await at(s)((v) => v.people.findMany({ where: { email: null } }))).toMatchObject({ records: [{ id: 1 }, { id: 2 }] });
    // Non-null values still collide, in every field of a compound index.
    expect((await refusal(at(s)((v) => v.people.insert({ id: 4, email: 'a@x', country: 'se' })))).code).toBe('unique_violation');
    expect((await refusal(at(s)((v) => v.people.insert({ id: 4, email: null, phone: '1', country: 'no' })))).code).toBe('unique_violation');
  });

  it('two concurrent transactions inserting one unique value: exactly one commits', async () => {
    const first = db.createTransaction();
    const second = db.createTransaction();
    await first.at(store).customers.insert({ id: 10, email: 'same@example.com', name: 'First' });
    await second.at(store).customers.insert({ id: 11, email: 'same@example.com', name: 'Second' });
    const results = await Promise.allSettled([first.commit(), second.commit()]);
    const committed = results.filter((r) => r.status === 'fulfilled');
    expect(committed).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(failed.reason).toBeInstanceOf(StrataError);
    expect((failed.reason as StrataError).code).toBe('not_committed');
    const a = await at(store)((s) => s.customers.get({ id: 10 }));
    const b = await at(store)((s) => s.customers.get({ id: 11 }));
    expect([a, b].filter((r) => r !== null)).toHaveLength(1);
    const entries = (await storeTuples(db, store)).filter((r) => r.key[0] === 2 && r.key[2] === 'byEmail');
    expect(entries).toHaveLength(1);
  });

  it('with db.transact, the loser retries and gets unique_violation', async () => {
    const results = await Promise.allSettled(
      [20, 21, 22, 23].map((id) => at(store)((s) => s.customers.insert({ id, email: 'race@example.com', name: `N${id}` }))),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect((r.reason as RecordLayerError).code).toBe('unique_violation');
    const entries = (await storeTuples(db, store)).filter((r) => r.key[0] === 2 && r.key[2] === 'byEmail');
    expect(entries).toHaveLength(1);
  });
});

describe('large records', () => {
  const blobs = defineSchema({
    blobs: recordType({
      schema: z.object({ id: z.number(), body: z.string(), bytes: z.instanceof(Uint8Array), kind: z.string().default('blob') }),
      primaryKey: ['id'],
      indexes: { byKind: index.value(['kind']) },
    }),
  });

  function text(length: number, salt: number): string {
    let out = '';
    for (let i = 0; out.length < length; i++) out += `${salt}:${i};`;
    return out.slice(0, length);
  }

  async function chunks(s: RecordStore<SchemaTypes>, id: number): Promise<{ index: unknown; bytes: number }[]> {
    // The id is a z.number(), keyed as a double: an integral one unpacks as a Double.
    return (await storeTuples(db, s)).filter((r) => r.key[0] === 1 && r.key[2] instanceof Double && r.key[2].value === id).map((r) => ({ index: r.key[3], bytes: r.value.length }));
  }

  it('splits a 300 KB record into chunks and reassembles it; shrinking leaves no stale chunk', async () => {
    const s = await RecordStore.open(db, { path: ['blobs'], schema: blobs });
    const body = text(300_000, 1);
    const bytes = new Uint8Array(50_000).map((_, i) => (i * 31) & 0xff);
    await at(s)((v) => v.blobs.insert({ id: 1, body, bytes }));
    await at(s)((v) => v.blobs.insert({ id: 2, body: 'small', bytes: new Uint8Array(1) }));
    const big = await chunks(s, 1);
    expect(big.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    for (const c of big) expect(c.bytes).toBeLessThanOrEqual(RECORD_CHUNK_BYTES);
    expect(big.slice(0, 3).every((c) => c.bytes === RECORD_CHUNK_BYTES)).toBe(true);
    const read = await at(s)((v) => v.blobs.get({ id: 1 }));
    expect(read!.body).toBe(body);
    expect(Buffer.from(read!.bytes).equals(Buffer.from(bytes))).toBe(true);
    // Neighbours are untouched.
    expect((await at(s)((v) => v.blobs.get({ id: 2 })))!.body).toBe('small');
    // Queries reassemble it too: through an index, and scanning the records in either order.
    for (const query of [{ where: { kind: 'blob' } }, { orderBy: { id: 'asc' as const } }, { orderBy: { id: 'desc' as const } }]) {
      const found = await at(s)((v) => v.blobs.findMany(query));
      expect(found.records.map((r) => [r.id, r.body.length])).toEqual(query.orderBy?.id === 'desc' ? [[2, 5], [1, 300_000]] : [[1, 300_000], [2, 5]]);
    }

    // 100 KB of text and 50 KB of bytes: two chunks.
    await at(s)((v) => v.blobs.update({ id: 1 }, { body: text(100_000, 2) }));
    expect((await chunks(s, 1)).map((c) => c.index)).toEqual([0, 1]);
    expect((await at(s)((v) => v.blobs.get({ id: 1 })))!.body).toBe(text(100_000, 2));

    await at(s)((v) => v.blobs.upsert({ id: 1, body: 'tiny', bytes: new Uint8Array(0) }));
    expect((await chunks(s, 1)).map((c) => c.index)).toEqual([0]);
    expect(await at(s)((v) => v.blobs.get({ id: 1 }))).toEqual({ id: 1, body: 'tiny', bytes: new Uint8Array(0), kind: 'blob' });

    await at(s)((v) => v.blobs.update({ id: 1 }, { body: text(200_000, 3) }));
    expect((await chunks(s, 1)).length).toBe(3);
    await at(s)((v) => v.blobs.delete({ id: 1 }));
    expect(await chunks(s, 1)).toEqual([]);
    expect((await chunks(s, 2)).length).toBe(1);
  });
});

describe('schema evolution on reopen', () => {
  const v1 = {
    schema: z.object({ id: z.number().int(), name: z.string(), score: z.number().int() }),
    primaryKey: ['id'] as const,
  };
  const base = (indexes = {}) => defineSchema({ players: recordType({ ...v1, primaryKey: ['id'], indexes }) });

  async function seed(withRecord: boolean, indexes = {}): Promise<void> {
    const s = await RecordStore.open(db, { path: ['game'], schema: base(indexes) });
    if (withRecord) await at(s)((v) => v.players.insert({ id: 1, name: 'p1', score: 10 }));
  }

  async function refusedOpen(next: ReturnType<typeof defineSchema>): Promise<RecordLayerError> {
    const keys = await rawKeys();
    const error = await refusal(RecordStore.open(db, { path: ['game'], schema: next }));
    expect(error.code).toBe('schema_incompatible');
    expect(error.errno).toBe(7208);
    expect(error.details).toMatchObject({ type: 'players' });
    // A refused open changes nothing: the stored schema and records are as they were.
    expect(await rawKeys()).toEqual(keys);
    return error;
  }

  async function rawKeys(): Promise<[string, string][]> {
    const rows = await db.transact((tx) => tx.getRangeAll(new Uint8Array([0x00]), new Uint8Array([0xff])));
    return rows.map((r) => [Buffer.from(r.key).toString('hex'), Buffer.from(r.value).toString('hex')]);
  }

  it('accepts the same schema again', async () => {
    await seed(true);
    const s = await RecordStore.open(db, { path: ['game'], schema: base() });
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toEqual({ id: 1, name: 'p1', score: 10 });
  });

  it('accepts a new record type and a new optional field while records are stored', async () => {
    await seed(true);
    const next = defineSchema({
      players: recordType({ schema: v1.schema.extend({ nick: z.string().optional() }), primaryKey: ['id'] }),
      teams: recordType({ schema: z.object({ name: z.string() }), primaryKey: ['name'] }),
    });
    const s = await RecordStore.open(db, { path: ['game'], schema: next });
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toEqual({ id: 1, name: 'p1', score: 10 });
    await at(s)((v) => v.players.update({ id: 1 }, { nick: 'one' }));
    await at(s)((v) => v.teams.insert({ name: 'red' }));
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toMatchObject({ nick: 'one' });
  });

  it('accepts a new field with a default, and old records read with the default', async () => {
    await seed(true);
    const next = defineSchema({ players: recordType({ schema: v1.schema.extend({ level: z.number().default(1) }), primaryKey: ['id'] }) });
    const s = await RecordStore.open(db, { path: ['game'], schema: next });
    // RecordOf says level is a number; a record stored before the field existed must have it too.
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toEqual({ id: 1, name: 'p1', score: 10, level: 1 });
  });

  it('accepts a dropped index and clears its entries', async () => {
    await seed(true, { byName: index.value(['name']), total: index.sum('score'), count: index.count() });
    const indexNames = async (): Promise<unknown[]> => {
      const s = await RecordStore.open(db, { path: ['game'], schema: base({ count: index.count() }) });
      return [...new Set((await storeTuples(db, s)).filter((r) => r.key[0] === 2).map((r) => r.key[2]))];
    };
    const before = await storeTuples(db, await RecordStore.open(db, { path: ['game'], schema: base({ byName: index.value(['name']), total: index.sum('score'), count: index.count() }) }));
    expect(new Set(before.filter((r) => r.key[0] === 2).map((r) => r.key[2]))).toEqual(new Set(['byName', 'total', 'count']));
    expect(await indexNames()).toEqual(['count']);
    const s = await RecordStore.open(db, { path: ['game'], schema: base({ count: index.count() }) });
    await at(s)((v) => v.players.insert({ id: 2, name: 'p2', score: 5 }));
    const count = (await storeTuples(db, s)).find((r) => r.key[0] === 2 && r.key[2] === 'count');
    expect(readInt64(count!.value)).toBe(2n);
  });

  it('a dropped ungrouped count index leaves no stale total behind if it is added back later', async () => {
    await seed(true, { count: index.count() });
    // Drop the index while one record is stored, delete the record, then add the index back:
    // with no records stored the new index is accepted, and it must count zero records.
    let s = await RecordStore.open(db, { path: ['game'], schema: base() });
    await at(s)((v) => v.players.delete({ id: 1 }));
    s = await RecordStore.open(db, { path: ['game'], schema: base({ count: index.count() }) });
    const count = (await storeTuples(db, s)).find((r) => r.key[0] === 2 && r.key[2] === 'count');
    expect(readInt64(count?.value ?? null)).toBe(0n);
  });

  it('accepts a dropped field, and old records can still be updated', async () => {
    await seed(true);
    const next = defineSchema({ players: recordType({ schema: z.object({ id: z.number().int(), name: z.string() }), primaryKey: ['id'] }) });
    const s = await RecordStore.open(db, { path: ['game'], schema: next });
    expect(await at(s)((v) => v.players.update({ id: 1 }, { name: 'renamed' }))).toEqual({ id: 1, name: 'renamed' });
  });

  it('reads old records without a dropped field, whether the schema drops, refuses or keeps unknown fields', async () => {
    await seed(true);
    for (const object of [z.object, z.strictObject, z.looseObject]) {
      const next = defineSchema({ players: recordType({ schema: object({ id: z.number().int(), name: z.string() }), primaryKey: ['id'] }) });
      const s = await RecordStore.open(db, { path: ['game'], schema: next });
      const read = await at(s)((v) => v.players.get({ id: 1 }));
      expect(read).not.toHaveProperty('score');
      expect(read).toMatchObject({ id: 1 });
      expect((await at(s)((v) => v.players.findMany({ orderBy: { id: 'asc' } }))).records.every((r) => !('score' in r))).toBe(true);
    }
  });

  it('never reads a dropped field stored by old records as a field added after it', async () => {
    await seed(true);
    // score dropped and a new field added: the new field gets a position of its own (records store
    // fields by position, and a dropped field keeps its position across reopens).
    const withRank = defineSchema({ players: recordType({ schema: z.object({ id: z.number().int(), name: z.string(), rank: z.number().optional() }), primaryKey: ['id'] }) });
    let s = await RecordStore.open(db, { path: ['game'], schema: withRank });
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toStrictEqual({ id: 1, name: 'p1' });
    await at(s)((v) => v.players.insert({ id: 2, name: 'p2', rank: 4 }));
    s = await RecordStore.open(db, { path: ['game'], schema: withRank });
    expect(await at(s)((v) => v.players.findMany({ orderBy: { id: 'asc' } }))).toMatchObject({ records: [{ id: 1, name: 'p1' }, { id: 2, name: 'p2', rank: 4 }] });
    // score back, optional: the record stored before it was dropped still holds it, as it would
    // under its name.
    const both = defineSchema({
      players: recordType({ schema: z.object({ id: z.number().int(), name: z.string(), rank: z.number().optional(), score: z.number().int().optional() }), primaryKey: ['id'] }),
    });
    s = await RecordStore.open(db, { path: ['game'], schema: both });
    expect(await at(s)((v) => v.players.findMany({ orderBy: { id: 'asc' } }))).toMatchObject({ records: [{ id: 1, name: 'p1', score: 10 }, { id: 2, name: 'p2', rank: 4 }] });
  });

  it('a store object opened before a newer schema is refused; opened again with its schema, it reads records without the newer fields', async () => {
    await seed(true);
    const older = await RecordStore.open(db, { path: ['game'], schema: base() });
    const newer = await RecordStore.open(db, {
      path: ['game'],
      schema: defineSchema({ players: recordType({ schema: v1.schema.extend({ nick: z.string().optional() }), primaryKey: ['id'] }) }),
    });
    await at(newer)((v) => v.players.insert({ id: 2, name: 'p2', score: 3, nick: 'two' }));
    expect((await refusal(at(older)((v) => v.players.get({ id: 2 })))).code).toBe('schema_changed');
    const reopened = await RecordStore.open(db, { path: ['game'], schema: base() });
    expect(await at(reopened)((v) => v.players.get({ id: 2 }))).toStrictEqual({ id: 2, name: 'p2', score: 3 });
    expect((await refusal(at(newer)((v) => v.players.get({ id: 2 })))).code).toBe('schema_changed');
  });

  it('reads and updates records stored as msgpack maps (the format before field tables)', async () => {
    const s = await RecordStore.open(db, { path: ['game'], schema: base({ byName: index.value(['name']) }) });
    await at(s)((v) => v.players.insert({ id: 1, name: 'p1', score: 10 }));
    const recordKey = (await storeTuples(db, s)).find((r) => r.key[0] === 1)!.key;
    const mapFormat = Buffer.concat([Buffer.from([0x00]), new Packr({ useRecords: false }).pack({ id: 1, name: 'p1', score: 10 })]);
    await db.transact((tx) => tx.set(s.subspace.pack(recordKey as TupleItem[]), mapFormat));
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toStrictEqual({ id: 1, name: 'p1', score: 10 });
    await at(s)((v) => v.players.update({ id: 1 }, { name: 'renamed' }));
    expect(await at(s)((v) => v.players.findMany({ where: { name: 'renamed' } }))).toMatchObject({ records: [{ id: 1, score: 10 }] });
    expect(await at(s)((v) => v.players.findMany({ where: { name: 'p1' } }))).toMatchObject({ records: [] });
  });

  it('accepts changes of field type, required fields and indexes while no records are stored', async () => {
    await seed(false);
    const next = defineSchema({
      players: recordType({ schema: z.object({ id: z.number().int(), name: z.number(), score: z.number(), rank: z.number() }), primaryKey: ['id'], indexes: { byRank: index.value(['rank']) } }),
    });
    const s = await RecordStore.open(db, { path: ['game'], schema: next });
    await at(s)((v) => v.players.insert({ id: 1, name: 5, score: 1, rank: 2 }));
  });

  it('refuses a changed primary key', async () => {
    await seed(false);
    const next = defineSchema({ players: recordType({ ...v1, primaryKey: ['name'] }) });
    const error = await refusedOpen(next);
    expect(error.message).toContain('primary key changed from (id) to (name)');
  });

  it('refuses a changed field type while records are stored', async () => {
    await seed(true);
    const next = defineSchema({ players: recordType({ schema: z.object({ id: z.number().int(), name: z.string(), score: z.string() }), primaryKey: ['id'] }) });
    const error = await refusedOpen(next);
    expect(error.message).toContain('field score changed type from number to string');
  });

  it('refuses a new required field while records are stored', async () => {
    await seed(true);
    const next = defineSchema({ players: recordType({ schema: v1.schema.extend({ team: z.string() }), primaryKey: ['id'] }) });
    const error = await refusedOpen(next);
    expect(error.message).toContain('new field team is required');
  });

  it('accepts a new or changed index while records are stored, write-only until it is built', async () => {
    // The online index build (online-indexer.test.ts) takes the place of refusing the change.
    await seed(true, { byName: index.value(['name']) });
    const added = await RecordStore.open(db, { path: ['game'], schema: base({ byName: index.value(['name']), byScore: index.value(['score']) }) });
    expect([...added.writeOnlyIndexes('players')]).toEqual(['byScore']);
    const changed = await RecordStore.open(db, { path: ['game'], schema: base({ byName: index.value(['name'], { unique: true }) }) });
    expect([...changed.writeOnlyIndexes('players')]).toEqual(['byName']);
    expect(await changed.buildIndexes(db)).toMatchObject({ built: ['players.byName'] });
    expect(await at(changed)((v) => v.players.findMany({ where: { name: 'p1' } }))).toMatchObject({ records: [{ id: 1 }] });
  });

  const players = <S extends Record<string, z.ZodType>>(shape: S, indexes: Record<string, IndexDefinition> = {}) =>
    defineSchema({ players: recordType({ schema: z.object({ id: z.number().int(), ...shape }), primaryKey: ['id' as never], indexes }) });

  it('sees a default, and a type, behind readonly, catch and prefault', async () => {
    const ix = { byV: index.value(['v']) };
    const before = await RecordStore.open(db, { path: ['game'], schema: players({ v: z.number().int().optional().readonly() }, ix) });
    await at(before)((v) => v.players.insert({ id: 1 }));
    // A default behind readonly: byV's entry of record 1 (null) no longer matches its read (3).
    const s = await RecordStore.open(db, { path: ['game'], schema: players({ v: z.number().int().default(3).readonly() }, ix) });
    expect([...s.writeOnlyIndexes('players')]).toEqual(['byV']);
    await s.buildIndexes(db);
    await at(s)((v) => v.players.update({ id: 1 }, { v: 4 }));
    expect((await at(s)((v) => v.players.findMany({ where: { v: null } }))).records).toEqual([]);
    expect((await at(s)((v) => v.players.findMany({ where: { v: 4 } }))).records.map((r) => r.id)).toEqual([1]);
    // A new field with a prefault may be missing; a readonly field's type is compared too.
    await RecordStore.open(db, { path: ['game'], schema: players({ v: z.number().int().default(3).readonly(), w: z.number().prefault(0) }, ix) });
    expect((await refusedOpen(players({ v: z.string().default('3').readonly() }, ix))).message).toContain('field v changed type from number to string');
  });

  it('accepts a new field a record may lack, whatever wraps its optional', async () => {
    await seed(true);
    const s = await RecordStore.open(db, { path: ['game'], schema: players({ name: z.string(), score: z.number().int(), nick: z.string().optional().nullable() }) });
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toMatchObject({ id: 1, name: 'p1' });
    expect((await refusedOpen(players({ name: z.string(), score: z.number().int(), nick: z.string().optional().nullable(), rank: z.number().nullable() }))).message).toContain('new field rank is required');
  });

  it('accepts a required field made optional or nullable while records are stored', async () => {
    await seed(true);
    let s = await RecordStore.open(db, { path: ['game'], schema: players({ name: z.string().optional(), score: z.number().int().nullable() }) });
    await at(s)((v) => v.players.insert({ id: 2, score: null }));
    expect(await at(s)((v) => v.players.findMany({}))).toMatchObject({ records: [{ id: 1, name: 'p1', score: 10 }, { id: 2, score: null }] });
    // The way back is refused: stored records may lack the field or hold null.
    expect((await refusedOpen(players({ name: z.string(), score: z.number().int().nullable() }))).message).toContain('field name became required');
    expect((await refusedOpen(players({ name: z.string().optional(), score: z.number().int() }))).message).toContain('field score is no longer nullable');
    s = await RecordStore.open(db, { path: ['game'], schema: players({ name: z.string().optional(), score: z.number().int().nullable() }) });
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toEqual({ id: 1, name: 'p1', score: 10 });
  });

  it('refuses narrowing an enum or a literal, or changing a union, while records are stored; accepts widening them', async () => {
    const v = (kind: z.ZodType, tag: z.ZodType, value: z.ZodType) => players({ kind, tag, value });
    const start = v(z.enum(['x', 'y']), z.literal('a'), z.union([z.string(), z.number()]));
    let s = await RecordStore.open(db, { path: ['game'], schema: start });
    await at(s)((view) => view.players.insert({ id: 1, kind: 'y', tag: 'a', value: 3 }));
    expect((await refusedOpen(v(z.enum(['x']), z.literal('a'), z.union([z.string(), z.number()])))).message).toContain(
      'field kind narrowed its values from enum["x", "y"] to enum["x"]: stored records may hold "y"',
    );
    expect((await refusedOpen(v(z.enum(['x', 'y']), z.literal('b'), z.union([z.string(), z.number()])))).message).toContain('field tag narrowed its values');
    expect((await refusedOpen(v(z.enum(['x', 'y']), z.literal('a'), z.union([z.string(), z.boolean()])))).message).toContain('no member accepts the values of number');
    s = await RecordStore.open(db, { path: ['game'], schema: v(z.enum(['x', 'y', 'z']), z.literal(['a', 'b']), z.union([z.string(), z.number(), z.boolean()])) });
    expect(await at(s)((view) => view.players.get({ id: 1 }))).toEqual({ id: 1, kind: 'y', tag: 'a', value: 3 });
    // Without records any change is accepted.
    await at(s)((view) => view.players.delete({ id: 1 }));
    await RecordStore.open(db, { path: ['game'], schema: v(z.enum(['q']), z.literal('c'), z.union([z.boolean()])) });
  });

  it('refuses adding a dropped field back with a type its stored values do not satisfy', async () => {
    await seed(true);
    await RecordStore.open(db, { path: ['game'], schema: players({ name: z.string() }) });
    const error = await refusedOpen(players({ name: z.string(), score: z.string().optional() }));
    expect(error.message).toContain('field score was dropped while records held it as number; added back, it changed type from number to string');
    // Back with its type (optional: records written while it was dropped lack it), it reads again.
    const s = await RecordStore.open(db, { path: ['game'], schema: players({ name: z.string(), score: z.number().int().optional() }) });
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toEqual({ id: 1, name: 'p1', score: 10 });
  });

  it('rebuilds an index over an optional field given a default, whose old entries held null', async () => {
    const ix = { byLevel: index.value(['level']), perLevel: index.count({ groupBy: ['level'] }) };
    const before = await RecordStore.open(db, { path: ['game'], schema: players({ level: z.string().optional() }, ix) });
    await at(before)((v) => v.players.insertMany([{ id: 1 }, { id: 2, level: 'gold' }]));
    const s = await RecordStore.open(db, { path: ['game'], schema: players({ level: z.string().default('bronze') }, ix) });
    expect([...s.writeOnlyIndexes('players')].sort()).toEqual(['byLevel', 'perLevel']);
    await s.buildIndexes(db);
    expect(await at(s)((v) => v.players.count({ where: { level: 'bronze' } }))).toBe(1n);
    await at(s)((v) => v.players.update({ id: 1 }, { level: 'gold' }));
    expect(await at(s)((v) => v.players.count({ where: { level: 'gold' } }))).toBe(2n);
    expect(await at(s)((v) => v.players.count({ where: { level: 'bronze' } }))).toBe(0n);
    expect((await at(s)((v) => v.players.findMany({ where: { level: null } }))).records).toEqual([]);
  });

  it('opens stores whose schema was stored in format 1 (without field types), and accepts a required field made optional', async () => {
    await seed(true);
    // The description as format 1 wrote it: field types as text only.
    const packr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true, copyBuffers: true });
    const schemaKey = (await RecordStore.open(db, { path: ['game'], schema: base() })).subspace.pack([0]);
    const current = packr.unpack((await db.transact((tx) => tx.get(schemaKey)))!) as { types: Record<string, Record<string, unknown>> };
    delete current.types.players!.fieldTypes;
    delete current.types.players!.doubles;
    await db.transact((tx) => tx.set(schemaKey, packr.pack({ ...current, formatVersion: 1 })));
    expect((await refusedOpen(players({ name: z.string(), score: z.string() }))).message).toContain('field score changed type from number to string');
    const s = await RecordStore.open(db, { path: ['game'], schema: players({ name: z.string().optional(), score: z.number().int() }) });
    expect(await at(s)((v) => v.players.get({ id: 1 }))).toEqual({ id: 1, name: 'p1', score: 10 });
    expect(packr.unpack((await db.transact((tx) => tx.get(schemaKey)))!)).toMatchObject({ formatVersion: 2, types: { players: { fieldTypes: { name: { kind: 'optional' } } } } });
  });

  it('refuses dropping a record type whose records are stored', async () => {
    await seed(true);
    const error = await refusedOpen(defineSchema({ other: recordType({ schema: z.object({ k: z.string() }), primaryKey: ['k'] }) }));
    expect(error.message).toContain('removed');
  });
});

describe('a store object whose schema another open changed', () => {
  // As FoundationDB's Record Layer checks the store header in every transaction: a store object
  // opened with an older schema must not keep writing records without the indexes a newer open
  // added (they would disagree with the records for good).
  const shape = { id: z.number().int(), team: z.string() };
  const v1 = defineSchema({ p: recordType({ schema: z.object(shape), primaryKey: ['id'] }) });
  const v2 = defineSchema({ p: recordType({ schema: z.object(shape), primaryKey: ['id'], indexes: { byTeam: index.value(['team']), perTeam: index.count({ groupBy: ['team'] }) } }) });

  async function rawKeys(): Promise<string[]> {
    const rows = await db.transact((tx) => tx.getRangeAll(new Uint8Array([0x00]), new Uint8Array([0xff])));
    return rows.map((r) => `${Buffer.from(r.key).toString('hex')}=${Buffer.from(r.value).toString('hex')}`);
  }

  it('retries a transaction that read the store before the open that made the store object', async () => {
    const older = await RecordStore.open(db, { path: ['stale-read'], schema: v1 });
    await at(older)((v) => v.p.insert({ id: 1, team: 'red' }));
    let attempts = 0;
    let newer: RecordStore<typeof v2.types> | null = null;
    const found = await db.transact(async (tx) => {
      attempts++;
      await tx.get(older.subspace.pack([0])); // the read version is taken here
      newer ??= await RecordStore.open(db, { path: ['stale-read'], schema: v2 });
      return tx.at(newer).p.get({ id: 1 });
    });
    expect(found).toEqual({ id: 1, team: 'red' });
    expect(attempts).toBe(2);
  });

  it('fails every read and write with schema_changed, not retried, writing nothing; the new store keeps its indexes exact', async () => {
    const a = await RecordStore.open(db, { path: ['t'], schema: v1 });
    await at(a)((v) => v.p.insertMany([{ id: 1, team: 'red' }, { id: 2, team: 'red' }]));
    const b = await RecordStore.open(db, { path: ['t'], schema: v2 });
    expect(await b.buildIndexes(db)).toMatchObject({ built: ['p.byTeam', 'p.perTeam'] });
    const keys = await rawKeys();
    let attempts = 0;
    const error = await refusal(
      db.transact(async (tx) => {
        attempts++;
        await tx.at(a).p.update({ id: 1 }, { team: 'blue' });
      }),
    );
    expect(attempts).toBe(1);
    expect(error.code).toBe('schema_changed');
    expect(error.errno).toBe(7213);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('open the store again');
    for (const operation of [
      (v: StoreView<typeof v1.types>): Promise<unknown> => v.p.insert({ id: 3, team: 'red' }),
      (v: StoreView<typeof v1.types>): Promise<unknown> => v.p.get({ id: 1 }),
      (v: StoreView<typeof v1.types>): Promise<unknown> => v.p.delete({ id: 2 }),
      (v: StoreView<typeof v1.types>): Promise<unknown> => v.p.findMany({}),
      (v: StoreView<typeof v1.types>): Promise<unknown> => v.p.findMany({ where: { team: 'red' }, allowFullScan: true }),
    ]) {
      expect((await refusal(at(a)(operation))).code).toBe('schema_changed');
    }
    expect(await rawKeys()).toEqual(keys);
    // The store object that changed the schema knows the new version; one opened again works too.
    await at(b)((v) => v.p.update({ id: 1 }, { team: 'blue' }));
    const again = await RecordStore.open(db, { path: ['t'], schema: v2 });
    await at(again)((v) => v.p.insert({ id: 3, team: 'red' }));
    expect((await at(b)((v) => v.p.findMany({ where: { team: 'red' } }))).records.map((r) => r.id)).toEqual([2, 3]);
    expect(await at(b)((v) => v.p.count({ where: { team: 'red' } }))).toBe(2n);
    expect(await at(b)((v) => v.p.count({ where: { team: 'blue' } }))).toBe(1n);
  });

  it('opening the stored schema again leaves every open store object working', async () => {
    const first = await RecordStore.open(db, { path: ['t'], schema: v2 });
    await at(first)((v) => v.p.insert({ id: 1, team: 'red' }));
    const versionKey = first.subspace.pack([6]);
    const version = await db.transact((tx) => tx.get(versionKey));
    await RecordStore.open(db, { path: ['t'], schema: v2 });
    expect(await db.transact((tx) => tx.get(versionKey))).toEqual(version);
    await at(first)((v) => v.p.insert({ id: 2, team: 'red' }));
    expect(await at(first)((v) => v.p.count({ where: { team: 'red' } }))).toBe(2n);
  });

  it('a transaction that used the store before a schema change conflicts, and its retry fails with schema_changed', async () => {
    const a = await RecordStore.open(db, { path: ['t'], schema: v1 });
    await at(a)((v) => v.p.insert({ id: 1, team: 'red' }));
    const tx = db.createTransaction();
    expect(await tx.at(a).p.get({ id: 1 })).toEqual({ id: 1, team: 'red' });
    await tx.at(a).p.insert({ id: 2, team: 'red' });
    await RecordStore.open(db, { path: ['t'], schema: v2 });
    const failed = await tx.commit().then(
      () => null,
      (error: unknown) => error,
    );
    expect((failed as StrataError).code).toBe('not_committed');
    let attempts = 0;
    const retried = await refusal(
      db.transact((t) => {
        attempts++;
        return t.at(a).p.insert({ id: 2, team: 'red' });
      }),
    );
    expect(retried.code).toBe('schema_changed');
    expect(attempts).toBe(1);
  });

  // The keys a transaction of `fn` reads with tx.get, in hex.
  async function pointReads(fn: (tx: Transaction) => Promise<unknown>): Promise<string[]> {
    const reads: string[] = [];
    await db.transact(async (tx) => {
      reads.length = 0;
      const get = tx.get.bind(tx);
      tx.get = (key, ...rest) => {
        reads.push(Buffer.from(key).toString('hex'));
        return get(key, ...rest);
      };
      await fn(tx);
    });
    return reads;
  }
  const metadataVersionKey = Buffer.from(METADATA_VERSION_KEY).toString('hex');

  it('checks the schema once per transaction, however many operations and views use the store, by the metadata version alone', async () => {
    const s = await RecordStore.open(db, { path: ['t'], schema: v2 });
    const versionKey = Buffer.from(s.subspace.pack([6])).toString('hex');
    const reads = await pointReads(async (tx) => {
      await tx.at(s).p.insert({ id: 1, team: 'red' });
      await tx.at(s).p.get({ id: 1 });
      await tx.at(s).p.findMany({ where: { team: 'red' } });
    });
    expect(reads.filter((key) => key === metadataVersionKey)).toHaveLength(1);
    expect(reads.filter((key) => key === versionKey)).toHaveLength(0);
  });

  it('reads the schema version key once after another store changed the metadata version, then no more', async () => {
    const s = await RecordStore.open(db, { path: ['t'], schema: v1 });
    const versionKey = Buffer.from(s.subspace.pack([6])).toString('hex');
    await RecordStore.open(db, { path: ['other'], schema: v2 });
    const first = await pointReads((tx) => tx.at(s).p.insert({ id: 1, team: 'red' }));
    expect(first.filter((key) => key === versionKey)).toHaveLength(1);
    const second = await pointReads((tx) => tx.at(s).p.get({ id: 1 }));
    expect(second.filter((key) => key === versionKey)).toHaveLength(0);
    expect(await at(s)((v) => v.p.get({ id: 1 }))).toEqual({ id: 1, team: 'red' });
  });

  it('a metadata version bump elsewhere (another store, another directory) does not make its transactions conflict', async () => {
    const s = await RecordStore.open(db, { path: ['mine'], schema: v1 });
    await at(s)((v) => v.p.insert({ id: 1, team: 'red' }));
    await new DirectoryLayer().createOrOpen(db, ['unrelated']);
    const tx = db.createTransaction();
    await tx.at(s).p.insert({ id: 2, team: 'red' });
    await new DirectoryLayer().remove(db, ['unrelated']);
    await RecordStore.open(db, { path: ['another'], schema: v2 });
    await tx.commit();
    expect(await at(s)((v) => v.p.get({ id: 2 }))).toEqual({ id: 2, team: 'red' });
  });

  it('works in a transaction that bumped the metadata version itself', async () => {
    const s = await RecordStore.open(db, { path: ['mine'], schema: v1 });
    await new DirectoryLayer().createOrOpen(db, ['unrelated']);
    await db.transact(async (tx) => {
      await new DirectoryLayer().remove(tx, ['unrelated']);
      await tx.at(s).p.insert({ id: 1, team: 'red' });
    });
    expect(await at(s)((v) => v.p.get({ id: 1 }))).toEqual({ id: 1, team: 'red' });
  });

  it('used with another database, checks the schema there even when the metadata versions are equal', async () => {
    // A frozen clock makes commit versions count 1, 2, 3... in both databases, so their metadata
    // versions can be made equal.
    const frozen = { ...nodeRuntime, now: () => 0, setTimer: () => ({ cancel() {} }) };
    const a = await open({ runtime: frozen });
    const b = await open({ runtime: frozen });
    try {
      await RecordStore.open(b, { path: ['t'], schema: v1 });
      await RecordStore.open(b, { path: ['t'], schema: v2 });
      const target = (await b.transact((tx) => tx.get(METADATA_VERSION_KEY)))!;
      const version = Number(Buffer.from(target).readBigUInt64BE(0));
      while ((await a.transact((tx) => tx.getReadVersion())) < version - 1) await a.transact((tx) => tx.set(new Uint8Array([1]), new Uint8Array([1])));
      const storeA = await RecordStore.open(a, { path: ['t'], schema: v1 });
      expect(await a.transact((tx) => tx.get(METADATA_VERSION_KEY))).toEqual(target);
      const error = await refusal(b.transact((tx) => tx.at(storeA).p.insert({ id: 7, team: 'red' })));
      expect(error.code).toBe('schema_changed');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('fails with schema_changed once its directory was removed, writing nothing', async () => {
    const s = await RecordStore.open(db, { path: ['gone'], schema: v1 });
    await at(s)((v) => v.p.insert({ id: 1, team: 'red' }));
    await new DirectoryLayer().remove(db, ['gone']);
    const before = await rawKeys();
    expect((await refusal(at(s)((v) => v.p.insert({ id: 2, team: 'red' })))).code).toBe('schema_changed');
    expect((await refusal(at(s)((v) => v.p.get({ id: 1 })))).code).toBe('schema_changed');
    expect(await rawKeys()).toEqual(before);
  });
});

describe('layout', () => {
  it('stores the schema at (0, "schema"), records at (1, type, key, chunk) and index entries at (2, type, index, ...)', async () => {
    await at(store)((s) => s.customers.insertMany([ada, bob]));
    const tuples = await storeTuples(db, store);
    // The header says (0, 'schema'); the code writes (0). Either way it is the only key under 0.
    const schemaKeys = tuples.filter((r) => r.key[0] === 0);
    expect(schemaKeys).toHaveLength(1);
    expect(tuples[0]).toBe(schemaKeys[0]);
    expect(tuples.filter((r) => r.key[0] === 1).map((r) => r.key)).toEqual([
      [1, 'customers', 1, 0],
      [1, 'customers', 2, 0],
    ]);
    const index = (name: string) => tuples.filter((r) => r.key[0] === 2 && r.key[2] === name);
    expect(index('byEmail').map((r) => r.key.slice(3))).toEqual([[ada.email, 1], [bob.email, 2]]);
    expect(index('byCity').map((r) => r.key.slice(3))).toEqual([['London', 1], ['Oslo', 2]]);
    expect(index('perCity').map((r) => [r.key[3], readInt64(r.value)])).toEqual([['London', 1n], ['Oslo', 1n]]);
    expect(index('agesPerCity').map((r) => [r.key[3], readInt64(r.value)])).toEqual([['London', 36n], ['Oslo', 41n]]);
    expect(index('youngest').map((r) => r.key.slice(3))).toEqual([[36, 1], [41, 2]]);
    expect(tuples.every((r) => r.key[0] !== 2 || r.key[1] === 'customers')).toBe(true);
    expect(unpack(store.subspace.pack([1, 'x']))).toEqual([...unpack(store.subspace.pack([])), 1, 'x']);
  });
});
