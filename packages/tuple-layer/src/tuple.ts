/**
 * Tuples: typed, composable keys whose packed bytes sort the way the tuples do, byte-compatible
 * with FoundationDB's tuple encoding.
 *
 * @remarks
 * Item types and how they pack:
 * - `null`; `Uint8Array` (bytes); `string` (UTF-8); nested tuples (arrays);
 * - integers: a `number` that is an integer (and not -0) or a `bigint`, with a magnitude of up
 *   to 255 bytes; unpacking gives a `number` when it is a safe integer, a `bigint` otherwise;
 * - doubles: any other `number` (fractions, NaN, infinities), or {@link Double} to force a double
 *   for an integral value or -0; unpacking gives a `number`, or a {@link Double} when the value is
 *   integral, -0 or a NaN other than the canonical one (so that packing it again gives the same
 *   bytes);
 * - {@link Float32} (single precision), `boolean`, {@link Uuid}, {@link Versionstamp} (complete, or
 *   incomplete: filled in at commit by `setVersionstampedKey` / `setVersionstampedValue`).
 *
 * Packing goes through this package's encoder (`tuple-encoder.ts`), which writes each tuple in one
 * pass into a reused scratch array; unpacking through its strict decoder (`tuple-decoder.ts`), which
 * accepts only the bytes the encoder writes. `unpack(pack(t))` gives `t` back, and
 * `pack(unpack(b))` gives `b` back for every `b` that unpacks. The npm package fdb-tuple serves
 * only the tests, as an independent implementation to compare with.
 */
import type { KeyRange } from '@strata/core';
import { TupleLayerError } from './errors.js';
// tuple-decoder.ts builds this module's item classes and tuple-encoder.ts reads them, so each
// imports this module as this module imports it; none uses another's bindings while it is being
// evaluated, which keeps the cycles safe.
import { decodeTuple } from './tuple-decoder.js';
export { packedItemOffsets } from './tuple-decoder.js';
import { describeType, encodeTuple, encodeTupleWithVersionstamp } from './tuple-encoder.js';

/**
 * A UUID item (type code 0x30): 16 bytes, which sort as unsigned bytes.
 * @throws TupleLayerError `tuple_encode_error` unless given exactly 16 bytes.
 * @example
 * ```ts
 * const key = pack(['sessions', Uuid.fromString('123e4567-e89b-12d3-a456-426614174000')]);
 * ```
 */
export class Uuid {
  /** The 16 bytes. */
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 16) {
      throw new TupleLayerError('tuple_encode_error', 'a Uuid needs exactly 16 bytes');
    }
    this.bytes = new Uint8Array(bytes);
  }
  /**
   * Parses the canonical text form, e.g. `123e4567-e89b-12d3-a456-426614174000`.
   * @throws TupleLayerError `tuple_encode_error` when `text` is not 32 hexadecimal digits (dashes aside).
   */
  static fromString(text: string): Uuid {
    const hex = text.replace(/-/g, '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TupleLayerError('tuple_encode_error', `not a UUID: ${JSON.stringify(text)}`);
    return new Uuid(new Uint8Array(Buffer.from(hex, 'hex')));
  }
  /** The canonical text form. */
  toString(): string {
    const hex = Buffer.from(this.bytes).toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

/** The bytes of the canonical (quiet, positive) single-precision NaN, which `Float32(NaN)` packs as. */
const CANONICAL_FLOAT_NAN = Uint8Array.of(0x7f, 0xc0, 0x00, 0x00);
/** The bytes of the canonical (quiet, positive) double-precision NaN, which `NaN` packs as. */
const CANONICAL_DOUBLE_NAN = Uint8Array.of(0x7f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// A NaN has 2^23 (float) or 2^52 (double) bit patterns, and a JavaScript number cannot be relied on
// to keep the one it was read from. Packing must still be deterministic and unpack-then-pack must
// give the same bytes, so a NaN packs as the canonical NaN unless the item was made from other bits
// with `fromBits`, in which case those bits are kept beside the value and packed instead.
function nanBitsToKeep(bits: Uint8Array, canonical: Uint8Array, value: number): Uint8Array | null {
  return Number.isNaN(value) && !sameBytes(bits, canonical) ? new Uint8Array(bits) : null;
}

/**
 * A single-precision float item (JavaScript numbers are doubles; this packs as a 4-byte float,
 * type code 0x20).
 *
 * @remarks
 * The value is rounded to single precision when packed. A NaN packs as the canonical quiet NaN
 * (`7fc00000`) unless the item was made by {@link Float32.fromBits} from another NaN, whose bits
 * are then kept, so that unpacking and packing again gives identical bytes.
 * @example
 * ```ts
 * const bytes = pack([new Float32(-42)]); // 20 3d d7 ff ff
 * ```
 */
export class Float32 {
  /** The value. */
  readonly value: number;
  #nanBits: Uint8Array | null = null;
  constructor(value: number) {
    this.value = value;
  }
  /**
   * The float whose big-endian IEEE 754 representation is `bits` (4 bytes), keeping a NaN's exact bits.
   * @throws TupleLayerError `tuple_encode_error` unless `bits` has 4 bytes.
   */
  static fromBits(bits: Uint8Array): Float32 {
    if (!(bits instanceof Uint8Array) || bits.length !== 4) throw new TupleLayerError('tuple_encode_error', 'Float32.fromBits needs exactly 4 bytes');
    const item = new Float32(new DataView(bits.buffer, bits.byteOffset, 4).getFloat32(0));
    item.#nanBits = nanBitsToKeep(bits, CANONICAL_FLOAT_NAN, item.value);
    return item;
  }
  /** The 4 big-endian IEEE 754 bytes this item packs as (before the tuple encoding's order-preserving transformation). */
  get bits(): Uint8Array {
    if (this.#nanBits !== null) return new Uint8Array(this.#nanBits);
    if (Number.isNaN(this.value)) return new Uint8Array(CANONICAL_FLOAT_NAN);
    const bits = new Uint8Array(4);
    new DataView(bits.buffer).setFloat32(0, this.value);
    return bits;
  }
}

/**
 * A double item (type code 0x21), for values a plain `number` would pack as an integer
 * (integral values and -0), and for NaNs whose exact bits matter.
 *
 * @remarks
 * A plain non-integral `number` (fractions, infinities, NaN) already packs as a double. A NaN packs
 * as the canonical quiet NaN (`7ff8000000000000`) unless the item was made by
 * {@link Double.fromBits} from another NaN, whose bits are then kept. `unpack` returns a `Double`
 * for integral values, -0 and non-canonical NaNs, so that packing its result again gives identical
 * bytes.
 * @example
 * ```ts
 * const bytes = pack([new Double(1)]); // 21 bf f0 00 00 00 00 00 00, where pack([1]) is 15 01
 * ```
 */
export class Double {
  /** The value. */
  readonly value: number;
  #nanBits: Uint8Array | null = null;
  constructor(value: number) {
    this.value = value;
  }
  /**
   * The double whose big-endian IEEE 754 representation is `bits` (8 bytes), keeping a NaN's exact bits.
   * @throws TupleLayerError `tuple_encode_error` unless `bits` has 8 bytes.
   */
  static fromBits(bits: Uint8Array): Double {
    if (!(bits instanceof Uint8Array) || bits.length !== 8) throw new TupleLayerError('tuple_encode_error', 'Double.fromBits needs exactly 8 bytes');
    const item = new Double(new DataView(bits.buffer, bits.byteOffset, 8).getFloat64(0));
    item.#nanBits = nanBitsToKeep(bits, CANONICAL_DOUBLE_NAN, item.value);
    return item;
  }
  /** The 8 big-endian IEEE 754 bytes this item packs as (before the tuple encoding's order-preserving transformation). */
  get bits(): Uint8Array {
    if (this.#nanBits !== null) return new Uint8Array(this.#nanBits);
    if (Number.isNaN(this.value)) return new Uint8Array(CANONICAL_DOUBLE_NAN);
    const bits = new Uint8Array(8);
    new DataView(bits.buffer).setFloat64(0, this.value);
    return bits;
  }
}

/**
 * The deepest nesting of tuples that `pack` and `unpack` accept: `[[]]` nests one level, `[[[]]]`
 * two.
 *
 * @remarks
 * FoundationDB's specification sets no limit, but every binding recurses and so has one in effect
 * (fdb-tuple's encoder exhausts Node's stack at about 4,000 levels; this package's encoder and
 * decoder recurse too). Naming the limit makes `pack` and `unpack` fail with a clear error instead. Each level costs two bytes (0x05 and the closing
 * 0x00), so a 10,000-byte key could nest 5,000 levels and a 100,000-byte value far more.
 */
export const TUPLE_NESTING_DEPTH_MAX = 1000;

/** Bytes of a complete versionstamp's transaction part: 8-byte commit version and 2-byte batch order. */
export const TRANSACTION_VERSION_BYTES = 10;

/**
 * A versionstamp item (type code 0x33, 12 bytes): the 10-byte transaction versionstamp of a
 * commit plus a 2-byte user version chosen by the application (to order several keys written by
 * one transaction). An incomplete one has no transaction part yet; the database fills it in at
 * commit.
 * @throws TupleLayerError `tuple_encode_error` for a transaction version that is not 10 bytes or a
 * user version outside 0..65535.
 * @example
 * ```ts
 * const template = packWithVersionstamp(['log', Versionstamp.incomplete(1)]); // for setVersionstampedKey
 * ```
 */
export class Versionstamp {
  /** The 10 bytes from the commit, or `null` while incomplete. */
  readonly transactionVersion: Uint8Array | null;
  /** The application's 16-bit user version. */
  readonly userVersion: number;
  constructor(transactionVersion: Uint8Array | null, userVersion = 0) {
    if (transactionVersion !== null && (!(transactionVersion instanceof Uint8Array) || transactionVersion.length !== TRANSACTION_VERSION_BYTES)) {
      throw new TupleLayerError('tuple_encode_error', `a versionstamp's transaction version has ${TRANSACTION_VERSION_BYTES} bytes`);
    }
    if (!Number.isInteger(userVersion) || userVersion < 0 || userVersion > 0xffff) {
      throw new TupleLayerError('tuple_encode_error', `a versionstamp's user version is an integer from 0 to 65535, got ${userVersion}`);
    }
    this.transactionVersion = transactionVersion === null ? null : new Uint8Array(transactionVersion);
    this.userVersion = userVersion;
  }
  /** An incomplete versionstamp, to be filled in at commit. */
  static incomplete(userVersion = 0): Versionstamp {
    return new Versionstamp(null, userVersion);
  }
  /** True once the transaction part is known. */
  get complete(): boolean {
    return this.transactionVersion !== null;
  }
}

/** One element of a tuple. */
export type TupleItem = null | Uint8Array | string | number | bigint | boolean | Uuid | Float32 | Double | Versionstamp | Tuple;
/** A tuple: an ordered list of items. */
export type Tuple = readonly TupleItem[];

function checkTuple(tuple: unknown, what: string): asserts tuple is Tuple {
  if (!Array.isArray(tuple)) throw new TupleLayerError('tuple_encode_error', `${what} must be an array of tuple items, got ${describeType(tuple)}`);
}

const EMPTY_PREFIX = new Uint8Array();

/**
 * Packs a tuple into bytes that sort as the tuple does (FoundationDB's tuple encoding).
 *
 * @remarks
 * Integral `number`s pack as integers and other `number`s as doubles; see {@link TupleItem}. A NaN
 * packs as the canonical NaN unless it is a {@link Double} or {@link Float32} made with `fromBits`.
 * The result is a new array, which the caller may keep or change; a short one is a view on a
 * shared slab (as `copyBytes` of `@strata/core` makes), so read its `buffer` only with `byteOffset`
 * and `length`.
 * @throws TupleLayerError `tuple_encode_error` for an item tuples cannot hold, a string with a lone
 * surrogate, an integer of more than 255 bytes, tuples nested deeper than
 * {@link TUPLE_NESTING_DEPTH_MAX}, or an incomplete versionstamp (use {@link packWithVersionstamp}).
 * An error about one item names its path, such as `[2][0]`, in the message and `details.path`.
 * @example
 * ```ts
 * const key = pack(['users', 42]); // 02 75 73 65 72 73 00 15 2a
 * ```
 */
export function pack(tuple: Tuple): Uint8Array {
  checkTuple(tuple, 'pack');
  return encodeTuple(EMPTY_PREFIX, tuple);
}

/**
 * Packs a tuple after `prefix`, into one new array: the bytes of `prefix` followed by those of
 * `pack(tuple)`.
 *
 * @remarks
 * This is how a `Subspace` with tuple keys makes its keys. It writes the prefix and the
 * tuple straight into the array it returns, where concatenating `prefix` and `pack(tuple)` would
 * allocate and copy the packed tuple twice.
 * @throws TupleLayerError `tuple_encode_error` when `prefix` is not a `Uint8Array`, and for
 * everything {@link pack} rejects.
 * @example
 * ```ts
 * const prefix = pack(['users']);
 * const key = packWithPrefix(prefix, [42]); // 02 75 73 65 72 73 00 15 2a, as pack(['users', 42])
 * ```
 */
export function packWithPrefix(prefix: Uint8Array, tuple: Tuple): Uint8Array {
  if (!(prefix instanceof Uint8Array)) throw new TupleLayerError('tuple_encode_error', `packWithPrefix needs a Uint8Array prefix, got ${describeType(prefix)}`);
  checkTuple(tuple, 'packWithPrefix');
  return encodeTuple(prefix, tuple);
}

/**
 * Packs a tuple holding exactly one incomplete {@link Versionstamp}, after `prefix`, and appends
 * the placeholder's 4-byte offset: the form `setVersionstampedKey` and `setVersionstampedValue`
 * take.
 *
 * @remarks
 * The placeholder is the 10 bytes after the versionstamp's type code 0x33; the incomplete
 * versionstamp's user version follows it. At commit the database writes the transaction's
 * versionstamp over the placeholder and drops the offset, so the stored key unpacks to a complete
 * versionstamp.
 * @throws TupleLayerError `tuple_encode_error` unless there is exactly one incomplete versionstamp,
 * and for everything {@link pack} rejects.
 * @example
 * ```ts
 * import { open } from '@strata/core';
 * const db = await open();
 * await db.transact((tx) => tx.setVersionstampedKey(packWithVersionstamp(['events', Versionstamp.incomplete()]), new Uint8Array()));
 * ```
 */
export function packWithVersionstamp(tuple: Tuple, prefix: Uint8Array = EMPTY_PREFIX): Uint8Array {
  checkTuple(tuple, 'packWithVersionstamp');
  return encodeTupleWithVersionstamp(prefix, tuple);
}

/**
 * Unpacks bytes made by {@link pack} back into a tuple.
 *
 * @remarks
 * The decoder is strict: it accepts exactly the bytes `pack` produces, so whatever it returns packs
 * back to identical bytes. Integers come back as `number` when safe and `bigint` otherwise; doubles
 * as `number`, or as {@link Double} when integral, -0 or a non-canonical NaN; floats as
 * {@link Float32}. A versionstamp comes back complete (its 10 bytes are whatever the key holds).
 * @throws TupleLayerError `tuple_decode_error` naming the byte offset and the problem (unknown type
 * code, unterminated bytes, string or nested tuple, truncated item, invalid UTF-8, an integer not in
 * its shortest form, tuples nested deeper than {@link TUPLE_NESTING_DEPTH_MAX}), with
 * `details.offset`.
 * @example
 * ```ts
 * const [table, id] = unpack(pack(['users', 42])); // 'users', 42
 * ```
 */
export function unpack(bytes: Uint8Array): TupleItem[] {
  if (!(bytes instanceof Uint8Array)) throw new TupleLayerError('tuple_decode_error', `unpack needs a Uint8Array, got ${describeType(bytes)}`);
  return decodeTuple(bytes);
}

/**
 * The range of every key that extends `tuple` with more items: packed `tuple` followed by 0x00,
 * up to packed `tuple` followed by 0xFF (FoundationDB's tuple range).
 *
 * @remarks
 * The packed tuple itself is not in the range (use `prefixRange(pack(tuple))` from `@strata/core`
 * to include it), and neither are keys that continue it with a 0xFF byte, which no packed item
 * starts with.
 * @throws TupleLayerError `tuple_encode_error` for everything {@link pack} rejects.
 * @example
 * ```ts
 * const { begin, end } = range(['users']); // 02 75 73 65 72 73 00 00 .. 02 75 73 65 72 73 00 ff
 * ```
 */
export function range(tuple: Tuple = []): KeyRange {
  const packed = pack(tuple);
  const begin = new Uint8Array(packed.length + 1);
  begin.set(packed);
  const end = new Uint8Array(packed.length + 1);
  end.set(packed);
  end[packed.length] = 0xff;
  return { begin, end };
}
