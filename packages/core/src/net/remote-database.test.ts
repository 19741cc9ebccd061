// Proves that a database served over WebSocket keeps its guarantees for remote clients: reads (one
// key, several at once), writes, range reads, atomic ops, versionstamps and watches work as
// locally; concurrent remote and local transactions stay serializable (conflicts retry, a counter
// loses no increment); bad input from the network is refused with a clear error and changes
// nothing; a lost connection fails the client's calls instead of hanging them.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { open, type Database } from '../api/database.js';
import { StrataError } from '../api/errors.js';
import { connect } from './remote-database.js';
import { serve, type DatabaseServer } from './database-server.js';
import { decodeMessage, encodeMessage } from './protocol.js';

const text = (value: string): Uint8Array => new TextEncoder().encode(value);
const read = (value: Uint8Array | null): string | null => (value === null ? null : new TextDecoder().decode(value));

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function served(): Promise<{ db: Database; server: DatabaseServer }> {
  const db = await open();
  const server = await serve(db);
  cleanups.push(() => db.close());
  cleanups.push(() => server.close());
  return { db, server };
}

async function client(url: string): Promise<Database> {
  const remote = await connect(url);
  cleanups.push(() => remote.close());
  return remote;
}

function int64(value: number): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(BigInt(value));
  return bytes;
}

describe('a database served over WebSocket', () => {
  it('reads and writes, ranges, atomic ops and versionstamps as a local database does', async () => {
    const { db, server } = await served();
    const remote = await client(server.url);
    await remote.transact((tx) => {
      tx.set(text('a'), text('1'));
      tx.set(text('b'), text('2'));
      tx.add(text('counter'), int64(5));
    });
    expect(read(await db.transact((tx) => tx.get(text('a'))))).toBe('1');
    expect((await remote.transact((tx) => tx.getRangeAll(text('a'), text('c')))).map((row) => read(row.value))).toEqual(['1', '2']);
    expect((await remote.transact((tx) => tx.getMany([text('b'), text('missing'), text('a')]))).map(read)).toEqual(['2', null, '1']);
    const { stamp } = await remote.transact((tx) => {
      tx.setVersionstampedValue(text('stamped'), new Uint8Array([...new Uint8Array(10), ...new Uint8Array(2), 0, 0, 0, 0]));
      return { stamp: tx.getVersionstamp() };
    });
    expect(await db.transact((tx) => tx.get(text('stamped')))).toEqual(new Uint8Array([...(await stamp), 0, 0]));
    expect(Buffer.from((await remote.transact((tx) => tx.get(text('counter'))))!).readBigInt64LE(0)).toBe(5n);
  });

  it('keeps increments from remote and local clients that race on one key serializable', async () => {
    const { db, server } = await served();
    const remotes = [await client(server.url), await client(server.url)];
    const increment = (handle: Database) =>
      handle.transact(async (tx) => {
        const value = await tx.get(text('n'));
        tx.set(text('n'), text(String(Number(read(value) ?? '0') + 1)));
      });
    await Promise.all([db, ...remotes].flatMap((handle) => Array.from({ length: 30 }, () => increment(handle))));
    expect(read(await db.transact((tx) => tx.get(text('n'))))).toBe('90');
  });

  it('fires a remote watch when another client changes the key', async () => {
    const { db, server } = await served();
    const remote = await client(server.url);
    const watch = await remote.transact((tx) => tx.watch(text('w')));
    await db.transact((tx) => tx.set(text('w'), text('changed')));
    await watch.changed;
  });

  it('refuses malformed requests by name and closes on frames that are not messages', async () => {
    const { db, server } = await served();
    const socket = new WebSocket(server.url);
    const messages: Record<string, unknown>[] = [];
    socket.on('message', (data: Buffer) => messages.push(decodeMessage(data)!));
    await new Promise((resolve) => socket.once('open', resolve));
    const answer = async (request: unknown): Promise<Record<string, unknown>> => {
      const before = messages.length;
      socket.send(encodeMessage(request));
      while (messages.length === before) await new Promise((resolve) => setTimeout(resolve, 5));
      return messages.at(-1)!;
    };
    const bad = { readVersion: null, readRanges: [], writeRanges: ['a', 'b'], mutations: [{ type: 99, key: 'a', param: new Uint8Array(1) }], bytes: 10 };
    expect(await answer({ i: 1, op: 'commit', args: [bad] })).toMatchObject({ i: 1, error: { code: 'invalid_argument', message: expect.stringContaining('unknown mutation type 99') } });
    expect(await answer({ i: 2, op: 'get', args: [5, 1] })).toMatchObject({ i: 2, error: { code: 'invalid_argument' } });
    // The size limits hold whatever size the client claims.
    const huge = { readVersion: null, readRanges: [], writeRanges: [], mutations: [{ type: 0, key: 'a', param: new Uint8Array(200_000) }], bytes: 1 };
    expect(await answer({ i: 4, op: 'commit', args: [huge] })).toMatchObject({ i: 4, error: { code: 'value_too_large' } });
    expect(await answer({ i: 3, op: 'explode', args: [] })).toMatchObject({ i: 3, error: { message: expect.stringContaining('unknown operation') } });
    const badPoints = { readVersion: 1, readRanges: [], readPoints: ['a', 7], writeRanges: [], mutations: [{ type: 0, key: 'a', param: new Uint8Array(1) }], bytes: 2 };
    expect(await answer({ i: 5, op: 'commit', args: [badPoints] })).toMatchObject({ i: 5, error: { code: 'invalid_argument', message: expect.stringContaining('readPoints must be an array of keys') } });
    // Conflict points count towards the size limit as their ranges do: 2 * length + 1 bytes each.
    const manyPoints = { readVersion: null, readRanges: [], writeRanges: [], writePoints: Array.from({ length: 60_000 }, (_, n) => 'k'.repeat(90) + n), mutations: [], bytes: 1 };
    expect(await answer({ i: 6, op: 'commit', args: [manyPoints] })).toMatchObject({ i: 6, error: { code: 'transaction_too_large' } });
    // Nothing was written.
    expect(await db.transact((tx) => tx.get(text('a')))).toBeNull();
    const closed = new Promise<number>((resolve) => socket.once('close', resolve));
    socket.send('not msgpack', { binary: false });
    expect(await closed).toBe(1003);
  });

  it('fails calls with connection_failed once the server is gone, and refuses a non-server address', async () => {
    const { server } = await served();
    const remote = await connect(server.url);
    await remote.transact((tx) => tx.set(text('k'), text('v')));
    await server.close();
    const error = await remote.transact((tx) => tx.get(text('k'))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StrataError);
    expect((error as StrataError).code).toBe('connection_failed');
    await remote.close();
    await expect(connect(server.url, { timeoutMs: 2_000 })).rejects.toMatchObject({ code: 'connection_failed' });
    await expect(connect('http://example.invalid')).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});
