// Proves what each encoder promises: tupleEncoder is pack/unpack, bytesEncoder passes bytes through,
// msgpackEncoder round-trips the value kinds it documents (objects, arrays, strings, numbers,
// bigints, dates, bytes), and each works as a subspace's value encoder through a real database.
// The file is type-checked, so the encoder types below are also a compile-time test.
import { open } from '@strata/core';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { bytesEncoder, msgpackEncoder, tupleEncoder, type Encoder } from './encoders.js';
import { TupleLayerError } from './errors.js';
import { Subspace } from './subspace.js';
import { Uuid, pack, type TupleItem } from './tuple.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('tupleEncoder', () => {
  it('packs and unpacks tuples exactly as pack and unpack do', () => {
    const tuple: TupleItem[] = ['orders', 2n ** 70n, -3, null, [true, 1.25], Uuid.fromString('00112233-4455-6677-8899-aabbccddeeff')];
    expect(hex(tupleEncoder.pack(tuple))).toBe(hex(pack(tuple)));
    expect(tupleEncoder.unpack(tupleEncoder.pack(tuple))).toStrictEqual(tuple);
    expectTypeOf(tupleEncoder).toEqualTypeOf<Encoder<TupleItem[]>>();
  });

  it('reports malformed bytes as tuple_decode_error', () => {
    expect(() => tupleEncoder.unpack(Uint8Array.of(0x30, 0x01))).toThrow(TupleLayerError);
    expect(() => tupleEncoder.unpack(Uint8Array.of(0x30, 0x01))).toThrow(/truncated UUID/);
  });
});

describe('bytesEncoder', () => {
  it('passes bytes through unchanged', () => {
    const bytes = Uint8Array.of(0, 0xff, 7);
    expect(bytesEncoder.pack(bytes)).toBe(bytes);
    expect(bytesEncoder.unpack(bytes)).toBe(bytes);
    expectTypeOf(bytesEncoder).toEqualTypeOf<Encoder<Uint8Array>>();
  });
});

describe('msgpackEncoder', () => {
  interface Order {
    id: bigint;
    placedAt: Date;
    lines: { sku: string; quantity: number; price: number }[];
    attachment: Uint8Array;
    note: string | null;
    nested: { deep: { deeper: boolean[] } };
  }
  const order: Order = {
    id: 2n ** 70n + 1n,
    placedAt: new Date('2024-02-29T12:34:56.789Z'),
    lines: [
      { sku: 'a-1', quantity: 2, price: 9.99 },
      { sku: '\u00e9\u{1f600}', quantity: -1, price: 0 },
    ],
    attachment: Uint8Array.of(0, 1, 2, 255),
    note: null,
    nested: { deep: { deeper: [true, false] } },
  };

  it('round-trips objects, arrays, strings, numbers, bigints, dates and bytes', () => {
    const encoder = msgpackEncoder<Order>();
    expectTypeOf(encoder).toEqualTypeOf<Encoder<Order>>();
    const decoded = encoder.unpack(encoder.pack(order));
    expect(decoded).toStrictEqual(order);
    expect(decoded.placedAt).toBeInstanceOf(Date);
    expect(typeof decoded.id).toBe('bigint');
    expect(decoded.attachment).toBeInstanceOf(Uint8Array);
  });

  it('round-trips scalars and packs the same value to the same bytes every time', () => {
    const encoder = msgpackEncoder<unknown>();
    for (const value of [null, true, 0, -1, 2 ** 53, -(2n ** 63n), 1.5, '', 'text', [], {}]) {
      expect(encoder.unpack(encoder.pack(value))).toStrictEqual(value);
      expect(hex(encoder.pack(value))).toBe(hex(encoder.pack(value)));
    }
  });

  it('stores typed values through a subspace on a real database', async () => {
    const db = await open();
    try {
      const orders = new Subspace(['orders']).withValueEncoder(msgpackEncoder<Order>());
      await db.transact((tx) => tx.at(orders).set([order.id], order));
      const stored = await db.transact((tx) => tx.at(orders).get([order.id]));
      expectTypeOf(stored).toEqualTypeOf<Order | null>();
      expect(stored).toStrictEqual(order);
      const rows = await db.transact((tx) => tx.at(orders).getRangeAll());
      expect(rows).toStrictEqual([{ key: [order.id], value: order }]);
    } finally {
      await db.close();
    }
  });
});

describe('a custom encoder', () => {
  it('implements Encoder<T> and serves as a key encoder whose byte order is its value order', async () => {
    // Strings as raw UTF-8 keys: byte order is code point order.
    const text: Encoder<string> = {
      pack: (value) => new TextEncoder().encode(value),
      unpack: (bytes) => new TextDecoder().decode(bytes),
    };
    const names = new Subspace(['names'], { keyEncoder: text, valueEncoder: tupleEncoder });
    const db = await open();
    try {
      await db.transact((tx) => {
        for (const name of ['zoe', 'Ada', '\u00e9mile', 'bob']) tx.at(names).set(name, [name.length]);
      });
      const rows = await db.transact((tx) => tx.at(names).getRangeBetween(names.pack('A'), names.pack('\u{10ffff}')));
      expect(rows).toStrictEqual([
        { key: 'Ada', value: [3] },
        { key: 'bob', value: [3] },
        { key: 'zoe', value: [3] },
        { key: '\u00e9mile', value: [5] },
      ]);
    } finally {
      await db.close();
    }
  });
});
