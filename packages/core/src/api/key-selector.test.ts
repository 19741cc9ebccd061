// Proves that key selectors resolve as in FoundationDB: the four constructors, positive and negative
// offsets, clamping to the empty key before the first key and to the end of the key space after the
// last, resolution over the transaction's own pending writes, and the read conflicts they add.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { open, type Database } from './database.js';
import { StrataError } from './errors.js';
import { KeySelector } from './key-selector.js';
import type { Transaction } from './transaction.js';

const b = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));
const s = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

let db: Database;

beforeEach(async () => {
  db = await open();
  // Stored keys: b, d, f.
  await db.transact((tx) => {
    for (const key of ['b', 'd', 'f']) tx.set(b(key), b(key.toUpperCase()));
  });
});

afterEach(async () => {
  await db.close();
});

const resolve = (tx: Transaction, selector: KeySelector): Promise<string> => tx.getKey(selector).then(s);

describe('constructors', () => {
  it('carry FoundationDB’s (orEqual, offset) pairs', () => {
    const key = b('k');
    expect(KeySelector.lastLessThan(key)).toMatchObject({ orEqual: false, offset: 0 });
    expect(KeySelector.lastLessOrEqual(key)).toMatchObject({ orEqual: true, offset: 0 });
    expect(KeySelector.firstGreaterThan(key)).toMatchObject({ orEqual: true, offset: 1 });
    expect(KeySelector.firstGreaterOrEqual(key)).toMatchObject({ orEqual: false, offset: 1 });
    expect(KeySelector.firstGreaterOrEqual(key).add(3).add(-1)).toMatchObject({ orEqual: false, offset: 3 });
  });

  it('refuse a key that is not bytes and an offset that is not an integer', () => {
    for (const error of [
      thrown(() => KeySelector.firstGreaterOrEqual('k' as unknown as Uint8Array)),
      thrown(() => new KeySelector(b('k'), false, 1.5)),
      thrown(() => KeySelector.firstGreaterThan(b('k')).add(Number.NaN)),
    ]) {
      expect(error).toBeInstanceOf(StrataError);
      expect((error as StrataError).code).toBe('invalid_argument');
    }
  });

  it('getKey refuses something that is not a KeySelector', async () => {
    const tx = db.createTransaction();
    await expect(tx.getKey(b('d') as unknown as KeySelector)).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});

describe('resolution against stored keys', () => {
  it('resolves the four constructors on and between keys', async () => {
    const tx = db.createTransaction();
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('d')))).toBe('d');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('c')))).toBe('d');
    expect(await resolve(tx, KeySelector.firstGreaterThan(b('d')))).toBe('f');
    expect(await resolve(tx, KeySelector.firstGreaterThan(b('c')))).toBe('d');
    expect(await resolve(tx, KeySelector.lastLessOrEqual(b('d')))).toBe('d');
    expect(await resolve(tx, KeySelector.lastLessOrEqual(b('e')))).toBe('d');
    expect(await resolve(tx, KeySelector.lastLessThan(b('d')))).toBe('b');
    expect(await resolve(tx, KeySelector.lastLessThan(b('e')))).toBe('d');
  });

  it('moves forward and backward by offsets', async () => {
    const tx = db.createTransaction();
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('b')).add(1))).toBe('d');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('b')).add(2))).toBe('f');
    expect(await resolve(tx, KeySelector.firstGreaterThan(b('a')).add(1))).toBe('d');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('f')).add(-1))).toBe('d');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('f')).add(-2))).toBe('b');
    expect(await resolve(tx, KeySelector.lastLessOrEqual(b('f')).add(-2))).toBe('b');
    expect(await resolve(tx, KeySelector.lastLessThan(b('f')).add(1))).toBe('f');
    expect(await resolve(tx, KeySelector.lastLessThan(b('c')).add(-1))).toBe('');
  });

  it('resolves to the empty key before the first key', async () => {
    const tx = db.createTransaction();
    expect(await resolve(tx, KeySelector.lastLessThan(b('b')))).toBe('');
    expect(await resolve(tx, KeySelector.lastLessOrEqual(b('a')))).toBe('');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('b')).add(-1))).toBe('');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('d')).add(-100))).toBe('');
    expect(await resolve(tx, KeySelector.lastLessThan(new Uint8Array()))).toBe('');
  });

  it('resolves to \\xff past the last key, and to \\xff\\xff with system access', async () => {
    const tx = db.createTransaction();
    expect(await resolve(tx, KeySelector.firstGreaterThan(b('f')))).toBe('\xff');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('g')))).toBe('\xff');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('b')).add(10))).toBe('\xff');
    expect(await resolve(tx, KeySelector.lastLessOrEqual(b('f')).add(1))).toBe('\xff');
    // A reference key beyond the normal key space clamps to its end.
    expect(await resolve(tx, KeySelector.lastLessThan(b('\xff\x05')))).toBe('f');

    await db.transact((system) => system.set(b('\xff/config'), b('x')), { accessSystemKeys: true });
    const normal = db.createTransaction();
    expect(await resolve(normal, KeySelector.firstGreaterThan(b('f')))).toBe('\xff');
    const system = db.createTransaction({ accessSystemKeys: true });
    expect(await resolve(system, KeySelector.firstGreaterThan(b('f')))).toBe('\xff/config');
    expect(await resolve(system, KeySelector.firstGreaterThan(b('\xff/config')))).toBe('\xff\xff');
    expect(await resolve(system, KeySelector.lastLessThan(b('\xff\xff')))).toBe('\xff/config');
  });
});

describe('resolution over pending writes', () => {
  it('sees keys set and cleared by the transaction', async () => {
    const tx = db.createTransaction();
    tx.set(b('c'), b('C'));
    tx.clear(b('d'));
    expect(await resolve(tx, KeySelector.firstGreaterThan(b('b')))).toBe('c');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('d')))).toBe('f');
    expect(await resolve(tx, KeySelector.lastLessThan(b('f')))).toBe('c');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('b')).add(2))).toBe('f');
    expect(await resolve(tx, KeySelector.lastLessOrEqual(b('f')).add(-2))).toBe('b');
  });

  it('skips keys removed by clearRange and finds keys set inside the cleared range', async () => {
    const tx = db.createTransaction();
    tx.clearRange(b('a'), b('e'));
    expect(await resolve(tx, KeySelector.lastLessThan(b('f')))).toBe('');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('')))).toBe('f');
    tx.set(b('c'), b('C'));
    expect(await resolve(tx, KeySelector.lastLessThan(b('f')))).toBe('c');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('a')).add(1))).toBe('f');
    expect(await resolve(tx, KeySelector.firstGreaterOrEqual(b('a')).add(2))).toBe('\xff');
  });

  it('counts keys created by an atomic op and not keys a compareAndClear removes', async () => {
    const tx = db.createTransaction();
    tx.add(b('e'), new Uint8Array([1]));
    tx.compareAndClear(b('d'), b('D'));
    expect(await resolve(tx, KeySelector.firstGreaterThan(b('b')))).toBe('e');
    expect(await resolve(tx, KeySelector.lastLessThan(b('e')))).toBe('b');
  });

  it('serve as range ends with offsets', async () => {
    const tx = db.createTransaction();
    tx.set(b('e'), b('E'));
    const range = await tx.getRangeAll(KeySelector.firstGreaterThan(b('b')), KeySelector.firstGreaterOrEqual(b('f')));
    expect(range.map((pair) => s(pair.key))).toEqual(['d', 'e']);
    const shifted = await tx.getRangeAll(KeySelector.firstGreaterOrEqual(b('b')).add(1), KeySelector.lastLessOrEqual(b('f')).add(1));
    expect(shifted.map((pair) => s(pair.key))).toEqual(['d', 'e', 'f']);
    const reversed = await tx.getRangeAll(KeySelector.lastLessThan(b('c')), KeySelector.firstGreaterThan(b('e')), { reverse: true });
    expect(reversed.map((pair) => s(pair.key))).toEqual(['e', 'd', 'b']);
    // A selector end that resolves before the begin gives an empty range.
    expect(await tx.getRangeAll(KeySelector.firstGreaterOrEqual(b('f')), KeySelector.firstGreaterOrEqual(b('b')))).toEqual([]);
  });
});

describe('conflicts', () => {
  it('a getKey conflicts with a later commit that changes the keys it stepped over', async () => {
    const reader = db.createTransaction();
    expect(await resolve(reader, KeySelector.firstGreaterThan(b('b')))).toBe('d');
    await db.transact((tx) => tx.set(b('c'), b('new')));
    reader.set(b('z'), b('z'));
    await expect(reader.commit()).rejects.toMatchObject({ code: 'not_committed', errno: 1020 });
  });

  it('a snapshot getKey adds no read conflict', async () => {
    const reader = db.createTransaction();
    expect(await s(await reader.getKey(KeySelector.firstGreaterThan(b('b')), { snapshot: true }))).toBe('d');
    await db.transact((tx) => tx.set(b('c'), b('new')));
    reader.set(b('z'), b('z'));
    await expect(reader.commit()).resolves.toBeUndefined();
  });

  it('a getKey does not conflict with a commit beyond the key it resolved to', async () => {
    const reader = db.createTransaction();
    expect(await resolve(reader, KeySelector.firstGreaterThan(b('b')))).toBe('d');
    await db.transact((tx) => tx.set(b('e'), b('new')));
    reader.set(b('z'), b('z'));
    await expect(reader.commit()).resolves.toBeUndefined();
  });
});
