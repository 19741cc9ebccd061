// Loads the record layer twice, as two installed copies would be: the package's own dist and a
// copy of it (argv[2], a file URL of the copy's index.js) whose dependencies are the same modules.
// Each copy opens a store in one database, writes a record holding a Timestamp and reads back
// both stores' records; prints one JSON line: { ok, results } or { ok: false, error }.
import { open } from '@strata/core';
import { z } from 'zod';

const first = await import('../../dist/index.js');
const second = await import(process.argv[2]);

function schemaOf(records) {
  return records.defineSchema({
    events: records.recordType({
      schema: z.object({ id: z.number().int(), at: records.timestamp() }),
      primaryKey: ['id'],
      indexes: { byAt: records.index.value(['at']) },
    }),
  });
}

const db = await open();
try {
  const results = {};
  const copies = { first, second };
  const stores = {};
  for (const [name, records] of Object.entries(copies)) {
    stores[name] = await records.RecordStore.open(db, { path: [name], schema: schemaOf(records) });
    const at = records.Timestamp.parse('2024-05-01T12:00:00.123456Z');
    await db.transact((tx) => tx.at(stores[name]).events.insert({ id: 1, at }));
  }
  for (const [name, records] of Object.entries(copies)) {
    await db.transact(async (tx) => {
      const read = await tx.at(stores[name]).events.get({ id: 1 });
      const found = await tx.at(stores[name]).events.findMany({ where: { at: { gte: records.Timestamp.parse('2024-01-01T00:00:00Z') } } });
      results[name] = {
        at: read.at.toISOString(),
        isTimestamp: read.at instanceof records.Timestamp,
        isOtherTimestamp: read.at instanceof copies[name === 'first' ? 'second' : 'first'].Timestamp,
        found: found.records.map((record) => record.at.toISOString()),
      };
    });
  }
  console.log(JSON.stringify({ ok: true, distinctClasses: first.Timestamp !== second.Timestamp, results }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: { code: error.code ?? null, message: String(error.message) } }));
} finally {
  await db.close();
}
