// Proves that `introspect` reads a real PostgreSQL catalog into the model the migration builds on:
// Chinook's tables, primary keys, foreign keys and indexes exactly as its script declares them;
// Pagila's partitioned payment table once with its partitions, its array, enum and domain columns,
// the sequences behind its serial columns, and every trigger, view, function and unmappable column
// named in `unmapped`; and, on a small database made for the purpose, identity and owned serial
// columns, generated columns, check and exclusion constraints, partial and expression indexes,
// rules and user schemas. One server serves the whole file.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspect } from '../../src/pg/introspect.js';
import type { PgSchema, PgTable } from '../../src/pg/model.js';
import { RecordLayerError } from '../../src/errors.js';
import { loadDataset, startTestPostgres, type TestPostgres } from './postgres-fixture.js';

let server: TestPostgres | undefined;
const clients: pg.Client[] = [];
let chinook: PgSchema;
let pagila: PgSchema;
let pagilaClient: pg.Client;
let edgeClient: pg.Client;

async function connect(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  clients.push(client);
  return client;
}

beforeAll(async () => {
  server = await startTestPostgres();
  const loadedChinook = await loadDataset(server, 'chinook', { database: 'chinook_introspect' });
  const loadedPagila = await loadDataset(server, 'pagila', { database: 'pagila_introspect' });
  chinook = await introspect(await connect(loadedChinook.connectionString));
  pagilaClient = await connect(loadedPagila.connectionString);
  pagila = await introspect(pagilaClient);
  const admin = await connect(server.connectionString);
  await admin.query('CREATE DATABASE edge_introspect');
  edgeClient = await connect(server.connectionStringFor('edge_introspect'));
  await edgeClient.query(EDGE_SQL);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((client) => client.end()));
  await server?.stop();
}, 60_000);

function table(schema: PgSchema, name: string): PgTable {
  const found = schema.tables.filter((candidate) => candidate.name === name);
  expect(found, `table ${name}`).toHaveLength(1);
  return found[0]!;
}

describe('Chinook', () => {
  it('has exactly the tables and primary keys of its script', () => {
    expect(chinook.schemas).toEqual(['public']);
    expect(chinook.tables.map((t) => [t.name, t.kind, t.primaryKey?.name, t.primaryKey?.columns])).toEqual([
      ['album', 'table', 'album_pkey', ['album_id']],
      ['artist', 'table', 'artist_pkey', ['artist_id']],
      ['customer', 'table', 'customer_pkey', ['customer_id']],
      ['employee', 'table', 'employee_pkey', ['employee_id']],
      ['genre', 'table', 'genre_pkey', ['genre_id']],
      ['invoice', 'table', 'invoice_pkey', ['invoice_id']],
      ['invoice_line', 'table', 'invoice_line_pkey', ['invoice_line_id']],
      ['media_type', 'table', 'media_type_pkey', ['media_type_id']],
      ['playlist', 'table', 'playlist_pkey', ['playlist_id']],
      ['playlist_track', 'table', 'playlist_track_pkey', ['playlist_id', 'track_id']],
      ['track', 'table', 'track_pkey', ['track_id']],
    ]);
    expect(chinook.unmapped).toEqual([]);
    expect(chinook.enums).toEqual([]);
    expect(chinook.domains).toEqual([]);
  });

  it('has exactly the foreign keys of its script', () => {
    const noAction = { onDelete: 'no_action', onUpdate: 'no_action', deferrable: false, initiallyDeferred: false };
    expect(table(chinook, 'track').foreignKeys).toEqual([
      { name: 'track_album_id_fkey', columns: ['album_id'], references: { schema: 'public', table: 'album', columns: ['album_id'] }, ...noAction },
      { name: 'track_genre_id_fkey', columns: ['genre_id'], references: { schema: 'public', table: 'genre', columns: ['genre_id'] }, ...noAction },
      { name: 'track_media_type_id_fkey', columns: ['media_type_id'], references: { schema: 'public', table: 'media_type', columns: ['media_type_id'] }, ...noAction },
    ]);
    expect(table(chinook, 'invoice_line').foreignKeys).toEqual([
      { name: 'invoice_line_invoice_id_fkey', columns: ['invoice_id'], references: { schema: 'public', table: 'invoice', columns: ['invoice_id'] }, ...noAction },
      { name: 'invoice_line_track_id_fkey', columns: ['track_id'], references: { schema: 'public', table: 'track', columns: ['track_id'] }, ...noAction },
    ]);
    expect(table(chinook, 'employee').foreignKeys.map((fk) => [fk.columns, fk.references])).toEqual([
      [['reports_to'], { schema: 'public', table: 'employee', columns: ['employee_id'] }],
    ]);
    // 11 foreign keys in the script, each with a plain btree index on its column.
    const all = chinook.tables.flatMap((t) => t.foreignKeys.map((fk) => `${t.name}.${fk.name}`));
    expect(all).toHaveLength(11);
    const indexes = chinook.tables.flatMap((t) => t.indexes.map((index) => [index.name, index.method, index.unique, index.keys]));
    expect(indexes).toHaveLength(11);
    expect(indexes).toContainEqual(['track_album_id_idx', 'btree', false, [{ kind: 'column', name: 'album_id' }]]);
  });

  it('describes columns in order, with their types and nullability', () => {
    expect(table(chinook, 'track').columns.map((c) => [c.name, c.type.kind === 'base' ? c.type.declared : c.type.kind, c.notNull])).toEqual([
      ['track_id', 'integer', true],
      ['name', 'character varying(200)', true],
      ['album_id', 'integer', false],
      ['media_type_id', 'integer', true],
      ['genre_id', 'integer', false],
      ['composer', 'character varying(220)', false],
      ['milliseconds', 'integer', true],
      ['bytes', 'integer', false],
      ['unit_price', 'numeric(10,2)', true],
    ]);
    expect(table(chinook, 'track').columns[8]!.type).toMatchObject({ kind: 'base', name: 'numeric', precision: 10, scale: 2, mapped: true });
    expect(table(chinook, 'track').columns[1]!.type).toMatchObject({ kind: 'base', name: 'character varying', typeName: 'varchar', length: 200 });
  });
});

describe('Pagila', () => {
  it('lists the partitioned payment table once, with its partitions', () => {
    const names = pagila.tables.map((t) => t.name);
    expect(names.filter((name) => name.startsWith('payment'))).toEqual(['payment']);
    expect(names).toEqual([...names].sort());
    const payment = table(pagila, 'payment');
    expect(payment.kind).toBe('partitioned');
    expect(payment.partitionKey).toBe('RANGE (payment_date)');
    expect(payment.primaryKey).toEqual({ name: 'payment_pkey', columns: ['payment_date', 'payment_id'] });
    expect(payment.partitions.map((partition) => partition.name)).toEqual([
      'payment_p2022_01',
      'payment_p2022_02',
      'payment_p2022_03',
      'payment_p2022_04',
      'payment_p2022_05',
      'payment_p2022_06',
      'payment_p2022_07',
    ]);
    expect(payment.partitions[0]!.bound).toMatch(/^FOR VALUES FROM \('2022-01-01 .*'\) TO \('2022-02-01 .*'\)$/);
    // The foreign keys Pagila declares on each partition only are reported, not lost.
    expect(pagila.unmapped).toContainEqual(expect.objectContaining({ kind: 'partition_constraint', table: 'payment_p2022_01', name: 'payment_p2022_01_rental_id_fkey' }));
  });

  it('describes array, enum and domain columns', () => {
    const film = table(pagila, 'film');
    const column = (name: string) => film.columns.find((c) => c.name === name)!;
    expect(column('special_features').type).toEqual({
      kind: 'array',
      name: 'text[]',
      declared: 'text[]',
      element: { kind: 'base', name: 'text', typeName: 'text', declared: 'text', category: 'S', length: null, precision: null, scale: null, mapped: true },
      mapped: true,
    });
    expect(column('rating').type).toEqual({ kind: 'enum', schema: 'public', name: 'mpaa_rating', labels: ['G', 'PG', 'PG-13', 'R', 'NC-17'], mapped: true });
    expect(column('rating').default).toMatch(/^'G'::/);
    const yearCheck = { name: 'year_check', definition: 'CHECK (((VALUE >= 1901) AND (VALUE <= 2155)))' };
    expect(column('release_year').type).toMatchObject({ kind: 'domain', name: 'year', base: { kind: 'base', name: 'integer' }, notNull: false, checks: [yearCheck] });
    expect(pagila.enums).toEqual([{ schema: 'public', name: 'mpaa_rating', labels: ['G', 'PG', 'PG-13', 'R', 'NC-17'] }]);
    expect(pagila.domains).toMatchObject([{ schema: 'public', name: 'year', base: { kind: 'base', name: 'integer' }, checks: [yearCheck] }]);
    expect(film.columns.map((c) => c.name)).toEqual([
      'film_id', 'title', 'description', 'release_year', 'language_id', 'original_language_id', 'rental_duration',
      'rental_rate', 'length', 'replacement_cost', 'rating', 'last_update', 'special_features', 'fulltext',
    ]);
  });

  it('finds the sequence behind each serial column', () => {
    const actorId = table(pagila, 'actor').columns[0]!;
    expect(actorId).toMatchObject({ name: 'actor_id', notNull: true, identity: null, default: expect.stringMatching(/^nextval\('(public\.)?actor_actor_id_seq'::regclass\)$/) });
    // Pagila's dump declares no OWNED BY, so the sequence is the one the default calls.
    expect(actorId.sequence).toEqual({ schema: 'public', name: 'actor_actor_id_seq', relation: 'default' });
    expect(table(pagila, 'payment').columns[0]!.sequence).toEqual({ schema: 'public', name: 'payment_payment_id_seq', relation: 'default' });
    const serials = pagila.tables.flatMap((t) => t.columns.filter((c) => c.sequence !== null).map((c) => `${t.name}.${c.name}`));
    expect(serials).toHaveLength(13);
    expect(pagila.unmapped.filter((item) => item.kind === 'sequence')).toEqual([]);
  });

  it('names every trigger, view, function, tsvector column and non-btree index in unmapped', () => {
    const names = (kind: string) => pagila.unmapped.filter((item) => item.kind === kind).map((item) => (item.table === null ? item.name : `${item.table}.${item.name}`));
    const lastUpdated = ['actor', 'address', 'category', 'city', 'country', 'customer', 'film', 'film_actor', 'film_category', 'inventory', 'language', 'rental', 'staff', 'store'];
    expect(names('trigger')).toEqual([...lastUpdated.map((t) => `${t}.last_updated`), 'film.film_fulltext_trigger'].sort());
    expect(names('view')).toEqual(['actor_info', 'customer_list', 'film_list', 'nicer_but_slower_film_list', 'sales_by_film_category', 'sales_by_store', 'staff_list']);
    expect(names('materialized_view')).toEqual(['rental_by_category']);
    expect(pagila.unmapped.filter((item) => item.kind === 'column')).toEqual([
      { kind: 'column', schema: 'public', table: 'film', name: 'fulltext', reason: 'type tsvector is not mapped by the record layer', definition: 'tsvector' },
    ]);
    expect(names('index')).toEqual(['film.film_fulltext_idx']);
    expect(names('function')).toContain('last_updated()');
    expect(names('function')).toContain('group_concat(text)');
    expect(names('type')).toEqual(['bıgınt']);
    expect(names('partition_constraint')).toHaveLength(18);
    expect(names('partition_index')).toHaveLength(18);
    expect(names('check_constraint')).toEqual([]);
    const trigger = pagila.unmapped.find((item) => item.name === 'film_fulltext_trigger')!;
    expect(trigger.definition).toContain('tsvector_update_trigger');
  });

  it('is JSON-serializable and the same on a second run', async () => {
    expect(JSON.parse(JSON.stringify(pagila))).toEqual(pagila);
    expect(await introspect(pagilaClient, { schemas: ['public'] })).toEqual(pagila);
  });

  it('refuses a schema that does not exist', async () => {
    const error = await introspect(pagilaClient, { schemas: ['public', 'no_such_schema'] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RecordLayerError);
    expect(error).toMatchObject({ code: 'pg_schema_not_found', details: { missing: ['no_such_schema'] } });
  });
});

const EDGE_SQL = `
CREATE SCHEMA shop;
CREATE TYPE shop.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN shop.positive AS numeric(6,1) NOT NULL CHECK (VALUE > 0);
CREATE TABLE shop.item (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code serial UNIQUE,
  price shop.positive,
  moods shop.mood[],
  price_twice numeric GENERATED ALWAYS AS (price * 2) STORED,
  during tstzrange,
  CONSTRAINT item_code_check CHECK (code > 0)
);
CREATE TABLE shop.line (
  item_id bigint NOT NULL,
  during tstzrange,
  note text,
  CONSTRAINT line_item_fkey FOREIGN KEY (item_id) REFERENCES shop.item (id) ON DELETE CASCADE ON UPDATE SET NULL DEFERRABLE INITIALLY DEFERRED,
  CONSTRAINT line_no_overlap EXCLUDE USING gist (during WITH &&)
);
CREATE INDEX line_note_lower ON shop.line (lower(note));
CREATE INDEX line_open ON shop.line (item_id) INCLUDE (note) WHERE note IS NOT NULL;
CREATE VIEW public.items AS SELECT id FROM shop.item;
CREATE RULE line_no_delete AS ON DELETE TO shop.line DO INSTEAD NOTHING;
CREATE SEQUENCE shop.spare;
`;

describe('a database made to show every kind', () => {
  it('reads identity, owned serial, generated and domain columns, and reports constraints and indexes it cannot map', async () => {
    const model = await introspect(edgeClient);
    expect(model.schemas).toEqual(['public', 'shop']);
    expect(model.tables.map((t) => `${t.schema}.${t.name}`)).toEqual(['shop.item', 'shop.line']);
    const item = table(model, 'item');
    expect(item.columns.map((c) => [c.name, c.identity, c.sequence?.name, c.sequence?.relation])).toEqual([
      ['id', 'always', 'item_id_seq', 'identity'],
      ['code', null, 'item_code_seq', 'owned'],
      ['price', null, undefined, undefined],
      ['moods', null, undefined, undefined],
      ['price_twice', null, undefined, undefined],
      ['during', null, undefined, undefined],
    ]);
    expect(item.columns[4]!.generated).toEqual({ expression: '((price)::numeric * (2)::numeric)', stored: true });
    expect(item.columns[4]!.default).toBeNull();
    expect(item.columns[2]!.type).toMatchObject({ kind: 'domain', schema: 'shop', notNull: true, base: { kind: 'base', name: 'numeric', precision: 6, scale: 1 }, mapped: true });
    expect(item.columns[3]!.type).toMatchObject({ kind: 'array', element: { kind: 'enum', name: 'shop.mood', labels: ['sad', 'ok', 'happy'] }, mapped: true });
    expect(item.columns[5]!.type).toMatchObject({ kind: 'other', name: 'tstzrange', typeType: 'r', mapped: false });
    expect(item.uniqueConstraints).toEqual([{ name: 'item_code_key', columns: ['code'] }]);

    const line = table(model, 'line');
    expect(line.foreignKeys).toEqual([
      { name: 'line_item_fkey', columns: ['item_id'], references: { schema: 'shop', table: 'item', columns: ['id'] }, onDelete: 'cascade', onUpdate: 'set_null', deferrable: true, initiallyDeferred: true },
    ]);
    expect(line.indexes.map((index) => [index.name, index.keys, index.include, index.predicate])).toEqual([
      ['line_note_lower', [{ kind: 'expression', definition: 'lower(note)' }], [], null],
      ['line_open', [{ kind: 'column', name: 'item_id' }], ['note'], 'note IS NOT NULL'],
    ]);

    const reported = model.unmapped.map((entry) => `${entry.kind} ${entry.schema}.${entry.table ?? ''}.${entry.name}`);
    expect(reported).toEqual([
      'check_constraint shop.item.item_code_check',
      'column shop.item.during',
      'column shop.item.price_twice',
      'column shop.line.during',
      'exclusion_constraint shop.line.line_no_overlap',
      'index shop.line.line_note_lower',
      'index shop.line.line_open',
      'rule shop.line.line_no_delete',
      'sequence shop..spare',
      'view public..items',
    ]);
  });
});
