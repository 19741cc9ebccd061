// Proves that loadDataset loads the vendored Pagila and Chinook sample databases into a real
// PostgreSQL server completely: every table holds exactly the rows its dump holds
// (counted from the files: COPY lines up to `\.`, and the VALUES tuples of Chinook's INSERTs),
// Pagila's payments land in their monthly partitions, the statements after the data (setval) ran,
// and Pagila's enum, domain, array column and triggers exist in pg_catalog. Chinook's own
// `CREATE DATABASE chinook` / `\c chinook` prelude is replaced by the database the caller names.
import fs from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetFiles, loadDataset, parsePsqlScript, type LoadedDataset } from './load-psql-script.js';
import { startPostgres, type PostgresServer } from './start-postgres.js';

let server: PostgresServer | undefined;
let pagila: pg.Client;
let chinook: pg.Client;
let loaded: { pagila: LoadedDataset; chinook: LoadedDataset };

beforeAll(async () => {
  server = await startPostgres({ label: 'load-psql-script-test' });
  loaded = {
    pagila: await loadDataset(server, 'pagila', { database: 'pagila_fixture' }),
    chinook: await loadDataset(server, 'chinook', { database: 'chinook_fixture' }),
  };
  pagila = new pg.Client({ connectionString: loaded.pagila.connectionString });
  chinook = new pg.Client({ connectionString: loaded.chinook.connectionString });
  await Promise.all([pagila.connect(), chinook.connect()]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([pagila?.end(), chinook?.end()]);
  await server?.stop();
}, 60_000);

async function count(client: pg.Client, table: string): Promise<number> {
  const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
  return Number(result.rows[0]!.n);
}

describe('Pagila', () => {
  it('holds every row of the dump', async () => {
    const expected: Record<string, number> = {
      'public.actor': 200,
      'public.film': 1000,
      'public.customer': 599,
      'public.rental': 16044,
      'public.inventory': 4581,
      'public.film_actor': 5462,
      'public.address': 603,
      'public.staff': 2,
      'public.payment': 16049,
    };
    for (const [table, rows] of Object.entries(expected)) expect({ table, rows: await count(pagila, table) }).toEqual({ table, rows });
    // 21 COPY blocks, 46,273 data lines in pagila-data.sql.
    expect(loaded.pagila.copyBlocks).toBe(21);
    expect(loaded.pagila.copiedRows).toBe(46_273);
  });

  it('routes payments to their monthly partitions', async () => {
    const result = await pagila.query<{ partition: string; n: string }>(
      'SELECT tableoid::regclass::text AS partition, count(*) AS n FROM public.payment GROUP BY 1 ORDER BY 1',
    );
    expect(result.rows.map((row) => [row.partition, Number(row.n)])).toEqual([
      ['payment_p2022_01', 723],
      ['payment_p2022_02', 2401],
      ['payment_p2022_03', 2713],
      ['payment_p2022_04', 2547],
      ['payment_p2022_05', 2677],
      ['payment_p2022_06', 2654],
      ['payment_p2022_07', 2334],
    ]);
  });

  it('ran the statements after the COPY blocks', async () => {
    const result = await pagila.query<{ last_value: string }>('SELECT last_value FROM public.payment_payment_id_seq');
    expect(Number(result.rows[0]!.last_value)).toBe(32098);
  });

  it('has the enum, the domain, the array column and the triggers of the schema', async () => {
    const labels = await pagila.query<{ enumlabel: string }>(
      "SELECT e.enumlabel FROM pg_catalog.pg_enum e JOIN pg_catalog.pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'mpaa_rating' ORDER BY e.enumsortorder",
    );
    expect(labels.rows.map((row) => row.enumlabel)).toEqual(['G', 'PG', 'PG-13', 'R', 'NC-17']);

    const domain = await pagila.query<{ typtype: string; base: string; check: string }>(
      `SELECT t.typtype, format_type(t.typbasetype, NULL) AS base, pg_get_constraintdef(c.oid) AS check
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_constraint c ON c.contypid = t.oid
        WHERE t.typname = 'year' AND t.typnamespace = 'public'::regnamespace`,
    );
    expect(domain.rows).toEqual([{ typtype: 'd', base: 'integer', check: 'CHECK (((VALUE >= 1901) AND (VALUE <= 2155)))' }]);

    const column = await pagila.query<{ type: string; ndims: number }>(
      "SELECT format_type(atttypid, atttypmod) AS type, attndims AS ndims FROM pg_catalog.pg_attribute WHERE attrelid = 'public.film'::regclass AND attname = 'special_features'",
    );
    expect(column.rows).toEqual([{ type: 'text[]', ndims: 1 }]);
    const features = await pagila.query<{ special_features: string[] }>('SELECT special_features FROM public.film WHERE film_id = 1');
    expect(features.rows[0]!.special_features).toEqual(['Deleted Scenes', 'Behind the Scenes']);

    const triggers = await pagila.query<{ tgname: string; table: string }>(
      "SELECT tgname, tgrelid::regclass::text AS table FROM pg_catalog.pg_trigger WHERE NOT tgisinternal AND tgrelid IN ('public.film'::regclass, 'public.actor'::regclass) ORDER BY 2, 1",
    );
    expect(triggers.rows).toEqual([
      { tgname: 'last_updated', table: 'actor' },
      { tgname: 'film_fulltext_trigger', table: 'film' },
      { tgname: 'last_updated', table: 'film' },
    ]);
  });
});

describe('Chinook', () => {
  it('holds every row of the script, in the database the test named', async () => {
    const expected: Record<string, number> = {
      artist: 275,
      album: 347,
      track: 3503,
      invoice: 412,
      invoice_line: 2240,
      customer: 59,
      employee: 8,
      playlist_track: 8715,
    };
    for (const [table, rows] of Object.entries(expected)) expect({ table, rows: await count(chinook, table) }).toEqual({ table, rows });
    const databases = await chinook.query<{ datname: string }>("SELECT datname FROM pg_catalog.pg_database WHERE datname LIKE '%chinook%' ORDER BY 1");
    expect(databases.rows.map((row) => row.datname)).toEqual(['chinook_fixture']);
  });
});

describe('loadDataset', () => {
  it('refuses a database that already exists, and leaves it as it was', async () => {
    await expect(loadDataset(server!, 'chinook', { database: 'chinook_fixture' })).rejects.toThrow(/already exists/);
    expect(await count(chinook, 'track')).toBe(3503);
  });
});

describe('datasetFiles', () => {
  it('names the vendored files, which exist, in load order', () => {
    const files = datasetFiles('pagila');
    expect(files.map((file) => file.split('/').slice(-2).join('/'))).toEqual(['pagila/pagila-schema.sql', 'pagila/pagila-data.sql']);
    for (const file of [...files, ...datasetFiles('chinook')]) expect(fs.existsSync(file), file).toBe(true);
  });
});

describe('parsePsqlScript', () => {
  it('splits SQL, COPY blocks and \\connect, and refuses what it does not know', () => {
    expect(parsePsqlScript('SET a = 1;\nCOPY t (x) FROM stdin;\n1\n\\N\n\\.\nSELECT 1;\n\\c other;\nSELECT 2;')).toEqual([
      { kind: 'sql', line: 1, text: 'SET a = 1;' },
      { kind: 'copy', line: 2, statement: 'COPY t (x) FROM stdin;', dataLines: ['1', '\\N'] },
      { kind: 'sql', line: 6, text: 'SELECT 1;' },
      { kind: 'connect', line: 7, database: 'other' },
      { kind: 'sql', line: 8, text: 'SELECT 2;' },
    ]);
    expect(() => parsePsqlScript('COPY t (x) FROM stdin;\n1\n')).toThrow(/no terminating/);
    expect(() => parsePsqlScript('SELECT 1;\n\\i other.sql\n')).toThrow(/unsupported psql meta-command/);
  });
});
