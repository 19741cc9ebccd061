// Proves invariant 1 of record-store.ts under concurrency: while 20 clients insert, update, upsert
// and delete records at random through db.transact (conflicting, retrying, and meeting
// unique_violation / record_exists / record_not_found), after every round every index in the
// store's directory equals exactly a recomputation from the stored records: value entries
// set-equal, unique entries unique, count and sum totals equal, min and max entries equal, one
// stored version per record and one version index entry per record under it (including records
// written and then deleted in one transaction); and no
// key in the directory is unaccounted for. A second test corrupts indexes by hand to show the
// checker catches each kind of disagreement. Replay with SEED=<n>: the seed fixes the operations and
// retry jitter; client interleaving may still vary, because commits wait on real callbacks.
import { nodeRuntime, open, seededRandom, type Database, type Transaction } from '@strata/core';
import { DirectoryLayer, Double, Versionstamp, pack, unpack, type TupleItem } from '@strata/tuple';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordLayerError, RecordStore, defineSchema, index, readInt64, recordType } from '../../src/index.js';

const SEED = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
console.log(`index-consistency: SEED=${SEED}`);

const ROUNDS = 30;
const CLIENTS = 20;
const OPERATIONS_PER_TRANSACTION_MAX = 3;
const SHARDS = ['a', 'b'];
const IDS = 15;
const REGIONS = ['north', 'south', 'east'];
const CATEGORIES = ['tools', 'toys', 'food'];
const SKUS = 40;
const EXPECTED_CODES = new Set(['unique_violation', 'record_exists', 'record_not_found']);

const item = z.object({
  shard: z.string(),
  id: z.number().int(),
  region: z.string(),
  category: z.string(),
  sku: z.string(),
  qty: z.bigint(),
  price: z.number().int(),
  // A number that may hold fractions: keyed as a double (schema.ts, doubleFields).
  weight: z.number(),
  note: z.string().optional(),
});
type Item = z.output<typeof item>;

const indexes = {
  byRegionCategory: index.value(['region', 'category']),
  byNote: index.value(['note']),
  bySku: index.value(['sku'], { unique: true }),
  countAll: index.count(),
  countByRegion: index.count({ groupBy: ['region'] }),
  qtyByRegion: index.sum('qty', { groupBy: ['region'] }),
  qtyByRegionCategory: index.sum('qty', { groupBy: ['region', 'category'] }),
  minPriceByRegion: index.min('price', { groupBy: ['region'] }),
  maxPriceByCategory: index.max('price', { groupBy: ['category'] }),
  maxPrice: index.max('price'),
  byWeight: index.value(['weight']),
  heaviestByRegion: index.max('weight', { groupBy: ['region'] }),
  byVersion: index.version(),
};
const schema = defineSchema({ items: recordType({ schema: item, primaryKey: ['shard', 'id'], indexes }) });
type Definition = (typeof indexes)[keyof typeof indexes];

const PATH = ['sim', 'inventory'];
// The store's own msgpack settings, rebuilt here so records are decoded without the store's code.
const packr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true });

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function randomItem(random: () => number, key?: { shard: string; id: number }): Item {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const record: Item = {
    shard: key?.shard ?? pick(SHARDS),
    id: key?.id ?? Math.floor(random() * IDS),
    region: pick(REGIONS),
    category: pick(CATEGORIES),
    sku: `sku-${Math.floor(random() * SKUS)}`,
    qty: BigInt(Math.floor(random() * 2001) - 1000),
    price: Math.floor(random() * 101) - 50,
    weight: (Math.floor(random() * 41) - 20) / 4,
  };
  if (random() < 0.5) record.note = pick(['fragile', 'heavy', '']);
  return record;
}

function randomChanges(random: () => number): Partial<Item> {
  const fresh = randomItem(random);
  const changes: Partial<Item> = {};
  for (const field of ['region', 'category', 'sku', 'qty', 'price', 'weight', 'note'] as const) {
    if (random() < 0.35) (changes as Record<string, unknown>)[field] = fresh[field];
  }
  return changes;
}

/** What the directory holds, unpacked: records by primary key and index keys by index name. */
interface Snapshot {
  records: Map<string, { key: TupleItem[]; record: Item }>;
  index: Map<string, Map<string, Uint8Array>>;
  /** The stored record versions `(4, type, ...primaryKey)`, by packed primary key: hex of the packed versionstamp. */
  versions: Map<string, string>;
}

async function snapshot(db: Database, label: string): Promise<Snapshot> {
  const directory = await new DirectoryLayer().open(db, PATH);
  const { begin, end } = directory.range();
  const rows = await db.transact((tx) => tx.getRangeAll(begin, end));
  const chunks = new Map<string, { key: TupleItem[]; parts: [number, Uint8Array][] }>();
  const index = new Map<string, Map<string, Uint8Array>>(Object.keys(indexes).map((name) => [name, new Map()]));
  const versions = new Map<string, string>();
  let schemaKeys = 0;
  let fieldTable: string[] = [];
  for (const row of rows) {
    const tuple = directory.unpack(row.key) as TupleItem[];
    if (tuple[0] === 0) {
      schemaKeys++;
      fieldTable = (packr.unpack(row.value) as { fieldTables: Record<string, string[]> }).fieldTables['items']!;
      continue;
    }
    if (tuple[0] === 6) {
      // The schema version (record-store.ts, invariant 6): one key holding an integer.
      expect(tuple.length, label).toBe(1);
      expect(typeof unpack(row.value)[0], `${label}: schema version`).toBe('number');
      continue;
    }
    expect(tuple[1], `${label}: record type of ${JSON.stringify(tuple)}`).toBe('items');
    if (tuple[0] === 1) {
      expect(tuple.length, label).toBe(5);
      const key = tuple.slice(2, 4);
      const id = hex(pack(key));
      const entry = chunks.get(id) ?? { key, parts: [] };
      entry.parts.push([tuple[4] as number, row.value]);
      chunks.set(id, entry);
    } else if (tuple[0] === 2) {
      const entries = index.get(tuple[2] as string);
      expect(entries, `${label}: key of unknown index ${JSON.stringify(tuple)}`).toBeDefined();
      entries!.set(hex(pack(tuple.slice(3))), row.value);
    } else if (tuple[0] === 4) {
      expect(tuple.length, label).toBe(4);
      const [stamp] = unpack(row.value);
      expect(stamp instanceof Versionstamp && stamp.complete, `${label}: version of ${JSON.stringify(tuple)}`).toBe(true);
      versions.set(hex(pack(tuple.slice(2))), hex(pack([stamp as Versionstamp])));
    } else {
      throw new Error(`${label}: unexpected key ${JSON.stringify(tuple)}`);
    }
  }
  expect(schemaKeys, `${label}: schema keys`).toBe(1);
  const records = new Map<string, { key: TupleItem[]; record: Item }>();
  for (const [id, { key, parts }] of chunks) {
    // Chunks are numbered 0..n-1 with no gaps and no leftovers.
    expect(parts.map(([n]) => n), `${label}: chunks of ${id}`).toEqual(parts.map((_, i) => i));
    // Chunk 0 starts with a header byte (0: whole record, 1: more chunks follow).
    const stored = Buffer.concat(parts.map(([, bytes]) => bytes));
    expect(stored[0], `${label}: header of record ${id}`).toBe(parts.length > 1 ? 1 : 0);
    // The rest is a msgpack array: the fields outside the stored field table (none here), then each
    // field of the table by position, undefined where the record lacks it.
    const [extras, ...fields] = packr.unpack(stored.subarray(1)) as unknown[];
    expect(extras, `${label}: fields of record ${id} outside the field table`).toBeNull();
    const record = Object.fromEntries(fieldTable.map((field, i) => [field, fields[i]]).filter(([, v]) => v !== undefined)) as Item;
    expect(item.parse(record), `${label}: stored record ${id} is valid`).toEqual(record);
    expect(hex(pack([record.shard, record.id])), `${label}: record under its own key`).toBe(id);
    records.set(id, { key, record });
  }
  return { records, index, versions };
}

// A field's value as keys hold it: the weight (which may hold fractions) as a double, -0 as 0.
const value = (record: Item, field: string): TupleItem => {
  const raw = ((record as Record<string, unknown>)[field] as TupleItem) ?? null;
  return field === 'weight' ? new Double((raw as number) === 0 ? 0 : (raw as number)) : raw;
};

/** Checks every index against a recomputation from the records; returns counts for the log. */
function checkIndexes(state: Snapshot, label: string): void {
  const records = [...state.records.values()];
  for (const [name, definition] of Object.entries(indexes) as [string, Definition][]) {
    const actual = state.index.get(name)!;
    const where = `${label}: index ${name}`;
    if (definition.kind === 'version') {
      // One version per record, and one entry per record under exactly that version.
      expect(new Set(state.versions.keys()), `${label}: record versions`).toEqual(new Set(state.records.keys()));
      const expected = new Set(records.map(({ key }) => hex(pack([unpack(Buffer.from(state.versions.get(hex(pack(key)))!, 'hex'))[0]!, ...key]))));
      expect(new Set(actual.keys()), where).toEqual(expected);
      for (const bytes of actual.values()) expect(bytes.length, where).toBe(0);
      continue;
    }
    if (definition.kind === 'value' || definition.kind === 'min' || definition.kind === 'max') {
      const fields = definition.kind === 'value' ? definition.fields : [...definition.groupBy, definition.field];
      const expected = new Set(records.map(({ key, record }) => hex(pack([...fields.map((f) => value(record, f)), ...key]))));
      expect(new Set(actual.keys()), where).toEqual(expected);
      for (const bytes of actual.values()) expect(bytes.length, where).toBe(0);
      if (definition.kind === 'value' && definition.unique) {
        const seen = new Set<string>();
        for (const { record } of records) {
          const values = hex(pack(definition.fields.map((f) => value(record, f))));
          expect(seen.has(values), `${where}: two records hold ${values}`).toBe(false);
          seen.add(values);
        }
      }
    } else {
      const expected = new Map<string, bigint>();
      for (const { record } of records) {
        const group = hex(pack(definition.groupBy.map((f) => value(record, f))));
        const amount = definition.kind === 'count' ? 1n : (record as Record<string, unknown>)[definition.field] as bigint;
        expected.set(group, (expected.get(group) ?? 0n) + amount);
      }
      // A group whose records are all gone may keep a key holding zero.
      for (const [group, bytes] of actual) {
        expect(bytes.length, where).toBe(8);
        expect(readInt64(bytes), `${where} group ${group}`).toBe(expected.get(group) ?? 0n);
      }
      for (const [group, total] of expected) if (total !== 0n) expect(actual.has(group), `${where}: group ${group} missing`).toBe(true);
    }
  }
}

async function runClient(db: Database, store: RecordStore<typeof schema.types>, random: () => number, outcomes: Map<string, number>): Promise<void> {
  const operations = 1 + Math.floor(random() * OPERATIONS_PER_TRANSACTION_MAX);
  // The plan is drawn once, so a retried transaction repeats the same operations.
  const plan = Array.from({ length: operations }, () => {
    const roll = random();
    const key = { shard: SHARDS[Math.floor(random() * SHARDS.length)]!, id: Math.floor(random() * IDS) };
    if (roll < 0.35) return { op: 'insert' as const, record: randomItem(random, key) };
    if (roll < 0.6) return { op: 'update' as const, key, changes: randomChanges(random) };
    if (roll < 0.8) return { op: 'upsert' as const, record: randomItem(random, key) };
    return { op: 'delete' as const, key };
  });
  const seen = await db.transact(async (tx) => {
    const items = tx.at(store).items;
    const codes: string[] = [];
    // Records this transaction wrote, to count deletes of them (record-store.ts, invariant 4).
    const written = new Set<string>();
    for (const step of plan) {
      const target = step.op === 'insert' || step.op === 'upsert' ? step.record : step.key;
      const id = hex(pack([target.shard, target.id]));
      try {
        if (step.op === 'delete' && written.has(id)) codes.push('delete_after_write');
        if (step.op === 'insert') await items.insert(step.record);
        else if (step.op === 'update') await items.update(step.key, step.changes);
        else if (step.op === 'upsert') await items.upsert(step.record);
        else codes.push((await items.delete(step.key)) ? 'deleted' : 'delete_missing');
        if (step.op !== 'delete') codes.push(`${step.op}_ok`);
        if (step.op !== 'delete') written.add(id);
      } catch (error) {
        if (!(error instanceof RecordLayerError) || !EXPECTED_CODES.has(error.code)) throw error;
        if (error.code === 'unique_violation') {
          // A violation is real only if another record holds the value in this transaction's view.
          const written = 'record' in step ? step.record : undefined;
          const sku = step.op === 'update' ? (step.changes.sku ?? (await items.get(step.key))!.sku) : written!.sku;
          const own = step.op === 'update' ? step.key : { shard: written!.shard, id: written!.id };
          const holders = (error.details as { values: unknown[] }).values;
          expect(holders, `SEED=${SEED}`).toEqual([sku]);
          const mine = await items.get(own);
          expect(mine?.sku === sku && mine !== null, `SEED=${SEED}: unique_violation against the record itself (${JSON.stringify(own)}, ${sku})`).toBe(false);
        }
        codes.push(error.code);
      }
    }
    return codes;
  });
  for (const code of seen) outcomes.set(code, (outcomes.get(code) ?? 0) + 1);
}

describe('index consistency under concurrent random writes', () => {
  it(`keeps every index equal to a recomputation from the records (SEED=${SEED})`, async () => {
    const random = seededRandom(SEED);
    const db = await open({ runtime: { ...nodeRuntime, random: seededRandom(SEED ^ 0x5eed) } });
    try {
      const store = await RecordStore.open(db, { path: PATH, schema });
      const outcomes = new Map<string, number>();
      for (let round = 0; round < ROUNDS; round++) {
        const clients = Array.from({ length: CLIENTS }, () => seededRandom(Math.floor(random() * 2 ** 31)));
        await Promise.all(clients.map((clientRandom) => runClient(db, store, clientRandom, outcomes)));
        const state = await snapshot(db, `SEED=${SEED} round ${round}`);
        checkIndexes(state, `SEED=${SEED} round ${round}`);
      }
      const final = await snapshot(db, `SEED=${SEED} final`);
      console.log(`index-consistency: ${final.records.size} records; outcomes ${JSON.stringify(Object.fromEntries([...outcomes].sort()))}`);
      // The workload is only a test if it reached every outcome.
      for (const code of ['insert_ok', 'update_ok', 'upsert_ok', 'deleted', 'unique_violation', 'record_exists', 'record_not_found']) {
        expect(outcomes.get(code) ?? 0, `SEED=${SEED}: outcome ${code} never happened`).toBeGreaterThan(0);
      }
    } finally {
      await db.close();
    }
  });

  it('the checker fails on a missing entry, a stray entry, a wrong total and a stale min entry', async () => {
    const db = await open();
    try {
      const store = await RecordStore.open(db, { path: PATH, schema });
      const random = seededRandom(SEED);
      await db.transact(async (tx) => {
        for (let id = 0; id < 6; id++) await tx.at(store).items.insert({ ...randomItem(random, { shard: 'a', id }), sku: `sku-${id}` });
      });
      checkIndexes(await snapshot(db, 'clean'), 'clean');
      const directory = await new DirectoryLayer().open(db, PATH);
      const cases: { name: string; write: (tx: Transaction, state: Snapshot) => void }[] = [
        { name: 'missing value entry', write: (tx, state) => {
          const { key, record } = [...state.records.values()][0]!;
          tx.clear(directory.pack([2, 'items', 'byRegionCategory', record.region, record.category, ...key]));
        } },
        { name: 'stray unique entry', write: (tx) => tx.set(directory.pack([2, 'items', 'bySku', 'sku-0', 'b', 99]), new Uint8Array(0)) },
        { name: 'wrong count', write: (tx) => tx.add(directory.pack([2, 'items', 'countAll']), Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)) },
        { name: 'stale min entry', write: (tx, state) => {
          const { key, record } = [...state.records.values()][0]!;
          tx.set(directory.pack([2, 'items', 'minPriceByRegion', record.region, record.price - 1000, ...key]), new Uint8Array(0));
        } },
      ];
      for (const { name, write } of cases) {
        const clean = await snapshot(db, name);
        const { begin, end } = directory.range();
        const saved = await db.transact((tx) => tx.getRangeAll(begin, end));
        await db.transact((tx) => write(tx, clean));
        let failed = false;
        try {
          checkIndexes(await snapshot(db, name), name);
        } catch {
          failed = true;
        }
        expect(failed, `the checker missed a ${name}`).toBe(true);
        await db.transact((tx) => {
          tx.clearRange(begin, end);
          for (const row of saved) tx.set(row.key, row.value);
        });
        checkIndexes(await snapshot(db, `${name} restored`), `${name} restored`);
      }
    } finally {
      await db.close();
    }
  });
});
