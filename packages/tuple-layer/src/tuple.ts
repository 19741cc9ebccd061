/**
 * Tuples: typed, composable keys whose packed bytes sort the way the tuples do, byte-compatible
 * with FoundationDB's tuple encoding.
 *
 * @remarks
 * Item types and how they pack:
 * - `null`; `Uint8Array` (bytes); `string` (UTF-8); nested tuples (arrays);
 * - integers: a `number` that is an integer (and not -0) or a `bigint`, of any size; unpacking
 *   gives a `number` when it is a safe integer, a `bigint` otherwise;
 * - doubles: any other `number` (fractions, NaN, infinities), or {@link Double} to force a double
 *   for an integral value or -0; unpacking gives a `number`, or a {@link Double} when the value is
 *   integral or -0 (so that packing it again gives the same bytes);
 * - {@link Float32} (single precision), `boolean`, {@link Uuid}, {@link Versionstamp} (complete, or
 *   incomplete: filled in at commit by `setVersionstampedKey` / `setVersionstampedValue`).
 */
import { encodeVersionstampOffset, type KeyRange } from '@strata/core';
import * as fdbTuple from 'fdb-tuple';
import { TupleLayerError } from './errors.js';

/** A UUID item: 16 bytes. */
export class Uuid {
  /** The 16 bytes. */
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 16) {
      throw new TupleLayerError('tuple_encode_error', 'a Uuid needs exactly 16 bytes');
    }
    this.bytes = new Uint8Array(bytes);
  }
  /** Parses the canonical text form, e.g. `123e4567-e89b-12d3-a456-426614174000`. */
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

/** A single-precision float item (JavaScript numbers are doubles; this packs as a 4-byte float). */
export class Float32 {
  constructor(readonly value: number) {}
}

/** A double item, for values a plain `number` would pack as an integer (integral values, -0). */
export class Double {
  constructor(readonly value: number) {}
}

/** Bytes of a complete versionstamp's transaction part: 8-byte commit version and 2-byte batch order. */
export const TRANSACTION_VERSION_BYTES = 10;

/**
 * A versionstamp item: the 10-byte transaction versionstamp of a commit plus a 2-byte user
 * version chosen by the application (to order several keys written by one transaction).
 * An incomplete one has no transaction part yet; the database fills it in at commit.
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

type FdbItem = fdbTuple.TupleItem;

function toFdb(item: TupleItem, path: string): FdbItem {
  if (item === null || typeof item === 'string' || typeof item === 'boolean') return item;
  if (typeof item === 'bigint') return item;
  if (typeof item === 'number') {
    if (Number.isInteger(item) && !Object.is(item, -0)) return Number.isSafeInteger(item) ? item : BigInt(item);
    return { type: 'double', value: item };
  }
  if (item instanceof Uint8Array) return Buffer.from(item.buffer, item.byteOffset, item.byteLength);
  if (Array.isArray(item)) return (item as Tuple).map((inner, index) => toFdb(inner, `${path}[${index}]`));
  if (item instanceof Uuid) return { type: 'uuid', value: Buffer.from(item.bytes) };
  if (item instanceof Float32) return { type: 'float', value: item.value };
  if (item instanceof Double) return { type: 'double', value: item.value };
  if (item instanceof Versionstamp) {
    if (item.transactionVersion === null) return { type: 'unbound versionstamp', code: item.userVersion };
    const value = Buffer.alloc(12);
    value.set(item.transactionVersion);
    value.writeUInt16BE(item.userVersion, 10);
    return { type: 'versionstamp', value };
  }
  throw new TupleLayerError('tuple_encode_error', `tuple item ${path} has a type tuples cannot hold (${describe(item)})`, { details: { path } });
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}

function checkTuple(tuple: unknown, what: string): asserts tuple is Tuple {
  if (!Array.isArray(tuple)) throw new TupleLayerError('tuple_encode_error', `${what} must be an array of tuple items, got ${describe(tuple)}`);
}

/**
 * Packs a tuple into bytes that sort as the tuple does.
 * @throws TupleLayerError `tuple_encode_error` for an item tuples cannot hold, or an incomplete
 * versionstamp (use {@link packWithVersionstamp}).
 * @example `pack(['users', 42])`
 */
export function pack(tuple: Tuple): Uint8Array {
  checkTuple(tuple, 'pack');
  const items = tuple.map((item, index) => toFdb(item, `[${index}]`));
  try {
    return new Uint8Array(fdbTuple.pack(items));
  } catch (cause) {
    throw new TupleLayerError('tuple_encode_error', `cannot pack the tuple: ${String((cause as Error).message ?? cause)}`, { cause });
  }
}

/**
 * Packs a tuple holding exactly one incomplete {@link Versionstamp}, after `prefix`, and appends
 * the placeholder's 4-byte offset: the form `setVersionstampedKey` and `setVersionstampedValue`
 * take.
 * @throws TupleLayerError `tuple_encode_error` unless there is exactly one incomplete versionstamp.
 * @example `tx.setVersionstampedKey(packWithVersionstamp(['events', Versionstamp.incomplete()]), value)`
 */
export function packWithVersionstamp(tuple: Tuple, prefix: Uint8Array = new Uint8Array()): Uint8Array {
  checkTuple(tuple, 'packWithVersionstamp');
  const items = tuple.map((item, index) => toFdb(item, `[${index}]`));
  let packed: { data: Buffer; stampPos: number };
  try {
    packed = fdbTuple.packUnboundVersionstamp(items);
  } catch (cause) {
    throw new TupleLayerError('tuple_encode_error', `packWithVersionstamp needs exactly one incomplete versionstamp: ${String((cause as Error).message ?? cause)}`, {
      cause,
    });
  }
  const bytes = new Uint8Array(prefix.length + packed.data.length);
  bytes.set(prefix);
  bytes.set(packed.data, prefix.length);
  return encodeVersionstampOffset(bytes, prefix.length + packed.stampPos);
}

function fromFdb(item: FdbItem): TupleItem {
  if (item === null || typeof item === 'string' || typeof item === 'boolean') return item;
  if (typeof item === 'number') return item;
  if (typeof item === 'bigint') return Number.isSafeInteger(Number(item)) && BigInt(Number(item)) === item ? Number(item) : item;
  if (Buffer.isBuffer(item)) return new Uint8Array(item);
  if (Array.isArray(item)) return item.map(fromFdb);
  const typed = item as { type: string; value?: unknown; code?: number };
  if (typed.type === 'uuid') return new Uuid(typed.value as Buffer);
  if (typed.type === 'float') return new Float32(typed.value as number);
  if (typed.type === 'double') return new Double(typed.value as number);
  if (typed.type === 'versionstamp') {
    const value = typed.value as Buffer;
    return new Versionstamp(new Uint8Array(value.subarray(0, 10)), value.readUInt16BE(10));
  }
  throw new TupleLayerError('tuple_decode_error', `unexpected decoded item ${JSON.stringify(typed.type)}`);
}

/**
 * Unpacks bytes made by {@link pack} back into a tuple.
 * @throws TupleLayerError `tuple_decode_error` naming the offset and the problem.
 */
export function unpack(bytes: Uint8Array): TupleItem[] {
  if (!(bytes instanceof Uint8Array)) throw new TupleLayerError('tuple_decode_error', `unpack needs a Uint8Array, got ${describe(bytes)}`);
  try {
    return fdbTuple.unpack(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).map(fromFdb);
  } catch (cause) {
    throw new TupleLayerError('tuple_decode_error', `cannot unpack the tuple: ${String((cause as Error).message ?? cause)}`, { cause });
  }
}

/**
 * The range of every key that extends `tuple` with more items: packed `tuple` followed by 0x00,
 * up to packed `tuple` followed by 0xFF (FoundationDB's tuple range).
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
