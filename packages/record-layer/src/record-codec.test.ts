// Proves the stored record format: fields round-trip by position (every kind msgpack carries, -0
// anywhere, fields outside the table, a field named __proto__ as an own field), absent and undefined
// fields are left out, names are not stored, each record reads from its own bytes alone, positions
// past a reader's table are ignored, records stored as maps still decode, malformed bytes get
// record_invalid, and field tables only grow.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { RecordLayerError } from './errors.js';
import { RecordCodec, extendFieldTables } from './record-codec.js';
import type { SchemaDescription } from './schema.js';
import { Timestamp } from './timestamp.js';

const stored = (body: Uint8Array): Uint8Array => Buffer.concat([Buffer.from([0x00]), body]);
const plainPackr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true });

describe('RecordCodec', () => {
  const codec = new RecordCodec(['id', 'name', 'score', 'at', 'nested', 'maybe']);

  it('round-trips records by position and stores no field names', () => {
    const record = {
      id: 7n,
      name: 'Ada',
      score: -0,
      at: new Timestamp(1_700_000_000_123_456n),
      nested: { list: [1, -0, 2.5], bytes: new Uint8Array([1, 2]), when: new Date(5) },
    };
    const bytes = codec.encode(record);
    expect(bytes[0]).toBe(0); // the header byte, left for the caller
    const decoded = codec.decode(bytes);
    expect(decoded).toEqual(record);
    expect(Object.is(decoded['score'], -0)).toBe(true);
    expect(Object.is((decoded['nested'] as { list: number[] }).list[1], -0)).toBe(true);
    expect(Object.keys(decoded)).toEqual(['id', 'name', 'score', 'at', 'nested']);
    expect(Buffer.from(bytes).includes(Buffer.from('name'))).toBe(false);
  });

  it('leaves out absent and undefined fields, and trailing ones take no space', () => {
    const decoded = codec.decode(codec.encode({ id: 1, name: undefined, maybe: 'x' }));
    expect(decoded).toStrictEqual({ id: 1, maybe: 'x' });
    expect(codec.encode({ id: 1 })).toEqual(codec.encode({ id: 1, score: undefined, maybe: undefined }));
    expect(plainPackr.unpack(codec.encode({ id: 1 }).subarray(1))).toEqual([null, 1]);
  });

  it('keeps fields outside the table; a __proto__ among them never becomes the prototype', () => {
    const record = JSON.parse('{"id": 1, "extra": [1, 2], "__proto__": {"polluted": true}}') as Record<string, unknown>;
    const decoded = codec.decode(codec.encode(record));
    expect(decoded['extra']).toEqual([1, 2]);
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded['polluted']).toBeUndefined();
  });

  it('a table naming __proto__ reads it as an own field', () => {
    const odd = new RecordCodec(['id', '__proto__']);
    const record = JSON.parse('{"id": 1, "__proto__": {"polluted": true}}') as Record<string, unknown>;
    const decoded = odd.decode(odd.encode(record));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('ignores positions past its table (fields a newer schema added)', () => {
    const newer = new RecordCodec(['id', 'name', 'score', 'at', 'nested', 'maybe', 'added']);
    expect(codec.decode(newer.encode({ id: 1, added: 'new' }))).toStrictEqual({ id: 1 });
  });

  it('decodes records stored as msgpack maps', () => {
    const record = { id: 3, name: 'Bo', anything: { deep: true } };
    expect(codec.decode(stored(plainPackr.pack(record)))).toEqual(record);
  });

  it('reads each record from its own bytes only, whatever was decoded before it', () => {
    const long = codec.encode({ id: 1, name: 'x'.repeat(300), nested: { bytes: new Uint8Array([9, 9, 9]) } }).slice();
    const first = codec.decode(long);
    const short = codec.encode({ id: 2, name: 'y' }).slice();
    expect(codec.decode(short)).toStrictEqual({ id: 2, name: 'y' });
    // The bytes a decoded record holds are its own: later decodes do not change them.
    expect((first['nested'] as { bytes: Uint8Array }).bytes).toEqual(new Uint8Array([9, 9, 9]));
    codec.decode(long);
    // A truncated copy of the record just decoded is incomplete, not that record again.
    expect(() => codec.decode(long.subarray(0, long.length - 10))).toThrow();
    // Records past the size decoded from a copy are read where they lie.
    const large = { id: 3, name: 'z'.repeat(20_000), nested: { bytes: new Uint8Array(5_000).fill(7) } };
    expect(codec.decode(codec.encode(large).slice())).toEqual(large);
  });

  it('refuses bytes that are not a stored record with record_invalid', () => {
    for (const body of [plainPackr.pack('text'), plainPackr.pack(42), plainPackr.pack([5, 1])]) {
      let error: unknown;
      try {
        codec.decode(stored(body));
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(RecordLayerError);
      expect((error as RecordLayerError).code).toBe('record_invalid');
    }
  });
});

describe('extendFieldTables', () => {
  const description = (types: Record<string, string[]>, fieldTables?: Record<string, string[]>): SchemaDescription => ({
    formatVersion: 1,
    types: Object.fromEntries(
      Object.entries(types).map(([name, fields]) => [name, { primaryKey: [fields[0]!], fields: Object.fromEntries(fields.map((f) => [f, 'string'])), indexes: {} }]),
    ),
    ...(fieldTables === undefined ? {} : { fieldTables }),
  });

  it('starts from the declared fields', () => {
    expect(extendFieldTables(null, description({ a: ['id', 'x'] }))).toEqual({ a: ['id', 'x'] });
  });

  it('keeps every stored position, dropped fields included, and appends new fields', () => {
    const before = description({ a: ['id', 'x', 'y'] }, { a: ['id', 'gone', 'x', 'y'] });
    expect(extendFieldTables(before, description({ a: ['id', 'z', 'y'] }))).toEqual({ a: ['id', 'gone', 'x', 'y', 'z'] });
  });

  it('takes a store without tables in its stored field order, and drops types the schema no longer has', () => {
    const before = description({ a: ['id', 'x'], old: ['k'] });
    expect(extendFieldTables(before, description({ a: ['x', 'id', 'n'], b: ['k'] }))).toEqual({ a: ['id', 'x', 'n'], b: ['k'] });
  });
});
