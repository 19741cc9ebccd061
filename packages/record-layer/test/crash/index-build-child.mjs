// A child process for the online index build crash test: it opens a record store on a real data
// directory and reports to its parent over the IPC channel, so the parent can SIGKILL it in the
// middle of a build and check what the next process finds.
//
// Usage (through child_process.fork with an IPC channel and `serialization: 'advanced'`, which
// carries bigints):
//   node index-build-child.mjs <mode> <dataDir> [options as JSON]
// Modes:
//   load    stores `records` items with the schema without indexes, 100 a transaction, reports
//           { type: 'loaded', records } and exits.
//   work    opens the store with the indexed schema (adding the indexes, write-only, on the first
//           open), reports { type: 'ready', states } (each index's build state as found), then
//           builds the indexes one after another, starting with one its seed picks, a few
//           transactions at a time, reporting { type: 'progress', states } after each step (the
//           states committed by then) and { type: 'built' } at the end, while `writers` writers
//           upsert and delete items at random. Writer w owns the ids equal to w modulo
//           `writers`, so each id's writes happen one after another: before a transaction a
//           writer reports { type: 'intent', id, item } (item null for a delete), after its
//           commit { type: 'ack', id }. Runs until killed.
//   finish  opens the store with the indexed schema, reports { type: 'ready', states }, finishes
//           the build while the writers run as in `work`, stops them, and reports { type:
//           'finished', records, entries, scratch, writeOnly }: the stored items, every index
//           entry as text, the entries the ordinary write path gives the same items in an empty
//           store, and the indexes still write-only; then exits.
// Options: { records, writers, seed, mvccWindowMs }. Any failure is reported as { type:
// 'fatal', message } and exits 1.
import { open, seededRandom } from '@strata/core';
import { z } from 'zod';
import { RecordStore, defineSchema, index, readInt64, recordType } from '../../dist/index.js';

const [mode, dataDir, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}');
if (typeof process.send !== 'function') {
  console.error('index-build-child.mjs must be started with an IPC channel (child_process.fork)');
  process.exit(2);
}
process.on('disconnect', () => process.exit(3));

const TEAMS = ['red', 'blue', 'green', 'gold'];
const item = z.object({ id: z.number().int(), name: z.string(), team: z.string(), score: z.number().int(), bonus: z.bigint().optional() });
const INDEXES = {
  byScore: index.value(['team', 'score']),
  byName: index.value(['name'], { unique: true }),
  perTeam: index.count({ groupBy: ['team'] }),
  all: index.count(),
  bonusPerTeam: index.sum('bonus', { groupBy: ['team'] }),
  lowest: index.min('score', { groupBy: ['team'] }),
  highest: index.max('score'),
};
const schemaWith = (indexes) => defineSchema({ items: recordType({ schema: item, primaryKey: ['id'], indexes }) });
const PATH = ['crash', 'items'];
// Build steps small enough that a kill lands between and inside many of them.
const STEP = { transactionRecords: 25, transactionsMax: 3 };

// Resolves once the message is handed to the channel, so the parent hears of an intent before
// the transaction starts, and of an acknowledgement before the next intent.
const send = (message) => new Promise((resolve, reject) => process.send(message, (error) => (error ? reject(error) : resolve())));

function randomItem(random, id) {
  // Names are unique per id, so the unique index meets no duplicate and the build must finish.
  return {
    id,
    name: `n${id}`,
    team: TEAMS[Math.floor(random() * TEAMS.length)],
    score: Math.floor(random() * 1000) - 500,
    ...(random() < 0.7 ? { bonus: BigInt(Math.floor(random() * 2000) - 500) } : {}),
  };
}

const text = (key) => JSON.stringify(key, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));

// Every index entry of the store as text; count and sum groups with a zero total left out.
async function indexEntries(db, store) {
  const { begin, end } = store.subspace.range([2]);
  const out = [];
  for (const row of await db.transact((tx) => tx.getRangeAll(begin, end))) {
    const key = store.subspace.unpack(row.key).slice(1);
    const kind = store.schema.types[key[0]].indexes[key[1]].kind;
    if (kind !== 'count' && kind !== 'sum') out.push(text(key));
    else if (readInt64(row.value) !== 0n) out.push(`${text(key)}=${readInt64(row.value)}`);
  }
  return out;
}

async function buildStates(db, store) {
  return db.transact(async (tx) => {
    const states = {};
    for (const name of Object.keys(INDEXES)) {
      const state = await store.readIndexState(tx, 'items', name);
      states[name] = { state: state.state, built: state.built === null ? null : Buffer.from(state.built).toString('hex') };
    }
    return states;
  });
}

async function allItems(db, store) {
  const items = [];
  let cursor = null;
  do {
    const page = await db.transact((tx) => tx.at(store).items.findMany({ limit: 500, cursor }));
    items.push(...page.records);
    cursor = page.cursor;
  } while (cursor !== null);
  return items;
}

// Writes until `stopped()` says so.
async function writer(db, store, w, random, stopped) {
  const mine = [];
  for (let id = w; id < options.records * 2; id += options.writers) mine.push(id);
  while (!stopped()) {
    const id = mine[Math.floor(random() * mine.length)];
    const next = random() < 0.25 ? null : randomItem(random, id);
    await send({ type: 'intent', id, item: next });
    await db.transact(async (tx) => {
      if (next === null) await tx.at(store).items.delete({ id });
      else await tx.at(store).items.upsert(next);
    });
    await send({ type: 'ack', id });
  }
}

async function main() {
  const db = await open({ path: dataDir, ...(options.mvccWindowMs === undefined ? {} : { mvccWindowMs: options.mvccWindowMs }) });
  const random = seededRandom(options.seed ?? 1);
  if (mode === 'load') {
    const store = await RecordStore.open(db, { path: PATH, schema: schemaWith({}) });
    const items = Array.from({ length: options.records }, (_, i) => randomItem(random, 2 * i));
    for (let i = 0; i < items.length; i += 100) await db.transact((tx) => tx.at(store).items.insertMany(items.slice(i, i + 100)));
    await db.close();
    await send({ type: 'loaded', records: items });
    process.exit(0);
  }
  const store = await RecordStore.open(db, { path: PATH, schema: schemaWith(INDEXES) });
  await send({ type: 'ready', states: await buildStates(db, store) });
  let stopped = false;
  const writers = Array.from({ length: options.writers }, (_, w) => writer(db, store, w, seededRandom(Math.floor(random() * 2 ** 31)), () => stopped));
  for (const running of writers) running.catch(fatal);
  if (mode === 'finish') {
    await store.buildIndexes(db, { transactionRecords: STEP.transactionRecords });
    stopped = true;
    await Promise.all(writers);
    const items = await allItems(db, store);
    const scratch = await RecordStore.open(db, { path: ['scratch'], schema: schemaWith(INDEXES) });
    for (let i = 0; i < items.length; i += 100) await db.transact((tx) => tx.at(scratch).items.insertMany(items.slice(i, i + 100)));
    await send({
      type: 'finished',
      records: items,
      entries: await indexEntries(db, store),
      scratch: await indexEntries(db, scratch),
      writeOnly: [...store.writeOnlyIndexes('items')],
    });
    await db.close();
    process.exit(0);
  }
  // Each process builds the indexes from one its seed picks on, so that kills land in the builds
  // of all of them.
  const names = Object.keys(INDEXES);
  const first = Math.floor(random() * names.length);
  const order = names.map((_, i) => names[(i + first) % names.length]);
  for (const name of order) {
    for (;;) {
      const step = await store.buildIndexes(db, { ...STEP, indexes: [`items.${name}`] });
      if (step.pending.length === 0) break;
      await send({ type: 'progress', states: await buildStates(db, store) });
    }
  }
  await send({ type: 'built' });
}

async function fatal(error) {
  try {
    await send({ type: 'fatal', message: String(error?.stack ?? error) });
  } finally {
    process.exit(1);
  }
}

main().catch(fatal);
