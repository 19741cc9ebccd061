// Proves the metadata version key's contract (api/metadata-version.ts): any transaction reads it,
// its value comes with the read version (no storage read) and always equals what storage holds at
// that version, including after a restart and across the network; only bumpMetadataVersion changes
// it, to the commit's versionstamp; a read conflicts with a later bump; bad writes are refused and
// change nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { open, type Database } from './database.js';
import { METADATA_VERSION_KEY, METADATA_VERSION_KEY_STRING } from './metadata-version.js';
import { MutationType } from './mutation.js';
import { b, rejectsCode, s, throwsCode } from './test-support.js';
import { Transaction, type TransactionHost } from './transaction.js';
import { connect } from '../net/remote-database.js';
import { serve } from '../net/database-server.js';
import { seededRandom } from '../runtime/runtime.js';
import { encodeVersionstampOffset } from '../util/public-bytes.js';
import { keyAfter } from '../util/bytes.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function memory(): Promise<Database> {
  const db = await open();
  cleanups.push(() => db.close());
  return db;
}

function directory(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'strata-metadata-version-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A transaction on `db` (with system key access) whose storage reads of the metadata version key are counted.
function counted(db: Database): { tx: Transaction; storageReads: () => number } {
  let reads = 0;
  const host = db.host;
  const wrapped: TransactionHost = Object.create(host) as TransactionHost;
  wrapped.read = (key, version) => {
    if (key === METADATA_VERSION_KEY_STRING) reads++;
    return host.read(key, version);
  };
  return { tx: new Transaction(wrapped, { accessSystemKeys: true }), storageReads: () => reads };
}

async function bump(db: Database): Promise<Uint8Array> {
  const result = await db.transact((tx) => {
    tx.bumpMetadataVersion();
    return { stamp: tx.getVersionstamp() };
  });
  return result.stamp;
}

// What storage holds under the key at the transaction's read version (a range read always asks storage).
async function stored(tx: Transaction): Promise<Uint8Array | null> {
  const rows = await tx.getRangeAll(METADATA_VERSION_KEY, b(keyAfter(METADATA_VERSION_KEY_STRING)), { snapshot: true });
  return rows[0]?.value ?? null;
}

describe('conflict keys and origins', () => {
  it('addReadConflictKey conflicts with a later write of exactly that key', async () => {
    const db = await memory();
    const reader = db.createTransaction();
    const other = db.createTransaction();
    await reader.getReadVersion();
    await other.getReadVersion();
    reader.addReadConflictKey(b('k'));
    other.addReadConflictKey(b('k\x00'));
    await db.transact((tx) => tx.set(b('k'), b('1')));
    reader.set(b('x'), b('1'));
    other.set(b('y'), b('1'));
    await rejectsCode(reader.commit(), 'not_committed');
    await other.commit();
    throwsCode(() => db.createTransaction().addReadConflictKey(b('\xffsystem')), 'key_outside_legal_range');
  });

  it('origin is one object per database handle', async () => {
    const a = await memory();
    const b2 = await memory();
    expect(a.createTransaction().origin).toBe(a.createTransaction().origin);
    expect(a.createTransaction().origin).not.toBe(b2.createTransaction().origin);
  });
});

describe('the metadata version', () => {
  it('is null until bumped, then the bumping commit versionstamp, read without system key access or a storage read', async () => {
    const db = await memory();
    expect(await db.transact((tx) => tx.get(METADATA_VERSION_KEY))).toBeNull();
    const first = await bump(db);
    const second = await bump(db);
    expect(Buffer.compare(second, first)).toBe(1);
    const { tx, storageReads } = counted(db);
    expect(s(await tx.get(METADATA_VERSION_KEY))).toBe(s(second));
    expect(storageReads()).toBe(0);
  });

  it('a read version older than the last bump reads the value storage held then', async () => {
    const db = await memory();
    const first = await bump(db);
    const before = await db.transact((tx) => tx.getReadVersion());
    await bump(db);
    const { tx, storageReads } = counted(db);
    tx.setReadVersion(before);
    expect(s(await tx.get(METADATA_VERSION_KEY))).toBe(s(first));
    expect(storageReads()).toBe(1);
  });

  it('a read conflicts with a bump committed after the read version; a snapshot read does not', async () => {
    const db = await memory();
    const reader = db.createTransaction();
    const snapshotReader = db.createTransaction();
    await reader.get(METADATA_VERSION_KEY);
    await snapshotReader.get(METADATA_VERSION_KEY, { snapshot: true });
    await bump(db);
    reader.set(b('a'), b('1'));
    snapshotReader.set(b('b'), b('1'));
    await rejectsCode(reader.commit(), 'not_committed');
    await snapshotReader.commit();
  });

  it('a read version older than storage serves fails as every other read at it does', async () => {
    const db = await open({ mvccWindowMs: 50 });
    cleanups.push(() => db.close());
    await bump(db);
    const old = await db.transact((tx) => tx.getReadVersion());
    await new Promise((resolve) => setTimeout(resolve, 200));
    await db.transact((tx) => tx.set(b('later'), b('1')));
    const tx = db.createTransaction();
    tx.setReadVersion(old);
    await rejectsCode(tx.get(METADATA_VERSION_KEY), 'transaction_too_old');
  });

  it('the commit path refuses a write of the key from any client, in process too', async () => {
    const db = await memory();
    const stamp = await bump(db);
    const raw = db.host.commit({
      readVersion: null,
      readRanges: [],
      writeRanges: [],
      mutations: [{ type: MutationType.clear, key: METADATA_VERSION_KEY_STRING, param: null }],
      bytes: 20,
    });
    await rejectsCode(raw, 'client_invalid_operation');
    const { tx } = counted(db);
    expect(s(await tx.get(METADATA_VERSION_KEY))).toBe(s(stamp));
    expect(s(await stored(tx))).toBe(s(stamp));
  });

  it('cannot be read back in the transaction that bumps it', async () => {
    const db = await memory();
    const tx = db.createTransaction();
    tx.bumpMetadataVersion();
    await rejectsCode(tx.get(METADATA_VERSION_KEY), 'accessed_unreadable');
  });

  it('refuses every other write of the key and keeps the transaction whole', async () => {
    const db = await memory();
    const stamp = await bump(db);
    const tx = db.createTransaction({ accessSystemKeys: true });
    const key = METADATA_VERSION_KEY;
    throwsCode(() => tx.set(key, b('x')), 'client_invalid_operation');
    throwsCode(() => tx.clear(key), 'client_invalid_operation');
    throwsCode(() => tx.add(key, b('\x01')), 'client_invalid_operation');
    throwsCode(() => tx.clearRange(b('\xff'), b('\xff\xff')), 'client_invalid_operation');
    throwsCode(() => tx.setVersionstampedValue(key, encodeVersionstampOffset(new Uint8Array(12), 2)), 'client_invalid_operation');
    // Without system key access the other system keys stay out of reach.
    throwsCode(() => db.createTransaction().set(key, b('x')), 'client_invalid_operation');
    await rejectsCode(db.createTransaction().get(b('\xff/other')), 'key_outside_legal_range');
    tx.clearRange(b('\xff'), METADATA_VERSION_KEY);
    tx.set(b('kept'), b('1'));
    await tx.commit();
    expect(await db.transact(async (check) => [s(await check.get(METADATA_VERSION_KEY)), s(await check.get(b('kept')))])).toEqual([s(stamp), '1']);
  });

  it('survives a restart and is then read without a storage read', async () => {
    const dir = directory();
    const first = await open({ path: dir });
    const stamp = await bump(first);
    await first.close();
    const db = await open({ path: dir });
    cleanups.push(() => db.close());
    const { tx, storageReads } = counted(db);
    expect(s(await tx.get(METADATA_VERSION_KEY))).toBe(s(stamp));
    expect(storageReads()).toBe(0);
    expect(s(await stored(tx))).toBe(s(stamp));
  });

  it('comes with the read version over the network, and the server refuses a raw write of it', async () => {
    const db = await memory();
    const server = await serve(db);
    cleanups.push(() => server.close());
    const remote = await connect(server.url);
    cleanups.push(() => remote.close());
    const stamp = await bump(remote);
    const { tx, storageReads } = counted(remote);
    expect(s(await tx.get(METADATA_VERSION_KEY))).toBe(s(stamp));
    expect(storageReads()).toBe(0);
    expect(s(await db.transact((local) => local.get(METADATA_VERSION_KEY)))).toBe(s(stamp));
    const raw = remote.host.commit({
      readVersion: null,
      readRanges: [],
      writeRanges: [],
      mutations: [{ type: MutationType.set, key: METADATA_VERSION_KEY_STRING, param: b('x') }],
      bytes: 20,
    });
    await rejectsCode(raw, 'client_invalid_operation');
    expect(s(await db.transact((local) => local.get(METADATA_VERSION_KEY)))).toBe(s(stamp));
  });

  it('always equals what storage holds at the read version while bumps and reads interleave (randomized)', async () => {
    const seed = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
    console.log(`metadata-version.test.ts interleaved bumps: seed ${seed} (replay with SEED=${seed})`);
    const random = seededRandom(seed);
    const db = await memory();
    const versions: number[] = [];
    const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 3)));
    const bumper = async (): Promise<void> => {
      for (let i = 0; i < 40; i++) {
        await bump(db);
        await pause();
      }
    };
    const reader = async (): Promise<void> => {
      for (let i = 0; i < 60; i++) {
        const tx = db.createTransaction({ accessSystemKeys: true });
        // Some read versions are older than the newest bump by the time they are used.
        if (versions.length > 0 && random() < 0.3) tx.setReadVersion(versions[Math.floor(random() * versions.length)]!);
        else versions.push(await tx.getReadVersion());
        await pause();
        const [fast, slow] = await Promise.all([tx.get(METADATA_VERSION_KEY, { snapshot: true }), stored(tx)]);
        expect(s(fast), `seed ${seed} read ${i}`).toBe(s(slow));
      }
    };
    await Promise.all([bumper(), bumper(), reader(), reader(), reader()]);
  });
});
