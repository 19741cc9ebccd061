// Proves that every Transaction operation behaves as FoundationDB's client API documents it: reads
// at one read version plus the transaction's own writes, range reads in batches, atomic ops and
// versionstamps through real commits, watches, conflict ranges, the system key space, misuse errors
// and read-your-writes, including a randomized read-your-writes check against an in-test model.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../runtime/runtime.js';
import { encodeVersionstampOffset } from '../util/public-bytes.js';
import { open, type Database } from './database.js';
import { StrataError } from './errors.js';
import { KeySelector } from './key-selector.js';
import type { AtomicOpName } from './mutation.js';
import type { KeyValue, Transaction } from './transaction.js';
import { b, rejectsCode, s, throwsCode } from './test-support.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Bytes of a string, one byte per character (so '\xff' is the byte 0xFF). */
const pairs = (rows: KeyValue[]): [string, string][] => rows.map((row) => [s(row.key), s(row.value)]);
const keysOf = (rows: KeyValue[]): string[] => rows.map((row) => s(row.key));

/** Little-endian bytes of `n` in `width` bytes. */
function le(n: number, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let rest = BigInt(n);
  for (let i = 0; i < width; i++) {
    out[i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return out;
}




/** Lets pending callbacks (storage applying batches, watch checks) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Bounds a wait that should end quickly, so a missing event fails the test instead of hanging it. */
function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** Records whether a promise settled, and how. */
function track(promise: Promise<unknown>): { fired: boolean; error: unknown } {
  const state = { fired: false, error: undefined as unknown };
  promise.then(
    () => (state.fired = true),
    (error: unknown) => (state.error = error),
  );
  return state;
}

let db: Database;

beforeEach(async () => {
  db = await open();
});

afterEach(async () => {
  await db.close();
});

async function write(entries: Record<string, string>): Promise<void> {
  await db.transact((tx) => {
    for (const [key, value] of Object.entries(entries)) tx.set(b(key), b(value));
  });
}

async function readAll(begin = '', end = '\xff'): Promise<[string, string][]> {
  return db.transact(async (tx) => pairs(await tx.getRangeAll(b(begin), b(end))));
}

async function readValue(key: string): Promise<string | null> {
  return db.transact(async (tx) => s(await tx.get(b(key))));
}

const tenKeys = (): Record<string, string> => Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, `v${i}`]));

// ---------------------------------------------------------------------------------------------

describe('at', () => {
  it('binds each binding once per transaction and hands out the same view', async () => {
    const bound: unknown[] = [];
    const binding = { bind: (tx: unknown) => (bound.push(tx), { tx }) };
    const other = { bind: (tx: unknown) => ({ tx, other: true }) };
    await db.transact((tx) => {
      const view = tx.at(binding);
      expect(tx.at(binding)).toBe(view);
      expect(tx.at(other)).not.toBe(view);
      expect(view.tx).toBe(tx);
    });
    // A new transaction (a retry makes one too) binds again.
    await db.transact((tx) => void tx.at(binding));
    expect(bound.length).toBe(2);
    expect(bound[0]).not.toBe(bound[1]);
  });
});

describe('get, set, clear, clearRange', () => {
  it('get returns null for a missing key and the committed value after a commit', async () => {
    expect(await readValue('a')).toBeNull();
    await write({ a: 'one' });
    expect(await readValue('a')).toBe('one');
  });

  it('set, clear and clearRange take effect at commit; clearRange excludes its end', async () => {
    await write({ a: '1', b: '2', c: '3', d: '4', e: '5' });
    await db.transact((tx) => {
      tx.set(b('a'), b('A'));
      tx.clear(b('b'));
      tx.clearRange(b('c'), b('e'));
    });
    expect(await readAll()).toEqual([
      ['a', 'A'],
      ['e', '5'],
    ]);
  });

  it('an empty clearRange does nothing and an inverted one is refused', async () => {
    await write({ a: '1', b: '2' });
    const tx = db.createTransaction();
    tx.clearRange(b('b'), b('b'));
    throwsCode(() => tx.clearRange(b('b'), b('a')), 'inverted_range');
    await tx.commit();
    expect(await readAll()).toEqual([
      ['a', '1'],
      ['b', '2'],
    ]);
  });

  it('copies values in and out, so callers can reuse their buffers', async () => {
    const value = b('original');
    await db.transact((tx) => {
      tx.set(b('k'), value);
      value.fill(0x21);
    });
    const tx = db.createTransaction();
    const read = (await tx.get(b('k')))!;
    expect(s(read)).toBe('original');
    read.fill(0x21);
    expect(s(await tx.get(b('k')))).toBe('original');
    const [row] = await tx.getRangeAll(b('k'), b('l'));
    row!.value.fill(0x21);
    expect(s(await tx.get(b('k')))).toBe('original');
  });

  it('getMany reads what as many gets read, with the same conflicts', async () => {
    await write({ a: '1', b: '2', c: '3' });
    const tx = db.createTransaction();
    tx.set(b('b'), b('B'));
    tx.clear(b('c'));
    tx.add(b('a'), le(1, 1));
    const values = await tx.getMany([b('a'), b('b'), b('c'), b('d'), b('a')]);
    expect(values.map(s)).toEqual([s(Uint8Array.of(0x32)), 'B', null, null, s(Uint8Array.of(0x32))]);
    expect(await tx.getMany([])).toEqual([]);
    await rejectsCode(tx.getMany([b('\xff\xffx')]), 'key_outside_legal_range');
    // The keys read from storage conflict with a write committed meanwhile; a snapshot read does not.
    const reader = db.createTransaction();
    await reader.getMany([b('x'), b('e')]);
    reader.set(b('out'), b('1'));
    const snapshotReader = db.createTransaction();
    await snapshotReader.getMany([b('x'), b('e')], { snapshot: true });
    snapshotReader.set(b('out2'), b('1'));
    await write({ e: '5' });
    await rejectsCode(reader.commit(), 'not_committed');
    await snapshotReader.commit();
  });

  it('the empty key is a key like any other', async () => {
    await write({ '': 'empty' });
    expect(await readValue('')).toBe('empty');
    expect(await readAll()).toEqual([['', 'empty']]);
  });
});

describe('getRange', () => {
  beforeEach(async () => {
    await write(tenKeys());
  });

  it('returns [begin, end) in key order, or in reverse order', async () => {
    const tx = db.createTransaction();
    expect(keysOf(await tx.getRangeAll(b('k2'), b('k5')))).toEqual(['k2', 'k3', 'k4']);
    expect(keysOf(await tx.getRangeAll(b('k2'), b('k5'), { reverse: true }))).toEqual(['k4', 'k3', 'k2']);
    expect(pairs(await tx.getRangeAll(b('k8'), b('\xff')))).toEqual([
      ['k8', 'v8'],
      ['k9', 'v9'],
    ]);
  });

  it('stops at limit, from either end; limit 0 means no limit', async () => {
    const tx = db.createTransaction();
    expect(keysOf(await tx.getRangeAll(b('k'), b('l'), { limit: 3 }))).toEqual(['k0', 'k1', 'k2']);
    expect(keysOf(await tx.getRangeAll(b('k'), b('l'), { limit: 3, reverse: true }))).toEqual(['k9', 'k8', 'k7']);
    expect(await tx.getRangeAll(b('k'), b('l'), { limit: 0 })).toHaveLength(10);
    expect(await tx.getRangeAll(b('k'), b('l'), { limit: 100 })).toHaveLength(10);
  });

  it('an empty or inverted range yields nothing', async () => {
    const tx = db.createTransaction();
    expect(await tx.getRangeAll(b('k3'), b('k3'))).toEqual([]);
    expect(await tx.getRangeAll(b('k5'), b('k3'))).toEqual([]);
    expect(await tx.getRangeAll(b('k5'), b('k3'), { reverse: true })).toEqual([]);
  });

  it('accepts key selectors as either end', async () => {
    const tx = db.createTransaction();
    expect(keysOf(await tx.getRangeAll(KeySelector.firstGreaterThan(b('k2')), b('k5')))).toEqual(['k3', 'k4']);
    expect(keysOf(await tx.getRangeAll(b('k2'), KeySelector.firstGreaterThan(b('k5'))))).toEqual(['k2', 'k3', 'k4', 'k5']);
    expect(keysOf(await tx.getRangeAll(KeySelector.lastLessOrEqual(b('k2')).add(-1), KeySelector.firstGreaterOrEqual(b('k4'))))).toEqual([
      'k1',
      'k2',
      'k3',
    ]);
    expect(keysOf(await tx.getRangeAll(KeySelector.firstGreaterOrEqual(b('')), KeySelector.firstGreaterOrEqual(b('k0')).add(2), { reverse: true }))).toEqual([
      'k1',
      'k0',
    ]);
  });

  it('snapshot reads return the same rows', async () => {
    const tx = db.createTransaction();
    expect(await tx.getRangeAll(b('k'), b('l'), { snapshot: true })).toEqual(await tx.getRangeAll(b('k'), b('l')));
  });

  it('the async iterator and getRangeAll agree', async () => {
    const tx = db.createTransaction();
    const iterated: KeyValue[] = [];
    for await (const row of tx.getRange(b('k1'), b('k7'), { reverse: true, limit: 4 })) iterated.push(row);
    expect(pairs(iterated)).toEqual(pairs(await tx.getRangeAll(b('k1'), b('k7'), { reverse: true, limit: 4 })));
  });
});

describe('getRange over more than one batch', () => {
  const count = 3_000;
  const key = (i: number): string => `r${String(i).padStart(5, '0')}`;

  beforeEach(async () => {
    await db.transact((tx) => {
      for (let i = 0; i < count; i++) tx.set(b(key(i)), le(i, 4));
    });
  });

  it('returns every key, forward and reverse', async () => {
    const tx = db.createTransaction();
    const forward: string[] = [];
    for await (const row of tx.getRange(b('r'), b('s'))) forward.push(s(row.key));
    expect(forward).toEqual(Array.from({ length: count }, (_, i) => key(i)));
    const reverse = await tx.getRangeAll(b('r'), b('s'), { reverse: true });
    expect(keysOf(reverse)).toEqual(Array.from({ length: count }, (_, i) => key(count - 1 - i)));
    expect([...reverse[0]!.value]).toEqual([...le(count - 1, 4)]);
  });

  it('a limit spanning several batches returns exactly that many rows', async () => {
    const tx = db.createTransaction();
    const forward = await tx.getRangeAll(b('r'), b('s'), { limit: 1_000 });
    expect(keysOf(forward)).toEqual(Array.from({ length: 1_000 }, (_, i) => key(i)));
    const reverse = await tx.getRangeAll(b('r'), b('s'), { limit: 1_001, reverse: true });
    expect(keysOf(reverse)).toEqual(Array.from({ length: 1_001 }, (_, i) => key(count - 1 - i)));
  });

  it('later batches read the same snapshot although commits happen during the iteration', async () => {
    const tx = db.createTransaction();
    const seen: KeyValue[] = [];
    let interfered = false;
    for await (const row of tx.getRange(b('r'), b('s'))) {
      seen.push(row);
      if (seen.length === 300 && !interfered) {
        interfered = true;
        await db.transact((other) => {
          other.set(b(key(2_500)), b('changed'));
          other.clear(b(key(2_999)));
          other.set(b(`${key(2_000)}x`), b('inserted'));
        });
      }
    }
    expect(interfered).toBe(true);
    expect(keysOf(seen)).toEqual(Array.from({ length: count }, (_, i) => key(i)));
    expect([...seen[2_500]!.value]).toEqual([...le(2_500, 4)]);
  });

  it('merges pending writes into every batch, forward and reverse, with limits', async () => {
    const tx = db.createTransaction();
    const model = new Map<string, string>();
    for (let i = 0; i < count; i++) model.set(key(i), String(i));
    const value = (bytes: Uint8Array): string => {
      const text = s(bytes);
      return text.length === 4 ? String(new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true)) : text;
    };
    // Clears spanning the first batch boundaries, sets inside them and between stored keys, point clears.
    tx.clearRange(b(key(200)), b(key(300)));
    for (const i of [250, 255, 256, 299]) {
      tx.set(b(key(i)), b(`new${i}`));
    }
    tx.clearRange(b(key(700)), b(key(1_900)));
    for (let i = 0; i < count; i += 7) tx.set(b(`${key(i)}+`), b(`after${i}`));
    for (let i = 1; i < count; i += 11) tx.clear(b(key(i)));
    tx.add(b(key(2_998)), le(1, 4));
    for (const [k] of [...model]) {
      const i = Number(k.slice(1));
      if ((i >= 200 && i < 300) || (i >= 700 && i < 1_900) || i % 11 === 1) model.delete(k);
    }
    for (const i of [250, 255, 256, 299]) model.set(key(i), `new${i}`);
    for (let i = 0; i < count; i += 7) model.set(`${key(i)}+`, `after${i}`);
    model.set(key(2_998), '2999');
    const expected = [...model.entries()].sort(([x], [y]) => (x < y ? -1 : 1));
    const read = async (options: { limit?: number; reverse?: boolean }): Promise<[string, string][]> =>
      (await tx.getRangeAll(b('r'), b('s'), options)).map((row) => [s(row.key), value(row.value)]);
    expect(await read({})).toEqual(expected);
    expect(await read({ reverse: true })).toEqual([...expected].reverse());
    expect(await read({ limit: 700 })).toEqual(expected.slice(0, 700));
    expect(await read({ limit: 700, reverse: true })).toEqual([...expected].reverse().slice(0, 700));
    expect(s(await tx.getKey(KeySelector.firstGreaterOrEqual(b('r')).add(1_000)))).toBe(expected[1_000]![0]);
    expect(s(await tx.getKey(KeySelector.lastLessThan(b('s')).add(-1_000)))).toBe(expected[expected.length - 1_001]![0]);
    await tx.commit();
    const after = await db.transact((reader) => reader.getRangeAll(b('r'), b('s')));
    expect(after.map((row) => [s(row.key), value(row.value)])).toEqual(expected);
  });

  it('a full read of a large range conflicts with a write to its last key', async () => {
    const tx = db.createTransaction();
    expect(await tx.getRangeAll(b('r'), b('s'))).toHaveLength(count);
    await db.transact((other) => other.set(b(key(count - 1)), b('changed')));
    tx.set(b('elsewhere'), b('x'));
    await rejectsCode(tx.commit(), 'not_committed');
  });
});

// ---------------------------------------------------------------------------------------------

describe('atomic ops through a real commit', () => {
  const cases: { op: AtomicOpName; stored: Uint8Array | null; operand: Uint8Array; expected: Uint8Array | null }[] = [
    { op: 'add', stored: le(0x1ff, 4), operand: le(1, 4), expected: le(0x200, 4) },
    { op: 'add', stored: null, operand: le(7, 2), expected: le(7, 2) },
    { op: 'add', stored: le(0xffff, 2), operand: le(2, 2), expected: le(1, 2) },
    { op: 'bitAnd', stored: new Uint8Array([0x0f, 0xf0]), operand: new Uint8Array([0x3c, 0x3c]), expected: new Uint8Array([0x0c, 0x30]) },
    { op: 'bitOr', stored: new Uint8Array([0x0f]), operand: new Uint8Array([0x30, 0x01]), expected: new Uint8Array([0x3f, 0x01]) },
    { op: 'bitXor', stored: new Uint8Array([0x0f, 0x0f]), operand: new Uint8Array([0xff]), expected: new Uint8Array([0xf0]) },
    { op: 'max', stored: le(256, 2), operand: le(255, 2), expected: le(256, 2) },
    { op: 'max', stored: le(3, 1), operand: le(300, 2), expected: le(300, 2) },
    { op: 'min', stored: le(256, 2), operand: le(255, 2), expected: le(255, 2) },
    { op: 'min', stored: null, operand: le(9, 2), expected: le(9, 2) },
    { op: 'byteMax', stored: b('abc'), operand: b('abd'), expected: b('abd') },
    { op: 'byteMax', stored: b('b'), operand: b('abz'), expected: b('b') },
    { op: 'byteMin', stored: b('abc'), operand: b('abd'), expected: b('abc') },
    { op: 'byteMin', stored: b('ab'), operand: b('abc'), expected: b('ab') },
    { op: 'appendIfFits', stored: b('ab'), operand: b('cd'), expected: b('abcd') },
    { op: 'appendIfFits', stored: new Uint8Array(99_999), operand: b('xy'), expected: new Uint8Array(99_999) },
    { op: 'compareAndClear', stored: b('same'), operand: b('same'), expected: null },
    { op: 'compareAndClear', stored: b('same'), operand: b('other'), expected: b('same') },
    { op: 'compareAndClear', stored: null, operand: b('x'), expected: null },
  ];

  it.each(cases.map((c, i) => [i, c.op, c] as const))('case %i: %s', async (_, op, { stored, operand, expected }) => {
    const key = b(`atomic-${op}`);
    if (stored !== null) await db.transact((tx) => tx.set(key, stored));
    const inTransaction = await db.transact(async (tx) => {
      tx.atomicOp(op, key, operand);
      return tx.get(key);
    });
    const want = expected === null ? null : [...expected];
    expect(inTransaction === null ? null : [...inTransaction]).toEqual(want);
    const committed = await db.transact((tx) => tx.get(key));
    expect(committed === null ? null : [...committed]).toEqual(want);
  });

  it('the named methods are the same ops as atomicOp', async () => {
    await db.transact((tx) => {
      tx.set(b('n'), le(10, 1));
      tx.add(b('n'), le(5, 1));
      tx.bitOr(b('n'), le(0x40, 1));
      tx.bitAnd(b('n'), le(0x4f, 1));
      tx.bitXor(b('n'), le(0x01, 1));
      tx.max(b('n'), le(3, 1));
      tx.min(b('n'), le(0x7f, 1));
      tx.byteMax(b('m'), b('m1'));
      tx.byteMin(b('m'), b('m0'));
      tx.appendIfFits(b('m'), b('!'));
      tx.compareAndClear(b('gone'), b('?'));
    });
    // 10 + 5 = 15; | 0x40 = 0x4f; & 0x4f = 0x4f; ^ 1 = 0x4e; max(3) keeps it; min(0x7f) keeps it.
    expect([...(await db.transact((tx) => tx.get(b('n'))))!]).toEqual([0x4e]);
    expect(await readValue('m')).toBe('m0!');
    expect(await readValue('gone')).toBeNull();
  });

  it('an unknown op is refused with invalid_mutation_type', () => {
    const tx = db.createTransaction();
    throwsCode(() => tx.atomicOp('increment' as AtomicOpName, b('k'), le(1, 1)), 'invalid_mutation_type');
  });

  it('concurrent adds to one key never conflict and both count', async () => {
    await write({ other1: 'x', other2: 'y' });
    const first = db.createTransaction();
    const second = db.createTransaction();
    // Both transactions read something, so both have a read version and read conflict ranges.
    await first.get(b('other1'));
    await second.get(b('other2'));
    first.add(b('counter'), le(1, 8));
    second.add(b('counter'), le(2, 8));
    await first.commit();
    await second.commit();
    expect([...(await db.transact((tx) => tx.get(b('counter'))))!]).toEqual([...le(3, 8)]);
  });

  it('a transaction that read the key conflicts with a concurrent add', async () => {
    await db.transact((tx) => tx.set(b('counter'), le(1, 8)));
    const reader = db.createTransaction();
    const value = (await reader.get(b('counter')))!;
    await db.transact((tx) => tx.add(b('counter'), le(1, 8)));
    reader.set(b('counter'), value);
    await rejectsCode(reader.commit(), 'not_committed');
    expect([...(await db.transact((tx) => tx.get(b('counter'))))!]).toEqual([...le(2, 8)]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('versionstamps', () => {
  const placeholder = new Uint8Array(10);
  /** prefix + 10-byte placeholder + suffix + offset, for setVersionstampedKey. */
  const stampedKey = (prefix: string, suffix = ''): Uint8Array =>
    encodeVersionstampOffset(new Uint8Array([...b(prefix), ...placeholder, ...b(suffix)]), prefix.length);

  it('setVersionstampedKey writes the key with the 10-byte stamp that getVersionstamp returns', async () => {
    const tx = db.createTransaction();
    tx.setVersionstampedKey(stampedKey('log/', '/end'), b('payload'));
    const stampPromise = tx.getVersionstamp();
    await tx.commit();
    const stamp = await stampPromise;
    expect(stamp).toHaveLength(10);
    // 8-byte big-endian commit version, then the 2-byte big-endian order in the batch.
    const view = new DataView(stamp.buffer, stamp.byteOffset, 10);
    expect(Number(view.getBigUint64(0))).toBe(tx.getCommittedVersion());
    expect(view.getUint16(8)).toBe(0);
    const rows = await db.transact((reader) => reader.getRangeAll(b('log/'), b('log0')));
    expect(rows).toHaveLength(1);
    expect([...rows[0]!.key]).toEqual([...b('log/'), ...stamp, ...b('/end')]);
    expect(s(rows[0]!.value)).toBe('payload');
  });

  it('getVersionstamp called after the commit settles: the stamp, or a clear error', async () => {
    const tx = db.createTransaction();
    tx.set(b('a'), b('1'));
    await tx.commit();
    let outcome: Uint8Array | unknown;
    try {
      outcome = await within(tx.getVersionstamp(), 'getVersionstamp after commit settling');
    } catch (error) {
      outcome = error;
    }
    if (outcome instanceof Uint8Array) {
      expect(Number(new DataView(outcome.buffer, outcome.byteOffset, 10).getBigUint64(0))).toBe(tx.getCommittedVersion());
    } else {
      expect(outcome).toBeInstanceOf(StrataError);
    }
  });

  it('setVersionstampedValue writes the stamp into the value at the offset', async () => {
    const tx = db.createTransaction();
    tx.setVersionstampedValue(b('v'), encodeVersionstampOffset(new Uint8Array([0xaa, ...placeholder, 0xbb]), 1));
    const stampPromise = tx.getVersionstamp();
    await tx.commit();
    const stamp = await stampPromise;
    const value = (await db.transact((reader) => reader.get(b('v'))))!;
    expect([...value]).toEqual([0xaa, ...stamp, 0xbb]);
  });

  it('stamps of successive commits sort in commit order, and so do their keys', async () => {
    const stamps: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const tx = db.createTransaction();
      tx.setVersionstampedKey(stampedKey('q/'), b(String(i)));
      const stamp = tx.getVersionstamp();
      await tx.commit();
      stamps.push(await stamp);
    }
    for (let i = 1; i < stamps.length; i++) expect(Buffer.compare(stamps[i - 1]!, stamps[i]!)).toBe(-1);
    const rows = await db.transact((reader) => reader.getRangeAll(b('q/'), b('q0')));
    expect(rows.map((row) => s(row.value))).toEqual(['0', '1', '2', '3', '4']);
  });

  it('two transactions committed in one batch get distinct stamps with the same version', async () => {
    const first = db.createTransaction();
    const second = db.createTransaction();
    first.setVersionstampedKey(stampedKey('batch/'), b('first'));
    second.setVersionstampedKey(stampedKey('batch/'), b('second'));
    const stamps = [first.getVersionstamp(), second.getVersionstamp()];
    // Both commits are queued in the same turn, so the commit proxy takes them into one batch.
    await Promise.all([first.commit(), second.commit()]);
    const [one, two] = await Promise.all(stamps);
    expect(first.getCommittedVersion()).toBe(second.getCommittedVersion());
    expect(Buffer.compare(one!, two!)).not.toBe(0);
    expect([...one!.subarray(0, 8)]).toEqual([...two!.subarray(0, 8)]);
    expect(new Set([one![9], two![9]])).toEqual(new Set([0, 1]));
    const rows = await db.transact((reader) => reader.getRangeAll(b('batch/'), b('batch0')));
    expect(rows).toHaveLength(2);
  });

  it('a read-only transaction has no versionstamp and no commit version', async () => {
    const tx = db.createTransaction();
    const stamp = tx.getVersionstamp();
    await tx.get(b('a'));
    await tx.commit();
    await rejectsCode(stamp, 'no_commit_version');
    throwsCode(() => tx.getCommittedVersion(), 'no_commit_version');
  });

  it('a failed commit rejects getVersionstamp with the commit error', async () => {
    const tx = db.createTransaction();
    await tx.get(b('watched'));
    tx.setVersionstampedValue(b('v'), encodeVersionstampOffset(new Uint8Array(10), 0));
    const stamp = tx.getVersionstamp();
    await write({ watched: 'changed' });
    await rejectsCode(tx.commit(), 'not_committed');
    await rejectsCode(stamp, 'not_committed');
  });

  it('reading a versionstamped key or value back in the same transaction fails with accessed_unreadable', async () => {
    await write({ 'log/0': 'old', before: 'b', zafter: 'z' });
    const tx = db.createTransaction();
    tx.setVersionstampedKey(stampedKey('log/'), b('x'));
    tx.setVersionstampedValue(b('value'), encodeVersionstampOffset(new Uint8Array(10), 0));
    // Any key the versionstamped key may become is unreadable.
    await rejectsCode(tx.get(b('log/\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00')), 'accessed_unreadable');
    await rejectsCode(tx.getRangeAll(b('log/'), b('log0')), 'accessed_unreadable');
    await rejectsCode(tx.getRangeAll(b('a'), b('z')), 'accessed_unreadable');
    await rejectsCode(tx.get(b('value')), 'accessed_unreadable');
    await rejectsCode(tx.getRangeAll(b('v'), b('w')), 'accessed_unreadable');
    // Keys outside those ranges read normally.
    expect(s(await tx.get(b('before')))).toBe('b');
    expect(keysOf(await tx.getRangeAll(b('z'), b('\xff')))).toEqual(['zafter']);
    await tx.commit();
    // The stamp starts with zero bytes, so the stamped key sorts before 'log/0'.
    expect((await readAll('log/', 'log0')).map(([, value]) => value)).toEqual(['x', 'old']);
  });

  it('refuses a versionstamp offset whose placeholder does not fit', () => {
    const tx = db.createTransaction();
    const bad = new Uint8Array([...b('short'), 9, 0, 0, 0]);
    throwsCode(() => tx.setVersionstampedKey(bad, b('v')), 'invalid_argument');
    throwsCode(() => tx.setVersionstampedValue(b('k'), bad), 'invalid_argument');
  });
});

// ---------------------------------------------------------------------------------------------

describe('watch', () => {
  it('fires after another transaction changes the key', async () => {
    await write({ w: 'a' });
    const tx = db.createTransaction();
    const watch = tx.watch(b('w'));
    await tx.commit();
    await write({ w: 'b' });
    await within(watch.changed, 'the watch firing');
  });

  it('fires when the key is cleared, or removed by clearRange', async () => {
    await write({ w1: 'a', w2: 'a' });
    const tx = db.createTransaction();
    const first = tx.watch(b('w1'));
    const second = tx.watch(b('w2'));
    await tx.commit();
    await db.transact((other) => other.clear(b('w1')));
    await within(first.changed, 'the watch on a cleared key firing');
    await db.transact((other) => other.clearRange(b('w'), b('x')));
    await within(second.changed, 'the watch on a range-cleared key firing');
  });

  it('fires when a missing key is created', async () => {
    const tx = db.createTransaction();
    const watch = tx.watch(b('new'));
    await tx.commit();
    await write({ new: '' });
    await within(watch.changed, 'the watch on a created key firing');
  });

  it('does not fire for a write of the same value', async () => {
    await write({ w: 'a' });
    const tx = db.createTransaction();
    const watch = tx.watch(b('w'));
    const state = track(watch.changed);
    await tx.commit();
    await write({ w: 'a' });
    await readValue('w');
    await settle();
    expect(state).toEqual({ fired: false, error: undefined });
    await write({ w: 'b' });
    await within(watch.changed, 'the watch firing');
  });

  it('compares with the value as of the watching transaction’s own commit', async () => {
    await write({ w: 'a' });
    const tx = db.createTransaction();
    tx.set(b('w'), b('mine'));
    const watch = tx.watch(b('w'));
    const state = track(watch.changed);
    await tx.commit();
    await write({ w: 'mine' });
    await readValue('w');
    await settle();
    expect(state.fired).toBe(false);
    await write({ w: 'theirs' });
    await within(watch.changed, 'the watch firing');
  });

  it('in a read-only transaction, fires for a change committed after its read version', async () => {
    await write({ w: 'a' });
    const tx = db.createTransaction();
    expect(s(await tx.get(b('w')))).toBe('a');
    await write({ w: 'b' });
    const watch = tx.watch(b('w'));
    await tx.commit();
    await within(watch.changed, 'the watch firing for a change after the read version');
  });

  it('rejects with the commit error when the transaction fails to commit', async () => {
    await write({ w: 'a' });
    const tx = db.createTransaction();
    await tx.get(b('w'));
    tx.set(b('w'), b('mine'));
    const watch = tx.watch(b('w'));
    await write({ w: 'b' });
    await rejectsCode(tx.commit(), 'not_committed');
    await rejectsCode(watch.changed, 'not_committed');
  });

  it('rejects with transaction_cancelled when the transaction is cancelled', async () => {
    const tx = db.createTransaction();
    const watch = tx.watch(b('w'));
    tx.cancel();
    await rejectsCode(watch.changed, 'transaction_cancelled');
  });

  it('cancel rejects with operation_cancelled, before or after the commit', async () => {
    const tx = db.createTransaction();
    const before = tx.watch(b('w1'));
    const after = tx.watch(b('w2'));
    before.cancel();
    await tx.commit();
    await rejectsCode(before.changed, 'operation_cancelled');
    after.cancel();
    await rejectsCode(after.changed, 'operation_cancelled');
    // A change after cancellation does not resolve it.
    await write({ w2: 'x' });
    await rejectsCode(after.changed, 'operation_cancelled');
  });
});

// ---------------------------------------------------------------------------------------------

describe('conflicts', () => {
  beforeEach(async () => {
    await write(tenKeys());
  });

  /** Runs `read` in a transaction, commits a write of `interfere` from another, then commits. */
  async function commitAfter(read: (tx: Transaction) => Promise<unknown>, interfere: (tx: Transaction) => void): Promise<void> {
    const tx = db.createTransaction();
    await read(tx);
    await db.transact(interfere);
    tx.set(b('result'), b('x'));
    await tx.commit();
  }

  it('a normal read conflicts with a later commit to the key read', async () => {
    await rejectsCode(
      commitAfter(
        (tx) => tx.get(b('k1')),
        (tx) => tx.set(b('k1'), b('new')),
      ),
      'not_committed',
    );
    // Writing a different key, or a key next to it, does not conflict.
    await commitAfter(
      (tx) => tx.get(b('k1')),
      (tx) => tx.set(b('k1\x00'), b('new')),
    );
  });

  it('a read of a missing key conflicts when the key is created', async () => {
    await rejectsCode(
      commitAfter(
        (tx) => tx.get(b('absent')),
        (tx) => tx.set(b('absent'), b('now')),
      ),
      'not_committed',
    );
  });

  it('a snapshot read adds no conflict', async () => {
    await commitAfter(
      (tx) => tx.get(b('k1'), { snapshot: true }),
      (tx) => tx.set(b('k1'), b('new')),
    );
    await commitAfter(
      (tx) => tx.getRangeAll(b('k'), b('l'), { snapshot: true }),
      (tx) => tx.set(b('k5'), b('new')),
    );
    expect(await readValue('result')).toBe('x');
  });

  it('a range read conflicts with an insert inside the range, not with one outside it', async () => {
    await rejectsCode(
      commitAfter(
        (tx) => tx.getRangeAll(b('k2'), b('k5')),
        (tx) => tx.set(b('k3x'), b('new')),
      ),
      'not_committed',
    );
    await commitAfter(
      (tx) => tx.getRangeAll(b('k2'), b('k5')),
      (tx) => tx.set(b('k5'), b('new')),
    );
  });

  it('a range read stopped by a limit conflicts only over the part it read', async () => {
    // Forward, limit 2 reads k0, k1.
    await commitAfter(
      (tx) => tx.getRangeAll(b('k'), b('l'), { limit: 2 }),
      (tx) => tx.set(b('k5'), b('new')),
    );
    await rejectsCode(
      commitAfter(
        (tx) => tx.getRangeAll(b('k'), b('l'), { limit: 2 }),
        (tx) => tx.set(b('k1'), b('new')),
      ),
      'not_committed',
    );
    // Reverse, limit 2 reads k9, k8.
    await commitAfter(
      (tx) => tx.getRangeAll(b('k'), b('l'), { limit: 2, reverse: true }),
      (tx) => tx.set(b('k5'), b('new')),
    );
    await rejectsCode(
      commitAfter(
        (tx) => tx.getRangeAll(b('k'), b('l'), { limit: 2, reverse: true }),
        (tx) => tx.set(b('k8'), b('new')),
      ),
      'not_committed',
    );
  });

  it('a read answered from the transaction’s own writes adds no conflict', async () => {
    await commitAfter(
      async (tx) => {
        tx.set(b('k1'), b('mine'));
        expect(s(await tx.get(b('k1')))).toBe('mine');
      },
      (tx) => tx.set(b('k1'), b('theirs')),
    );
    // The later commit wins: this transaction's write of k1 came second.
    expect(await readValue('k1')).toBe('mine');
  });

  it('blind writes never conflict', async () => {
    const first = db.createTransaction();
    first.set(b('k1'), b('first'));
    await db.transact((tx) => tx.set(b('k1'), b('second')));
    await first.commit();
    expect(await readValue('k1')).toBe('first');
  });

  it('addReadConflictRange makes the transaction conflict with writes inside [begin, end)', async () => {
    // The range counts from the read version, so the transaction takes one first, as a read would.
    await rejectsCode(
      commitAfter(
        async (tx) => {
          await tx.getReadVersion();
          tx.addReadConflictRange(b('a'), b('c'));
        },
        (tx) => tx.set(b('b'), b('new')),
      ),
      'not_committed',
    );
    await commitAfter(
      async (tx) => {
        await tx.getReadVersion();
        tx.addReadConflictRange(b('a'), b('c'));
      },
      (tx) => tx.set(b('c'), b('new')),
    );
    // The empty range adds nothing.
    await commitAfter(
      async (tx) => {
        await tx.getReadVersion();
        tx.addReadConflictRange(b('b'), b('b'));
      },
      (tx) => tx.set(b('b'), b('new')),
    );
  });

  it('addWriteConflictRange makes other readers conflict although nothing was written there', async () => {
    const reader = db.createTransaction();
    await reader.get(b('k3'));
    const writer = db.createTransaction();
    writer.addWriteConflictRange(b('k2'), b('k4'));
    await writer.commit();
    reader.set(b('result'), b('x'));
    await rejectsCode(reader.commit(), 'not_committed');
    // The write conflict range wrote nothing.
    expect(await readValue('k3')).toBe('v3');

    const outside = db.createTransaction();
    await outside.get(b('k4'));
    const writer2 = db.createTransaction();
    writer2.addWriteConflictRange(b('k2'), b('k4'));
    await writer2.commit();
    outside.set(b('result'), b('x'));
    await outside.commit();
  });

  it('conflict ranges refuse inverted ranges', () => {
    const tx = db.createTransaction();
    throwsCode(() => tx.addReadConflictRange(b('b'), b('a')), 'inverted_range');
    throwsCode(() => tx.addWriteConflictRange(b('b'), b('a')), 'inverted_range');
  });

  it('not_committed is errno 1020 and retryable', async () => {
    const error = await rejectsCode(
      commitAfter(
        (tx) => tx.get(b('k1')),
        (tx) => tx.set(b('k1'), b('new')),
      ),
      'not_committed',
    );
    expect(error.errno).toBe(1020);
    expect(error.retryable).toBe(true);
    expect(error.maybeCommitted).toBe(false);
    expect(await readValue('result')).toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------

describe('the system key space', () => {
  it('is refused without accessSystemKeys', async () => {
    const tx = db.createTransaction();
    throwsCode(() => tx.set(b('\xffconfig'), b('x')), 'key_outside_legal_range');
    throwsCode(() => tx.clear(b('\xff')), 'key_outside_legal_range');
    throwsCode(() => tx.add(b('\xff/x'), le(1, 1)), 'key_outside_legal_range');
    throwsCode(() => tx.watch(b('\xff/x')), 'key_outside_legal_range');
    await rejectsCode(tx.get(b('\xffconfig')), 'key_outside_legal_range');
    throwsCode(() => tx.getRange(b('a'), b('\xff\xff')), 'key_outside_legal_range');
    throwsCode(() => tx.clearRange(b('a'), b('\xff\x00')), 'key_outside_legal_range');
    // The end of the normal key space is a legal range end.
    tx.clearRange(b('zz'), b('\xff'));
    await tx.commit();
  });

  it('is allowed with accessSystemKeys, and hidden from normal range reads', async () => {
    await db.transact((tx) => tx.set(b('\xff/config'), b('on')), { accessSystemKeys: true });
    await write({ user: 'data' });
    const system = db.createTransaction({ accessSystemKeys: true });
    expect(s(await system.get(b('\xff/config')))).toBe('on');
    expect(keysOf(await system.getRangeAll(b(''), b('\xff\xff')))).toEqual(['user', '\xff/config']);
    expect(keysOf(await db.transact((tx) => tx.getRangeAll(b(''), b('\xff'))))).toEqual(['user']);
  });
});

// ---------------------------------------------------------------------------------------------

describe('misuse', () => {
  it('operations during a commit fail with used_during_commit', async () => {
    const tx = db.createTransaction();
    tx.set(b('a'), b('1'));
    const committing = tx.commit();
    throwsCode(() => tx.set(b('b'), b('2')), 'used_during_commit');
    throwsCode(() => tx.clear(b('a')), 'used_during_commit');
    throwsCode(() => tx.getRange(b('a'), b('z')), 'used_during_commit');
    await rejectsCode(tx.get(b('a')), 'used_during_commit');
    await rejectsCode(tx.commit(), 'used_during_commit');
    await committing;
    expect(await readAll()).toEqual([['a', '1']]);
  });

  it('operations after a commit fail with client_invalid_operation', async () => {
    const tx = db.createTransaction();
    tx.set(b('a'), b('1'));
    await tx.commit();
    throwsCode(() => tx.set(b('b'), b('2')), 'client_invalid_operation');
    throwsCode(() => tx.watch(b('a')), 'client_invalid_operation');
    await rejectsCode(tx.get(b('a')), 'client_invalid_operation');
    await rejectsCode(tx.getReadVersion(), 'client_invalid_operation');
    await rejectsCode(tx.commit(), 'client_invalid_operation');
    expect(await readAll()).toEqual([['a', '1']]);
  });

  it('operations after a failed commit or a cancel fail, and nothing is committed', async () => {
    await write({ a: '1' });
    const failed = db.createTransaction();
    await failed.get(b('a'));
    failed.set(b('b'), b('2'));
    await write({ a: 'changed' });
    await rejectsCode(failed.commit(), 'not_committed');
    throwsCode(() => failed.set(b('c'), b('3')), 'client_invalid_operation');

    const cancelled = db.createTransaction();
    cancelled.set(b('d'), b('4'));
    cancelled.cancel();
    await rejectsCode(cancelled.commit(), 'client_invalid_operation');
    expect(await readAll()).toEqual([['a', 'changed']]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('versions', () => {
  it('getReadVersion is fixed for the transaction and sees every earlier commit', async () => {
    const writer = db.createTransaction();
    writer.set(b('a'), b('1'));
    await writer.commit();
    const tx = db.createTransaction();
    const version = await tx.getReadVersion();
    expect(version).toBeGreaterThanOrEqual(writer.getCommittedVersion());
    await write({ a: '2' });
    expect(await tx.getReadVersion()).toBe(version);
    expect(s(await tx.get(b('a')))).toBe('1');
  });

  it('getCommittedVersion is the commit version, above the read version', async () => {
    const tx = db.createTransaction();
    throwsCode(() => tx.getCommittedVersion(), 'no_commit_version');
    const readVersion = await tx.getReadVersion();
    tx.set(b('a'), b('1'));
    await tx.commit();
    expect(tx.getCommittedVersion()).toBeGreaterThan(readVersion);
    const next = db.createTransaction();
    next.set(b('a'), b('2'));
    await next.commit();
    expect(next.getCommittedVersion()).toBeGreaterThan(tx.getCommittedVersion());
  });

  it('setReadVersion reads an older snapshot inside the MVCC window', async () => {
    const first = db.createTransaction();
    first.set(b('a'), b('old'));
    await first.commit();
    await write({ a: 'new', b: 'added' });
    const tx = db.createTransaction();
    tx.setReadVersion(first.getCommittedVersion());
    expect(await tx.getReadVersion()).toBe(first.getCommittedVersion());
    expect(s(await tx.get(b('a')))).toBe('old');
    expect(pairs(await tx.getRangeAll(b(''), b('\xff')))).toEqual([['a', 'old']]);
  });

  it('setReadVersion is refused once the transaction has a read version, or for a bad version', async () => {
    const tx = db.createTransaction();
    await tx.get(b('a'));
    throwsCode(() => tx.setReadVersion(1), 'client_invalid_operation');
    const other = db.createTransaction();
    throwsCode(() => other.setReadVersion(-1), 'invalid_argument');
    throwsCode(() => other.setReadVersion(1.5), 'invalid_argument');
  });

  it('a read at a version the database has not reached fails with future_version', async () => {
    const tx = db.createTransaction();
    const now = await db.createTransaction().getReadVersion();
    tx.setReadVersion(now + 1_000_000_000);
    const error = await rejectsCode(tx.get(b('a')), 'future_version');
    expect(error.errno).toBe(1009);
  });
});

// ---------------------------------------------------------------------------------------------

describe('read-your-writes', () => {
  beforeEach(async () => {
    await db.transact((tx) => {
      for (const [i, letter] of [...'abcdefgh'].entries()) tx.set(b(letter), le(i + 1, 1));
    });
  });

  const value = async (tx: Transaction, key: string): Promise<number[] | null> => {
    const read = await tx.get(b(key));
    return read === null ? null : [...read];
  };

  it('get sees the transaction’s set, clear and clearRange', async () => {
    const tx = db.createTransaction();
    tx.set(b('a'), b('A'));
    tx.clear(b('b'));
    tx.clearRange(b('c'), b('e'));
    tx.set(b('new'), b('N'));
    expect(s(await tx.get(b('a')))).toBe('A');
    expect(await tx.get(b('b'))).toBeNull();
    expect(await tx.get(b('c'))).toBeNull();
    expect(await tx.get(b('d'))).toBeNull();
    expect(await value(tx, 'e')).toEqual([5]);
    expect(s(await tx.get(b('new')))).toBe('N');
    tx.set(b('b'), b('again'));
    expect(s(await tx.get(b('b')))).toBe('again');
  });

  it('an atomic op on a key the transaction has not read combines with the stored value', async () => {
    const tx = db.createTransaction();
    tx.add(b('c'), le(10, 1));
    expect(await value(tx, 'c')).toEqual([13]);
    tx.add(b('c'), le(10, 1));
    tx.max(b('c'), le(20, 1));
    expect(await value(tx, 'c')).toEqual([23]);
    tx.add(b('absent'), le(4, 2));
    expect(await value(tx, 'absent')).toEqual([4, 0]);
    await tx.commit();
    const after = db.createTransaction();
    expect(await value(after, 'c')).toEqual([23]);
    expect(await value(after, 'absent')).toEqual([4, 0]);
  });

  it('adds of one length to one key fold into one mutation: a counter bumped 200,000 times fits the size limit', async () => {
    // Unfolded, each add would count its key, operand and write conflict range: some 20 MB here.
    const name = `counter/${'x'.repeat(40)}`;
    const tx = db.createTransaction();
    for (let i = 0; i < 200_000; i++) tx.add(b(name), le(1, 8));
    expect(await value(tx, name)).toEqual([...le(200_000, 8)]);
    tx.add(b(name), le(5, 2)); // another length: a mutation of its own, applied after the others
    await tx.commit();
    expect(await value(db.createTransaction(), name)).toEqual([...le(200_005 % 65_536, 2)]);
  });

  it('folded adds still make the key a write conflict for readers, also when only a later add asks for one', async () => {
    for (const firstWithRange of [true, false]) {
      const reader = db.createTransaction();
      await reader.get(b('folded'));
      reader.set(b('elsewhere'), b('x'));
      const writer = db.createTransaction();
      writer.add(b('folded'), le(1, 1), { addConflictRange: firstWithRange });
      writer.add(b('folded'), le(1, 1));
      await writer.commit();
      await expect(reader.commit()).rejects.toMatchObject({ code: 'not_committed' });
    }
  });

  it('an atomic op after a set or clear applies to the transaction’s value', async () => {
    const tx = db.createTransaction();
    tx.set(b('a'), le(100, 1));
    tx.add(b('a'), le(1, 1));
    tx.clear(b('b'));
    tx.add(b('b'), le(7, 1));
    tx.clear(b('c'));
    tx.compareAndClear(b('c'), le(3, 1));
    tx.add(b('d'), le(1, 1));
    tx.set(b('d'), le(50, 1));
    expect(await value(tx, 'a')).toEqual([101]);
    expect(await value(tx, 'b')).toEqual([7]);
    expect(await value(tx, 'c')).toBeNull();
    expect(await value(tx, 'd')).toEqual([50]);
    await tx.commit();
    const after = db.createTransaction();
    expect(await value(after, 'a')).toEqual([101]);
    expect(await value(after, 'b')).toEqual([7]);
    expect(await value(after, 'c')).toBeNull();
    expect(await value(after, 'd')).toEqual([50]);
  });

  it('an atomic op after clearRange starts from a missing value', async () => {
    const tx = db.createTransaction();
    tx.clearRange(b('a'), b('z'));
    tx.add(b('c'), le(5, 1));
    tx.byteMin(b('d'), b('x'));
    tx.compareAndClear(b('e'), le(5, 1));
    expect(await value(tx, 'c')).toEqual([5]);
    expect(s(await tx.get(b('d')))).toBe('x');
    expect(await tx.get(b('e'))).toBeNull();
    expect(keysOf(await tx.getRangeAll(b(''), b('\xff')))).toEqual(['c', 'd']);
    await tx.commit();
    expect(await readAll()).toEqual([
      ['c', '\x05'],
      ['d', 'x'],
    ]);
  });

  it('a set inside a cleared range is visible and committed', async () => {
    const tx = db.createTransaction();
    tx.clearRange(b('b'), b('g'));
    tx.set(b('d'), b('D'));
    tx.set(b('dd'), b('DD'));
    expect(keysOf(await tx.getRangeAll(b('a'), b('z')))).toEqual(['a', 'd', 'dd', 'g', 'h']);
    expect(s(await tx.get(b('d')))).toBe('D');
    expect(await tx.get(b('c'))).toBeNull();
    await tx.commit();
    expect((await readAll()).map(([key]) => key)).toEqual(['a', 'd', 'dd', 'g', 'h']);
  });

  it('a later clearRange removes earlier pending sets and atomic ops', async () => {
    const tx = db.createTransaction();
    tx.set(b('cc'), b('x'));
    tx.add(b('d'), le(1, 1));
    tx.clearRange(b('c'), b('e'));
    expect(await tx.get(b('cc'))).toBeNull();
    expect(await tx.get(b('d'))).toBeNull();
    expect(keysOf(await tx.getRangeAll(b('b'), b('f')))).toEqual(['b', 'e']);
    await tx.commit();
    expect((await readAll()).map(([key]) => key)).toEqual(['a', 'b', 'e', 'f', 'g', 'h']);
  });

  it('range reads merge pending writes with stored data, forward and reverse, at every limit', async () => {
    const tx = db.createTransaction();
    tx.set(b('b'), b('B'));
    tx.clear(b('c'));
    tx.set(b('cc'), b('CC'));
    tx.clearRange(b('e'), b('g'));
    tx.set(b('f'), b('F'));
    tx.add(b('h'), le(1, 1));
    tx.add(b('i'), le(5, 1));
    tx.compareAndClear(b('a'), le(1, 1));
    const expected: [string, string][] = [
      ['b', 'B'],
      ['cc', 'CC'],
      ['d', '\x04'],
      ['f', 'F'],
      ['g', '\x07'],
      ['h', '\x09'],
      ['i', '\x05'],
    ];
    expect(pairs(await tx.getRangeAll(b(''), b('\xff')))).toEqual(expected);
    expect(pairs(await tx.getRangeAll(b(''), b('\xff'), { reverse: true }))).toEqual([...expected].reverse());
    for (let limit = 1; limit <= expected.length + 1; limit++) {
      expect(pairs(await tx.getRangeAll(b(''), b('\xff'), { limit }))).toEqual(expected.slice(0, limit));
      expect(pairs(await tx.getRangeAll(b(''), b('\xff'), { limit, reverse: true }))).toEqual([...expected].reverse().slice(0, limit));
    }
    // Ranges that begin or end inside pending writes.
    expect(keysOf(await tx.getRangeAll(b('c'), b('f')))).toEqual(['cc', 'd']);
    expect(keysOf(await tx.getRangeAll(b('cc'), b('ff'), { reverse: true }))).toEqual(['f', 'd', 'cc']);
    await tx.commit();
    expect(await readAll()).toEqual(expected);
  });
});

// ---------------------------------------------------------------------------------------------

describe('read-your-writes, randomized', () => {
  it('matches a sorted-map model before and after each commit', async () => {
    const seed = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
    console.log(`transaction.test.ts randomized read-your-writes: seed ${seed} (replay with SEED=${seed})`);
    const random = seededRandom(seed);
    const int = (n: number): number => Math.floor(random() * n);
    const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;
    const names = ['a', 'a\x00', 'ab', 'b', 'c', 'c\xff', 'd', 'e', 'ee', 'f', 'g', 'h'];
    const keyOf = (name: string): string => `q/${name}`;
    const bounds = ['', 'q/', ...names.map(keyOf), 'q0', '\xff'];
    const randomBytes = (max: number): Uint8Array => new Uint8Array(Array.from({ length: int(max + 1) }, () => int(256)));

    const modelAdd = (existing: Uint8Array | null, operand: Uint8Array): Uint8Array => {
      if (existing === null) return operand.slice();
      const out = new Uint8Array(operand.length);
      let carry = 0;
      for (let i = 0; i < operand.length; i++) {
        const sum = (existing[i] ?? 0) + operand[i]! + carry;
        out[i] = sum & 0xff;
        carry = sum >> 8;
      }
      return out;
    };
    const sortedKeys = (model: Map<string, Uint8Array>): string[] => [...model.keys()].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    const modelRange = (model: Map<string, Uint8Array>, begin: string, end: string, limit: number, reverse: boolean): [string, string][] => {
      let keys = sortedKeys(model).filter((key) => key >= begin && key < end);
      if (reverse) keys.reverse();
      if (limit > 0) keys = keys.slice(0, limit);
      return keys.map((key) => [key, s(model.get(key)!)]);
    };
    const modelSelector = (model: Map<string, Uint8Array>, key: string, orEqual: boolean, offset: number): string => {
      const keys = sortedKeys(model);
      const before = keys.filter((k) => (orEqual ? k <= key : k < key)).length;
      const index = before + offset - 1;
      if (index < 0) return '';
      if (index >= keys.length) return '\xff';
      return keys[index]!;
    };

    let committed = new Map<string, Uint8Array>();
    const history: string[] = [];
    const rounds = 25;
    for (let round = 0; round < rounds; round++) {
      const model = new Map(committed);
      const tx = db.createTransaction();
      const steps = 10 + int(40);
      for (let step = 0; step < steps; step++) {
        const at = `seed ${seed} round ${round} step ${step}`;
        const choice = int(100);
        if (choice < 25) {
          const key = keyOf(pick(names));
          const value = randomBytes(3);
          history.push(`set ${JSON.stringify(key)}`);
          tx.set(b(key), value);
          model.set(key, value);
        } else if (choice < 35) {
          const key = keyOf(pick(names));
          history.push(`clear ${JSON.stringify(key)}`);
          tx.clear(b(key));
          model.delete(key);
        } else if (choice < 43) {
          let begin = pick(bounds.slice(1, -1));
          let end = pick(bounds.slice(1, -1));
          if (begin > end) [begin, end] = [end, begin];
          history.push(`clearRange ${JSON.stringify(begin)} ${JSON.stringify(end)}`);
          tx.clearRange(b(begin), b(end));
          for (const key of [...model.keys()]) if (key >= begin && key < end) model.delete(key);
        } else if (choice < 60) {
          const key = keyOf(pick(names));
          const operand = randomBytes(2);
          history.push(`add ${JSON.stringify(key)} [${[...operand]}]`);
          tx.add(b(key), operand);
          model.set(key, modelAdd(model.get(key) ?? null, operand));
        } else if (choice < 75) {
          const snapshot = random() < 0.5;
          if (random() < 0.5) {
            const key = keyOf(pick(names));
            history.push(`get ${JSON.stringify(key)}`);
            const got = await tx.get(b(key), { snapshot });
            const want = model.get(key);
            expect(got === null ? null : [...got], `${at}: get ${JSON.stringify(key)}`).toEqual(want === undefined ? null : [...want]);
          } else {
            const keys = Array.from({ length: int(5) }, () => keyOf(pick(names)));
            history.push(`getMany ${JSON.stringify(keys)}`);
            const got = await tx.getMany(keys.map(b), { snapshot, borrow: random() < 0.5 });
            const want = keys.map((key) => model.get(key));
            expect(got.map((value) => (value === null ? null : [...value])), `${at}: getMany ${JSON.stringify(keys)}`).toEqual(want.map((value) => (value === undefined ? null : [...value])));
          }
        } else if (choice < 92) {
          let begin = pick(bounds);
          let end = pick(bounds);
          if (begin > end) [begin, end] = [end, begin];
          const limit = int(5);
          const reverse = random() < 0.5;
          const snapshot = random() < 0.5;
          history.push(`getRange ${JSON.stringify(begin)} ${JSON.stringify(end)} limit ${limit}${reverse ? ' reverse' : ''}`);
          const got = pairs(await tx.getRangeAll(b(begin), b(end), { limit, reverse, snapshot }));
          expect(got, `${at}: getRange ${JSON.stringify(begin)} ${JSON.stringify(end)} limit ${limit} reverse ${reverse}`).toEqual(
            modelRange(model, begin, end, limit, reverse),
          );
        } else {
          const key = pick(bounds.slice(0, -1));
          const orEqual = random() < 0.5;
          const offset = int(6) - 2;
          history.push(`getKey ${JSON.stringify(key)} ${orEqual} ${offset}`);
          const got = s(await tx.getKey(new KeySelector(b(key), orEqual, offset)));
          expect(got, `${at}: getKey(${JSON.stringify(key)}, ${orEqual}, ${offset})`).toEqual(modelSelector(model, key, orEqual, offset));
        }
      }
      if (random() < 0.8) {
        history.push('commit');
        await tx.commit();
        committed = model;
      } else {
        history.push('cancel');
        tx.cancel();
      }
      const stored = await readAll();
      expect(stored, `seed ${seed} after round ${round}`).toEqual(modelRange(committed, '', '\xff', 0, false));
    }
    expect(history.length).toBeGreaterThan(rounds * 10);
  });
});

describe('reads in flight when commit is called', () => {
  // A read's conflict range is added when the read is issued: a commit() while it is still in
  // flight must check it, or write skew commits.
  it('conflicts on a range read that has not returned yet', async () => {
    await db.transact((tx) => tx.set(b('b'), b('0')));
    const t1 = db.createTransaction();
    await t1.get(b('b'));
    const pending = t1.getRangeAll(b('a'), b('a\xff'));
    await db.transact((t2) => t2.set(b('a1'), b('x')));
    t1.set(b('b'), b('1'));
    await rejectsCode(t1.commit(), 'not_committed');
    await pending.catch(() => {});
  });

  it('conflicts on a point read that has not returned yet (a read that goes to disk)', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-in-flight-'));
    try {
      let disk = await open({ path: directory });
      await disk.transact((tx) => tx.set(b('p'), b('0')));
      await disk.close();
      // After a reopen 'p' lives only in classic-level, so reading it is asynchronous.
      disk = await open({ path: directory });
      const t1 = disk.createTransaction();
      await t1.getReadVersion();
      await disk.transact((t2) => t2.set(b('p'), b('x')));
      // t1 reads 'p' at its older read version (from disk) and commits before the read returns.
      const pending = t1.get(b('p'));
      t1.set(b('q'), b('1'));
      await rejectsCode(t1.commit(), 'not_committed');
      await pending.catch(() => {});
      await disk.close();
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it('narrows the conflict range of a range read the caller stopped early to the rows fetched', async () => {
    await db.transact((tx) => {
      for (let i = 0; i < 300; i++) tx.set(b(`r${String(i).padStart(3, '0')}`), b('v'));
    });
    const t1 = db.createTransaction();
    for await (const row of t1.getRange(b('r'), b('s'))) {
      if (s(row.key) === 'r000') break;
    }
    // The first batch fetched fewer than 300 rows; a write to the last row, inside [r, s) but
    // past what was fetched, must not conflict once the range is narrowed to the rows fetched.
    await db.transact((t2) => t2.set(b('r299'), b('x')));
    t1.set(b('t'), b('1'));
    await t1.commit();
  });
});

describe('cancel and watches around commit', () => {
  it('ignores cancel() once commit() has started: the commit decides the outcome', async () => {
    const tx = db.createTransaction();
    tx.set(b('c1'), b('v'));
    const watch = tx.watch(b('c1'));
    const stamp = tx.getVersionstamp();
    const committing = tx.commit();
    tx.cancel();
    await committing;
    expect((await stamp).length).toBe(10);
    await db.transact((t) => t.set(b('c1'), b('w')));
    await watch.changed;
  });

  it('fails a watch whose read version has left the MVCC window with transaction_too_old', async () => {
    const short = await open({ mvccWindowMs: 100 });
    try {
      await short.transact((tx) => tx.set(b('k'), b('1')));
      const tx = short.createTransaction();
      await tx.get(b('k'));
      await short.transact((t) => t.set(b('k'), b('2')));
      await new Promise((resolve) => setTimeout(resolve, 400));
      const watch = tx.watch(b('k'));
      await tx.commit().catch(() => {});
      await rejectsCode(watch.changed, 'transaction_too_old');
    } finally {
      await short.close();
    }
  });
});

describe('writes without a conflict range', () => {
  it('commit and are read back, but do not make a concurrent reader conflict', async () => {
    const reader = db.createTransaction();
    await reader.get(b('nc'));
    await db.transact((tx) => tx.set(b('nc'), b('1'), { addConflictRange: false }));
    reader.set(b('other'), b('x'));
    await reader.commit();
    expect(s(await db.transact((tx) => tx.get(b('nc'))))).toBe('1');

    const second = db.createTransaction();
    await second.get(b('nc2'));
    await db.transact((tx) => tx.set(b('nc2'), b('1')));
    second.set(b('other'), b('y'));
    await rejectsCode(second.commit(), 'not_committed');
  });

  it('apply to clearRange and atomic ops too', async () => {
    await db.transact((tx) => tx.set(b('ncr/a'), b('1')));
    const reader = db.createTransaction();
    await reader.getRangeAll(b('ncr/'), b('ncr0'));
    await reader.get(b('nca'));
    await db.transact((tx) => {
      tx.clearRange(b('ncr/'), b('ncr0'), { addConflictRange: false });
      tx.add(b('nca'), new Uint8Array([1]), { addConflictRange: false });
    });
    reader.set(b('other'), b('z'));
    await reader.commit();
    expect(await db.transact((tx) => tx.getRangeAll(b('ncr/'), b('ncr0')))).toEqual([]);
  });
});

describe('onCommit hooks', () => {
  it('run when commit starts, may write, and their writes commit with the rest', async () => {
    const order: string[] = [];
    await db.transact((tx) => {
      tx.set(b('hook/a'), b('1'));
      tx.onCommit(async () => {
        order.push('first');
        expect(s(await tx.get(b('hook/a')))).toBe('1');
        tx.set(b('hook/b'), b('2'));
        tx.onCommit(() => void order.push('added by a hook'));
      });
      tx.onCommit(() => void order.push('second'));
    });
    expect(order).toEqual(['first', 'second', 'added by a hook']);
    expect(s(await db.transact((tx) => tx.get(b('hook/b'))))).toBe('2');
  });

  it('fail the commit, writing nothing, when a hook throws; retried attempts register their own', async () => {
    let attempts = 0;
    await expect(
      db.transact((tx) => {
        attempts++;
        tx.set(b('hook/c'), b('1'));
        tx.onCommit(() => {
          throw new Error('hook refused');
        });
      }),
    ).rejects.toThrow('hook refused');
    expect(attempts).toBe(1);
    expect(await db.transact((tx) => tx.get(b('hook/c')))).toBeNull();
  });
});
