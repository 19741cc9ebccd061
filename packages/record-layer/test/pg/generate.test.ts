// Proves that generateModule writes, for Pagila, Chinook and a table of every supported type, a
// module that the TypeScript compiler type-checks (strict) and compiles, whose exported schema is
// the mapped one: the same description (types, fields, primary keys, indexes), references and
// sequences; whose exported record types are precise (a wrong enum label or a number for a numeric
// does not type-check); which works as a record store's schema (references enforced); and whose header names every
// unmapped entry. Output is deterministic. One PostgreSQL server serves the file.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { open, type Database } from '@strata/core';
import pg from 'pg';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { generateModule } from '../../src/pg/generate.js';
import { introspect } from '../../src/pg/introspect.js';
import type { PgSchema } from '../../src/pg/model.js';
import { PG_INFINITY_MICROS, mapSchema, type MappedSchema } from '../../src/pg/type-map.js';
import type { Schema } from '../../src/schema.js';
import { Timestamp } from '../../src/timestamp.js';
import { loadDataset, startTestPostgres, type TestPostgres } from './postgres-fixture.js';

// The record layer the generated modules import: the built package, with its own Timestamp class.
import * as records from '@strata/records';

const REPOSITORY_NODE_MODULES = fileURLToPath(new URL('../../../../node_modules', import.meta.url));

let server: TestPostgres | undefined;
const clients: pg.Client[] = [];
const databases: Database[] = [];
let directory: string;
const models: Record<'pagila' | 'chinook' | 'types', PgSchema> = {} as never;
const mapped: Record<'pagila' | 'chinook' | 'types', MappedSchema> = {} as never;
const sources: Record<'pagila' | 'chinook' | 'types', string> = {} as never;
const modules: Record<'pagila' | 'chinook' | 'types', { schema: Schema }> = {} as never;
let typesClient: pg.Client;

const TYPES_SQL = `
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN year AS integer CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE TABLE "all types" (
  id bigint PRIMARY KEY, i2 smallint, i4 integer NOT NULL, f4 real, f8 double precision, n numeric, n2 numeric(6,2), nn numeric(6,-1),
  t text, vc varchar(3), c char(3), b boolean, ts timestamp(2), tstz timestamptz, d date, tm time(2), ttz timetz(0), iv interval,
  by bytea, u uuid, j json, jb jsonb, ai integer[], at text[], ats timestamptz[], ajb jsonb[], m mood, am mood[], yr year,
  "Mixed Case" text, "__proto__" text
);
INSERT INTO "all types" VALUES
  (1, 1, 2, 1.5, 'NaN', '1.5', 1.25, 120, 't', 'abc', 'a', true, '2024-01-02 03:04:05.67', 'infinity', '0001-01-01 BC', '24:00', '12:00+01', '1 mon',
   '\\x00ff', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '[1,  2]', '{"a": [1, 12345678901234567890]}', '{{1,NULL},{3,4}}', '{a,NULL}', '{-infinity}',
   ARRAY['{"x": 1}'::jsonb], 'happy', '{ok}', 2000, 'mixed', 'proto'),
  (2, NULL, -1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL, NULL, NULL, '{}', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
`;

async function connect(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  clients.push(client);
  return client;
}

/** Type-checks and compiles `files` (name -> TypeScript) in `directory`; returns the compiler's messages. */
function compile(files: Record<string, string>): string[] {
  const names = Object.keys(files).map((name) => path.join(directory, name));
  const program = ts.createProgram(names, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    skipLibCheck: true,
    noEmitOnError: true,
    types: [],
    lib: ['lib.es2023.d.ts'],
    outDir: path.join(directory, 'out'),
    rootDir: directory,
  });
  const diagnostics = [...ts.getPreEmitDiagnostics(program), ...program.emit().diagnostics];
  return diagnostics.map((d) => `${d.file ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}: ` : ''}${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

// A type-level test of the generated types: an unused @ts-expect-error is itself an error.
const CHECK_TS = `
import type { PgArray } from '@strata/records';
import type { Film, Rental } from './pagila.js';
import type { Track, InvoiceLine } from './chinook.js';
import type { AllTypes } from './types.js';

export const rating: Film['rating'] = 'NC-17';
// @ts-expect-error 'X' is not a label of mpaa_rating
export const badRating: Film['rating'] = 'X';
export const rentalId: Rental['rental_id'] = 1;
export const price: Track['unit_price'] = '0.99';
// @ts-expect-error a numeric is its decimal text, not a float
export const badPrice: Track['unit_price'] = 0.99;
export const features: Film['special_features'] = ['Trailers', null];
export const features2: PgArray<string> = [['a'], ['b']];
export const quantity: InvoiceLine['quantity'] = 3;
export const id: AllTypes['id'] = 1n;
// @ts-expect-error a bigint column is a bigint
export const badId: AllTypes['id'] = 1;
export const mixed: AllTypes['Mixed Case'] = null;
export const interval: AllTypes['iv'] = { months: 1, days: 0, microseconds: 0n };
`;

beforeAll(async () => {
  server = await startTestPostgres();
  const loadedPagila = await loadDataset(server, 'pagila', { database: 'pagila_generate' });
  const loadedChinook = await loadDataset(server, 'chinook', { database: 'chinook_generate' });
  const admin = await connect(server.connectionString);
  await admin.query('CREATE DATABASE types_generate');
  typesClient = await connect(server.connectionStringFor('types_generate'));
  await typesClient.query(TYPES_SQL);
  models.pagila = await introspect(await connect(loadedPagila.connectionString));
  models.chinook = await introspect(await connect(loadedChinook.connectionString));
  models.types = await introspect(typesClient);
  for (const name of ['pagila', 'chinook', 'types'] as const) {
    mapped[name] = mapSchema(models[name]);
    sources[name] = generateModule(mapped[name]);
  }

  directory = await fs.mkdtemp(path.join(os.tmpdir(), 'strata-generate-'));
  // The modules import '@strata/records' and 'zod' as an application would: from node_modules.
  await fs.symlink(REPOSITORY_NODE_MODULES, path.join(directory, 'node_modules'), 'dir');
  await fs.writeFile(path.join(directory, 'package.json'), JSON.stringify({ type: 'module' }));
  const files = { 'pagila.ts': sources.pagila, 'chinook.ts': sources.chinook, 'types.ts': sources.types, 'check.ts': CHECK_TS };
  for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(directory, name), text);
  const messages = compile(files);
  expect(messages).toEqual([]);
  for (const name of ['pagila', 'chinook', 'types'] as const) modules[name] = (await import(pathToFileURL(path.join(directory, 'out', `${name}.js`)).href)) as { schema: Schema };
}, 180_000);

afterAll(async () => {
  for (const db of databases.splice(0)) await db.close();
  await Promise.allSettled(clients.map((client) => client.end()));
  await server?.stop();
  if (directory !== undefined) await fs.rm(directory, { recursive: true, force: true });
}, 60_000);

describe('the generated module', () => {
  it('exports the mapped schema: description, references and sequences', () => {
    for (const name of ['pagila', 'chinook', 'types'] as const) {
      const generated = modules[name].schema;
      expect(generated.describe(), name).toEqual(mapped[name].schema.describe());
      for (const [typeName, type] of Object.entries(mapped[name].schema.types)) {
        expect(generated.types[typeName]!.references, `${name}.${typeName}`).toEqual(type.references);
        expect(generated.types[typeName]!.sequences, `${name}.${typeName}`).toEqual(type.sequences);
      }
    }
    expect(Object.keys(modules.pagila.schema.types)).toHaveLength(15);
    expect(Object.keys(modules.chinook.schema.types)).toHaveLength(11);
  });

  it('keeps the known facts of Pagila and Chinook', () => {
    const pagila = modules.pagila.schema.types;
    expect(pagila['rental']!.indexes['idx_unq_rental_rental_date_inventory_id_customer_id']).toEqual({
      kind: 'value', fields: ['rental_date', 'inventory_id', 'customer_id'], unique: true,
    });
    expect(pagila['store']!.indexes['idx_unq_manager_staff_id']).toEqual({ kind: 'value', fields: ['manager_staff_id'], unique: true });
    expect(pagila['film']!.references).toEqual({
      film_language_id_fkey: { type: 'language', fields: ['language_id'], enforced: true },
      film_original_language_id_fkey: { type: 'language', fields: ['original_language_id'], enforced: true },
    });
    // Every foreign key of a table (not a partition) is a reference; Pagila's payment has its own on partitions only.
    const foreignKeys = (model: PgSchema) => model.tables.reduce((n, table) => n + table.foreignKeys.length, 0);
    const references = (schema: Schema) => Object.values(schema.types).reduce((n, type) => n + Object.keys(type.references ?? {}).length, 0);
    expect(references(modules.pagila.schema)).toBe(foreignKeys(models.pagila));
    expect(references(modules.chinook.schema)).toBe(11);
    expect(modules.chinook.schema.types['track']!.references!['track_album_id_fkey']).toEqual({ type: 'album', fields: ['album_id'], enforced: true });
    // film.fulltext (tsvector) is skipped, and said so.
    expect(Object.keys(pagila['film']!.schema.shape)).not.toContain('fulltext');
    expect(mapped.pagila.tables.find((t) => t.typeName === 'film')!.skipped).toMatchObject([{ kind: 'column', name: 'fulltext' }]);
    expect(sources.pagila).toContain('//     public.film.fulltext: type tsvector is not mapped by the record layer');
    // The mpaa_rating enum, with its labels in order, and the year domain's bounds.
    expect(sources.pagila).toContain(`rating: z.enum(['G', 'PG', 'PG-13', 'R', 'NC-17']).nullable().default("G"),`);
    expect(sources.pagila).toContain('last_update: pgTimestamp().default(pgNow),');
    const film = pagila['film']!.schema.shape as Record<string, z.ZodType>;
    expect(film['rating']!.safeParse('NC-17').success).toBe(true);
    expect(film['rating']!.safeParse('X').success).toBe(false);
    expect(film['release_year']!.safeParse(2006).success).toBe(true);
    expect(film['release_year']!.safeParse(1900).success).toBe(false);
    expect(pagila['actor']!.sequences).toEqual({ actor_id: 'actor_actor_id_seq' });
  });

  it('names every unmapped entry in its header, by kind, name and reason', () => {
    for (const name of ['pagila', 'chinook', 'types'] as const) {
      const header = sources[name].slice(0, sources[name].indexOf('\nimport '));
      for (const entry of mapped[name].unmapped) {
        expect(header).toContain(`//     ${entry.schema}.${entry.table === null ? '' : `${entry.table}.`}${entry.name}: ${entry.reason}`);
      }
      for (const kind of new Set(mapped[name].unmapped.map((entry) => entry.kind))) expect(header).toContain(`//   ${kind}\n`);
      const count = mapped[name].unmapped.length;
      expect(header).toContain(count === 0 ? '// Everything in the schemas is mapped.' : `// Not mapped (${count}):`);
    }
    expect(mapped.pagila.unmapped.length).toBeGreaterThan(80);
    expect(mapped.chinook.unmapped).toEqual([]);
  });

  it('quotes names that are not identifiers and exports a type per record type', () => {
    expect(sources.types).toContain(`'all types': recordType({`);
    expect(sources.types).toContain(`'Mixed Case': z.string().nullable(),`);
    expect(sources.types).toContain(`['__proto__']: z.string().nullable(),`);
    expect(sources.types).toContain(`export type AllTypes = RecordOf<typeof schema.types['all types']>;`);
    expect(sources.pagila).toContain('export type FilmActor = RecordOf<typeof schema.types.film_actor>;');
    expect(Object.keys(modules.types.schema.types['all types']!.schema.shape)).toContain('__proto__');
  });

  it('is deterministic', () => {
    for (const name of ['pagila', 'chinook', 'types'] as const) expect(generateModule(mapSchema(models[name]))).toBe(sources[name]);
  });

  it('works as the schema of a record store, enforcing references', async () => {
    const db = await open();
    databases.push(db);
    const store = await records.RecordStore.open(db, { path: ['chinook'], schema: modules.chinook.schema });
    await db.transact(async (tx) => {
      await tx.at(store)['artist']!.insert({ artist_id: 1, name: 'AC/DC' });
      await tx.at(store)['album']!.insert({ album_id: 1, title: 'For Those About To Rock', artist_id: 1 });
    });
    const error = await db.transact((tx) => tx.at(store)['album']!.insert({ album_id: 2, title: 'Nowhere', artist_id: 99 })).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'foreign_key_violation' });
  });
});


function show(value: unknown): string {
  if (value instanceof Timestamp) return `Timestamp(${value.micros})`;
  return typeof value === 'bigint' ? `${value}n` : JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);
}
