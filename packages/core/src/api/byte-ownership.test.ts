// Proves that bytes never alias between the caller and the database: values and keys handed in
// (including Node Buffers, whose slice() does not copy) are copied, and values handed out are the
// caller's own, whether they come from the in-memory window, the transaction's writes or, after
// a reopen, from classic-level and the read cache.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { prefixRange, strinc } from '../util/public-bytes.js';
import { open } from './database.js';

const directories: string[] = [];
afterEach(() => {
  for (const directory of directories.splice(0)) fs.rmSync(directory, { recursive: true, force: true });
});

const bytes = (...values: number[]): Buffer => Buffer.from(values);

describe('byte ownership', () => {
  it('copies a Buffer value and key passed to set, so later changes to them do not reach the database', async () => {
    const db = await open();
    const key = bytes(1, 2);
    const value = bytes(10, 20, 30);
    await db.transact((tx) => tx.set(key, value));
    value[0] = 99;
    key[1] = 9;
    expect([...((await db.transact((tx) => tx.get(bytes(1, 2)))) ?? [])]).toEqual([10, 20, 30]);
    await db.close();
  });

  it('hands out values the caller may change, in memory and after a reopen from the engine and its cache', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-bytes-'));
    directories.push(directory);
    let db = await open({ path: directory });
    await db.transact((tx) => tx.set(bytes(1), bytes(10, 20, 30)));
    const fromWindow = (await db.transact((tx) => tx.get(bytes(1))))!;
    fromWindow[0] = 99;
    expect([...(await db.transact((tx) => tx.get(bytes(1))))!]).toEqual([10, 20, 30]);
    await db.close();

    db = await open({ path: directory });
    for (let round = 0; round < 2; round++) {
      // The first read fills the cache from classic-level; the second is served by the cache.
      const read = (await db.transact((tx) => tx.get(bytes(1))))!;
      read[0] = 99;
      const [pair] = await db.transact((tx) => tx.getRangeAll(bytes(0), bytes(2)));
      pair!.value[1] = 99;
      pair!.key[0] = 99;
    }
    expect([...(await db.transact((tx) => tx.get(bytes(1))))!]).toEqual([10, 20, 30]);
    expect((await db.transact((tx) => tx.getRangeAll(bytes(0), bytes(2)))).map((p) => [...p.key])).toEqual([[1]]);
    await db.close();
  });

  it('hands out copies of the transaction’s own pending writes', async () => {
    const db = await open();
    await db.transact(async (tx) => {
      tx.set(bytes(1), bytes(10));
      const read = (await tx.get(bytes(1)))!;
      read[0] = 99;
      expect([...(await tx.get(bytes(1)))!]).toEqual([10]);
    });
    await db.close();
  });

  it('leaves the caller’s prefix untouched in strinc and prefixRange, and versionstamped keys untouched at commit', async () => {
    const prefix = bytes(1, 2, 0xff);
    expect([...strinc(prefix)]).toEqual([1, 3]);
    const range = prefixRange(prefix);
    range.begin[0] = 7;
    expect([...prefix]).toEqual([1, 2, 0xff]);

    const db = await open();
    const keyWithOffset = Buffer.concat([bytes(5), Buffer.alloc(10), Buffer.from([1, 0, 0, 0])]);
    const before = Buffer.from(keyWithOffset);
    await db.transact((tx) => tx.setVersionstampedKey(keyWithOffset, bytes(1)));
    expect(keyWithOffset.equals(before)).toBe(true);
    await db.close();
  });
});

describe('byte ownership through atomic ops', () => {
  it('hands out a copy when an atomic op leaves the stored value or its operand as the result', async () => {
    const db = await open();
    await db.transact((tx) => tx.set(bytes(1), bytes(5)));
    // byteMin keeps the stored value; changing what the read returned must not reach storage,
    // even though this transaction never commits.
    const tx = db.createTransaction();
    tx.byteMin(bytes(1), bytes(9));
    (await tx.get(bytes(1)))![0] = 77;
    tx.cancel();
    expect([...(await db.transact((t) => t.get(bytes(1))))!]).toEqual([5]);
    // add on a missing key stores the operand; changing the read must not change the commit.
    await db.transact(async (t) => {
      t.add(bytes(2), bytes(1));
      (await t.get(bytes(2)))![0] = 99;
    });
    expect([...(await db.transact((t) => t.get(bytes(2))))!]).toEqual([1]);
    await db.close();
  });

  it('hands out the stored bytes themselves only when a read borrows them', async () => {
    const db = await open();
    await db.transact((tx) => tx.set(bytes(1), bytes(10, 20, 30)));
    const borrowed = await db.transact((tx) => Promise.all([tx.get(bytes(1), { borrow: true }), tx.get(bytes(1), { borrow: true }), tx.get(bytes(1))]));
    expect([...borrowed[0]!]).toEqual([10, 20, 30]);
    // Two borrows see the same memory; the default read does not (small copies share slabs, so the
    // memory is told by buffer and offset together).
    const sameMemory = (a: Uint8Array, b: Uint8Array): boolean => a.buffer === b.buffer && a.byteOffset === b.byteOffset;
    expect(sameMemory(borrowed[0]!, borrowed[1]!)).toBe(true);
    expect(sameMemory(borrowed[2]!, borrowed[0]!)).toBe(false);
    borrowed[2]![0] = 99;
    expect(borrowed[0]![0]).toBe(10);
    // A borrowed value of the transaction's own write is that write's bytes.
    await db.transact(async (tx) => {
      tx.set(bytes(2), bytes(5));
      expect([...(await tx.get(bytes(2), { borrow: true }))!]).toEqual([5]);
    });
    await db.close();
  });
});
