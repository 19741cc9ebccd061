/**
 * A strict decoder for FoundationDB's tuple encoding: it turns bytes made by `pack` back into
 * tuple items, and rejects every other input with an error that names the byte offset.
 *
 * @remarks
 * fdb-tuple's own decoder accepts malformed bytes and returns wrong values for them (an
 * unterminated string decodes as if terminated, a truncated UUID is padded with zeros, a truncated
 * double reads past the end), so `unpack` uses this decoder instead.
 *
 * Invariants:
 * 1. For any input, {@link decodeTuple} either returns items whose `pack` is exactly the input, or
 *    throws `TupleLayerError` `tuple_decode_error` with `details.offset` an integer in
 *    `[0, input.length)`. It never throws anything else, never reads outside the input and never
 *    returns a value other than the one the bytes encode.
 * 2. Every loop advances through the input by at least one byte per iteration, so decoding takes
 *    time linear in the input; recursion is bounded by `TUPLE_NESTING_DEPTH_MAX`.
 * 3. The result shares no memory with the input.
 *
 * test/fuzz/tuple-fuzz.test.ts checks invariant 1 on random and mutated inputs; tuple.test.ts
 * checks the nesting bound, a 100,000-byte run of 0x05, and that items survive changes to the input.
 *
 * Invariant 1 means the decoder accepts only canonical encodings. The encoding has exactly one
 * non-canonical family, integers not written in their shortest form (a leading zero byte of
 * magnitude, or the arbitrary-length 0x1d / 0x0b form for a value that fits 8 bytes); these are
 * rejected, because decoding them would give a value whose key differs from the key read, so
 * writing it back or using it as a range bound would silently name another key. Strings must be
 * well-formed UTF-8 (a byte-order mark is kept as U+FEFF, not stripped). Any NaN bit pattern is
 * accepted, as the specification requires of readers, and kept (see `Double.fromBits`).
 */
import { TupleLayerError } from './errors.js';
import { Double, Float32, TUPLE_NESTING_DEPTH_MAX, Uuid, Versionstamp, TRANSACTION_VERSION_BYTES, type TupleItem } from './tuple.js';
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

/** Bytes of the magnitude an integer holds after a fixed-length type code (0x0c..0x1c). */
const FIXED_INTEGER_BYTES_MAX = 8;
const UUID_BYTES = 16;
/** The canonical quiet NaN's big-endian bits, which `pack` writes for a plain `NaN` (see tuple.ts). */
const CANONICAL_DOUBLE_NAN = Uint8Array.of(0x7f, 0xf8, 0, 0, 0, 0, 0, 0);

/** Why a type code that is not decoded is not, for the error message. */
function unsupportedTypeCode(code: number): string {
  if (code === 0x03 || code === 0x04) return 'the deprecated nested tuple encoding';
  if (code === 0x0a || code === 0x1e) return 'reserved for arbitrary-precision integers but not defined';
  if (code === 0x22) return 'an 80-bit long double, which Strata does not support';
  if (code === 0x23 || code === 0x24) return 'reserved for arbitrary-precision decimals but not defined';
  if (code === 0x25) return 'the deprecated encoding of true';
  if (code === 0x31) return 'a 64-bit identifier, which Strata does not support';
  if (code === 0x32) return 'an 80-bit versionstamp, which Strata does not support (it uses 0x33)';
  if (code >= 0x40 && code <= 0x4f) return 'a user type code, which Strata does not support';
  if (code === ESCAPE) return 'the escape byte: 0x00 0xFF escapes a null inside a nested tuple, and a 0x00 byte inside bytes and strings, nowhere else';
  return 'not assigned by the tuple specification';
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

// `fatal` makes invalid UTF-8 an error instead of U+FFFD, and `ignoreBOM` keeps a leading U+FEFF:
// without it the decoder would drop the character and the string would pack to other bytes.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// Strings this short that are all ASCII are built directly; TextDecoder's fixed cost per call is
// larger than the work for them, and typical key strings (table and field names) are this short.
const ASCII_FAST_PATH_BYTES_MAX = 32;

// Scratch space for reading floats: the order-preserving transformation is undone in place here.
const floatScratch = new Uint8Array(8);
const floatView = new DataView(floatScratch.buffer);

function fail(offset: number, problem: string): never {
  throw new TupleLayerError('tuple_decode_error', `cannot unpack the tuple at byte offset ${offset}: ${problem}`, { details: { offset } });
}

/**
 * Decodes a packed tuple: the strict inverse of `pack`.
 *
 * @remarks
 * See the module's invariants: the result packs back to exactly `bytes`, and anything that is not
 * the output of `pack` is rejected. Integers come back as `number` when safe and `bigint`
 * otherwise; doubles as `number`, or `Double` when integral, -0 or a non-canonical NaN; floats as
 * `Float32`; versionstamps complete.
 * @throws TupleLayerError `tuple_decode_error` with `details.offset`: the offset of the item at
 * fault (its type code), or of the first invalid byte of a string's UTF-8.
 * @example
 * ```ts
 * decodeTuple(Uint8Array.of(0x02, 0x61, 0x00, 0x15, 0x2a)); // ['a', 42]
 * ```
 */
export function decodeTuple(bytes: Uint8Array): TupleItem[] {
  // A Buffer (or another Uint8Array subclass) is read through a plain view: Buffer's `slice` and
  // `subarray` would make the items Buffers, and Buffer's `slice` shares memory instead of copying.
  const input = bytes.constructor === Uint8Array ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = new TupleReader(input);
  const items: TupleItem[] = [];
  while (reader.offset < input.length) items.push(reader.item(0));
  return items;
}

/**
 * The offset in `bytes` where each top-level item of a packed tuple starts, found without decoding
 * the items: a layer can slice a key into its items' bytes (for example to reuse the packed
 * primary key at the end of an index entry) without unpacking and packing them again.
 *
 * @remarks
 * Only the extent of each item is checked (its type code, its length, the terminators of bytes,
 * strings and nested tuples); its content is not, so bytes `unpack` rejects for their
 * content (invalid UTF-8, a non-canonical integer) still get offsets.
 * @param start - where the packed tuple starts in `bytes` (after a prefix, say); the offsets
 * returned count from the start of `bytes`.
 * @throws TupleLayerError `tuple_decode_error` with `details.offset` for an unknown type code or an
 * item that runs past the end of `bytes`, and for a `start` outside `bytes`.
 */
export function packedItemOffsets(bytes: Uint8Array, start = 0): number[] {
  if (!Number.isSafeInteger(start) || start < 0 || start > bytes.length) {
    throw new TupleLayerError('tuple_decode_error', `packedItemOffsets: start must be an integer from 0 to ${bytes.length}, got ${String(start)}`);
  }
  const reader = new TupleReader(bytes);
  reader.offset = start;
  const offsets: number[] = [];
  while (reader.offset < bytes.length) {
    offsets.push(reader.offset);
    reader.skip(0);
  }
  return offsets;
}

/** A cursor over one input; `offset` is the next byte to read. */
class TupleReader {
  offset = 0;
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Reads the item at `offset`, whose enclosing tuple is at nesting level `depth`. */
  item(depth: number): TupleItem {
    const bytes = this.#bytes;
    const start = this.offset;
    const code = bytes[start]!;
    this.offset = start + 1;
    if (code >= NEGATIVE_ARBITRARY_INTEGER && code <= POSITIVE_ARBITRARY_INTEGER) return this.#integer(code, start);
    switch (code) {
      case NULL:
        return null;
      case BYTES: {
        const content = this.#escaped(start, 'bytes');
        // A view into the input must not escape (invariant 3); an unescaped copy already is fresh.
        return content.buffer === bytes.buffer ? content.slice() : content;
      }
      case STRING:
        return this.#string(start);
      case NESTED:
        return this.#nested(start, depth + 1);
      case FLOAT:
        return this.#float(start);
      case DOUBLE:
        return this.#double(start);
      case FALSE:
        return false;
      case TRUE:
        return true;
      case UUID:
        this.#need(start, UUID_BYTES, 'UUID');
        this.offset += UUID_BYTES;
        return new Uuid(bytes.subarray(start + 1, start + 1 + UUID_BYTES));
      case VERSIONSTAMP: {
        // The transaction version's 10 bytes, then the 2-byte user version. (The sum is computed
        // here rather than at module level because tuple.ts's bindings are not yet initialized
        // while this module is evaluated; see the import cycle note in tuple.ts.)
        const VERSIONSTAMP_ITEM_BYTES = TRANSACTION_VERSION_BYTES + 2;
        this.#need(start, VERSIONSTAMP_ITEM_BYTES, 'versionstamp');
        const transactionVersion = bytes.subarray(start + 1, start + 1 + TRANSACTION_VERSION_BYTES);
        const userVersion = (bytes[start + 1 + TRANSACTION_VERSION_BYTES]! << 8) | bytes[start + 2 + TRANSACTION_VERSION_BYTES]!;
        this.offset += VERSIONSTAMP_ITEM_BYTES;
        // All-0xFF transaction bytes are the placeholder `packWithVersionstamp` writes, but here they
        // were read from a key, and a complete Versionstamp with those bytes packs back to them.
        return new Versionstamp(transactionVersion, userVersion);
      }
      default:
        return fail(start, `type code 0x${HEX[code]} is ${unsupportedTypeCode(code)}`);
    }
  }

  /** Moves past the item at `offset`, nested at level `depth`, checking only its extent. */
  skip(depth: number): void {
    const bytes = this.#bytes;
    const start = this.offset;
    const code = bytes[start]!;
    this.offset = start + 1;
    let length: number;
    if (code >= NEGATIVE_ARBITRARY_INTEGER && code <= POSITIVE_ARBITRARY_INTEGER) {
      if (code === POSITIVE_ARBITRARY_INTEGER || code === NEGATIVE_ARBITRARY_INTEGER) {
        if (this.offset >= bytes.length) fail(start, 'truncated integer: the input ends before the length byte of the arbitrary-length form');
        length = 1 + (bytes[this.offset]! ^ (code === NEGATIVE_ARBITRARY_INTEGER ? 0xff : 0x00));
      } else length = Math.abs(code - INTEGER_ZERO);
    } else {
      switch (code) {
        case NULL:
        case FALSE:
        case TRUE:
          return;
        case BYTES:
        case STRING:
          this.#escapedEnd(start, code === BYTES ? 'bytes' : 'string');
          return;
        case NESTED:
          if (depth + 1 > TUPLE_NESTING_DEPTH_MAX) fail(start, `tuples are nested deeper than ${TUPLE_NESTING_DEPTH_MAX} levels`);
          for (;;) {
            const at = this.offset;
            if (at >= bytes.length) fail(start, 'unterminated nested tuple: the input ends before its 0x00 terminator');
            if (bytes[at] === NULL) {
              this.offset = at + (at + 1 < bytes.length && bytes[at + 1] === ESCAPE ? 2 : 1);
              if (this.offset === at + 1) return;
              continue;
            }
            this.skip(depth + 1);
          }
        case FLOAT:
          length = 4;
          break;
        case DOUBLE:
          length = 8;
          break;
        case UUID:
          length = UUID_BYTES;
          break;
        case VERSIONSTAMP:
          length = TRANSACTION_VERSION_BYTES + 2;
          break;
        default:
          return fail(start, `type code 0x${HEX[code]} is ${unsupportedTypeCode(code)}`);
      }
    }
    this.#need(start, length, 'item');
    this.offset += length;
  }

  // Moves past the content and terminator of the bytes or string whose type code is at `start`.
  #escapedEnd(start: number, what: string): void {
    const bytes = this.#bytes;
    let zero = bytes.indexOf(NULL, start + 1);
    while (zero >= 0 && zero + 1 < bytes.length && bytes[zero + 1] === ESCAPE) zero = bytes.indexOf(NULL, zero + 2);
    if (zero < 0) fail(start, `unterminated ${what}: no 0x00 terminator before the end of the input`);
    this.offset = zero + 1;
  }

  /** Fails unless `count` bytes follow the type code at `start` (the cursor is just after it). */
  #need(start: number, count: number, what: string): void {
    const remaining = this.#bytes.length - this.offset;
    if (remaining < count) fail(start, `truncated ${what}: it needs ${count} bytes after the type code, but the input has only ${remaining}`);
  }

  #nested(start: number, depth: number): TupleItem[] {
    if (depth > TUPLE_NESTING_DEPTH_MAX) fail(start, `tuples are nested deeper than ${TUPLE_NESTING_DEPTH_MAX} levels`);
    const bytes = this.#bytes;
    const items: TupleItem[] = [];
    for (;;) {
      const at = this.offset;
      if (at >= bytes.length) fail(start, 'unterminated nested tuple: the input ends before its 0x00 terminator');
      if (bytes[at] === NULL) {
        // Inside a nested tuple, 0x00 0xFF is a null item and a 0x00 followed by anything else
        // ends the tuple; 0xFF is never a type code, so the two cannot be confused.
        if (at + 1 < bytes.length && bytes[at + 1] === ESCAPE) {
          items.push(null);
          this.offset = at + 2;
          continue;
        }
        this.offset = at + 1;
        return items;
      }
      items.push(this.item(depth));
    }
  }

  /**
   * Reads the content of bytes or a string that starts with the type code at `start`, undoing the
   * 0x00 0xFF escapes: a view into the input when there were none, a fresh array otherwise.
   */
  #escaped(start: number, what: string): Uint8Array {
    const bytes = this.#bytes;
    const first = start + 1;
    let zero = bytes.indexOf(NULL, first);
    if (zero < 0) fail(start, `unterminated ${what}: no 0x00 terminator before the end of the input`);
    if (zero + 1 >= bytes.length || bytes[zero + 1] !== ESCAPE) {
      this.offset = zero + 1;
      return bytes.subarray(first, zero);
    }
    const segments: Uint8Array[] = [];
    let length = 0;
    let segmentStart = first;
    for (;;) {
      if (zero + 1 < bytes.length && bytes[zero + 1] === ESCAPE) {
        // Keep the escaped 0x00, drop the 0xFF after it.
        segments.push(bytes.subarray(segmentStart, zero + 1));
        length += zero + 1 - segmentStart;
        segmentStart = zero + 2;
        zero = bytes.indexOf(NULL, segmentStart);
        if (zero < 0) fail(start, `unterminated ${what}: no 0x00 terminator before the end of the input`);
        continue;
      }
      segments.push(bytes.subarray(segmentStart, zero));
      length += zero - segmentStart;
      this.offset = zero + 1;
      break;
    }
    const content = new Uint8Array(length);
    let at = 0;
    for (const segment of segments) {
      content.set(segment, at);
      at += segment.length;
    }
    return content;
  }

  #string(start: number): string {
    const content = this.#escaped(start, 'string');
    if (content.length <= ASCII_FAST_PATH_BYTES_MAX) {
      let text = '';
      let ascii = true;
      for (let i = 0; i < content.length; i++) {
        const byte = content[i]!;
        if (byte >= 0x80) {
          ascii = false;
          break;
        }
        text += String.fromCharCode(byte);
      }
      if (ascii) return text;
    }
    try {
      return utf8Decoder.decode(content);
    } catch {
      const index = firstInvalidUtf8(content);
      return fail(this.#rawOffset(start, index), `invalid UTF-8 in the string that starts at byte offset ${start}`);
    }
  }

  /** The input offset of byte `index` of the unescaped content of the bytes or string at `start`. */
  #rawOffset(start: number, index: number): number {
    const bytes = this.#bytes;
    let raw = start + 1;
    for (let i = 0; i < index; i++) raw += bytes[raw] === NULL ? 2 : 1;
    return raw;
  }

  #integer(code: number, start: number): number | bigint {
    if (code === INTEGER_ZERO) return 0;
    const bytes = this.#bytes;
    const negative = code < INTEGER_ZERO;
    // Negative magnitudes are stored as their ones' complement, so that they sort in reverse.
    const mask = negative ? 0xff : 0x00;
    let length: number;
    if (code === POSITIVE_ARBITRARY_INTEGER || code === NEGATIVE_ARBITRARY_INTEGER) {
      if (this.offset >= bytes.length) fail(start, 'truncated integer: the input ends before the length byte of the arbitrary-length form');
      length = bytes[this.offset]! ^ mask;
      this.offset += 1;
      if (length <= FIXED_INTEGER_BYTES_MAX) {
        fail(start, `non-canonical integer: the arbitrary-length form 0x${HEX[code]} holds ${length} bytes, but it is only for integers of more than ${FIXED_INTEGER_BYTES_MAX} bytes`);
      }
    } else {
      length = negative ? INTEGER_ZERO - code : code - INTEGER_ZERO;
    }
    this.#need(start, length, 'integer');
    const first = this.offset;
    this.offset += length;
    if ((bytes[first]! ^ mask) === 0) {
      fail(start, `non-canonical integer: its ${length}-byte magnitude starts with a zero byte, so a shorter form exists`);
    }
    const magnitude = readMagnitude(bytes, first, length, mask);
    if (typeof magnitude === 'number') return negative ? -magnitude : magnitude;
    const value = negative ? -magnitude : magnitude;
    // Only 7- and 8-byte magnitudes reach here and may still fit a safe integer.
    return value >= -BigInt(Number.MAX_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  #float(start: number): Float32 {
    this.#need(start, 4, 'float');
    readFloatBits(this.#bytes, this.offset, 4);
    this.offset += 4;
    const value = floatView.getFloat32(0);
    return Number.isNaN(value) ? Float32.fromBits(floatScratch.subarray(0, 4)) : new Float32(value);
  }

  #double(start: number): number | Double {
    this.#need(start, 8, 'double');
    readFloatBits(this.#bytes, this.offset, 8);
    this.offset += 8;
    const value = floatView.getFloat64(0);
    // The canonical NaN is what a plain NaN packs as; any other NaN keeps its bits in a Double.
    if (Number.isNaN(value)) return bytesEqual(floatScratch, CANONICAL_DOUBLE_NAN) ? Number.NaN : Double.fromBits(floatScratch);
    // A plain integral number (or -0) would pack as an integer; Double keeps it a double.
    return Number.isInteger(value) || Object.is(value, -0) ? new Double(value) : value;
  }
}

/** Copies `count` packed float bytes into the scratch space, undoing the order-preserving transformation. */
function readFloatBits(bytes: Uint8Array, from: number, count: number): void {
  // Packing flipped the sign bit of non-negative values and every bit of negative ones; a packed
  // byte with the high bit set therefore came from a non-negative value.
  const flipAll = (bytes[from]! & 0x80) === 0;
  for (let i = 0; i < count; i++) floatScratch[i] = flipAll ? bytes[from + i]! ^ 0xff : bytes[from + i]!;
  if (!flipAll) floatScratch[0]! ^= 0x80;
}

/** The unsigned big-endian magnitude of `length` bytes (each XORed with `mask`): a number while exact, else a bigint. */
function readMagnitude(bytes: Uint8Array, first: number, length: number, mask: number): number | bigint {
  if (length <= 6) {
    // At most 48 bits: exact in a double.
    let value = 0;
    for (let i = 0; i < length; i++) value = value * 256 + (bytes[first + i]! ^ mask);
    return value;
  }
  let hex = '';
  for (let i = 0; i < length; i++) hex += HEX[bytes[first + i]! ^ mask];
  return BigInt(`0x${hex}`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The index of the first byte of the first ill-formed UTF-8 sequence in `content` (by the rules
 * of the Unicode standard that TextDecoder applies: no overlong forms, no surrogates, nothing above
 * U+10FFFF), or `content.length` if there is none.
 */
function firstInvalidUtf8(content: Uint8Array): number {
  let i = 0;
  while (i < content.length) {
    const lead = content[i]!;
    let continuation: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead < 0x80) continuation = 0;
    else if (lead >= 0xc2 && lead <= 0xdf) continuation = 1;
    else if (lead >= 0xe0 && lead <= 0xef) {
      continuation = 2;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      continuation = 3;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return i;
    if (i + continuation >= content.length && continuation > 0) return i;
    for (let k = 1; k <= continuation; k++) {
      const byte = content[i + k]!;
      if (byte < (k === 1 ? low : 0x80) || byte > (k === 1 ? high : 0xbf)) return i;
    }
    i += 1 + continuation;
  }
  return content.length;
}
