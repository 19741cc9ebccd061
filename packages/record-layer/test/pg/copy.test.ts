// Proves copy and verify against a real PostgreSQL holding Chinook and Pagila: every table copies
// into a record store on a data directory and verify reports zero differences; the copied store
// keeps PostgreSQL's rules (references enforced, sequences continuing after the largest id); a copy
// stopped part-way (between batches, and by SIGKILL of the strata-pg process) and resumed ends
// with exactly the records of an uninterrupted copy; and verify names missing, extra and changed
// rows by primary key. One server serves the whole file.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Database } from '@strata/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { introspect } from '../../src/pg/introspect.js';
import { mapSchema, type MappedSchema, type TableMapping } from '../../src/pg/type-map.js';
import { copy, type CopyProgress } from '../../src/pg/copy.js';
import { verify } from '../../src/pg/verify.js';
import { RecordStore } from '../../src/record-store.js';
import type { SchemaTypes } from '../../src/schema.js';
import { loadDataset, startTestPostgres, type TestPostgres } from './postgres-fixture.js';

const CLI = fileURLToPath(new URL('../../dist/pg/cli.js', import.meta.url));

let server: TestPostgres | undefined;
let chinookUrl: string;
let pagilaUrl: string;
let chinook: MappedSchema;
let pagila: MappedSchema;
const directories: string[] = [];
const databases: Database[] = [];

async function mapped(url: string): Promise<MappedSchema> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return mapSchema(await introspect(client));
  } finally {
    await client.end();
  }
}

async function dataDirectory(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'strata-pg-copy-'));
  directories.push(dir);
  return dir;
}

async function openDatabase(dir: string): Promise<Database> {
  const db = await open({ path: dir });
  databases.push(db);
  return db;
}

async function closeDatabase(db: Database): Promise<void> {
  databases.splice(databases.indexOf(db), 1);
  await db.close();
}

async function sourceCount(url: string, table: TableMapping): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM "${table.schema}"."${table.table}"`);
    return Number(result.rows[0]!.n);
  } finally {
    await client.end();
  }
}

// Every record of every type, in primary key order, as canonical texts: what two stores are compared by.
async function contents(db: Database, schema: MappedSchema, storePath: string[]): Promise<Map<string, string[]>> {
  const store = await RecordStore.open(db, { path: storePath, schema: schema.schema });
  const out = new Map<string, string[]>();
  for (const table of schema.tables) {
    const rows: string[] = [];
    for await (const record of (store as RecordStore<SchemaTypes>).stream(db, table.typeName)) {
      rows.push(JSON.stringify(table.columns.map((column) => column.canonical((record as Record<string, unknown>)[column.field] ?? null))));
    }
    out.set(table.typeName, rows);
  }
  return out;
}

function runCli(args: string[], onStderr?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

beforeAll(async () => {
  server = await startTestPostgres();
  chinookUrl = (await loadDataset(server, 'chinook', { database: 'chinook_copy' })).connectionString;
  pagilaUrl = (await loadDataset(server, 'pagila', { database: 'pagila_copy' })).connectionString;
  chinook = await mapped(chinookUrl);
  pagila = await mapped(pagilaUrl);
}, 180_000);

afterAll(async () => {
  for (const db of databases.splice(0)) await db.close();
  await server?.stop();
  for (const dir of directories.splice(0)) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('copy and verify', () => {
  it('copy Chinook and Pagila with every row, and verify finds zero differences', async () => {
    for (const [url, schema, name] of [
      [chinookUrl, chinook, 'chinook'],
      [pagilaUrl, pagila, 'pagila'],
    ] as const) {
      const db = await openDatabase(await dataDirectory());
      const progress: CopyProgress[] = [];
      const result = await copy(url, db, schema, { path: [name], onProgress: (p) => progress.push(p) });
      expect(result.tables.map((t) => t.typeName).sort()).toEqual(schema.tables.map((t) => t.typeName).sort());
      for (const table of schema.tables) {
        const rows = await sourceCount(url, table);
        expect(result.tables.find((t) => t.typeName === table.typeName)!.rows, table.typeName).toBe(rows);
        const last = progress.filter((p) => p.typeName === table.typeName).at(-1)!;
        expect(last).toMatchObject({ rows, total: rows, done: true });
      }
      const verified = await verify(url, db, schema, { path: [name] });
      expect(verified.differences).toEqual([]);
      expect(verified.identical).toBe(true);
      for (const table of verified.tables) expect(table.storedRecords, table.table).toBe(table.sourceRows);
      // Copying again copies nothing: every table is finished.
      const again = await copy(url, db, schema, { path: [name] });
      for (const table of again.tables) expect(table.resumedAfter).toBe(table.rows);
    }
  });

  it('the copied Pagila keeps references enforced and its sequences continue after the largest id', async () => {
    const db = await openDatabase(await dataDirectory());
    const result = await copy(pagilaUrl, db, pagila, { path: ['pagila'] });
    const customerSequence = pagila.tables.find((t) => t.table === 'customer')!.sequences[0]!;
    expect(result.sequences.find((s) => s.name === customerSequence.sequence)?.last).toBe(599n);
    const store = (await RecordStore.open(db, { path: ['pagila'], schema: pagila.schema })) as RecordStore<SchemaTypes>;
    const view = (tx: Parameters<typeof store.bind>[0]) => store.bind(tx) as Record<string, any>;
    // A new customer gets id 600, like PostgreSQL's nextval after the dump's setval.
    const created = await db.transact(async (tx) => {
      const existing = await view(tx)[pagila.tables.find((t) => t.table === 'customer')!.typeName].get({ customer_id: 1 });
      const { customer_id: _, ...rest } = existing as Record<string, unknown>;
      return view(tx)[pagila.tables.find((t) => t.table === 'customer')!.typeName].insert({ ...rest, email: 'new@example.com' });
    });
    expect(created.customer_id).toBe(600);
    // Customer 1 has rentals: deleting it would orphan them.
    await expect(db.transact((tx) => view(tx)[pagila.tables.find((t) => t.table === 'customer')!.typeName].delete({ customer_id: 1 }))).rejects.toMatchObject({
      code: 'foreign_key_violation',
    });
  });

  it('a copy stopped between batches and resumed ends identical to an uninterrupted one', async () => {
    const whole = await openDatabase(await dataDirectory());
    await copy(chinookUrl, whole, chinook, { path: ['chinook'], batchRows: 200 });
    const expected = await contents(whole, chinook, ['chinook']);

    const db = await openDatabase(await dataDirectory());
    const controller = new AbortController();
    await expect(
      copy(chinookUrl, db, chinook, {
        path: ['chinook'],
        batchRows: 200,
        connections: 2,
        signal: controller.signal,
        // Stop as soon as a table is part-way: it has a committed batch and more to come.
        onProgress: (progress) => {
          if (!progress.done && progress.rows > 0) controller.abort(new Error('stop here'));
        },
      }),
    ).rejects.toThrow('stop here');
    const resumed = await copy(chinookUrl, db, chinook, { path: ['chinook'], batchRows: 200 });
    expect(resumed.tables.some((t) => t.resumedAfter > 0 && t.resumedAfter < t.rows)).toBe(true);
    expect(await contents(db, chinook, ['chinook'])).toEqual(expected);
    expect((await verify(chinookUrl, db, chinook, { path: ['chinook'] })).identical).toBe(true);
  });

  it('strata-pg copy killed with SIGKILL part-way resumes with no duplicates and no gaps', async () => {
    const dir = await dataDirectory();
    // Stop the process once a table has committed a batch but not finished.
    const killed = await runCli(['copy', '--url', pagilaUrl, '--to', dir, '--batch-rows', '100', '--connections', '1'], (stderr, child) => {
      if (/\b[1-9]\d*\/(\d+) rows/.test(stderr) && !child.killed) child.kill('SIGKILL');
    });
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    let db = await openDatabase(dir);
    const partial = await contents(db, pagila, ['pagila_copy']);
    const partialRows = [...partial.values()].reduce((sum, rows) => sum + rows.length, 0);
    expect(partialRows).toBeGreaterThan(0);
    await closeDatabase(db);

    const resumed = await runCli(['copy', '--url', pagilaUrl, '--to', dir, '--batch-rows', '100']);
    expect(resumed.stderr).not.toContain('strata-pg:');
    expect(resumed.code).toBe(0);
    const verified = await runCli(['verify', '--url', pagilaUrl, '--to', dir]);
    expect(verified.stdout).toContain('identical');
    expect(verified.code).toBe(0);

    db = await openDatabase(dir);
    const whole = await openDatabase(await dataDirectory());
    await copy(pagilaUrl, whole, pagila, { path: ['pagila_copy'] });
    expect(await contents(db, pagila, ['pagila_copy'])).toEqual(await contents(whole, pagila, ['pagila_copy']));
  });

  it('copies float keys: ranges, order and verify agree with PostgreSQL', async () => {
    const admin = new pg.Client({ connectionString: server!.connectionString });
    await admin.connect();
    await admin.query('CREATE DATABASE floats_copy');
    await admin.end();
    const url = server!.connectionStringFor('floats_copy');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // Integral and fractional values mixed, the infinities and NaN, a real (float4) and an index on it.
      const keys = ['-Infinity', '-1e300', '-2.5', '-2', '-0.5', '0', '0.25', '1', '1.5', '2', '3', '1e15', 'Infinity', 'NaN'];
      await client.query('CREATE TABLE reading (k double precision PRIMARY KEY, r real NOT NULL)');
      await client.query('CREATE INDEX reading_r_idx ON reading (r)');
      for (const [i, k] of keys.entries()) await client.query('INSERT INTO reading VALUES ($1::float8, $2::float4)', [k, [4.5, -1, 2, 0.75][i % 4]]);
      const schema = await mapped(url);
      expect(schema.unmapped).toEqual([]);
      const db = await openDatabase(await dataDirectory());
      await copy(url, db, schema, { path: ['floats'] });
      expect((await verify(url, db, schema, { path: ['floats'] })).identical).toBe(true);
      const store = (await RecordStore.open(db, { path: ['floats'], schema: schema.schema })) as RecordStore<SchemaTypes>;
      const reading = schema.tables[0]!.typeName;
      const order = async (sql: string): Promise<number[]> => (await client.query<{ k: number }>(sql)).rows.map((row) => Number(row.k));
      const strata = async (query: object): Promise<number[]> =>
        ((await db.transact((tx) => store.bind(tx)[reading]!.findMany(query as never))).records as { k: number }[]).map((record) => record.k);
      expect(await strata({ orderBy: { k: 'asc' } })).toEqual(await order('SELECT k FROM reading ORDER BY k'));
      expect(await strata({ where: { k: { gt: 1 } }, orderBy: { k: 'asc' } })).toEqual(await order('SELECT k FROM reading WHERE k > 1 ORDER BY k'));
      expect(await strata({ where: { k: { gte: -2, lt: 1.5 } }, orderBy: { k: 'desc' } })).toEqual(await order('SELECT k FROM reading WHERE k >= -2 AND k < 1.5 ORDER BY k DESC'));
      expect(await strata({ where: { r: { gt: 0.5 } }, orderBy: [{ r: 'asc' }, { k: 'asc' }] })).toEqual(await order('SELECT k FROM reading WHERE r > 0.5 ORDER BY r, k'));
      expect(await strata({ where: { k: -0 } })).toEqual([0]);
    } finally {
      await client.end();
    }
  });

  it('verify names missing, extra and changed rows by primary key', async () => {
    const db = await openDatabase(await dataDirectory());
    await copy(chinookUrl, db, chinook, { path: ['chinook'] });
    const store = (await RecordStore.open(db, { path: ['chinook'], schema: chinook.schema })) as RecordStore<SchemaTypes>;
    const genre = chinook.tables.find((t) => t.table === 'genre')!.typeName;
    await db.transact(async (tx) => {
      const genres = store.bind(tx)[genre]!;
      await genres.update({ genre_id: 1 } as never, { name: 'Not Rock' } as never);
      await genres.insert({ genre_id: 1000, name: 'Extra' } as never);
    });
    const mediaType = chinook.tables.find((t) => t.table === 'media_type')!;
    // A row deleted from the source: it is in the store only.
    const client = new pg.Client({ connectionString: chinookUrl });
    await client.connect();
    try {
      await client.query('INSERT INTO media_type (media_type_id, name) VALUES (99, $1)', ['Missing']);
      const result = await verify(chinookUrl, db, chinook, { path: ['chinook'] });
      expect(result.identical).toBe(false);
      expect(result.differenceCount).toBe(3);
      expect(result.differences).toEqual(
        expect.arrayContaining([
          { table: 'public.genre', typeName: genre, kind: 'different', key: { genre_id: 1 }, fields: ['name'] },
          { table: 'public.genre', typeName: genre, kind: 'extra', key: { genre_id: 1000 }, fields: [] },
          { table: 'public.media_type', typeName: mediaType.typeName, kind: 'missing', key: { media_type_id: 99 }, fields: [] },
        ]),
      );
      const cli = await runCli(['verify', '--url', chinookUrl, '--to', await dataDirectory(), '--store', 'elsewhere']);
      expect(cli.code, cli.stderr).toBe(1);
      expect(cli.stdout).toMatch(/rows differ/);
    } finally {
      await client.query('DELETE FROM media_type WHERE media_type_id = 99');
      await client.end();
    }
  });
});
