// Proves that tuples pack to exactly the bytes of FoundationDB's tuple specification and unpack
// from them (golden vectors checked both ways), that unpack rejects every kind of malformed input
// with a tuple_decode_error naming the offset, that incomplete versionstamps work through a real
// database's setVersionstampedKey, and that pack and unpack agree with fdb-tuple on random tuples.
import { encodeVersionstampOffset, open, seededRandom, strinc, type Database } from '@strata/core';
import * as fdbTuple from 'fdb-tuple';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TupleLayerError } from './errors.js';
import {
  Double,
  Float32,
  TUPLE_NESTING_DEPTH_MAX,
  Uuid,
  Versionstamp,
  pack,
  packWithVersionstamp,
  packedItemOffsets,
  range,
  unpack,
  type Tuple,
  type TupleItem,
} from './tuple.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text.replace(/ /g, ''), 'hex'));
const ascii = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));
const repeat = (byteHex: string, count: number): string => byteHex.repeat(count);

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to throw');
}

const UUID_TEXT = '123e4567-e89b-12d3-a456-426614174000';
const TEN_BYTES = fromHex('00000000000001020304');

interface Golden {
  name: string;
  tuple: Tuple;
  bytes: string;
  /** What unpacking gives when it is not `tuple` itself (a number that comes back as a bigint, ...). */
  unpacked?: TupleItem[];
}

// Every vector is a fact about FoundationDB's encoding (design/tuple.md, and what the Python and
// Java bindings write for the arbitrary-length integer forms). The first four are the
// specification's own test cases.
const GOLDEN: Golden[] = [
  { name: 'spec: bytes with an embedded 0x00', tuple: [ascii('foo\x00bar')], bytes: '01 666f6f 00ff 626172 00' },
  { name: 'spec: string with U+00D4 and an embedded NUL', tuple: ['F\u00d4O\u0000bar'], bytes: '02 46 c394 4f 00ff 626172 00' },
  {
    name: 'spec: nested tuple holding bytes, null and an empty tuple',
    tuple: [[ascii('foo\x00bar'), null, []]],
    bytes: '05 01666f6f00ff62617200 00ff 0500 00',
  },
  { name: 'spec: -5551212', tuple: [-5551212], bytes: '11 ab4b93' },
  { name: 'spec: float -42', tuple: [new Float32(-42)], bytes: '20 3dd7ffff' },
  { name: 'empty tuple', tuple: [], bytes: '' },
  { name: 'null', tuple: [null], bytes: '00' },
  { name: 'two nulls', tuple: [null, null], bytes: '00 00' },
  { name: 'empty bytes', tuple: [new Uint8Array()], bytes: '01 00' },
  { name: 'bytes of 0x00 and 0xFF', tuple: [fromHex('00ff00')], bytes: '01 00ff ff 00ff 00' },
  { name: 'empty string', tuple: [''], bytes: '02 00' },
  { name: 'string of a NUL', tuple: ['\u0000'], bytes: '02 00ff 00' },
  { name: 'string with an astral character', tuple: ['a\u{1f600}'], bytes: '02 61 f09f9880 00' },
  { name: 'string starting with a byte-order mark', tuple: ['\ufeffx'], bytes: '02 efbbbf 78 00' },
  { name: 'nested null', tuple: [[null]], bytes: '05 00ff 00' },
  { name: 'empty nested tuple', tuple: [[]], bytes: '05 00' },
  { name: 'nested tuples two deep', tuple: [[[null], []]], bytes: '05 05 00ff 00 05 00 00' },
  { name: 'null after a nested tuple', tuple: [[1], null], bytes: '05 1501 00 00' },
  { name: 'integer 0', tuple: [0], bytes: '14' },
  { name: 'integer 1', tuple: [1], bytes: '15 01' },
  { name: 'integer -1', tuple: [-1], bytes: '13 fe' },
  { name: 'integer 255', tuple: [255], bytes: '15 ff' },
  { name: 'integer 256', tuple: [256], bytes: '16 0100' },
  { name: 'integer -255', tuple: [-255], bytes: '13 00' },
  { name: 'integer -256', tuple: [-256], bytes: '12 feff' },
  { name: 'integer 2^32', tuple: [2 ** 32], bytes: '19 0100000000' },
  { name: 'integer 2^53 - 1 (largest safe)', tuple: [Number.MAX_SAFE_INTEGER], bytes: '1b 1fffffffffffff' },
  { name: 'integer -(2^53 - 1)', tuple: [-Number.MAX_SAFE_INTEGER], bytes: '0d e0000000000000' },
  { name: 'integer 2^53 as a number', tuple: [2 ** 53], bytes: '1b 20000000000000', unpacked: [2n ** 53n] },
  { name: 'integer 2^53 as a bigint', tuple: [2n ** 53n], bytes: '1b 20000000000000' },
  { name: 'small bigint unpacks as a number', tuple: [42n], bytes: '15 2a', unpacked: [42] },
  { name: 'integer 2^63', tuple: [2n ** 63n], bytes: '1c 8000000000000000' },
  { name: 'integer 2^64 - 1', tuple: [2n ** 64n - 1n], bytes: '1c ffffffffffffffff' },
  { name: 'integer -(2^64 - 1)', tuple: [-(2n ** 64n - 1n)], bytes: '0c 0000000000000000' },
  { name: 'integer 2^64 (0x1d form)', tuple: [2n ** 64n], bytes: '1d 09 010000000000000000' },
  { name: 'integer -2^64 (0x0b form)', tuple: [-(2n ** 64n)], bytes: '0b f6 feffffffffffffffff' },
  { name: 'integer 2^100', tuple: [2n ** 100n], bytes: '1d 0d 10000000000000000000000000' },
  { name: 'largest integer: 255 bytes of 0xFF', tuple: [2n ** 2040n - 1n], bytes: `1d ff ${repeat('ff', 255)}` },
  { name: 'most negative integer', tuple: [-(2n ** 2040n - 1n)], bytes: `0b 00 ${repeat('00', 255)}` },
  { name: 'integral number beyond 2^53 packs as an integer', tuple: [1e20], bytes: '1d 09 056bc75e2d63100000', unpacked: [100000000000000000000n] },
  { name: 'double 1.5', tuple: [1.5], bytes: '21 bff8000000000000' },
  { name: 'double -1.5', tuple: [-1.5], bytes: '21 4007ffffffffffff' },
  { name: 'double 0.0', tuple: [new Double(0)], bytes: '21 8000000000000000' },
  { name: 'double -0.0', tuple: [new Double(-0)], bytes: '21 7fffffffffffffff' },
  { name: 'plain -0 packs as a double', tuple: [-0], bytes: '21 7fffffffffffffff', unpacked: [new Double(-0)] },
  { name: 'double 1.0', tuple: [new Double(1)], bytes: '21 bff0000000000000' },
  { name: 'Double of a fraction unpacks as a number', tuple: [new Double(0.25)], bytes: '21 bfd0000000000000', unpacked: [0.25] },
  { name: 'double NaN', tuple: [Number.NaN], bytes: '21 fff8000000000000' },
  { name: 'double +Infinity', tuple: [Number.POSITIVE_INFINITY], bytes: '21 fff0000000000000' },
  { name: 'double -Infinity', tuple: [Number.NEGATIVE_INFINITY], bytes: '21 000fffffffffffff' },
  { name: 'double smallest subnormal', tuple: [Number.MIN_VALUE], bytes: '21 8000000000000001' },
  { name: 'float 0.0', tuple: [new Float32(0)], bytes: '20 80000000' },
  { name: 'float -0.0', tuple: [new Float32(-0)], bytes: '20 7fffffff' },
  { name: 'float NaN', tuple: [new Float32(Number.NaN)], bytes: '20 ffc00000' },
  { name: 'float +Infinity', tuple: [new Float32(Number.POSITIVE_INFINITY)], bytes: '20 ff800000' },
  { name: 'float -Infinity', tuple: [new Float32(Number.NEGATIVE_INFINITY)], bytes: '20 007fffff' },
  { name: 'float 1.0', tuple: [new Float32(1)], bytes: '20 bf800000' },
  { name: 'false', tuple: [false], bytes: '26' },
  { name: 'true', tuple: [true], bytes: '27' },
  { name: 'UUID', tuple: [Uuid.fromString(UUID_TEXT)], bytes: '30 123e4567e89b12d3a456426614174000' },
  { name: 'complete versionstamp', tuple: [new Versionstamp(TEN_BYTES, 0x0102)], bytes: '33 00000000000001020304 0102' },
  {
    name: 'versionstamp with all-0xFF transaction bytes stays complete',
    tuple: [new Versionstamp(fromHex(repeat('ff', 10)), 7)],
    bytes: `33 ${repeat('ff', 10)} 0007`,
  },
  {
    name: 'a typical key',
    tuple: ['users', 123456, Uuid.fromString(UUID_TEXT)],
    bytes: '02 7573657273 00 17 01e240 30 123e4567e89b12d3a456426614174000',
  },
];

describe('golden vectors', () => {
  for (const golden of GOLDEN) {
    it(`packs and unpacks ${golden.name}`, () => {
      const bytes = fromHex(golden.bytes);
      expect(hex(pack(golden.tuple))).toBe(hex(bytes));
      const unpacked = unpack(bytes);
      expect(unpacked).toStrictEqual(golden.unpacked ?? golden.tuple);
      expect(hex(pack(unpacked))).toBe(hex(bytes));
    });
  }

  it('keeps the bits of non-canonical NaNs, so they pack back to the same bytes', () => {
    // A positive NaN with a payload, the negative quiet NaN and a signalling NaN, as doubles and
    // floats, with the bytes they pack to (sign bit flipped if clear, every bit flipped if set).
    const doubles = [
      ['7ff8000000000001', '21fff8000000000001'],
      ['fff8000000000000', '210007ffffffffffff'],
      ['7ff0000000000001', '21fff0000000000001'],
    ] as const;
    for (const [bits, packedHex] of doubles) {
      const packed = pack([Double.fromBits(fromHex(bits))]);
      expect(hex(packed)).toBe(packedHex);
      const [back] = unpack(packed);
      expect(back).toBeInstanceOf(Double);
      expect(hex((back as Double).bits)).toBe(bits);
      expect(hex(pack([back!]))).toBe(hex(packed));
    }
    for (const bits of ['7fc00001', 'ffc00000', '7f800001']) {
      const packed = pack([Float32.fromBits(fromHex(bits))]);
      const [back] = unpack(packed);
      expect(back).toBeInstanceOf(Float32);
      expect(hex((back as Float32).bits)).toBe(bits);
      expect(hex(pack([back!]))).toBe(hex(packed));
    }
  });

  it('packs a plain NaN as the canonical NaN whatever payload the number carries', () => {
    // V8 keeps a NaN payload read through a Float64Array, and Buffer.writeDoubleBE would write it.
    const scratch = new Float64Array(1);
    new Uint8Array(scratch.buffer).set([1, 0, 0, 0, 0, 0, 0xf8, 0xff]);
    const payloadNaN = scratch[0]!;
    expect(hex(pack([payloadNaN]))).toBe('21fff8000000000000');
    expect(hex(pack([new Double(payloadNaN)]))).toBe('21fff8000000000000');
    expect(unpack(pack([payloadNaN]))).toStrictEqual([Number.NaN]);
  });

  it('unpacks a Buffer into plain Uint8Arrays that share no memory with it', () => {
    const input = Buffer.from(pack([ascii('abc'), Uuid.fromString(UUID_TEXT)]));
    const [bytes, uuid] = unpack(input) as [Uint8Array, Uuid];
    expect(bytes.constructor).toBe(Uint8Array);
    input[1] = 0x7a;
    expect(hex(bytes)).toBe('616263');
    expect(uuid.toString()).toBe(UUID_TEXT);
  });
});

describe('pack errors', () => {
  const cases: { name: string; tuple: unknown[]; fragment: string }[] = [
    { name: 'undefined', tuple: ['a', undefined], fragment: 'tuple item [1] has a type tuples cannot hold (undefined)' },
    { name: 'a plain object', tuple: [[{}]], fragment: 'tuple item [0][0] has a type tuples cannot hold (Object)' },
    { name: 'a lone surrogate', tuple: ['\ud800x'], fragment: 'lone surrogate' },
    { name: 'an integer of 256 bytes', tuple: [2n ** 2040n], fragment: 'more than 255 bytes' },
    { name: 'a negative integer of 256 bytes', tuple: [-(2n ** 2040n)], fragment: 'more than 255 bytes' },
    { name: 'an incomplete versionstamp', tuple: [Versionstamp.incomplete()], fragment: 'cannot pack' },
  ];
  for (const { name, tuple, fragment } of cases) {
    it(`rejects ${name} with tuple_encode_error`, () => {
      const error = thrown(() => pack(tuple as Tuple));
      expect(error).toBeInstanceOf(TupleLayerError);
      expect((error as TupleLayerError).code).toBe('tuple_encode_error');
      expect((error as TupleLayerError).message).toContain(fragment);
    });
  }

  it('rejects a non-array', () => {
    expect((thrown(() => pack('users' as unknown as Tuple)) as TupleLayerError).code).toBe('tuple_encode_error');
  });
});

describe('unpack errors', () => {
  // Each input is malformed in one way; `offset` is what the error must name.
  const cases: { name: string; bytes: string; offset: number; fragment: string }[] = [
    { name: 'an unterminated string', bytes: '02 616263', offset: 0, fragment: 'unterminated string' },
    { name: 'a string ending in an escaped NUL', bytes: '02 61 00ff', offset: 0, fragment: 'unterminated string' },
    { name: 'unterminated bytes after an item', bytes: '15 01 01 6162', offset: 2, fragment: 'unterminated bytes' },
    { name: 'a truncated UUID', bytes: '30 0102030405', offset: 0, fragment: 'truncated UUID: it needs 16 bytes after the type code, but the input has only 5' },
    { name: 'a truncated double', bytes: '21 bff000', offset: 0, fragment: 'truncated double' },
    { name: 'a truncated float', bytes: '15 01 20 bf80', offset: 2, fragment: 'truncated float' },
    { name: 'a truncated integer', bytes: '18 0102', offset: 0, fragment: 'truncated integer' },
    { name: 'a truncated versionstamp', bytes: '33 0000000000000102030400', offset: 0, fragment: 'truncated versionstamp' },
    { name: 'a 0x1d integer without its length byte', bytes: '1d', offset: 0, fragment: 'length byte' },
    { name: 'a truncated 0x1d integer', bytes: '1d 09 0100', offset: 0, fragment: 'truncated integer' },
    { name: 'an unknown type code', bytes: '14 07', offset: 1, fragment: 'type code 0x07 is not assigned' },
    { name: 'the escape byte as a type code', bytes: '00 ff', offset: 1, fragment: 'type code 0xff is the escape byte' },
    { name: 'an 80-bit versionstamp', bytes: '32 00000000000000000000', offset: 0, fragment: '80-bit versionstamp' },
    { name: 'a user type code', bytes: '40', offset: 0, fragment: 'user type code' },
    { name: 'the deprecated true', bytes: '25', offset: 0, fragment: 'deprecated' },
    { name: 'an unterminated nested tuple', bytes: '05 1501', offset: 0, fragment: 'unterminated nested tuple' },
    { name: 'an unterminated inner nested tuple', bytes: '05 05 00', offset: 0, fragment: 'unterminated nested tuple' },
    { name: 'an unterminated string inside a nested tuple', bytes: '05 02 61', offset: 1, fragment: 'unterminated string' },
    { name: 'an invalid byte in UTF-8', bytes: '02 61 ff 00', offset: 2, fragment: 'invalid UTF-8 in the string that starts at byte offset 0' },
    { name: 'invalid UTF-8 after an escaped NUL', bytes: '14 02 00ff 61 c3 00', offset: 5, fragment: 'invalid UTF-8' },
    { name: 'an overlong UTF-8 encoding', bytes: '02 c0af 00', offset: 1, fragment: 'invalid UTF-8' },
    { name: 'a UTF-8 encoded surrogate', bytes: '02 eda080 00', offset: 1, fragment: 'invalid UTF-8' },
    { name: 'a truncated UTF-8 sequence', bytes: '02 61 e282 00', offset: 2, fragment: 'invalid UTF-8' },
    { name: 'a code point above U+10FFFF', bytes: '02 f4908080 00', offset: 1, fragment: 'invalid UTF-8' },
    { name: 'a positive integer with a leading zero byte', bytes: '16 0001', offset: 0, fragment: 'non-canonical integer' },
    { name: 'zero as a one-byte integer', bytes: '15 00', offset: 0, fragment: 'non-canonical integer' },
    { name: 'a negative integer with a leading 0xFF byte', bytes: '12 fffe', offset: 0, fragment: 'non-canonical integer' },
    { name: 'a small integer in the 0x1d form', bytes: '1d 01 05', offset: 0, fragment: 'non-canonical integer' },
    { name: 'an 8-byte integer in the 0x1d form', bytes: '1d 08 ffffffffffffffff', offset: 0, fragment: 'non-canonical integer' },
    { name: 'a 0x1d integer of length 0', bytes: '1d 00', offset: 0, fragment: 'non-canonical integer' },
    { name: 'a 0x1d integer with a leading zero byte', bytes: '1d 09 000000000000000001', offset: 0, fragment: 'non-canonical integer' },
    { name: 'a small negative integer in the 0x0b form', bytes: '0b fe fe', offset: 0, fragment: 'non-canonical integer' },
    { name: 'a 0x0b integer with a leading 0xFF byte', bytes: '0b f6 fffffffffffffffffe', offset: 0, fragment: 'non-canonical integer' },
  ];
  for (const { name, bytes, offset, fragment } of cases) {
    it(`rejects ${name} at offset ${offset}`, () => {
      const error = thrown(() => unpack(fromHex(bytes)));
      expect(error).toBeInstanceOf(TupleLayerError);
      const decodeError = error as TupleLayerError;
      expect(decodeError.code).toBe('tuple_decode_error');
      expect(decodeError.details).toStrictEqual({ offset });
      expect(decodeError.message).toContain(`at byte offset ${offset}:`);
      expect(decodeError.message).toContain(fragment);
    });
  }

  it('rejects what fdb-tuple silently decodes to wrong values', () => {
    // fdb-tuple returns 'abc' for an unterminated string and pads a truncated UUID with zeros.
    expect(fdbTuple.unpack(Buffer.from('02616263', 'hex'))).toStrictEqual(['abc']);
    expect(thrown(() => unpack(fromHex('02616263')))).toBeInstanceOf(TupleLayerError);
    expect((fdbTuple.unpack(Buffer.from('300102', 'hex'))[0] as { value: Buffer }).value.length).toBe(16);
    expect(thrown(() => unpack(fromHex('300102')))).toBeInstanceOf(TupleLayerError);
  });

  it('rejects a non-Uint8Array', () => {
    expect((thrown(() => unpack('02' as unknown as Uint8Array)) as TupleLayerError).code).toBe('tuple_decode_error');
  });

  it(`accepts ${TUPLE_NESTING_DEPTH_MAX} levels of nested tuples and rejects one more, packing and unpacking`, () => {
    const nest = (levels: number): Tuple => {
      let tuple: Tuple = [];
      for (let i = 1; i < levels; i++) tuple = [tuple];
      return [tuple];
    };
    const deepest = pack(nest(TUPLE_NESTING_DEPTH_MAX));
    expect(deepest.length).toBe(2 * TUPLE_NESTING_DEPTH_MAX);
    expect(unpack(deepest)).toStrictEqual(nest(TUPLE_NESTING_DEPTH_MAX));
    expect((thrown(() => pack(nest(TUPLE_NESTING_DEPTH_MAX + 1))) as TupleLayerError).code).toBe('tuple_encode_error');
    const tooDeep = fromHex('05'.repeat(TUPLE_NESTING_DEPTH_MAX + 1) + '00'.repeat(TUPLE_NESTING_DEPTH_MAX + 1));
    const error = thrown(() => unpack(tooDeep)) as TupleLayerError;
    expect(error.code).toBe('tuple_decode_error');
    expect(error.details).toStrictEqual({ offset: TUPLE_NESTING_DEPTH_MAX });
    // Far deeper input (as a fuzzer or a corrupt value could give) is refused without exhausting the stack.
    expect((thrown(() => unpack(new Uint8Array(100_000).fill(0x05))) as TupleLayerError).code).toBe('tuple_decode_error');
  });
});

describe('packWithVersionstamp', () => {
  it('appends the little-endian offset of the 10-byte placeholder', () => {
    const packed = packWithVersionstamp(['events', Versionstamp.incomplete(7)]);
    // 02 'events' 00 is 8 bytes, the type code 0x33 is at offset 8, the placeholder at 9.
    expect(hex(packed)).toBe(`02${hex(ascii('events'))}00 33 ${repeat('ff', 10)} 0007 09000000`.replace(/ /g, ''));
    const withPrefix = packWithVersionstamp([Versionstamp.incomplete()], fromHex('fe0102'));
    expect(hex(withPrefix)).toBe(`fe0102 33 ${repeat('ff', 10)} 0000 04000000`.replace(/ /g, ''));
    expect(hex(withPrefix)).toBe(hex(encodeVersionstampOffset(fromHex(`fe0102 33 ${repeat('ff', 10)} 0000`), 4)));
  });

  it('finds the placeholder inside a nested tuple', () => {
    const packed = packWithVersionstamp([1, [null, Versionstamp.incomplete(2)]]);
    expect(hex(packed)).toBe(`1501 05 00ff 33 ${repeat('ff', 10)} 0002 00 06000000`.replace(/ /g, ''));
  });

  it('needs exactly one incomplete versionstamp', () => {
    for (const tuple of [['a'], [Versionstamp.incomplete(), Versionstamp.incomplete(1)]]) {
      const error = thrown(() => packWithVersionstamp(tuple));
      expect((error as TupleLayerError).code).toBe('tuple_encode_error');
      expect((error as TupleLayerError).message).toContain('exactly one incomplete versionstamp');
    }
  });
});

describe('versionstamped keys through a real database', () => {
  let db: Database;
  beforeEach(async () => {
    db = await open();
  });
  afterEach(async () => {
    await db.close();
  });

  it('stores keys that unpack to complete versionstamps, in commit order, ordered by user version within a transaction', async () => {
    const prefix = pack(['log']);
    const stamps: Uint8Array[] = [];
    for (let transaction = 0; transaction < 4; transaction++) {
      // The versionstamp promise is returned inside an object: returning it bare would make
      // transact wait for it before committing, and it only settles after the commit.
      const { stamp } = await db.transact((tx) => {
        // Written in descending user version: the user version, not the call order, orders them.
        for (const userVersion of [2, 1, 0]) {
          tx.setVersionstampedKey(packWithVersionstamp([Versionstamp.incomplete(userVersion), transaction], prefix), ascii(`t${transaction}u${userVersion}`));
        }
        return { stamp: tx.getVersionstamp() };
      });
      stamps.push(await stamp);
    }
    const rows = await db.transact((tx) => {
      const { begin, end } = range(['log']);
      return tx.getRangeAll(begin, end);
    });
    expect(rows).toHaveLength(12);
    const expected: TupleItem[][] = [];
    for (let transaction = 0; transaction < 4; transaction++) {
      for (const userVersion of [0, 1, 2]) expected.push(['log', new Versionstamp(stamps[transaction]!, userVersion), transaction]);
    }
    expect(rows.map((row) => unpack(row.key))).toStrictEqual(expected);
    expect(rows.map((row) => Buffer.from(row.value).toString())).toStrictEqual(expected.map((key) => `t${key[2]}u${(key[1] as Versionstamp).userVersion}`));
    // Commit order is the order of the versionstamps' bytes.
    for (let i = 1; i < stamps.length; i++) expect(Buffer.compare(stamps[i - 1]!, stamps[i]!)).toBe(-1);
  });

  it('fills in a versionstamp inside a value with setVersionstampedValue', async () => {
    const key = pack(['latest']);
    const { stamp } = await db.transact((tx) => {
      tx.setVersionstampedValue(key, packWithVersionstamp(['v', Versionstamp.incomplete(9)]));
      return { stamp: tx.getVersionstamp() };
    });
    const value = await db.transact((tx) => tx.get(key));
    expect(unpack(value!)).toStrictEqual(['v', new Versionstamp(await stamp, 9)]);
  });
});

describe('range and strinc', () => {
  it('ranges over the keys that extend a tuple, excluding the tuple itself and other tuples', () => {
    const { begin, end } = range(['users', 7]);
    expect(hex(begin)).toBe('027573657273001507' + '00');
    expect(hex(end)).toBe('027573657273001507' + 'ff');
    const inside = (tuple: Tuple): boolean => {
      const key = pack(tuple);
      return Buffer.compare(key, begin) >= 0 && Buffer.compare(key, end) < 0;
    };
    expect(inside(['users', 7, null])).toBe(true);
    expect(inside(['users', 7, 'name'])).toBe(true);
    expect(inside(['users', 7, new Versionstamp(fromHex(repeat('ff', 10)), 0xffff)])).toBe(true);
    expect(inside(['users', 7])).toBe(false);
    expect(inside(['users', 8])).toBe(false);
    expect(inside(['users', 6, 'z'])).toBe(false);
    expect(hex(range().begin)).toBe('00');
    expect(hex(range().end)).toBe('ff');
  });

  it('strinc gives the first key after every key with the prefix', () => {
    expect(hex(strinc(pack(['users'])))).toBe('027573657273' + '01');
    expect(hex(strinc(fromHex('01ffff')))).toBe('02');
    const key = pack(['users', 'zzz']);
    expect(Buffer.compare(key, strinc(pack(['users'])))).toBe(-1);
  });
});

// ---------------------------------------------------------------------------------------------
// Cross-check against fdb-tuple on random tuples.

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

type Random = () => number;
const pick = <T>(random: Random, choices: readonly T[]): T => choices[Math.floor(random() * choices.length)]!;
const randomBytes = (random: Random, length: number): Uint8Array => Uint8Array.from({ length }, () => pick(random, [0x00, 0xff, 0x01, Math.floor(random() * 256)]));
const CHARACTERS = ['a', 'z', '\u0000', '\u00e9', '\u4e2d', '\uffff', '\u{1f600}', '\u{10ffff}', ' '];

/** An integer of 0 to 255 magnitude bytes (mostly few), as a number when safe and a coin says so. */
function randomInteger(random: Random): number | bigint {
  const length = pick(random, [0, 1, 2, 3, 4, 6, 7, 7, 8, 8, 9, 10, 32, 255]);
  let magnitude = 0n;
  for (let i = 0; i < length; i++) magnitude = (magnitude << 8n) | BigInt(Math.floor(random() * 256));
  const value = random() < 0.5 ? -magnitude : magnitude;
  return random() < 0.5 && Number.isSafeInteger(Number(value)) ? Number(value) : value;
}

function randomItem(random: Random, depth: number): TupleItem {
  switch (Math.floor(random() * 12)) {
    case 0:
      return null;
    case 1:
      return randomBytes(random, Math.floor(random() * 6));
    case 2:
      return Array.from({ length: Math.floor(random() * 5) }, () => pick(random, CHARACTERS)).join('');
    case 3:
      return depth < 3 ? Array.from({ length: Math.floor(random() * 4) }, () => randomItem(random, depth + 1)) : null;
    case 4:
    case 5:
      return randomInteger(random);
    case 6:
      return pick(random, [0.5, -1e-300, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Math.PI, new Double(-0), new Double(3), Double.fromBits(randomBytes(random, 8))]);
    case 7:
      return pick(random, [new Float32(Math.fround(random() - 0.5)), new Float32(-0), new Float32(Number.NaN), Float32.fromBits(randomBytes(random, 4))]);
    case 8:
      return random() < 0.5;
    case 9:
      return new Uuid(randomBytes(random, 16));
    case 10:
      return new Versionstamp(Uint8Array.from({ length: 10 }, (_, i) => (i === 0 ? 0 : Math.floor(random() * 256))), Math.floor(random() * 65536));
    default:
      return random() * 1e6 - 5e5;
  }
}

/** fdb-tuple's item for one of ours, written independently of tuple.ts's own conversion. */
function toFdbItem(item: TupleItem): fdbTuple.TupleItem {
  if (item === null || typeof item === 'string' || typeof item === 'boolean' || typeof item === 'bigint') return item;
  if (typeof item === 'number') {
    if (Number.isSafeInteger(item) && !Object.is(item, -0)) return item;
    if (Number.isInteger(item)) return BigInt(item);
    return { type: 'double', value: item, rawEncoding: Buffer.from(new Double(item).bits) };
  }
  if (item instanceof Uint8Array) return Buffer.from(item);
  if (Array.isArray(item)) return item.map(toFdbItem);
  if (item instanceof Double) return { type: 'double', value: item.value, rawEncoding: Buffer.from(item.bits) };
  if (item instanceof Float32) return { type: 'float', value: item.value, rawEncoding: Buffer.from(item.bits) };
  if (item instanceof Uuid) return { type: 'uuid', value: Buffer.from(item.bytes) };
  const stamp = item as Versionstamp;
  return { type: 'versionstamp', value: Buffer.concat([stamp.transactionVersion!, Uint8Array.of(stamp.userVersion >> 8, stamp.userVersion & 0xff)]) };
}

/** Our item for one fdb-tuple decoded with `noCanonicalize`, by this package's documented rules. */
function fromFdbItem(item: fdbTuple.TupleItem): TupleItem {
  if (item === null || typeof item === 'string' || typeof item === 'boolean') return item;
  if (typeof item === 'number') return item;
  if (typeof item === 'bigint') return Number.isSafeInteger(Number(item)) && BigInt(Number(item)) === item ? Number(item) : item;
  if (Buffer.isBuffer(item)) return new Uint8Array(item);
  if (Array.isArray(item)) return item.map(fromFdbItem);
  const typed = item as { type: string; value: number | Buffer; rawEncoding?: Buffer };
  if (typed.type === 'uuid') return new Uuid(typed.value as Buffer);
  if (typed.type === 'versionstamp') {
    const value = typed.value as Buffer;
    return new Versionstamp(value.subarray(0, 10), value.readUInt16BE(10));
  }
  const raw = new Uint8Array(typed.rawEncoding!);
  if (typed.type === 'float') return Float32.fromBits(raw);
  const double = Double.fromBits(raw);
  if (Number.isNaN(double.value)) return hex(raw) === '7ff8000000000000' ? Number.NaN : double;
  return Number.isInteger(double.value) || Object.is(double.value, -0) ? double : double.value;
}

describe('agreement with fdb-tuple', () => {
  it('packs random tuples to fdb-tuple bytes and unpacks them to fdb-tuple values', () => {
    console.log(`tuple.test.ts fdb-tuple cross-check: SEED=${SEED} (replay with SEED=${SEED})`);
    const random = seededRandom(SEED);
    for (let round = 0; round < 3000; round++) {
      const tuple = Array.from({ length: Math.floor(random() * 5) }, () => randomItem(random, 0));
      const packed = pack(tuple);
      const context = `SEED=${SEED} round ${round}: ${hex(packed)}`;
      expect(hex(packed), context).toBe(hex(fdbTuple.pack(tuple.map(toFdbItem))));
      const ours = unpack(packed);
      const theirs = fdbTuple.unpack(Buffer.from(packed), true).map(fromFdbItem);
      expect(ours, context).toStrictEqual(theirs);
      expect(hex(pack(ours)), context).toBe(hex(packed));
      expect(hex(pack(theirs)), context).toBe(hex(packed));
      expect(packedItemOffsets(packed), context).toEqual(tuple.map((_, i) => pack(tuple.slice(0, i)).length));
      // After a prefix: the same items, their offsets counted from the start of the whole key.
      const prefix = pack(['prefix', round]);
      const key = Buffer.concat([prefix, packed]);
      expect(packedItemOffsets(key, prefix.length), context).toEqual(tuple.map((_, i) => prefix.length + pack(tuple.slice(0, i)).length));
    }
  });

  it('packedItemOffsets refuses a start outside the bytes, naming it', () => {
    const packed = pack(['a', 1]);
    expect(packedItemOffsets(packed, packed.length)).toEqual([]);
    for (const start of [-1, packed.length + 1, 1.5, Number.NaN]) {
      expect(() => packedItemOffsets(packed, start)).toThrow(`packedItemOffsets: start must be an integer from 0 to ${packed.length}, got ${start}`);
    }
  });
});
