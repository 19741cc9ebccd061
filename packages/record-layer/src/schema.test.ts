// Proves that schemas are checked when declared (a malformed record type or index is refused with
// invalid_schema naming the type and the field), that describe() records exactly what a later open
// compares (field types, primary key, indexes, format version), that keyItem turns field values
// into tuple items (Timestamps and Dates as microseconds) and refuses objects and arrays, and that
// mayHoldObjects picks out the fields a write walks for unknown nested keys.
import { describe, expect, it } from 'vitest';
import { Double } from '@strata/tuple';
import { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { SCHEMA_FORMAT_VERSION, Schema, defineSchema, doubleFields, fieldTypeChange, index, keyAsDouble, keyItem, mayHoldObjects, parseFieldType, recordType, type RecordTypeDefinition } from './schema.js';
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

  it('refuses a field with a zod transform anywhere in it, naming the type, the field and why', () => {
    // Reads parse the stored output again: a transformed value (here a length) would not read back.
    const withField = (field: z.ZodType) => () => defineSchema({ t: recordType({ schema: z.object({ id: z.number(), f: field }), primaryKey: ['id'] }) });
    const cases: [z.ZodType, string, string][] = [
      [z.string().transform((s) => s.length), 'f', 'transform'],
      [z.preprocess((v) => String(v), z.string()), 'f', 'transform'],
      [z.string().pipe(z.string().transform((s) => s.trim())), 'f', 'transform'],
      [z.codec(z.string(), z.number(), { decode: Number, encode: String }), 'f', 'codec'],
      [z.string().transform((s) => s.length).optional().nullable().default(0), 'f', 'transform'],
      [z.object({ zip: z.string().transform(Number) }), 'f.zip', 'transform'],
      [z.array(z.object({ k: z.bigint().transform(Number) })), 'f[].k', 'transform'],
      [z.union([z.number(), z.string().transform(Number)]), 'f', 'transform'],
      [z.record(z.string(), z.string().transform(Number)), 'f[]', 'transform'],
      [z.lazy(() => z.string().transform(Number)), 'f', 'transform'],
      // A pipe into another kind stores a value its input refuses when read.
      [z.string().pipe(z.coerce.number()), 'f', 'pipe from string to number'],
      [z.object({ n: z.string().optional().pipe(z.string().pipe(z.coerce.bigint())) }), 'f.n', 'pipe from string to bigint'],
      [z.enum(['1', '2']).pipe(z.coerce.number()), 'f', 'pipe from string to number'],
      [z.string().pipe(z.lazy(() => z.coerce.number()) as z.ZodType<number, string>), 'f', 'pipe from string to number'],
    ];
    for (const [field, path, kind] of cases) {
      const error = failure(withField(field));
      expect(error.code, path).toBe('invalid_schema');
      expect(error.details, path).toEqual({ type: 't', field: path });
      expect(error.message, path).toContain(`record type t: field ${JSON.stringify(path)} uses a zod ${kind}`);
      expect(error.message, path).toContain('would not read back');
    }
    // Checks and in-place normalizations keep the type and read back; a self-referring lazy type ends.
    type Tree = { name: string; children: Tree[] };
    const tree: z.ZodType<Tree> = z.lazy(() => z.object({ name: z.string(), children: z.array(tree) }));
    for (const field of [z.string().trim().toLowerCase(), z.string().refine((s) => s !== ''), z.string().pipe(z.email()), tree, z.coerce.number(), z.coerce.number().pipe(z.number().int())]) {
      expect(withField(field)).not.toThrow();
    }
  });

  it('refuses a sum index over a field that is not an integer, naming the index and the field', () => {
    const withAmount = (amount: z.ZodType) => () =>
      defineSchema({ t: recordType({ schema: z.object({ id: z.number(), amount }), primaryKey: ['id'], indexes: { total: index.sum('amount') } }) });
    for (const [amount, what] of [
      [z.string(), 'of type string'],
      [z.number(), 'a number that may have a fraction'],
      [z.number().optional(), 'a number that may have a fraction'],
      [z.boolean(), 'of type boolean'],
      [timestamp(), 'of type custom'],
      [z.array(z.bigint()), 'of type array<bigint>'],
    ] as const) {
      const error = failure(withAmount(amount));
      expect(error.code).toBe('invalid_schema');
      expect(error.details).toEqual({ type: 't', index: 'total', field: 'amount' });
      expect(error.message).toBe(`record type t: sum index total adds field "amount", which is ${what}; a sum adds integers: declare it z.bigint() or z.number().int()`);
    }
    for (const amount of [z.bigint(), z.bigint().optional(), z.number().int(), z.int(), z.int32(), z.number().int().nullable().default(0), z.bigint().positive()]) {
      expect(withAmount(amount)).not.toThrow();
    }
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
      doubles: ['seq', 'level'],
      defaulted: ['level'],
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
    // A nested field dropped leaves its values in stored records.
    expect(fieldTypeChange(types({ o: z.object({ a: z.string(), b: z.number() }) }).o!, v1.o!)).toContain('drops nested field b');
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

  it('keys numbers of fields that may hold fractions as doubles, and -0 as 0', () => {
    expect(keyItem(2, 'f', true)).toEqual(new Double(2));
    expect(keyItem(2.5, 'f', true)).toEqual(new Double(2.5));
    expect(Object.is((keyItem(-0, 'f', true) as Double).value, 0)).toBe(true);
    expect(Object.is(keyItem(-0, 'f'), 0)).toBe(true);
    const type = recordType({
      schema: z.object({ id: z.number().int(), price: z.number().optional(), count: z.number().int().nullable(), level: z.number().default(1), raw: keyAsDouble(z.custom<number>((v) => typeof v === 'number')), name: z.string() }),
      primaryKey: ['id'],
    });
    expect([...doubleFields(type)]).toEqual(['price', 'level', 'raw']);
    // Through every wrapper that keeps a value's kind.
    const wrapped = recordType({
      schema: z.object({ id: z.string(), a: z.number().readonly(), b: z.number().catch(0), c: z.number().prefault(1), d: keyAsDouble(z.custom<number>((v) => typeof v === 'number')).readonly(), e: z.number().int().readonly() }),
      primaryKey: ['id'],
    });
    expect([...doubleFields(wrapped)]).toEqual(['a', 'b', 'c', 'd']);
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

describe('mayHoldObjects', () => {
  it('is false for scalars and pass-through custom types, through wrappers and arrays, and true otherwise', () => {
    for (const schema of [z.string(), z.number().int(), z.bigint(), z.boolean(), z.date(), z.literal('a'), z.enum(['a']), timestamp(), z.instanceof(Uint8Array), z.array(z.string()).optional(), z.number().nullable().default(1)]) {
      expect(mayHoldObjects(schema)).toBe(false);
    }
    for (const schema of [z.object({}), z.object({ a: z.string() }).optional(), z.array(z.array(z.object({}))), z.record(z.string(), z.string()), z.union([z.string(), z.object({})]), z.lazy(() => z.string()), z.any()]) {
      expect(mayHoldObjects(schema)).toBe(true);
    }
  });
});
