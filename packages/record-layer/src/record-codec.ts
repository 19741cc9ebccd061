/**
 * How a record's fields become the bytes stored under its key, and back.
 *
 * A stored record is one header byte (whole or split, see record-store.ts) and a msgpack array:
 * item 0 holds the fields the type's field table does not list (a map; nil when there are none,
 * which is always the case for a schema that strips unknown keys), and item `1 + p` the field at
 * position `p` of the table (msgpack's `undefined` for a field the record lacks; trailing ones are
 * left out). Field names are not stored with every record, so a record is smaller and reads with
 * no string decoding of its keys.
 *
 * Invariants:
 * 1. A type's field table only grows: a field keeps its position for good, and the position of a
 *    dropped field is never given to another, so a record written under any earlier schema reads
 *    back under the names it was written with (see {@link extendFieldTables}).
 * 2. `decode(encode(record))` has the record's own enumerable keys whose values are not
 *    `undefined`, with equal values (`-0` included, see {@link NegativeZero}).
 * 3. Records stored as msgpack maps (the format before field tables) still decode, as the map.
 */
import { Packr, RESERVE_START_SPACE, addExtension } from 'msgpackr';
import { RecordLayerError } from './errors.js';
import type { SchemaDescription } from './schema.js';
import { Timestamp } from './timestamp.js';

// copyBuffers: a decoded record must not share memory with the stored bytes (they may be borrowed
// from the database's caches).
const packr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true, copyBuffers: true });

// Timestamps travel through msgpack as their microseconds (an extension type of our own).
addExtension({ Class: Timestamp, type: 0x54, write: (t: Timestamp) => t.micros, read: (micros: bigint) => new Timestamp(BigInt(micros)) });

/** msgpack writes -0 as the integer 0; a record holding -0 is packed with this marker in its place. */
class NegativeZero {}
const NEGATIVE_ZERO = new NegativeZero();
addExtension({ Class: NegativeZero, type: 0x2d, write: () => 0, read: () => -0 });

// Whether `value` holds -0 anywhere (in a field, an array or a nested object).
function holdsNegativeZero(value: unknown): boolean {
  if (typeof value === 'number') return value === 0 && 1 / value < 0;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || value instanceof Timestamp || value instanceof Date) return false;
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (holdsNegativeZero(item)) return true;
  return false;
}

// A copy of `value` with every -0 replaced by the marker.
function markNegativeZeros(value: unknown): unknown {
  if (typeof value === 'number') return value === 0 && 1 / value < 0 ? NEGATIVE_ZERO : value;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || value instanceof Timestamp || value instanceof Date) return value;
  if (Array.isArray(value)) return value.map(markNegativeZeros);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, markNegativeZeros(item)]));
}

// Where a stored record's msgpack starts: after its header byte.
const HEADER_BYTES = 1;
const AFTER_HEADER = Object.freeze({ start: HEADER_BYTES });

// Records of up to this many bytes are decoded from a copy in one buffer kept for the purpose. A
// record read at random lies cold in memory, in a buffer of its own (the storage server's cache
// keeps every value apart), and msgpackr keeps the DataView it reads a buffer with as a property of
// that buffer: decoding in place costs a cache miss on that DataView per record on top of the
// bytes, and leaves a DataView behind on every cached value. The copy touches the bytes once and
// reads them through one DataView that stays hot; about a tenth of the latest-orders query of the
// benchmark. Decoding is synchronous and msgpackr copies what it returns (copyBuffers), so one
// buffer serves every call.
const SCRATCH_BYTES = 4096;
const scratch = Buffer.allocUnsafeSlow(SCRATCH_BYTES);

/** A record's fields by name. */
export type Fields = Record<string, unknown>;

/** Encodes and decodes the records of one type with the type's field table. */
export class RecordCodec {
  readonly #positions: ReadonlyMap<string, number>;
  readonly #build: (items: readonly unknown[]) => Fields;

  /** @param fields - the type's field table: every field its records may hold, by position. */
  constructor(readonly fields: readonly string[]) {
    this.#positions = new Map(fields.map((field, position) => [field, position]));
    // One function per table, assigning each field under its literal name, so the objects it makes
    // share one shape and every store is a named one (a loop over the names is a keyed store per
    // field and about a quarter slower to read records with). The names are JSON string literals,
    // so any field name is safe in the source; `__proto__` is written as an own property.
    const body = fields.map((field, position) => {
      const name = JSON.stringify(field);
      const store = field === '__proto__' ? `Object.defineProperty(r, ${name}, { value: v, enumerable: true, writable: true, configurable: true })` : `r[${name}] = v`;
      return `if ((v = a[${position + 1}]) !== undefined) ${store};`;
    });
    const make = new Function('addExtras', `return (a) => { const r = {}; let v; ${body.join(' ')} if (a[0] != null) addExtras(r, a[0]); return r; };`);
    this.#build = make(addExtras) as (items: readonly unknown[]) => Fields;
  }

  /**
   * The stored bytes of `record`: a header byte, left 0 for the caller to set, and the msgpack
   * array. The bytes are a view on the encoder's buffer, valid until the caller copies them (a
   * transaction's `set` copies its value), and no allocation of their own.
   */
  encode(record: Fields): Uint8Array {
    const positions = this.#positions;
    const items: unknown[] = new Array(this.fields.length + 1);
    let extras: Fields | null = null;
    let last = 0;
    for (const field in record) {
      const value = record[field];
      if (value === undefined || !Object.hasOwn(record, field)) continue;
      const position = positions.get(field);
      if (position === undefined) {
        extras ??= {};
        Object.defineProperty(extras, field, { value, enumerable: true, writable: true, configurable: true });
        continue;
      }
      items[position + 1] = value;
      if (position + 1 > last) last = position + 1;
    }
    items.length = last + 1;
    items[0] = extras;
    const bytes = packr.pack(holdsNegativeZero(items) ? markNegativeZeros(items) : items, RESERVE_START_SPACE | HEADER_BYTES);
    bytes[0] = 0;
    return bytes;
  }

  /**
   * The fields of a stored record: `bytes` starts with its header byte.
   * @throws RecordLayerError `record_invalid` when the bytes are not a stored record.
   */
  decode(bytes: Uint8Array): Fields {
    let value: unknown;
    if (bytes.length <= SCRATCH_BYTES) {
      scratch.set(bytes);
      value = packr.unpack(scratch, { start: HEADER_BYTES, end: bytes.length });
    } else {
      value = packr.unpack(bytes, AFTER_HEADER);
    }
    if (Array.isArray(value)) return this.#build(value);
    if (typeof value === 'object' && value !== null && !(value instanceof Uint8Array)) return value as Fields;
    throw new RecordLayerError('record_invalid', 'a stored record is neither a field array nor a map');
  }
}

// Adds the fields a record holds outside its type's table (decoded from item 0; msgpackr never
// decodes a map key as `__proto__`, so assigning them cannot set the prototype).
function addExtras(record: Fields, extras: unknown): void {
  if (typeof extras !== 'object' || Array.isArray(extras) || extras instanceof Uint8Array) {
    throw new RecordLayerError('record_invalid', 'a stored record has malformed extra fields');
  }
  Object.assign(record, extras);
}

/**
 * The field table of each record type of `next`: the stored table (or, for a store written before
 * tables, the stored fields in order) with the fields new to it appended in declaration order.
 * Types `next` lacks are dropped with their tables (a type is only removed without records).
 */
export function extendFieldTables(stored: SchemaDescription | null, next: SchemaDescription): Record<string, string[]> {
  const tables: Record<string, string[]> = {};
  for (const [name, type] of Object.entries(next.types)) {
    const before = stored?.fieldTables?.[name] ?? Object.keys(stored?.types[name]?.fields ?? {});
    const table = [...before];
    const known = new Set(table);
    for (const field of Object.keys(type.fields)) if (!known.has(field)) table.push(field);
    tables[name] = table;
  }
  return tables;
}
