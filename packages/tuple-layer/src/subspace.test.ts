// Proves what a Subspace promises: its prefix, pack/unpack/contains/range over tuple keys, nested
// subspaces, swapping key and value encoders, key_outside_subspace for foreign keys, and a typed
// view of a real in-memory database's transactions (get, set, clear, clearRange, getRangeAll,
// getRange) that reads and writes only inside the subspace. The file is type-checked, so the
// typed usage below is also a compile-time test.
import { open, StrataError, type Database, type Transaction } from '@strata/core';
import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { bytesEncoder, msgpackEncoder, tupleEncoder, type Encoder } from './encoders.js';
import { TupleLayerError } from './errors.js';
import { Subspace, SubspaceView, type SubspaceEntry } from './subspace.js';
import { pack, type TupleItem } from './tuple.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

interface User {
  name: string;
  age: number;
  tags: string[];
}

describe('Subspace without a database', () => {
  it('takes its prefix from a tuple or from raw bytes, copying them', () => {
    expect(hex(new Subspace(['users']).prefix)).toBe(hex(pack(['users'])));
    const raw = Uint8Array.of(0x15, 0x01);
    const subspace = new Subspace(raw);
    raw[0] = 0;
    expect(hex(subspace.prefix)).toBe('1501');
    expect(hex(new Subspace().prefix)).toBe('');
  });

  it('packs a tuple key after the prefix and unpacks it back', () => {
    const users = new Subspace(['users']);
    const key = users.pack([42, 'name']);
    expect(hex(key)).toBe(hex(pack(['users', 42, 'name'])));
    expect(users.unpack(key)).toStrictEqual([42, 'name']);
    expect(users.unpack(users.prefix)).toStrictEqual([]);
  });

  it('tells which keys it contains', () => {
    const users = new Subspace(['users']);
    expect(users.contains(users.pack([1]))).toBe(true);
    expect(users.contains(users.prefix)).toBe(true);
    // 'user' is a string prefix of 'users' but not a tuple prefix of it.
    expect(users.contains(pack(['user', 1]))).toBe(false);
    expect(users.contains(pack(['users2']))).toBe(false);
    expect(users.contains(users.prefix.subarray(0, 3))).toBe(false);
    expect(new Subspace().contains(Uint8Array.of(0xff))).toBe(true);
  });

  it('throws key_outside_subspace when unpacking a foreign key, and tuple_decode_error for a malformed one', () => {
    const users = new Subspace(['users']);
    const error = thrown(() => users.unpack(pack(['orders', 1])));
    expect(error).toBeInstanceOf(TupleLayerError);
    expect(error).toBeInstanceOf(StrataError);
    expect((error as TupleLayerError).code).toBe('key_outside_subspace');
    expect((error as TupleLayerError).errno).toBe(7103);
    const malformed = new Uint8Array([...users.prefix, 0x02, 0x61]);
    expect((thrown(() => users.unpack(malformed)) as TupleLayerError).code).toBe('tuple_decode_error');
  });

  it('ranges over the tuple keys that extend a tuple, inside the prefix', () => {
    const users = new Subspace(['users']);
    const all = users.range();
    expect(hex(all.begin)).toBe(hex(users.prefix) + '00');
    expect(hex(all.end)).toBe(hex(users.prefix) + 'ff');
    const one = users.range([42]);
    expect(hex(one.begin)).toBe(hex(users.pack([42])) + '00');
    expect(hex(one.end)).toBe(hex(users.pack([42])) + 'ff');
    const within = (key: Uint8Array, range: { begin: Uint8Array; end: Uint8Array }): boolean =>
      Buffer.compare(key, range.begin) >= 0 && Buffer.compare(key, range.end) < 0;
    expect(within(users.pack([42, 'name']), one)).toBe(true);
    expect(within(users.pack([43, 'name']), one)).toBe(false);
    expect(within(users.pack([42]), one)).toBe(false);
    expect(within(pack(['users2', 1]), all)).toBe(false);
  });

  it('nests: a child subspace extends the prefix with a packed tuple and keeps the encoders', () => {
    const users = new Subspace(['users']).withValueEncoder(msgpackEncoder<User>());
    const ada = users.subspace([42]);
    expect(hex(ada.prefix)).toBe(hex(pack(['users', 42])));
    expect(hex(ada.pack(['email']))).toBe(hex(pack(['users', 42, 'email'])));
    expect(users.unpack(ada.pack(['email']))).toStrictEqual([42, 'email']);
    expect(ada.valueEncoder).toBe(users.valueEncoder);
    expect(hex(ada.subspace(['x']).prefix)).toBe(hex(pack(['users', 42, 'x'])));
    expect(users.contains(ada.pack(['email']))).toBe(true);
    expect(ada.contains(users.pack([43]))).toBe(false);
  });

  it('swaps one encoder and keeps the other and the prefix', () => {
    const base = new Subspace(['t']);
    expect(base.keyEncoder).toBe(tupleEncoder);
    expect(base.valueEncoder).toBe(bytesEncoder);
    const values = msgpackEncoder<User>();
    const typed = base.withValueEncoder(values).withKeyEncoder(bytesEncoder);
    expect(typed.valueEncoder).toBe(values);
    expect(typed.keyEncoder).toBe(bytesEncoder);
    expect(hex(typed.prefix)).toBe(hex(base.prefix));
    expect(hex(typed.pack(Uint8Array.of(9, 8)))).toBe(hex(base.prefix) + '0908');
    expect(hex(typed.unpack(Uint8Array.of(...base.prefix, 7)))).toBe('07');
  });

  it('types keys and values through the encoders', () => {
    const users = new Subspace(['users']).withValueEncoder(msgpackEncoder<User>());
    expectTypeOf(users).toEqualTypeOf<Subspace<TupleItem[], User>>();
    expectTypeOf(users.unpack).returns.toEqualTypeOf<TupleItem[]>();
    const raw = users.withKeyEncoder(bytesEncoder);
    expectTypeOf(raw.pack).parameter(0).toEqualTypeOf<Uint8Array>();
    expectTypeOf<ReturnType<Subspace<string, User>['bind']>>().toEqualTypeOf<SubspaceView<string, User>>();
    expectTypeOf<SubspaceView<TupleItem[], User>['get']>().returns.resolves.toEqualTypeOf<User | null>();
    expectTypeOf<SubspaceView<TupleItem[], User>['getRangeAll']>().returns.resolves.toEqualTypeOf<SubspaceEntry<TupleItem[], User>[]>();
    // A value of the wrong type does not compile.
    const check = (tx: Transaction): void => {
      // @ts-expect-error -- `age` must be a number.
      tx.at(users).set([1], { name: 'Ada', age: 'old', tags: [] });
      // @ts-expect-error -- a bytes-keyed subspace takes Uint8Array keys, not tuples.
      tx.at(raw).set(['a'], { name: 'Ada', age: 36, tags: [] });
    };
    expect(typeof check).toBe('function');
  });
});

describe('tx.at(subspace) on a real database', () => {
  let db: Database;
  const users = new Subspace(['users']).withValueEncoder(msgpackEncoder<User>());
  // Keys that must never be touched by work inside `users`: a neighbour sharing the string prefix,
  // and raw keys just before and after the subspace's range.
  const outside: [Uint8Array, Uint8Array][] = [
    [pack(['user', 1]), utf8('neighbour')],
    [pack(['users2', 1]), utf8('sibling')],
    [users.prefix.subarray(0, users.prefix.length - 1), utf8('just before')],
    [new Uint8Array([...users.prefix.subarray(0, users.prefix.length - 1), 0x01]), utf8('just after')],
  ];
  const ada: User = { name: 'Ada', age: 36, tags: ['math'] };
  const alan: User = { name: 'Alan', age: 41, tags: [] };
  const grace: User = { name: 'Grace', age: 85, tags: ['navy', 'cobol'] };

  beforeEach(async () => {
    db = await open();
    await db.transact((tx) => {
      for (const [key, value] of outside) tx.set(key, value);
    });
  });
  afterEach(async () => {
    // Whatever a test did inside the subspace, everything outside it is unchanged.
    const rows = await db.transact((tx) => Promise.all(outside.map(([key]) => tx.get(key))));
    expect(rows.map((value) => Buffer.from(value!).toString())).toStrictEqual(outside.map(([, value]) => Buffer.from(value).toString()));
    await db.close();
  });

  async function seed(): Promise<void> {
    await db.transact((tx) => {
      const view = tx.at(users);
      view.set([1], ada);
      view.set([2], alan);
      view.set([2, 'draft'], grace);
      view.set([3], grace);
    });
  }

  it('sets and gets typed values, and gets null for a missing key', async () => {
    await seed();
    const [one, missing] = await db.transact((tx) => Promise.all([tx.at(users).get([1]), tx.at(users).get([99])]));
    expect(one).toStrictEqual(ada);
    expect(missing).toBeNull();
    // The stored bytes are the encoders' output under the subspace's key.
    const raw = await db.transact((tx) => tx.get(pack(['users', 1])));
    expect(msgpackEncoder<User>().unpack(raw!)).toStrictEqual(ada);
  });

  it('clears one key', async () => {
    await seed();
    await db.transact((tx) => tx.at(users).clear([2]));
    const rows = await db.transact((tx) => tx.at(users).getRangeAll());
    expect(rows.map((row) => row.key)).toStrictEqual([[1], [2, 'draft'], [3]]);
  });

  it('reads entries in key order, typed, with limit and reverse', async () => {
    await seed();
    const all = await db.transact((tx) => tx.at(users).getRangeAll());
    expect(all).toStrictEqual([
      { key: [1], value: ada },
      { key: [2], value: alan },
      { key: [2, 'draft'], value: grace },
      { key: [3], value: grace },
    ]);
    const underTwo = await db.transact((tx) => tx.at(users).getRangeAll([2]));
    expect(underTwo).toStrictEqual([{ key: [2, 'draft'], value: grace }]);
    const lastTwo = await db.transact((tx) => tx.at(users).getRangeAll([], { reverse: true, limit: 2 }));
    expect(lastTwo.map((row) => row.key)).toStrictEqual([[3], [2, 'draft']]);
  });

  it('iterates entries with getRange', async () => {
    await db.transact((tx) => {
      for (let id = 0; id < 250; id++) tx.at(users).set([id], { name: `user ${id}`, age: id, tags: [] });
    });
    const seen = await db.transact(async (tx) => {
      const ids: number[] = [];
      for await (const entry of tx.at(users).getRange()) {
        expectTypeOf(entry).toEqualTypeOf<SubspaceEntry<TupleItem[], User>>();
        expect(entry.value.name).toBe(`user ${entry.key[0]}`);
        ids.push(entry.key[0] as number);
      }
      return ids;
    });
    expect(seen).toStrictEqual(Array.from({ length: 250 }, (_, id) => id));
  });

  it('clears the keys extending a tuple, or every tuple key of the subspace', async () => {
    await seed();
    await db.transact((tx) => tx.at(users).clearRange([2]));
    const afterOne = await db.transact((tx) => tx.at(users).getRangeAll());
    // [2] itself is not an extension of [2]; [2, 'draft'] is.
    expect(afterOne.map((row) => row.key)).toStrictEqual([[1], [2], [3]]);
    await db.transact((tx) => tx.at(users).clearRange());
    expect(await db.transact((tx) => tx.at(users).getRangeAll())).toStrictEqual([]);
  });

  it('works with nested subspaces and sees the same data through the parent', async () => {
    const adaSubspace = users.subspace([1]);
    await db.transact((tx) => {
      tx.at(adaSubspace).set(['profile'], ada);
      tx.at(adaSubspace).set(['backup'], alan);
    });
    const viaChild = await db.transact((tx) => tx.at(adaSubspace).getRangeAll());
    expect(viaChild.map((row) => row.key)).toStrictEqual([['backup'], ['profile']]);
    const viaParent = await db.transact((tx) => tx.at(users).getRangeAll([1]));
    expect(viaParent.map((row) => row.key)).toStrictEqual([
      [1, 'backup'],
      [1, 'profile'],
    ]);
  });

  it('uses the tuple, msgpack and bytes encoders for values', async () => {
    const tuples = new Subspace(['t']).withValueEncoder(tupleEncoder);
    const bytes = new Subspace(['b']);
    await db.transact((tx) => {
      tx.at(tuples).set(['k'], ['v', 7n ** 30n, null]);
      tx.at(bytes).set(['k'], Uint8Array.of(0, 1, 2));
      tx.at(users).set(['k'], grace);
    });
    const [tuple, raw, user] = await db.transact((tx) => Promise.all([tx.at(tuples).get(['k']), tx.at(bytes).get(['k']), tx.at(users).get(['k'])]));
    expect(tuple).toStrictEqual(['v', 7n ** 30n, null]);
    expect(raw).toStrictEqual(Uint8Array.of(0, 1, 2));
    expect(user).toStrictEqual(grace);
  });

  it('uses a custom key encoder, and getRangeBetween for raw key bounds', async () => {
    // Fixed-width big-endian counters sort numerically as bytes.
    const counter: Encoder<number> = {
      pack: (value) => {
        const out = new Uint8Array(4);
        new DataView(out.buffer).setUint32(0, value);
        return out;
      },
      unpack: (bytes) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0),
    };
    const events = new Subspace(['events'], { keyEncoder: counter, valueEncoder: msgpackEncoder<string>() });
    expectTypeOf(events).toEqualTypeOf<Subspace<number, string>>();
    await db.transact((tx) => {
      for (const id of [300, 2, 70_000, 1]) tx.at(events).set(id, `event ${id}`);
    });
    const between = await db.transact((tx) => tx.at(events).getRangeBetween(events.pack(2), events.pack(70_000)));
    expect(between).toStrictEqual([
      { key: 2, value: 'event 2' },
      { key: 300, value: 'event 300' },
    ]);
    expect(await db.transact((tx) => tx.at(events).get(70_000))).toBe('event 70000');
  });
});

describe('subspaces whose keys are not tuples', () => {
  it('range over every key with the prefix, including keys that encode to 0xFF bytes', async () => {
    const db = await open();
    try {
      const scores = new Subspace<number, number>(['scores'], { keyEncoder: msgpackEncoder<number>(), valueEncoder: msgpackEncoder<number>() });
      // msgpack encodes -1 as the single byte 0xFF, outside the tuple range prefix+00..prefix+FF.
      await db.transact((tx) => {
        for (const key of [-1, 0, 1, 300]) tx.at(scores).set(key, key * 10);
      });
      const all = await db.transact((tx) => tx.at(scores).getRangeAll());
      expect(all.map((entry) => entry.key).sort((a, b) => a - b)).toEqual([-1, 0, 1, 300]);
      await db.transact((tx) => tx.at(scores).clearRange());
      expect(await db.transact((tx) => tx.at(scores).getRangeAll())).toEqual([]);
      expect(() => scores.range([1])).toThrow(TupleLayerError);
    } finally {
      await db.close();
    }
  });
});
