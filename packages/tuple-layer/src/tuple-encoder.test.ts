// Proves that the tuple encoder writes exactly FoundationDB's encoding: on random tuples of every
// type (integers on every byte-length boundary up to 255 bytes, strings with multi-byte and astral
// characters and NULs, bytes with 0x00 and 0xFF, doubles and floats of every kind, nested tuples)
// `pack`, `packWithPrefix` and `packWithVersionstamp` give the bytes the npm package fdb-tuple (an
// independent implementation) gives; that `pack` and `unpack` are inverse; that each encoding error
// is the documented one, naming the item's path; and that results never share memory with one
// another or with the encoder's reused scratch array (invariants 1 to 3 of tuple-encoder.ts).
import { seededRandom } from '@strata/core';
import * as fdbTuple from 'fdb-tuple';
import { describe, expect, it } from 'vitest';
import { tupleEncoder } from './encoders.js';
import { TupleLayerError } from './errors.js';
import { Subspace } from './subspace.js';
import { Double, Float32, TUPLE_NESTING_DEPTH_MAX, Uuid, Versionstamp, pack, packWithPrefix, packWithVersionstamp, unpack, type Tuple, type TupleItem } from './tuple.js';

const SEED = Number(process.env.TUPLE_SEED ?? process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = 20_000;

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/ /g, ''), 'hex'));
const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

function thrown(fn: () => unknown): TupleLayerError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TupleLayerError);
    return error as TupleLayerError;
  }
  throw new Error('expected the call to throw');
}

// ---------------------------------------------------------------------------------------------
// Random tuples.

type Random = () => number;
const below = (random: Random, n: number): number => Math.floor(random() * n);
const pick = <T>(random: Random, choices: readonly T[]): T => choices[below(random, choices.length)]!;

/** A double NaN whose payload is not the canonical one, as V8 keeps it when read from memory. */
function payloadNaN(): number {
  const scratch = new Float64Array(1);
  new Uint8Array(scratch.buffer).set([1, 0, 0, 0, 0, 0, 0xf8, 0xff]);
  return scratch[0]!;
}

// Integers where the encoding changes length or form: 2^(8k) - 1, 2^(8k) and 2^(8k) + 1 for every
// magnitude length k up to 255 bytes (2^2040 itself is one byte too long), both signs, and the
// neighbours of 2^53, where numbers stop being safe.
const BOUNDARY_MAGNITUDES: bigint[] = [0n, 1n, 2n, 2n ** 52n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n];
for (let k = 1; k <= 255; k++) {
  const power = 1n << BigInt(8 * k);
  BOUNDARY_MAGNITUDES.push(power - 1n, power >> 1n);
  if (k < 255) BOUNDARY_MAGNITUDES.push(power, power + 1n);
}

/** `value` as a `number` if a double holds it exactly (unsafe integers too), else `null`. */
function exactNumber(value: bigint): number | null {
  const asNumber = Number(value);
  return Number.isFinite(asNumber) && BigInt(asNumber) === value ? asNumber : null;
}

/** An integer as a `number` when a double holds it exactly and a coin says so, else as a `bigint`. */
function asNumberOrBigInt(random: Random, value: bigint): number | bigint {
  const asNumber = exactNumber(value);
  return asNumber !== null && random() < 0.5 ? asNumber : value;
}

function randomInteger(random: Random): number | bigint {
  let magnitude: bigint;
  const kind = below(random, 4);
  if (kind === 0) {
    magnitude = pick(random, BOUNDARY_MAGNITUDES);
  } else if (kind === 1) {
    // Uniform in the safe range's magnitudes of 1 to 7 bytes: keys' usual integers.
    return pick(random, [1, -1]) * below(random, 2 ** (8 * (1 + below(random, 7))));
  } else {
    magnitude = 0n;
    const length = kind === 2 ? below(random, 10) : below(random, 256);
    for (let i = 0; i < length; i++) magnitude = (magnitude << 8n) | BigInt(below(random, 256));
  }
  return asNumberOrBigInt(random, random() < 0.5 ? -magnitude : magnitude);
}

const CHARACTERS = ['a', 'Z', '0', ' ', '\u0000', '\u0001', '\u007f', '\u0080', '\u00e9', '\u07ff', '\u0800', '\u4e2d', '\ufeff', '\uffff', '\u{10000}', '\u{1f600}', '\u{10ffff}'];

function randomString(random: Random): string {
  // Mostly short strings (the encoder's loop), sometimes long ones (the native path from 48 UTF-16
  // code units), in one alphabet or mixed, so that both paths see ASCII, multi-byte, astral and NUL.
  const length = random() < 0.8 ? below(random, 12) : 30 + below(random, 150);
  const alphabet = random() < 0.3 ? ['a', 'b', 'z', '~'] : random() < 0.5 ? CHARACTERS.filter((c) => c !== '\u0000') : CHARACTERS;
  let text = '';
  for (let i = 0; i < length; i++) text += pick(random, alphabet);
  return text;
}

function randomBytes(random: Random): Uint8Array {
  const length = random() < 0.8 ? below(random, 10) : 20 + below(random, 100);
  const noZero = random() < 0.3;
  const bytes = Uint8Array.from({ length }, () => (noZero ? 1 + below(random, 255) : pick(random, [0x00, 0xff, 0x01, 0xfe, below(random, 256)])));
  // Views into a larger array and Buffers are Uint8Arrays too, and must pack by their own bytes only.
  const form = below(random, 4);
  if (form === 0) {
    const larger = new Uint8Array(length + 6).fill(0xaa);
    larger.set(bytes, 3);
    return larger.subarray(3, 3 + length);
  }
  if (form === 1) return Buffer.from(bytes);
  return bytes;
}

function randomBits(random: Random, count: number): Uint8Array {
  // Exponent bits all set half the time, so that NaNs and infinities with payloads come up.
  const bits = Uint8Array.from({ length: count }, () => below(random, 256));
  if (random() < 0.5) {
    bits[0]! |= 0x7f;
    bits[1]! |= count === 8 ? 0xf0 : 0x80;
  }
  return bits;
}

function randomDouble(random: Random): TupleItem {
  switch (below(random, 5)) {
    case 0:
      return pick(random, [0.5, -0.5, Math.PI, -1e-300, Number.MIN_VALUE, -Number.MIN_VALUE, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, payloadNaN(), -0]);
    case 1:
      return (random() - 0.5) * 10 ** below(random, 40);
    case 2:
      return new Double(pick(random, [0, -0, 1, -1, 2 ** 60, -(2 ** 70), Number.MAX_VALUE, Number.NaN, payloadNaN(), 0.25, random() - 0.5]));
    case 3:
      return Double.fromBits(randomBits(random, 8));
    default:
      return random() < 0.5
        ? Float32.fromBits(randomBits(random, 4))
        : new Float32(pick(random, [0, -0, 1, -42, 1e40, -1e40, 1e-50, Number.NaN, payloadNaN(), Number.POSITIVE_INFINITY, random() - 0.5]));
  }
}

function randomItem(random: Random, depth: number): TupleItem {
  switch (below(random, 12)) {
    case 0:
      return null;
    case 1:
      return randomBytes(random);
    case 2:
    case 3:
      return randomString(random);
    case 4:
      return depth < 4 ? randomTuple(random, depth + 1) : [];
    case 5:
    case 6:
      return randomInteger(random);
    case 7:
      return randomDouble(random);
    case 8:
      return random() < 0.5;
    case 9:
      return new Uuid(Uint8Array.from({ length: 16 }, () => pick(random, [0x00, 0xff, below(random, 256)])));
    case 10:
      return new Versionstamp(Uint8Array.from({ length: 10 }, () => pick(random, [0x00, 0xff, below(random, 256)])), pick(random, [0, 1, 0xff, 0x100, 0xffff, below(random, 0x10000)]));
    default:
      return random() < 0.5 ? pick(random, ['users', 'orders', '']) : below(random, 1_000_000);
  }
}

function randomTuple(random: Random, depth: number): TupleItem[] {
  return Array.from({ length: below(random, depth === 0 ? 7 : 4) }, () => randomItem(random, depth));
}

// ---------------------------------------------------------------------------------------------
// The oracle: fdb-tuple's item for each of ours, written from the rules of the README and TSDoc
// rather than from tuple-encoder.ts. fdb-tuple is correct for everything given here; where it is
// not (it packs an unsafe integral number as a double, and would write a NaN's payload), the item is
// given to it in a form it packs correctly.

const CANONICAL_DOUBLE_NAN_HEX = '7ff8000000000000';
const CANONICAL_FLOAT_NAN_HEX = '7fc00000';

function toFdb(item: TupleItem): fdbTuple.TupleItem {
  if (item === null || typeof item === 'string' || typeof item === 'boolean' || typeof item === 'bigint') return item;
  if (typeof item === 'number') {
    if (Number.isInteger(item) && !Object.is(item, -0)) return Number.isSafeInteger(item) ? item : BigInt(item);
    return Number.isNaN(item) ? { type: 'double', value: item, rawEncoding: Buffer.from(CANONICAL_DOUBLE_NAN_HEX, 'hex') } : { type: 'double', value: item };
  }
  if (item instanceof Uint8Array) return Buffer.from(item);
  if (Array.isArray(item)) return item.map(toFdb);
  if (item instanceof Double) return Number.isNaN(item.value) ? { type: 'double', value: item.value, rawEncoding: Buffer.from(item.bits) } : { type: 'double', value: item.value };
  if (item instanceof Float32) return Number.isNaN(item.value) ? { type: 'float', value: item.value, rawEncoding: Buffer.from(item.bits) } : { type: 'float', value: item.value };
  if (item instanceof Uuid) return { type: 'uuid', value: Buffer.from(item.bytes) };
  const stamp = item as Versionstamp;
  if (stamp.transactionVersion === null) return { type: 'unbound versionstamp', code: stamp.userVersion };
  return { type: 'versionstamp', value: Buffer.concat([stamp.transactionVersion, Uint8Array.of(stamp.userVersion >> 8, stamp.userVersion & 0xff)]) };
}

/** What `unpack` gives back for `item`, by the rules of tuple.ts's TSDoc. */
function unpacked(item: TupleItem): TupleItem {
  if (typeof item === 'number') {
    if (Object.is(item, -0)) return new Double(-0);
    return Number.isInteger(item) && !Number.isSafeInteger(item) ? BigInt(item) : item;
  }
  if (typeof item === 'bigint') return Number.isSafeInteger(Number(item)) && BigInt(Number(item)) === item ? Number(item) : item;
  if (item instanceof Uint8Array) return new Uint8Array(item);
  if (Array.isArray(item)) return item.map(unpacked);
  if (item instanceof Double) {
    if (Number.isNaN(item.value)) return hex(item.bits) === CANONICAL_DOUBLE_NAN_HEX ? Number.NaN : Double.fromBits(item.bits);
    return Number.isInteger(item.value) || Object.is(item.value, -0) ? new Double(item.value) : item.value;
  }
  if (item instanceof Float32) return Number.isNaN(item.value) ? Float32.fromBits(item.bits) : new Float32(Math.fround(item.value));
  return item;
}

/** fdb-tuple's bytes for `tuple` (holding exactly one incomplete versionstamp) after `prefix`, with the placeholder offset appended. */
function fdbWithVersionstamp(tuple: Tuple, prefix: Uint8Array): Uint8Array {
  const { data, stampPos } = fdbTuple.packUnboundVersionstamp(tuple.map(toFdb));
  const offset = Buffer.alloc(4);
  offset.writeUInt32LE(prefix.length + stampPos);
  return concat(prefix, data, offset);
}

/** `tuple` with an incomplete versionstamp inserted at a random place, possibly inside a nested tuple. */
function withIncompleteVersionstamp(random: Random, tuple: TupleItem[]): TupleItem[] {
  const stamp = Versionstamp.incomplete(below(random, 0x10000));
  const nested = tuple.findIndex((item) => Array.isArray(item));
  if (nested >= 0 && random() < 0.5) {
    const inner = [...(tuple[nested] as TupleItem[])];
    inner.splice(below(random, inner.length + 1), 0, stamp);
    return tuple.map((item, i) => (i === nested ? inner : item));
  }
  const copy = [...tuple];
  copy.splice(below(random, copy.length + 1), 0, stamp);
  return copy;
}

describe('agreement with fdb-tuple on random tuples', () => {
  it(`packs ${ROUNDS} random tuples, with and without a prefix and an incomplete versionstamp, to fdb-tuple's bytes, and unpacks them back`, () => {
    console.log('seed', SEED, `(tuple-encoder.test.ts; replay with TUPLE_SEED=${SEED})`);
    const random = seededRandom(SEED);
    const kinds = new Set<string>();
    for (let round = 0; round < ROUNDS; round++) {
      const tuple = randomTuple(random, 0);
      const packed = pack(tuple);
      const context = `TUPLE_SEED=${SEED} round ${round}: ${hex(packed)}`;
      expect(hex(packed), context).toBe(hex(fdbTuple.pack(tuple.map(toFdb))));
      expect(packed.constructor, context).toBe(Uint8Array);

      const items = unpack(packed);
      expect(items, context).toStrictEqual(tuple.map(unpacked));
      expect(hex(pack(items)), context).toBe(hex(packed));

      const prefix = randomBytes(random);
      expect(hex(packWithPrefix(prefix, tuple)), context).toBe(hex(prefix) + hex(packed));

      const stamped = withIncompleteVersionstamp(random, tuple);
      expect(hex(packWithVersionstamp(stamped, prefix)), context).toBe(hex(fdbWithVersionstamp(stamped, prefix)));
      for (const byte of packed.subarray(0, 1)) kinds.add(byte.toString(16));
    }
    // Every type code's first byte came up as a first item (a test of the generator, not the encoder).
    for (const code of ['0', '1', '2', '5', 'b', '14', '1d', '20', '21', '26', '27', '30', '33']) expect(kinds, `type code 0x${code}`).toContain(code);
  });

  it('packs every integer boundary, as a bigint and (when exact) as a number, to fdb-tuple bytes and back', () => {
    for (const magnitude of BOUNDARY_MAGNITUDES) {
      for (const value of [magnitude, -magnitude]) {
        const forms: (number | bigint)[] = [value];
        const asNumber = exactNumber(value);
        if (asNumber !== null) forms.push(asNumber);
        for (const form of forms) {
          const packed = pack([form]);
          expect(hex(packed), `${form}`).toBe(hex(fdbTuple.pack([toFdb(form)])));
          expect(unpack(packed), `${form}`).toStrictEqual([unpacked(form)]);
        }
      }
    }
  });

  it('packs strings around the length where the encoder changes method like fdb-tuple does', () => {
    for (let length = 40; length <= 56; length++) {
      for (const tail of ['', '\u0000', '\u00e9', '\u4e2d', '\u{1f600}', 'a\u0000b']) {
        const text = 'x'.repeat(length) + tail;
        expect(hex(pack([text, [text]])), JSON.stringify(text)).toBe(hex(fdbTuple.pack([text, [text]])));
        expect(unpack(pack([text]))).toStrictEqual([text]);
      }
    }
    const large = '\u00e9\u{1f600}a\u0000'.repeat(30_000);
    expect(hex(pack([large]))).toBe(hex(fdbTuple.pack([large])));
  });
});

// ---------------------------------------------------------------------------------------------
// Errors: the code, message and details each had before the encoder replaced fdb-tuple.

describe('encoding errors', () => {
  const nest = (levels: number): Tuple => {
    let tuple: Tuple = [];
    for (let i = 1; i < levels; i++) tuple = [tuple];
    return [tuple];
  };
  const deepPath = (levels: number): string => '[0]'.repeat(levels);

  const cases: { name: string; run: () => unknown; message: string; path?: string }[] = [
    { name: 'undefined', run: () => pack(['a', undefined as unknown as TupleItem]), message: 'tuple item [1] has a type tuples cannot hold (undefined)', path: '[1]' },
    { name: 'a plain object, nested', run: () => pack([1, 2, [{} as TupleItem]]), message: 'tuple item [2][0] has a type tuples cannot hold (Object)', path: '[2][0]' },
    { name: 'a Map', run: () => pack([new Map() as unknown as TupleItem]), message: 'tuple item [0] has a type tuples cannot hold (Map)', path: '[0]' },
    { name: 'a symbol', run: () => pack([Symbol('x') as unknown as TupleItem]), message: 'tuple item [0] has a type tuples cannot hold (symbol)', path: '[0]' },
    { name: 'a Uint16Array', run: () => pack([new Uint16Array(2) as unknown as TupleItem]), message: 'tuple item [0] has a type tuples cannot hold (Uint16Array)', path: '[0]' },
    { name: 'a String object', run: () => pack([new String('x') as unknown as TupleItem]), message: 'tuple item [0] has a type tuples cannot hold (String)', path: '[0]' },
    { name: 'a lone high surrogate', run: () => pack(['\ud800x']), message: 'tuple item [0] is a string with a lone surrogate, which UTF-8 cannot encode', path: '[0]' },
    { name: 'a lone low surrogate, nested', run: () => pack(['a', [1, ['\udc00']]]), message: 'tuple item [1][1][0] is a string with a lone surrogate, which UTF-8 cannot encode', path: '[1][1][0]' },
    { name: 'a high surrogate at the end', run: () => pack(['abc\ud83d']), message: 'tuple item [0] is a string with a lone surrogate, which UTF-8 cannot encode', path: '[0]' },
    { name: 'a high surrogate before a character above the surrogates', run: () => pack(['\ud800\ue000']), message: 'tuple item [0] is a string with a lone surrogate, which UTF-8 cannot encode', path: '[0]' },
    { name: 'surrogates in the wrong order', run: () => pack(['\ude00\ud83d']), message: 'tuple item [0] is a string with a lone surrogate, which UTF-8 cannot encode', path: '[0]' },
    { name: 'a lone surrogate in a long string', run: () => pack(['x'.repeat(100) + '\ud800']), message: 'tuple item [0] is a string with a lone surrogate, which UTF-8 cannot encode', path: '[0]' },
    { name: 'an integer of 256 bytes', run: () => pack([2n ** 2040n]), message: 'tuple item [0] is an integer of more than 255 bytes, the most the tuple encoding holds', path: '[0]' },
    { name: 'a negative integer of 256 bytes, nested', run: () => pack([[0, -(2n ** 2040n)]]), message: 'tuple item [0][1] is an integer of more than 255 bytes, the most the tuple encoding holds', path: '[0][1]' },
    {
      name: 'tuples nested too deep',
      run: () => pack([1, ...nest(TUPLE_NESTING_DEPTH_MAX + 1)]),
      message: `tuple item [1]${deepPath(TUPLE_NESTING_DEPTH_MAX)} nests tuples deeper than ${TUPLE_NESTING_DEPTH_MAX} levels`,
      path: `[1]${deepPath(TUPLE_NESTING_DEPTH_MAX)}`,
    },
    { name: 'an incomplete versionstamp in pack', run: () => pack(['a', Versionstamp.incomplete()]), message: 'cannot pack the tuple: Incomplete versionstamp included in vanilla tuple pack' },
    { name: 'two incomplete versionstamps in pack', run: () => pack([Versionstamp.incomplete(), [Versionstamp.incomplete(1)]]), message: 'cannot pack the tuple: Tuples may only contain 1 unset versionstamp' },
    { name: 'an incomplete versionstamp in packWithPrefix', run: () => packWithPrefix(Uint8Array.of(1), [Versionstamp.incomplete()]), message: 'cannot pack the tuple: Incomplete versionstamp included in vanilla tuple pack' },
    {
      name: 'no incomplete versionstamp in packWithVersionstamp',
      run: () => packWithVersionstamp(['a']),
      message: 'packWithVersionstamp needs exactly one incomplete versionstamp: No incomplete versionstamp included in tuple pack with versionstamp',
    },
    {
      name: 'two incomplete versionstamps in packWithVersionstamp',
      run: () => packWithVersionstamp([Versionstamp.incomplete(), Versionstamp.incomplete(1)]),
      message: 'packWithVersionstamp needs exactly one incomplete versionstamp: Tuples may only contain 1 unset versionstamp',
    },
    // An item error comes first, wherever it is, as when items were converted before packing.
    { name: 'a bad item after two incomplete versionstamps', run: () => pack([Versionstamp.incomplete(), Versionstamp.incomplete(), undefined as unknown as TupleItem]), message: 'tuple item [2] has a type tuples cannot hold (undefined)', path: '[2]' },
    { name: 'a non-array to pack', run: () => pack('users' as unknown as Tuple), message: 'pack must be an array of tuple items, got string' },
    { name: 'a non-array to packWithPrefix', run: () => packWithPrefix(Uint8Array.of(1), 7 as unknown as Tuple), message: 'packWithPrefix must be an array of tuple items, got number' },
    { name: 'a prefix that is not bytes', run: () => packWithPrefix([1] as unknown as Uint8Array, []), message: 'packWithPrefix needs a Uint8Array prefix, got Array' },
  ];
  for (const { name, run, message, path } of cases) {
    it(`rejects ${name}`, () => {
      const error = thrown(run);
      expect(error.code).toBe('tuple_encode_error');
      expect(error.message).toBe(message);
      expect(error.details).toStrictEqual(path === undefined ? {} : { path });
    });
  }

  it(`accepts ${TUPLE_NESTING_DEPTH_MAX} levels of nesting and the largest integers`, () => {
    expect(pack(nest(TUPLE_NESTING_DEPTH_MAX)).length).toBe(2 * TUPLE_NESTING_DEPTH_MAX);
    expect(hex(pack([2n ** 2040n - 1n, -(2n ** 2040n - 1n)]))).toBe(`1dff${'ff'.repeat(255)}0b00${'00'.repeat(255)}`);
  });
});

// ---------------------------------------------------------------------------------------------
// The scratch array: results are copies, and nothing survives a failed or nested call.

describe('the reused scratch array', () => {
  it('returns arrays that share no bytes with each other or the scratch, exactly as long as the bytes', () => {
    const first = pack(['users', 1]);
    const second = pack(['users', 2]);
    const prefixed = packWithPrefix(first, ['x']);
    const stamped = packWithVersionstamp([Versionstamp.incomplete()]);
    const long = pack(['x'.repeat(2000)]); // past the slab's copies: a buffer of its own
    const all = [first, second, prefixed, stamped, long];
    expect(all.map((bytes) => bytes.length)).toEqual([9, 9, 12, 17, 2002]);
    for (const [i, a] of all.entries()) {
      for (const b of all.slice(i + 1)) {
        const disjoint = a.buffer !== b.buffer || a.byteOffset + a.length <= b.byteOffset || b.byteOffset + b.length <= a.byteOffset;
        expect(disjoint).toBe(true);
      }
    }
    first.fill(0);
    expect(hex(second)).toBe('027573657273001502');
    expect(hex(prefixed)).toBe('027573657273001501027800');
    expect(hex(pack(['users', 1]))).toBe('027573657273001501');
  });

  it('does not change the prefix or the items it reads', () => {
    const prefix = Uint8Array.of(1, 0, 2);
    const bytes = Uint8Array.of(0, 0xff);
    const key = packWithPrefix(prefix, [bytes]);
    key.fill(9);
    expect(hex(prefix)).toBe('010002');
    expect(hex(bytes)).toBe('00ff');
  });

  it('packs correctly after a call that failed half-way and after one that grew the array past what it keeps', () => {
    expect(() => pack(['a long string that was written before the failure', 123, [null, {} as TupleItem]])).toThrow(TupleLayerError);
    expect(hex(pack(['x']))).toBe('027800');
    const large = new Uint8Array(200_000).fill(0);
    large[7] = 5;
    const packed = pack([large, 'after']);
    expect(hex(packed)).toBe(hex(fdbTuple.pack([Buffer.from(large), 'after'])));
    expect(hex(pack([1]))).toBe('1501');
  });

  it('keeps a call made from inside another (through a Proxy) apart from it', () => {
    const inner: Uint8Array[] = [];
    const items: TupleItem[] = ['outer', 7, [null, 'nested']];
    const proxy = new Proxy(items, {
      get(target, property, receiver) {
        if (property === '1') inner.push(pack(['inner', 42]));
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    expect(hex(pack(proxy))).toBe(hex(pack(items)));
    expect(inner.map(hex)).toStrictEqual([hex(pack(['inner', 42]))]);
    expect(hex(inner[0]!)).toBe('02696e6e657200152a');
  });
});

describe('packWithPrefix and Subspace', () => {
  it('equals the prefix followed by pack(tuple), for short and long prefixes and views', () => {
    const tuple: Tuple = ['users', 42, new Uuid(new Uint8Array(16).fill(0xab)), [null, 1.5]];
    const larger = Uint8Array.from({ length: 100 }, (_, i) => i);
    for (const prefix of [new Uint8Array(), Uint8Array.of(0xfe), larger.subarray(10, 50), larger, Buffer.from('prefix'), fromHex('00ff00')]) {
      expect(hex(packWithPrefix(prefix, tuple))).toBe(hex(prefix) + hex(pack(tuple)));
      expect(packWithPrefix(prefix, tuple).constructor).toBe(Uint8Array);
    }
  });

  it('is what a subspace with tuple keys packs, which otherwise behaves as before', () => {
    const users = new Subspace(['users']);
    expect(hex(users.pack([42, 'name']))).toBe(hex(concat(users.prefix, pack([42, 'name']))));
    const explicit = new Subspace(Uint8Array.of(0x15, 0x01), { keyEncoder: tupleEncoder });
    expect(hex(explicit.pack(['a']))).toBe('1501026100');
    const error = thrown(() => users.pack('users' as unknown as TupleItem[]));
    expect(error.message).toBe('pack must be an array of tuple items, got string');
    expect(thrown(() => users.pack([undefined as unknown as TupleItem])).message).toBe('tuple item [0] has a type tuples cannot hold (undefined)');
  });
});
