// Proves that packed tuples sort the way the tuples do: for every pair of random tuples of mixed
// types, comparing their packed bytes agrees with a comparison written from FoundationDB's tuple
// specification (type code order first, then each type's value order), independently of the
// encoding.
import { seededRandom } from '@strata/core';
import { describe, expect, it } from 'vitest';
import { Double, Float32, Uuid, Versionstamp, pack, type Tuple, type TupleItem } from './tuple.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
const TUPLES = 700;

type Random = () => number;
const pick = <T>(random: Random, choices: readonly T[]): T => choices[Math.floor(random() * choices.length)]!;

// Small alphabets make equal prefixes common, so comparisons often reach deep into items and
// tuples; the values sit on the boundaries where encodings change length or form.
const BYTE_VALUES = [0x00, 0x01, 0x7f, 0xfe, 0xff];
// U+FFFF sorts before U+1F600 by code point, although its UTF-16 code unit sorts after the
// surrogate D83D that starts U+1F600: JavaScript's own string order would get this wrong.
const CHARACTERS = ['', '\u0000', 'a', 'b', '\u007f', '\u0080', '\u00e9', '\uffff', '\u{1f600}', '\u{10ffff}'];
const INTEGERS: readonly (number | bigint)[] = [
  0, 1, -1, 2, -2, 255, -255, 256, -256, 65535, -65536, 2 ** 31, -(2 ** 32), Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER,
  2n ** 53n, -(2n ** 53n), 2n ** 63n, -(2n ** 63n), 2n ** 64n - 1n, -(2n ** 64n - 1n), 2n ** 64n, -(2n ** 64n), 2n ** 64n + 1n,
  -(2n ** 64n + 1n), 2n ** 72n, -(2n ** 72n), 2n ** 2040n - 1n, -(2n ** 2040n - 1n), 2n ** 1000n, -(2n ** 1000n),
];
const NAN_BITS = ['7ff8000000000000', '7ff8000000000001', '7fffffffffffffff', 'fff8000000000000', 'fff0000000000001', 'ffffffffffffffff'];
// 1e300 and -1e300 are integral, so they pack as (long) integers, not doubles.
const NUMBERS: readonly number[] = [0.5, -0.5, 1e-310, -1e-310, Number.MIN_VALUE, 1e300, -1e300, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN];
const FLOATS: readonly number[] = [0, -0, 1, -1, 0.1, -0.1, 3.4e38, 1e-45, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN];

function randomItem(random: Random, depth: number): TupleItem {
  switch (Math.floor(random() * 14)) {
    case 0:
      return null;
    case 1:
      return Uint8Array.from({ length: Math.floor(random() * 4) }, () => pick(random, BYTE_VALUES));
    case 2:
    case 3:
      return Array.from({ length: Math.floor(random() * 4) }, () => pick(random, CHARACTERS)).join('');
    case 4:
      return depth < 3 ? randomTuple(random, depth + 1) : [];
    case 5:
    case 6:
      return pick(random, INTEGERS);
    case 7:
      return Math.floor(random() * 2000) - 1000;
    case 8: {
      const kind = Math.floor(random() * 4);
      if (kind === 0) return pick(random, NUMBERS);
      if (kind === 1) return new Double(pick(random, [0, -0, 1, -1, 2 ** 60]));
      if (kind === 2) return Double.fromBits(new Uint8Array(Buffer.from(pick(random, NAN_BITS), 'hex')));
      return (random() - 0.5) * 10;
    }
    case 9: {
      if (random() < 0.2) return Float32.fromBits(new Uint8Array(Buffer.from(pick(random, ['7fc00000', '7fc00001', 'ffc00000', 'ff800001']), 'hex')));
      return new Float32(pick(random, FLOATS));
    }
    case 10:
      return random() < 0.5;
    case 11:
      return new Uuid(Uint8Array.from({ length: 16 }, (_, i) => (i < 14 ? 0x11 : pick(random, BYTE_VALUES))));
    case 12:
      return new Versionstamp(
        Uint8Array.from({ length: 10 }, (_, i) => (i < 8 ? 0 : pick(random, BYTE_VALUES))),
        pick(random, [0, 1, 0xff, 0x100, 0xffff]),
      );
    default:
      return pick(random, ['users', 'user', '']);
  }
}

/** A tuple of 1 to 4 items at the top level (so that the empty tuple does not dominate), 0 to 3 nested. */
function randomTuple(random: Random, depth: number): TupleItem[] {
  const length = depth === 0 ? 1 + Math.floor(random() * 4) : Math.floor(random() * 4);
  return Array.from({ length }, () => randomItem(random, depth));
}

// ---------------------------------------------------------------------------------------------
// The specification's order, written from its text rather than from the encoding.

/** The type code that decides the order between items of different types. */
function typeCode(item: TupleItem): number {
  if (item === null) return 0x00;
  if (item instanceof Uint8Array) return 0x01;
  if (typeof item === 'string') return 0x02;
  if (Array.isArray(item)) return 0x05;
  // Every integer, whatever its length, sorts among the integers (codes 0x0b..0x1d are ordered
  // so that this holds); 0x14 stands for all of them.
  if (typeof item === 'bigint') return 0x14;
  if (typeof item === 'number') return Number.isInteger(item) && !Object.is(item, -0) ? 0x14 : 0x21;
  if (item instanceof Float32) return 0x20;
  if (item instanceof Double) return 0x21;
  if (item === false) return 0x26;
  if (item === true) return 0x27;
  if (item instanceof Uuid) return 0x30;
  if (item instanceof Versionstamp) return 0x33;
  throw new Error(`no type code for ${String(item)}`);
}

const sign = (n: number | bigint): number => (n < 0 ? -1 : n > 0 ? 1 : 0);

function compareUnsignedBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Unicode strings compare by code point (which UTF-8 byte order preserves). */
function compareCodePoints(a: string, b: string): number {
  const left = Array.from(a, (c) => c.codePointAt(0)!);
  const right = Array.from(b, (c) => c.codePointAt(0)!);
  const length = Math.min(left.length, right.length);
  for (let i = 0; i < length; i++) if (left[i] !== right[i]) return left[i]! - right[i]!;
  return left.length - right.length;
}

/**
 * IEEE 754 total order, as the specification lists it: negative NaNs (by mantissa, descending), -inf,
 * the real numbers with -0 before +0, +inf, positive NaNs (by mantissa, ascending).
 */
function compareFloats(a: { value: number; bits: Uint8Array }, b: { value: number; bits: Uint8Array }): number {
  const group = (x: { value: number; bits: Uint8Array }): number => (Number.isNaN(x.value) ? ((x.bits[0]! & 0x80) !== 0 ? -1 : 1) : 0);
  const groupA = group(a);
  const groupB = group(b);
  if (groupA !== groupB) return groupA - groupB;
  if (groupA === 0) {
    if (a.value !== b.value) return a.value < b.value ? -1 : 1;
    return (Object.is(a.value, -0) ? 0 : 1) - (Object.is(b.value, -0) ? 0 : 1);
  }
  // Two NaNs of one sign: the mantissa bits (everything after the sign and the all-ones exponent).
  const mantissa = (x: { bits: Uint8Array }): bigint => BigInt(`0x${Buffer.from(x.bits).toString('hex')}`) & ((1n << BigInt(x.bits.length * 8 - 1)) - 1n);
  const order = sign(mantissa(a) - mantissa(b));
  return groupA > 0 ? order : -order;
}

function floatOf(item: TupleItem): { value: number; bits: Uint8Array } {
  if (item instanceof Float32) return { value: Math.fround(item.value), bits: item.bits };
  const double = item instanceof Double ? item : new Double(item as number);
  return { value: double.value, bits: double.bits };
}

function compareItems(a: TupleItem, b: TupleItem): number {
  const codeA = typeCode(a);
  const codeB = typeCode(b);
  if (codeA !== codeB) return codeA - codeB;
  switch (codeA) {
    case 0x00:
    case 0x26:
    case 0x27:
      return 0;
    case 0x01:
      return compareUnsignedBytes(a as Uint8Array, b as Uint8Array);
    case 0x02:
      return compareCodePoints(a as string, b as string);
    case 0x05:
      return compareTuples(a as Tuple, b as Tuple);
    case 0x14:
      return sign(BigInt(a as number | bigint) - BigInt(b as number | bigint));
    case 0x20:
    case 0x21:
      return compareFloats(floatOf(a), floatOf(b));
    case 0x30:
      return compareUnsignedBytes((a as Uuid).bytes, (b as Uuid).bytes);
    default: {
      const stampA = a as Versionstamp;
      const stampB = b as Versionstamp;
      return compareUnsignedBytes(stampA.transactionVersion!, stampB.transactionVersion!) || stampA.userVersion - stampB.userVersion;
    }
  }
}

/** Tuples compare item by item; a tuple that is a prefix of another sorts first. */
function compareTuples(a: Tuple, b: Tuple): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const order = compareItems(a[i]!, b[i]!);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------------------------------------

describe('order of packed tuples', () => {
  it('agrees with the specification order for every pair of random tuples', () => {
    console.log(`tuple-order.test.ts: SEED=${SEED} (replay with SEED=${SEED})`);
    const random = seededRandom(SEED);
    const tuples = Array.from({ length: TUPLES }, () => randomTuple(random, 0));
    const packed = tuples.map((tuple) => Buffer.from(pack(tuple)));
    let pairs = 0;
    let equal = 0;
    let prefixPairs = 0;
    for (let i = 0; i < tuples.length; i++) {
      for (let j = i + 1; j < tuples.length; j++) {
        pairs++;
        const expected = Math.sign(compareTuples(tuples[i]!, tuples[j]!));
        const actual = Buffer.compare(packed[i]!, packed[j]!);
        if (expected === 0) equal++;
        if (actual !== 0 && (packed[i]!.subarray(0, packed[j]!.length).equals(packed[j]!) || packed[j]!.subarray(0, packed[i]!.length).equals(packed[i]!))) prefixPairs++;
        if (actual !== expected) {
          expect.fail(
            `SEED=${SEED}: tuples ${i} and ${j} compare ${expected} by the specification but ${actual} by bytes\n` +
              `${packed[i]!.toString('hex')}\n${packed[j]!.toString('hex')}`,
          );
        }
      }
    }
    console.log(`tuple-order.test.ts: ${pairs} pairs, ${equal} equal, ${prefixPairs} where one packed tuple is a prefix of the other`);
    expect(pairs).toBe((TUPLES * (TUPLES - 1)) / 2);
    // The run must reach the cases that are easy to get wrong: equal tuples and prefixes.
    expect(equal).toBeGreaterThan(0);
    expect(prefixPairs).toBeGreaterThan(100);
  });

  it('sorts the boundary values of each type in the specification order', () => {
    // A fixed list in ascending order, so a regression names the pair that broke.
    const ascending: TupleItem[] = [
      null,
      new Uint8Array(),
      Uint8Array.of(0),
      Uint8Array.of(0, 0),
      Uint8Array.of(0, 1),
      Uint8Array.of(0xff),
      '',
      '\u0000',
      'a',
      'a\u0000',
      'a\u0001',
      '\uffff',
      '\u{1f600}',
      [],
      [null],
      [null, null],
      [new Uint8Array()],
      [0],
      -(2n ** 2040n - 1n),
      -(2n ** 64n),
      -(2n ** 64n - 1n),
      -(2n ** 53n),
      -256,
      -255,
      -1,
      0,
      1,
      255,
      256,
      2n ** 64n - 1n,
      2n ** 64n,
      2n ** 2040n - 1n,
      Float32.fromBits(Uint8Array.of(0xff, 0xc0, 0, 0)),
      new Float32(Number.NEGATIVE_INFINITY),
      new Float32(-1),
      new Float32(-0),
      new Float32(0),
      new Float32(1),
      new Float32(Number.POSITIVE_INFINITY),
      new Float32(Number.NaN),
      Double.fromBits(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)),
      Double.fromBits(Uint8Array.of(0xff, 0xf8, 0, 0, 0, 0, 0, 0)),
      Number.NEGATIVE_INFINITY,
      -123.25,
      new Double(-1),
      -Number.MIN_VALUE,
      new Double(-0),
      new Double(0),
      Number.MIN_VALUE,
      0.5,
      new Double(1),
      Number.POSITIVE_INFINITY,
      Number.NaN,
      Double.fromBits(Uint8Array.of(0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)),
      false,
      true,
      new Uuid(new Uint8Array(16)),
      new Uuid(new Uint8Array(16).fill(0xff)),
      new Versionstamp(new Uint8Array(10), 0),
      new Versionstamp(new Uint8Array(10), 1),
      new Versionstamp(new Uint8Array(10).fill(1), 0),
    ];
    for (let i = 1; i < ascending.length; i++) {
      const before = ascending[i - 1]!;
      const after = ascending[i]!;
      const context = `items ${i - 1} and ${i}`;
      expect(compareItems(before, after), context).toBeLessThan(0);
      expect(Buffer.compare(pack([before]), pack([after])), context).toBe(-1);
      // Also as the first item of a longer tuple, and inside a nested tuple.
      expect(Buffer.compare(pack([before, 'z']), pack([after, null])), context).toBe(-1);
      expect(Buffer.compare(pack([[before]]), pack([[after]])), context).toBe(-1);
    }
  });
});
