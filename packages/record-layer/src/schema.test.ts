// Proves that schemas are checked when declared (a malformed record type or index is refused with
// invalid_schema naming the type and the field), that describe() records exactly what a later open
// compares (field types, primary key, indexes, format version), and that keyItem turns field values
// into tuple items (Timestamps and Dates as microseconds) and refuses objects and arrays.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { SCHEMA_FORMAT_VERSION, Schema, defineSchema, fieldTypeChange, parseFieldType, index, keyItem, recordType, type RecordTypeDefinition } from './schema.js';
import { Timestamp, timestamp } from './timestamp.js';

function failure(fn: () => unknown): RecordLayerError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordLayerError);
    return error as RecordLayerError;
  }
  throw new Error('expected a RecordLayerError');
}

const people = z.object({ id: z.bigint(), name: z.string(), age: z.number().int(), city: z.string().optional() });

describe('defineSchema validation', () => {
  it('accepts a well-formed schema and keeps its types', () => {
    const type = recordType({
      schema: people,
      primaryKey: ['id'],
      indexes: {
        byName: index.value(['name']),
        byCityName: index.value(['city', 'name'], { unique: true }),
        count: index.count(),
        countByCity: index.count({ groupBy: ['city'] }),
        ageSum: index.sum('age', { groupBy: ['city'] }),
        youngest: index.min('age'),
        oldest: index.max('age', { groupBy: ['city'] }),
      },
    });
    const schema = defineSchema({ people: type });
    expect(schema).toBeInstanceOf(Schema);
    expect(schema.types.people).toBe(type);
    expect(schema.type('people')).toBe(type);
  });

  it('refuses a schema with no record types', () => {
    const error = failure(() => defineSchema({}));
    expect(error.code).toBe('invalid_schema');
    expect(error.errno).toBe(7210);
  });

  it('refuses a record type whose schema is not a zod object', () => {
    const bad = { schema: z.string(), primaryKey: ['id'], indexes: {} } as unknown as RecordTypeDefinition;
    const error = failure(() => defineSchema({ things: bad }));
    expect(error.code).toBe('invalid_schema');
    expect(error.message).toContain('things');
    expect(error.message).toContain('zod object');
  });

  it('refuses an empty primary key', () => {
    const error = failure(() => defineSchema({ people: recordType({ schema: people, primaryKey: [] }) }));
    expect(error.code).toBe('invalid_schema');
    expect(error.message).toMatch(/people: the primary key needs at least one field/);
  });

  it('refuses a primary key field that does not exist, naming it', () => {
    const bad = { schema: people, primaryKey: ['id', 'email'], indexes: {} } as RecordTypeDefinition;
    const error = failure(() => defineSchema({ people: bad }));
    expect(error.code).toBe('invalid_schema');
    expect(error.details).toMatchObject({ type: 'people', field: 'email' });
    expect(error.message).toContain('"email"');
    expect(error.message).toContain('primary key');
  });

  it.each([
    ['a value index', index.value(['name', 'email']), 'email'],
    ['a count groupBy', index.count({ groupBy: ['country'] }), 'country'],
    ['a sum field', index.sum('salary'), 'salary'],
    ['a sum groupBy', index.sum('age', { groupBy: ['team'] }), 'team'],
    ['a min field', index.min('height'), 'height'],
    ['a max groupBy', index.max('age', { groupBy: ['zone'] }), 'zone'],
  ])('refuses %s naming a missing field', (_what, definition, field) => {
    const error = failure(() => defineSchema({ people: recordType({ schema: people, primaryKey: ['id'], indexes: { broken: definition } }) }));
    expect(error.code).toBe('invalid_schema');
    expect(error.details).toMatchObject({ type: 'people', field });
    expect(error.message).toContain('index broken');
    expect(error.message).toContain(JSON.stringify(field));
  });

  it('refuses a value index with no fields', () => {
    const error = failure(() => defineSchema({ people: recordType({ schema: people, primaryKey: ['id'], indexes: { empty: index.value([]) } }) }));
    expect(error.code).toBe('invalid_schema');
    expect(error.message).toContain('value index empty needs at least one field');
  });

  it('type() refuses an unknown record type', () => {
    const schema = defineSchema({ people: recordType({ schema: people, primaryKey: ['id'] }) });
    const error = failure(() => schema.type('robots'));
    expect(error.code).toBe('unknown_record_type');
    expect(error.details).toMatchObject({ type: 'robots' });
  });
});

describe('index builders', () => {
  it('build the definitions describe() stores', () => {
    expect(index.value(['a'])).toEqual({ kind: 'value', fields: ['a'], unique: false });
    expect(index.value(['a', 'b'], { unique: true })).toEqual({ kind: 'value', fields: ['a', 'b'], unique: true });
    expect(index.count()).toEqual({ kind: 'count', groupBy: [] });
    expect(index.sum('x', { groupBy: ['g'] })).toEqual({ kind: 'sum', field: 'x', groupBy: ['g'] });
    expect(index.min('x')).toEqual({ kind: 'min', field: 'x', groupBy: [] });
    expect(index.max('x', { groupBy: ['g', 'h'] })).toEqual({ kind: 'max', field: 'x', groupBy: ['g', 'h'] });
  });

  it('copy their arrays, so later changes to the caller array do not change the index', () => {
    const fields = ['a'];
    const definition = index.value(fields);
    fields.push('b');
    expect(definition).toEqual({ kind: 'value', fields: ['a'], unique: false });
  });
});

describe('Schema.describe', () => {
  const schema = defineSchema({
    events: recordType({
      schema: z.object({
        id: z.string(),
        seq: z.number(),
        big: z.bigint(),
        flag: z.boolean(),
        at: timestamp(),
        when: z.date(),
        body: z.instanceof(Uint8Array),
        note: z.string().optional(),
        level: z.number().default(3),
        parent: z.string().nullable(),
        tags: z.array(z.string()),
        where: z.object({ city: z.string(), zip: z.number().optional() }),
      }),
      primaryKey: ['id', 'seq'],
      indexes: { bySeq: index.value(['seq'], { unique: true }), perFlag: index.count({ groupBy: ['flag'] }) },
    }),
  });

  it('records field types, primary key, indexes and the format version', () => {
    const description = schema.describe();
    expect(description.formatVersion).toBe(SCHEMA_FORMAT_VERSION);
    const { fieldTypes, ...rest } = description.types.events!;
    expect(rest).toEqual({
      primaryKey: ['id', 'seq'],
      fields: {
        id: 'string',
        seq: 'number',
        big: 'bigint',
        flag: 'boolean',
        at: 'custom',
        when: 'date',
        body: 'custom',
        note: 'optional<string>',
        level: 'default<number>',
        parent: 'nullable<string>',
        tags: 'array<string>',
        where: 'object{city:string,zip:optional<number>}',
      },
      indexes: {
        bySeq: { kind: 'value', fields: ['seq'], unique: true },
        perFlag: { kind: 'count', groupBy: ['flag'] },
      },
    });
    // The detailed types say what the texts (the format 1 description) say, for these fields.
    for (const [field, text] of Object.entries(rest.fields)) expect(parseFieldType(text), field).toEqual(fieldTypes![field]);
  });

  it('keeps the values of enums and literals and the members of unions, and compares them', () => {
    const types = (shape: Record<string, z.ZodType>) => defineSchema({ t: recordType({ schema: z.object({ id: z.string(), ...shape }), primaryKey: ['id'] }) }).describe().types.t!.fieldTypes!;
    const before = types({ kind: z.enum(['x', 'y']), one: z.literal('a'), either: z.union([z.string(), z.number()]), n: z.string() });
    expect(before.kind).toEqual({ kind: 'enum', values: ['"x"', '"y"'] });
    expect(before.one).toEqual({ kind: 'literal', values: ['"a"'] });
    expect(before.either).toEqual({ kind: 'union', members: [{ kind: 'string' }, { kind: 'number' }] });
    const after = types({
      kind: z.enum(['x']),
      one: z.literal(['a', 1]),
      either: z.union([z.string(), z.boolean()]),
      n: z.string().optional(),
    });
    expect(fieldTypeChange(before.kind!, after.kind!)).toContain('narrowed its values from enum["x", "y"] to enum["x"]: stored records may hold "y"');
    expect(fieldTypeChange(after.kind!, before.kind!)).toBeNull();
    expect(fieldTypeChange(before.one!, after.one!)).toBeNull();
    expect(fieldTypeChange(after.one!, before.one!)).toContain('may hold 1');
    expect(fieldTypeChange(before.either!, after.either!)).toContain('no member accepts the values of number');
    expect(fieldTypeChange(before.either!, types({ either: z.union([z.number(), z.boolean(), z.string()]) }).either!)).toBeNull();
    // Required to optional, nullable or defaulted is safe; the way back is not.
    expect(fieldTypeChange(before.n!, after.n!)).toBeNull();
    expect(fieldTypeChange(before.n!, types({ n: z.string().nullable() }).n!)).toBeNull();
    expect(fieldTypeChange(before.n!, types({ n: z.string().default('') }).n!)).toBeNull();
    expect(fieldTypeChange(after.n!, before.n!)).toContain('became required');
    expect(fieldTypeChange(types({ n: z.string().nullable() }).n!, before.n!)).toContain('no longer nullable');
    // Inside arrays and objects too.
    const nested = (element: z.ZodType, inner: z.ZodType) => types({ list: z.array(element), o: z.object({ a: inner }) });
    const v1 = nested(z.enum(['x', 'y']), z.string());
    const v2 = nested(z.enum(['x']), z.string().optional());
    expect(fieldTypeChange(v1.list!, v2.list!)).toContain('narrowed');
    expect(fieldTypeChange(v1.o!, v2.o!)).toBeNull();
    expect(fieldTypeChange(v2.o!, v1.o!)).toContain('nested field a that became required');
    expect(fieldTypeChange(v1.o!, types({ o: z.object({ a: z.string(), b: z.number() }) }).o!)).toContain('nested field b that is new and required');
  });

  it('reads the texts of format 1 descriptions, with values and members unknown', () => {
    expect(parseFieldType('optional<array<object{a:string,b:nullable<enum>}>>')).toEqual({
      kind: 'optional',
      inner: { kind: 'array', element: { kind: 'object', fields: { a: { kind: 'string' }, b: { kind: 'nullable', inner: { kind: 'enum' } } } } },
    });
    expect(parseFieldType('object{}')).toEqual({ kind: 'object', fields: {} });
    expect(parseFieldType('optional<string')).toBeNull();
    // Unknown values compare as unchanged, as format 1 compared them.
    expect(fieldTypeChange(parseFieldType('enum')!, { kind: 'enum', values: ['"x"'] })).toBeNull();
  });

  it('is stable and detached from the schema', () => {
    const first = schema.describe();
    expect(JSON.stringify(schema.describe())).toBe(JSON.stringify(first));
    (first.types.events!.indexes.bySeq as unknown as { fields: string[] }).fields.push('oops');
    first.types.events!.primaryKey.push('oops');
    expect(schema.describe().types.events!.indexes.bySeq).toEqual({ kind: 'value', fields: ['seq'], unique: true });
    expect(schema.describe().types.events!.primaryKey).toEqual(['id', 'seq']);
  });

  it('differs when a field type changes', () => {
    const a = defineSchema({ t: recordType({ schema: z.object({ id: z.string(), n: z.number() }), primaryKey: ['id'] }) });
    const b = defineSchema({ t: recordType({ schema: z.object({ id: z.string(), n: z.bigint() }), primaryKey: ['id'] }) });
    const c = defineSchema({ t: recordType({ schema: z.object({ id: z.string(), n: z.array(z.number()) }), primaryKey: ['id'] }) });
    const types = [a, b, c].map((s) => s.describe().types.t!.fields.n);
    expect(new Set(types).size).toBe(3);
  });
});

describe('keyItem', () => {
  it('passes scalars through and maps undefined to null', () => {
    expect(keyItem('x', 'f')).toBe('x');
    expect(keyItem(1.5, 'f')).toBe(1.5);
    expect(keyItem(-7, 'f')).toBe(-7);
    expect(keyItem(2n ** 70n, 'f')).toBe(2n ** 70n);
    expect(keyItem(true, 'f')).toBe(true);
    expect(keyItem(false, 'f')).toBe(false);
    expect(keyItem(null, 'f')).toBeNull();
    expect(keyItem(undefined, 'f')).toBeNull();
    const bytes = new Uint8Array([0, 1, 255]);
    expect(keyItem(bytes, 'f')).toBe(bytes);
  });

  it('turns a Timestamp into its microseconds and a Date into milliseconds times 1000', () => {
    expect(keyItem(Timestamp.parse('2024-05-01T12:00:00.123456Z'), 'at')).toBe(1714564800123456n);
    expect(keyItem(new Timestamp(-5n), 'at')).toBe(-5n);
    expect(keyItem(new Date(1714564800123), 'when')).toBe(1714564800123000n);
    expect(keyItem(new Date(-1), 'when')).toBe(-1000n);
    // The same instant as a Date and as a Timestamp is the same key.
    const date = new Date('2020-02-02T02:02:02.002Z');
    expect(keyItem(date, 'a')).toBe(keyItem(Timestamp.fromDate(date), 'b'));
  });

  it('refuses objects and arrays with record_invalid naming the field', () => {
    const object = failure(() => keyItem({ city: 'Oslo' }, 'address'));
    expect(object.code).toBe('record_invalid');
    expect(object.details).toMatchObject({ field: 'address' });
    expect(object.message).toContain('"address"');
    expect(object.message).toContain('an object');
    const array = failure(() => keyItem(['a'], 'tags'));
    expect(array.code).toBe('record_invalid');
    expect(array.details).toMatchObject({ field: 'tags' });
    expect(array.message).toContain('an array');
    expect(failure(() => keyItem(new Map(), 'm')).code).toBe('record_invalid');
  });

  it('refuses an invalid Date with record_invalid rather than a RangeError', () => {
    expect(failure(() => keyItem(new Date(Number.NaN), 'when')).code).toBe('record_invalid');
  });
});
