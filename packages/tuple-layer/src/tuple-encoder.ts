/**
 * The encoder behind `pack`, `packWithPrefix` and `packWithVersionstamp`: it writes FoundationDB's
 * tuple encoding of a tuple, after an optional prefix, in one pass over the items.
 *
 * @remarks
 * The encoding of each type (design/tuple.md in the FoundationDB repository; `tuple-decoder.ts`
 * reads the same forms back): null 0x00; bytes 0x01 and strings 0x02 (UTF-8), each byte 0x00 of
 * their content written 0x00 0xFF, then a 0x00 terminator; a nested tuple 0x05, its items (a null
 * among them written 0x00 0xFF), then 0x00; integers 0x0c..0x1c, 0x14 being zero and the distance
 * from it the number of bytes of the shortest big-endian magnitude (a negative integer's magnitude
 * written as its ones' complement), and 0x1d / 0x0b followed by a length byte (its complement for
 * negatives) for magnitudes of 9 to 255 bytes; float 0x20 and double 0x21, the big-endian IEEE 754
 * bits with the sign bit flipped for non-negative values and every bit flipped for negative ones;
 * false 0x26, true 0x27; UUID 0x30 and its 16 bytes; versionstamp 0x33, its 10-byte transaction
 * version (0xFF bytes as the placeholder of an incomplete one) and 2-byte big-endian user version.
 *
 * Items are written into a scratch array that is kept between calls, so a call allocates only the
 * array it returns. Before each item the scratch array is grown, if need be, to hold the item's
 * largest possible encoding, so that the writing itself never checks for room.
 *
 * Invariants:
 * 1. For every tuple it accepts, the output is FoundationDB's encoding of the tuple, after the
 *    prefix (tuple-encoder.test.ts compares it with the npm package fdb-tuple on random tuples).
 * 2. Every returned array is a fresh copy: it shares no memory with the scratch array, another
 *    result or the input.
 * 3. A call that throws leaves nothing behind: the next call starts from an empty scratch array,
 *    and a call made while another is still writing (from a Proxy's trap, say) gets a scratch
 *    array of its own.
 * 4. Recursion is bounded by `TUPLE_NESTING_DEPTH_MAX`, and every loop by the size of its input.
 */
import { copyBytes, encodeVersionstampOffset } from '@strata/core';
import { TupleLayerError } from './errors.js';
// tuple.ts imports this module and this module imports tuple.ts's item classes and limits. Like
// tuple-decoder.ts, it uses them only when called, never while it is being evaluated, which keeps
// the cycle safe.
import { Double, Float32, TRANSACTION_VERSION_BYTES, TUPLE_NESTING_DEPTH_MAX, Uuid, Versionstamp, type Tuple, type TupleItem } from './tuple.js';
import {
  BYTES,
  DOUBLE,
  ESCAPE,
  FALSE,
  FLOAT,
  INTEGER_ZERO,
  NEGATIVE_ARBITRARY_INTEGER,
  NESTED,
  NULL,
  POSITIVE_ARBITRARY_INTEGER,
  STRING,
  TRUE,
  UUID,
  VERSIONSTAMP,
} from './tuple-type-codes.js';


/** The most magnitude bytes an integer has in the arbitrary-length form (its length is one byte). */
const INTEGER_MAGNITUDE_BYTES_MAX = 255;
const UUID_BYTES = 16;
/** 2^32, to split a magnitude below 2^64 into two 32-bit halves. */
const TWO_TO_32 = 0x1_0000_0000;
/** 2^64, the first magnitude that does not fit the 8 bytes of the fixed-length integer forms. */
const TWO_TO_64 = TWO_TO_32 * TWO_TO_32;
const UINT64_MAX = 0xffff_ffff_ffff_ffffn;
const MAX_SAFE_BIGINT = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE_BIGINT = -MAX_SAFE_BIGINT;

/**
 * The canonical quiet double NaN's bits (`7ff8000000000000`) as a number packs them: the sign bit
 * is clear, so only it is flipped.
 */
const PACKED_CANONICAL_NAN_HIGH = 0xfff8_0000;

/** Bytes of the scratch array when it is created. A typical key needs a few dozen. */
const SCRATCH_BYTES_INITIAL = 256;
/**
 * The largest scratch array kept after a call. Packing a larger tuple grows it as needed, but it is
 * then dropped, so that one large tuple does not hold its memory for the life of the process.
 */
const SCRATCH_BYTES_KEPT_MAX = 64 * 1024;

/**
 * Strings of at least this many UTF-16 code units are encoded by Node's native `Buffer.write`
 * when they hold no NUL and no lone surrogate; shorter ones by a loop here, which is faster below
 * about this length for ASCII (and up to about twice it for other text), because the native call
 * and the checks before it cost more than the loop's work. Measured with Node 20.
 */
const NATIVE_STRING_UNITS_MIN = 48;

/**
 * Byte sequences (prefixes and bytes items without a 0x00) of at most this many bytes are copied by
 * a loop; longer ones by `Uint8Array.prototype.set`, whose fixed cost is larger than a short loop's.
 */
const LOOP_COPY_BYTES_MAX = 32;

/** `String.prototype.isWellFormed` (Node 20), which the ES2023 library this package compiles against does not declare. */
type WellFormedString = string & { isWellFormed(): boolean };

// Scratch space for a float's or a double's IEEE 754 bits, written big-endian by the DataView.
const floatBits = new Uint8Array(8);
const floatView = new DataView(floatBits.buffer);

// The messages of the versionstamp errors are those of the npm package fdb-tuple, which packed
// tuples before this encoder did, so that callers see the same errors as before.
const SECOND_INCOMPLETE_VERSIONSTAMP = 'Tuples may only contain 1 unset versionstamp';
const INCOMPLETE_VERSIONSTAMP_IN_PACK = 'Incomplete versionstamp included in vanilla tuple pack';
const NO_INCOMPLETE_VERSIONSTAMP = 'No incomplete versionstamp included in tuple pack with versionstamp';

/** The bytes being written by one call, and what the call has learnt about incomplete versionstamps. */
class TupleWriter {
  bytes = new Uint8Array(SCRATCH_BYTES_INITIAL);
  /** A Buffer over the same memory as `bytes`, for `Buffer.write`. */
  buffer = Buffer.from(this.bytes.buffer);
  /** Bytes written so far. */
  length = 0;
  /** True while a call is writing into this writer. */
  busy = false;
  /** How many incomplete versionstamps the tuple holds. */
  incompleteVersionstamps = 0;
  /** The offset of the last incomplete versionstamp's 10-byte placeholder (used only when there is exactly one). */
  placeholderOffset = -1;
  /**
   * `nestingIndices[d]` is the index, in its enclosing tuple, of the nested tuple being written at
   * nesting level `d`; only error messages read it, to name an item's path.
   */
  readonly nestingIndices: number[] = [];

  /** Makes room for `count` more bytes. */
  reserve(count: number): void {
    if (this.length + count > this.bytes.length) this.grow(count);
  }

  grow(count: number): void {
    let capacity = this.bytes.length * 2;
    while (capacity < this.length + count) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
    this.buffer = Buffer.from(next.buffer);
  }

  /** Copies `source` to offset `at` of the scratch array, which has room for it. */
  copy(source: ArrayLike<number>, at: number): void {
    const count = source.length;
    if (count > LOOP_COPY_BYTES_MAX) {
      this.bytes.set(source, at);
      return;
    }
    const out = this.bytes;
    for (let i = 0; i < count; i++) out[at + i] = source[i]!;
  }

  /** Starts a call: empties the writer and writes `prefix`. */
  start(prefix: ArrayLike<number>): void {
    this.length = 0;
    this.incompleteVersionstamps = 0;
    this.placeholderOffset = -1;
    const count = prefix.length;
    if (count === 0) return;
    this.reserve(count);
    this.copy(prefix, 0);
    this.length = count;
  }

  /** Ends a call: lets the next one use this writer, and drops a scratch array grown too large. */
  finish(): void {
    this.busy = false;
    if (this.bytes.length > SCRATCH_BYTES_KEPT_MAX) {
      this.bytes = new Uint8Array(SCRATCH_BYTES_INITIAL);
      this.buffer = Buffer.from(this.bytes.buffer);
    }
  }

  /** Writes the items of a tuple at nesting level `depth` (0 for the top level). */
  items(items: Tuple, depth: number): void {
    const count = items.length;
    for (let index = 0; index < count; index++) this.item(items[index]!, depth, index);
  }

  /** Writes `item`, item number `index` of a tuple at nesting level `depth`. */
  item(item: TupleItem, depth: number, index: number): void {
    switch (typeof item) {
      case 'string':
        this.string(item, depth, index);
        return;
      case 'number':
        this.number(item);
        return;
      case 'bigint':
        this.bigint(item, depth, index);
        return;
      case 'boolean':
        this.reserve(1);
        this.bytes[this.length++] = item ? TRUE : FALSE;
        return;
      case 'object':
        if (item === null) {
          // Inside a nested tuple a null is 0x00 0xFF, since a bare 0x00 ends the nested tuple.
          this.reserve(2);
          this.bytes[this.length++] = NULL;
          if (depth > 0) this.bytes[this.length++] = ESCAPE;
          return;
        }
        if (Array.isArray(item)) {
          this.nested(item as Tuple, depth, index);
          return;
        }
        if (item instanceof Uint8Array) {
          this.escaped(BYTES, item);
          return;
        }
        if (item instanceof Uuid) {
          this.uuid(item.bytes);
          return;
        }
        if (item instanceof Versionstamp) {
          this.versionstamp(item);
          return;
        }
        if (item instanceof Double) {
          // Only a NaN's bits can differ from what its value gives; `bits` is the canonical NaN's
          // unless the item was made by `Double.fromBits` from another NaN.
          if (Number.isNaN(item.value)) this.floatBits(DOUBLE, item.bits, 8);
          else this.double(item.value);
          return;
        }
        if (item instanceof Float32) {
          if (Number.isNaN(item.value)) {
            this.floatBits(FLOAT, item.bits, 4);
          } else {
            floatView.setFloat32(0, item.value);
            this.floatBits(FLOAT, floatBits, 4);
          }
          return;
        }
        break;
    }
    const path = this.path(depth, index);
    throw new TupleLayerError('tuple_encode_error', `tuple item ${path} has a type tuples cannot hold (${describeType(item)})`, { details: { path } });
  }

  nested(items: Tuple, depth: number, index: number): void {
    if (depth >= TUPLE_NESTING_DEPTH_MAX) {
      const path = this.path(depth, index);
      throw new TupleLayerError('tuple_encode_error', `tuple item ${path} nests tuples deeper than ${TUPLE_NESTING_DEPTH_MAX} levels`, { details: { path } });
    }
    this.nestingIndices[depth] = index;
    this.reserve(1);
    this.bytes[this.length++] = NESTED;
    this.items(items, depth + 1);
    this.reserve(1);
    this.bytes[this.length++] = NULL;
  }

  /** Writes bytes (or a string's UTF-8) after `code`, escaping each 0x00 as 0x00 0xFF, and the 0x00 terminator. */
  escaped(code: number, content: Uint8Array): void {
    const count = content.length;
    const firstZero = content.indexOf(NULL);
    // Every 0x00 takes two bytes: without one the content is copied as it is.
    this.reserve((firstZero < 0 ? count : 2 * count) + 2);
    const out = this.bytes;
    let at = this.length;
    out[at++] = code;
    if (firstZero < 0) {
      this.copy(content, at);
      at += count;
    } else {
      for (let i = 0; i < count; i++) {
        const byte = content[i]!;
        out[at++] = byte;
        if (byte === NULL) out[at++] = ESCAPE;
      }
    }
    out[at++] = NULL;
    this.length = at;
  }

  string(text: string, depth: number, index: number): void {
    const units = text.length;
    // The UTF-8 of a string is at most 3 bytes per UTF-16 code unit (a surrogate pair makes 4 bytes
    // of 2 units), and a NUL's escaped form takes 2.
    this.reserve(3 * units + 2);
    if (units >= NATIVE_STRING_UNITS_MIN && text.indexOf('\u0000') < 0 && (text as WellFormedString).isWellFormed()) {
      // Buffer.write would write U+FFFD for a lone surrogate, and does not escape; neither is needed
      // here. It writes whole characters only, and there is room for all of them.
      this.bytes[this.length] = STRING;
      this.length += 1 + this.buffer.write(text, this.length + 1, 'utf8');
      this.bytes[this.length++] = NULL;
      return;
    }
    const out = this.bytes;
    let at = this.length;
    out[at++] = STRING;
    for (let i = 0; i < units; i++) {
      const unit = text.charCodeAt(i);
      if (unit < 0x80) {
        out[at++] = unit;
        if (unit === NULL) out[at++] = ESCAPE;
      } else if (unit < 0x800) {
        out[at++] = 0xc0 | (unit >> 6);
        out[at++] = 0x80 | (unit & 0x3f);
      } else if (unit < 0xd800 || unit > 0xdfff) {
        out[at++] = 0xe0 | (unit >> 12);
        out[at++] = 0x80 | ((unit >> 6) & 0x3f);
        out[at++] = 0x80 | (unit & 0x3f);
      } else {
        const low = i + 1 < units ? text.charCodeAt(i + 1) : 0;
        if (unit > 0xdbff || low < 0xdc00 || low > 0xdfff) {
          // UTF-8 has no form for a lone surrogate; replacing it would make a key that does not
          // unpack to the string that was packed.
          const path = this.path(depth, index);
          throw new TupleLayerError('tuple_encode_error', `tuple item ${path} is a string with a lone surrogate, which UTF-8 cannot encode`, { details: { path } });
        }
        const codePoint = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
        out[at++] = 0xf0 | (codePoint >> 18);
        out[at++] = 0x80 | ((codePoint >> 12) & 0x3f);
        out[at++] = 0x80 | ((codePoint >> 6) & 0x3f);
        out[at++] = 0x80 | (codePoint & 0x3f);
        i++;
      }
    }
    out[at++] = NULL;
    this.length = at;
  }

  number(value: number): void {
    if (Number.isInteger(value) && !(value === 0 && 1 / value < 0)) {
      const negative = value < 0;
      const magnitude = negative ? -value : value;
      if (magnitude < TWO_TO_64) {
        // Exact: `>>> 0` takes the magnitude modulo 2^32, and the rest is a multiple of 2^32.
        const low = magnitude >>> 0;
        this.integer(negative, (magnitude - low) / TWO_TO_32, low);
      } else {
        // An integral double of 2^64 or more has more magnitude bytes than the fixed-length forms
        // hold (at most 128, within the 255 of the arbitrary-length form).
        this.arbitraryInteger(negative, BigInt(magnitude));
      }
      return;
    }
    if (Number.isNaN(value)) {
      // Whatever payload this NaN carries, a plain NaN packs as the canonical one.
      this.reserve(9);
      const out = this.bytes;
      let at = this.length;
      out[at++] = DOUBLE;
      out[at++] = PACKED_CANONICAL_NAN_HIGH >>> 24;
      out[at++] = (PACKED_CANONICAL_NAN_HIGH >>> 16) & 0xff;
      for (let i = 0; i < 6; i++) out[at++] = 0;
      this.length = at;
      return;
    }
    this.double(value);
  }

  double(value: number): void {
    floatView.setFloat64(0, value);
    this.floatBits(DOUBLE, floatBits, 8);
  }

  /**
   * Writes `code` and the `count` big-endian IEEE 754 bytes of `bits`, transformed so that the
   * bytes sort as the values do: the sign bit flipped for a non-negative value, every bit for a
   * negative one.
   */
  floatBits(code: number, bits: Uint8Array, count: number): void {
    this.reserve(1 + count);
    const out = this.bytes;
    let at = this.length;
    out[at++] = code;
    if ((bits[0]! & 0x80) === 0) {
      out[at++] = bits[0]! ^ 0x80;
      for (let i = 1; i < count; i++) out[at++] = bits[i]!;
    } else {
      for (let i = 0; i < count; i++) out[at++] = bits[i]! ^ 0xff;
    }
    this.length = at;
  }

  bigint(value: bigint, depth: number, index: number): void {
    // Most integers are safe as doubles: split those as numbers, without the BigInt shifts and
    // masks below, each of which allocates a new BigInt.
    if (value >= MIN_SAFE_BIGINT && value <= MAX_SAFE_BIGINT) {
      const number = Number(value);
      const magnitude = number < 0 ? -number : number;
      const low = magnitude >>> 0;
      this.integer(number < 0, (magnitude - low) / TWO_TO_32, low);
      return;
    }
    const negative = value < 0n;
    const magnitude = negative ? -value : value;
    if (magnitude <= UINT64_MAX) {
      this.integer(negative, Number(magnitude >> 32n), Number(magnitude & 0xffff_ffffn));
      return;
    }
    if (!this.arbitraryInteger(negative, magnitude)) {
      const path = this.path(depth, index);
      throw new TupleLayerError('tuple_encode_error', `tuple item ${path} is an integer of more than 255 bytes, the most the tuple encoding holds`, { details: { path } });
    }
  }

  /**
   * Writes an integer of magnitude `high * 2^32 + low` (each an unsigned 32-bit number) in its
   * fixed-length form: the type code says how many bytes the magnitude has.
   */
  integer(negative: boolean, high: number, low: number): void {
    this.reserve(9);
    const out = this.bytes;
    let at = this.length;
    if (high === 0 && low === 0) {
      out[at] = INTEGER_ZERO;
      this.length = at + 1;
      return;
    }
    const lowBytes = high !== 0 || low > 0xff_ffff ? 4 : low > 0xffff ? 3 : low > 0xff ? 2 : 1;
    const highBytes = high === 0 ? 0 : high > 0xff_ffff ? 4 : high > 0xffff ? 3 : high > 0xff ? 2 : 1;
    const size = highBytes + lowBytes;
    // A negative integer's magnitude is written as its ones' complement, so that it sorts in
    // reverse. Storing into a Uint8Array keeps the low 8 bits, so no `& 0xff` is needed.
    const mask = negative ? 0xff : 0;
    out[at++] = negative ? INTEGER_ZERO - size : INTEGER_ZERO + size;
    for (let shift = 8 * (highBytes - 1); shift >= 0; shift -= 8) out[at++] = (high >>> shift) ^ mask;
    for (let shift = 8 * (lowBytes - 1); shift >= 0; shift -= 8) out[at++] = (low >>> shift) ^ mask;
    this.length = at;
  }

  /**
   * Writes an integer whose magnitude (2^64 or more) needs the arbitrary-length form; returns false,
   * writing nothing, when the magnitude has more than 255 bytes.
   */
  arbitraryInteger(negative: boolean, magnitude: bigint): boolean {
    const hex = magnitude.toString(16);
    const size = (hex.length + 1) >> 1;
    if (size > INTEGER_MAGNITUDE_BYTES_MAX) return false;
    this.reserve(2 + size);
    const out = this.bytes;
    let at = this.length;
    const mask = negative ? 0xff : 0;
    out[at++] = negative ? NEGATIVE_ARBITRARY_INTEGER : POSITIVE_ARBITRARY_INTEGER;
    out[at++] = size ^ mask;
    // An odd number of hexadecimal digits means a first byte of one digit.
    let digit = 0;
    if (hex.length % 2 === 1) out[at++] = hexValue(hex.charCodeAt(digit++)) ^ mask;
    while (digit < hex.length) {
      out[at++] = ((hexValue(hex.charCodeAt(digit)) << 4) | hexValue(hex.charCodeAt(digit + 1))) ^ mask;
      digit += 2;
    }
    this.length = at;
    return true;
  }

  uuid(bytes: Uint8Array): void {
    this.reserve(1 + UUID_BYTES);
    const out = this.bytes;
    let at = this.length;
    out[at++] = UUID;
    for (let i = 0; i < UUID_BYTES; i++) out[at++] = bytes[i]!;
    this.length = at;
  }

  versionstamp(item: Versionstamp): void {
    this.reserve(3 + TRANSACTION_VERSION_BYTES);
    const out = this.bytes;
    let at = this.length;
    out[at++] = VERSIONSTAMP;
    const transactionVersion = item.transactionVersion;
    if (transactionVersion === null) {
      // The placeholder the database overwrites at commit with the transaction's versionstamp.
      this.incompleteVersionstamps++;
      this.placeholderOffset = at;
      for (let i = 0; i < TRANSACTION_VERSION_BYTES; i++) out[at++] = 0xff;
    } else {
      for (let i = 0; i < TRANSACTION_VERSION_BYTES; i++) out[at++] = transactionVersion[i]!;
    }
    out[at++] = item.userVersion >>> 8;
    out[at++] = item.userVersion & 0xff;
    this.length = at;
  }

  /** The path of item `index` of the tuple at nesting level `depth`, such as `[2][0]`, for error messages. */
  path(depth: number, index: number): string {
    let path = '';
    for (let level = 0; level < depth; level++) path += `[${this.nestingIndices[level]}]`;
    return `${path}[${index}]`;
  }
}

/** The value of a lowercase hexadecimal digit's character code (as `bigint.toString(16)` writes). */
function hexValue(charCode: number): number {
  return charCode <= 0x39 ? charCode - 0x30 : charCode - 0x57;
}

/** The writer calls use, unless one is already writing with it. */
const sharedWriter = new TupleWriter();

function acquireWriter(): TupleWriter {
  // A call made while another is writing (only user code run from inside a call, such as a Proxy's
  // trap, can make one) gets a writer of its own, so that neither overwrites the other's bytes.
  const writer = sharedWriter.busy ? new TupleWriter() : sharedWriter;
  writer.busy = true;
  return writer;
}

/**
 * Encodes `tuple` after `prefix`: the bytes `packWithPrefix(prefix, tuple)` returns.
 *
 * @remarks
 * The caller checks that `tuple` is an array. The result is a fresh array of exactly the encoded
 * length, sharing no memory with the arguments. Errors name the item's path, such as `[2][0]` for
 * the first item of a tuple nested third in `tuple`, in the message and in `details.path`.
 * @throws TupleLayerError `tuple_encode_error` for an item tuples cannot hold, a string with a lone
 * surrogate, an integer of more than 255 bytes, tuples nested deeper than `TUPLE_NESTING_DEPTH_MAX`,
 * or an incomplete versionstamp.
 * @example
 * ```ts
 * encodeTuple(Uint8Array.of(0xfe), ['a', 42]); // fe 02 61 00 15 2a
 * ```
 */
export function encodeTuple(prefix: Uint8Array, tuple: Tuple): Uint8Array {
  const writer = acquireWriter();
  try {
    writer.start(prefix);
    writer.items(tuple, 0);
    if (writer.incompleteVersionstamps > 0) {
      const problem = writer.incompleteVersionstamps > 1 ? SECOND_INCOMPLETE_VERSIONSTAMP : INCOMPLETE_VERSIONSTAMP_IN_PACK;
      throw new TupleLayerError('tuple_encode_error', `cannot pack the tuple: ${problem}`);
    }
    // Cut from a shared slab: many keys are over the 64 bytes V8 keeps inside its heap, and a
    // typed array with a buffer of its own costs an allocation outside it.
    return copyBytes(writer.bytes.subarray(0, writer.length));
  } finally {
    writer.finish();
  }
}

/**
 * Encodes `tuple`, which must hold exactly one incomplete versionstamp, after `prefix`, and appends
 * the 4-byte little-endian offset of its 10-byte placeholder: the bytes
 * `packWithVersionstamp(tuple, prefix)` returns.
 *
 * @remarks
 * The caller checks that `tuple` is an array. The offset is appended by `encodeVersionstampOffset`
 * of `@strata/core`, which owns that format.
 * @throws TupleLayerError `tuple_encode_error` unless the tuple holds exactly one incomplete
 * versionstamp, and for everything {@link encodeTuple} rejects but an incomplete versionstamp.
 * @example
 * ```ts
 * encodeTupleWithVersionstamp(new Uint8Array(), [Versionstamp.incomplete(1)]); // 33 ff (10 times) 00 01 01 00 00 00
 * ```
 */
export function encodeTupleWithVersionstamp(prefix: ArrayLike<number>, tuple: Tuple): Uint8Array {
  const writer = acquireWriter();
  try {
    writer.start(prefix);
    writer.items(tuple, 0);
    if (writer.incompleteVersionstamps !== 1) {
      const problem = writer.incompleteVersionstamps > 1 ? SECOND_INCOMPLETE_VERSIONSTAMP : NO_INCOMPLETE_VERSIONSTAMP;
      throw new TupleLayerError('tuple_encode_error', `packWithVersionstamp needs exactly one incomplete versionstamp: ${problem}`);
    }
    return encodeVersionstampOffset(writer.bytes.subarray(0, writer.length), writer.placeholderOffset);
  } finally {
    writer.finish();
  }
}

/**
 * A short description of a value's type for error messages: `undefined`, `null`, a class name such
 * as `Object` or `Map`, or the `typeof` of a primitive.
 * @example
 * ```ts
 * describeType(new Map()); // 'Map'
 * ```
 */
export function describeType(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
