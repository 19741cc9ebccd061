/**
 * Maps a PostgreSQL schema model ({@link PgSchema}, from `introspect`) to record types: per column a
 * zod schema and exact conversions between PostgreSQL's text and record values, per table a record
 * type with its primary key, indexes, references and sequences, and a list of everything that
 * cannot be carried over, each with its reason. `copy`, `verify` and `generateModule` build on it.
 *
 * Invariants:
 * 1. Nothing is lost silently. For every value `v` of a mapped column, `fromText(text of v)`
 *    returns a record value `r` that its `zod` schema accepts, and `toText(r)` is a literal that
 *    PostgreSQL parses back to a value `IS NOT DISTINCT FROM v` (`json`: the same text); or
 *    `fromText` throws `record_invalid` naming the column and the problem. The only values refused
 *    are listed in {@link mapSchema}'s remarks.
 * 2. `select` expressions print values in a form that does not depend on session settings
 *    (`DateStyle`, `IntervalStyle`, `TimeZone`, `extra_float_digits`, `bytea_output`): they use
 *    `extract`, `encode`, `*send` functions and type output functions whose text is fixed. They
 *    need PostgreSQL 14 or later (`extract` returning `numeric`, numeric infinities).
 * 3. Every table, column, constraint and index of the model is either part of `schema` or named in
 *    `unmapped` with the reason (the model's own entries are kept, except those for columns this
 *    mapping does map).
 * 4. Deterministic: the same model and options give the same record types, names and `unmapped`
 *    list, in the same order.
 * 5. `canonical(a) === canonical(b)` iff `toText(a) === toText(b)`, and `null` has a canonical
 *    text of its own: equal values give equal text, for per-row digests.
 */
import { z } from 'zod';
import { RecordLayerError } from '../errors.js';
import { defineSchema, index, keyAsDouble, recordType, referencingIndex, type IndexDefinition, type RecordTypeDefinition, type ReferenceDefinition, type Schema } from '../schema.js';
import { Timestamp, timestamp } from '../timestamp.js';
import type { PgColumn, PgForeignKey, PgIndex, PgKey, PgSchema, PgTable, PgType, PgUnmapped, PgUnmappedKind } from './model.js';

// ---------------------------------------------------------------------------------------------
// Public interface

/** One mapped column: its record field, zod schema and conversions from and to PostgreSQL text. */
export interface ColumnMapping {
  /** PostgreSQL column name. */
  column: string;
  /**
   * Record field name: always the column name, unchanged (a record field may be any string; the
   * generated module quotes names that are not identifiers, e.g. `'order id'`).
   */
  field: string;
  /** The column's type, from the model. */
  type: PgType;
  /** Whether the column may hold NULL (neither the column nor its domain is `NOT NULL`). */
  nullable: boolean;
  /** Runtime zod schema of the field (`.nullable()` when the column is). */
  zod: z.ZodType;
  /** TypeScript source of the same zod schema; it may call the {@link pgZod} helpers named in {@link ColumnMapping.helpers}. */
  source: string;
  /** Names of the {@link pgZod} helpers `source` calls, sorted. */
  helpers: string[];
  /**
   * SQL expression, of type `text`, that selects the column (given as a quoted column reference)
   * in the form {@link ColumnMapping.fromText} reads.
   *
   * @remarks
   * The form does not depend on session settings (see the file's invariant 2), and is not always
   * PostgreSQL's input syntax: floats arrive as the hex of their IEEE 754 bits, timestamps as
   * epoch seconds, arrays as their dimensions and a JSON array of element texts. A NULL column
   * gives NULL.
   */
  select(quotedColumn: string): string;
  /**
   * The record value of a column's text (as `select` printed it); `null` for NULL.
   * @throws RecordLayerError `record_invalid` naming the column and the problem, for a value the
   * record layer cannot keep exactly (see {@link mapSchema}), or a NULL in a NOT NULL column.
   */
  fromText(text: string | null): unknown;
  /**
   * A literal PostgreSQL parses (as a parameter, or after a cast to the column's type) back to the
   * identical value; `null` for null.
   * @throws RecordLayerError `record_invalid` naming the column, for a value the column cannot hold
   * exactly (wrong kind, out of range, more digits than its scale, ...).
   */
  toText(value: unknown): string | null;
  /**
   * A deterministic text of a record value, for per-row digests: equal values (equal
   * {@link ColumnMapping.toText}) give equal text, and null gives `null`, which no value gives.
   * @throws RecordLayerError `record_invalid` as {@link ColumnMapping.toText}.
   */
  canonical(value: unknown): string;
  /** How the record value behaves in keys (primary keys, indexes, references). */
  key: KeyBehaviour;
}

/** How a column's record values behave as key items, compared with PostgreSQL's btree. */
export interface KeyBehaviour {
  /** Whether a value can be part of a key at all (objects and arrays cannot). */
  keyable: boolean;
  /** Whether two values are equal in keys iff PostgreSQL's `=` says they are equal. */
  equality: boolean;
  /** Whether keys sort values as PostgreSQL's default btree operator class does (NULLs aside: keys put them first). */
  order: boolean;
  /** What keys compare: values of one family compare with each other (`integer`, `string`, `bytes`, `timestamp`, ...). */
  family: string;
  /** Why equality or order differ from PostgreSQL's; null when they do not. */
  difference: string | null;
}

/** One mapped table. */
export interface TableMapping {
  /** PostgreSQL schema of the table. */
  schema: string;
  /** PostgreSQL table name. */
  table: string;
  /**
   * Record type name: the table name for tables of the default schema (`public` when the model
   * has it, otherwise the only schema), `schema_table` for others; where two tables would get the
   * same name, both are named `schema.table` instead. Unique.
   */
  typeName: string;
  /** Mapped columns, in `attnum` order. */
  columns: ColumnMapping[];
  /** Columns not mapped (each also in {@link MappedSchema.unmapped}). */
  skipped: PgUnmapped[];
  /** Primary key fields, in key order. */
  primaryKey: string[];
  /** Where the primary key comes from: the table's primary key, or a unique constraint or index over NOT NULL columns. */
  primaryKeySource: { kind: 'primary_key' | 'unique_constraint' | 'unique_index'; name: string };
  /**
   * Columns fed by a sequence or identity: the PostgreSQL sequence, and `sequence`, the name of
   * the record store's sequence that fills the field (the PostgreSQL name for the default schema,
   * `schema.name` otherwise), which the record type declares in `sequences` when the field is NOT NULL.
   */
  sequences: { field: string; schema: string; name: string; sequence: string }[];
}

/** Options of {@link mapSchema}. */
export interface MapOptions {
  /**
   * Foreign keys to declare as unenforced references (`enforced: false`): constraint names (every
   * foreign key of that name), or `schema.table.constraint`.
   */
  unenforced?: string[];
}

/** Kinds of things {@link mapSchema} reports in addition to the model's {@link PgUnmappedKind}s. */
export type MappedUnmappedKind =
  | PgUnmappedKind
  /** A table that cannot become a record type (no usable primary key). */
  | 'table'
  /** A unique constraint the record layer cannot enforce. */
  | 'unique_constraint'
  /** A foreign key that is not a reference, or the parts of one that a reference does not keep (actions, deferral). */
  | 'foreign_key'
  /** A column default (or a domain's) that the record layer does not fill in. */
  | 'default'
  /** A partitioned table's partitioning: it becomes one record type. */
  | 'partitioning';

/** Something that is not carried over into the record schema: a {@link PgUnmapped} with the kinds of {@link MappedUnmappedKind}. */
export interface MappedUnmapped extends Omit<PgUnmapped, 'kind'> {
  /** What the object is. */
  kind: MappedUnmappedKind;
}

/** The result of {@link mapSchema}. */
export interface MappedSchema {
  /** The record schema: one record type per mapped table. */
  schema: Schema;
  /** The mapped tables, in the model's order. */
  tables: TableMapping[];
  /** Everything not mapped, sorted by kind, schema, table and name. */
  unmapped: MappedUnmapped[];
}

/**
 * Timestamps are microseconds since 1970-01-01 00:00:00 UTC; PostgreSQL's own microseconds count
 * from 2000-01-01. Its infinities are the extreme 64-bit values of its count, kept here shifted
 * by this many microseconds, so that they sort after (before) every finite timestamp.
 */
export const PG_EPOCH_SHIFT_MICROS = 946_684_800_000_000n;
/** PostgreSQL's `infinity` timestamp (and date), as {@link Timestamp} microseconds: 2^63 - 1 shifted to the Unix epoch. */
export const PG_INFINITY_MICROS = 2n ** 63n - 1n + PG_EPOCH_SHIFT_MICROS;
/** PostgreSQL's `-infinity` timestamp (and date), as {@link Timestamp} microseconds: -2^63 shifted to the Unix epoch. */
export const PG_MINUS_INFINITY_MICROS = -(2n ** 63n) + PG_EPOCH_SHIFT_MICROS;
/** The earliest finite PostgreSQL timestamp, 4714-11-24 00:00:00 BC, in Unix microseconds. */
export const PG_TIMESTAMP_MIN_MICROS = -210_866_803_200_000_000n;
/** The latest finite PostgreSQL timestamp, 294276-12-31 23:59:59.999999, in Unix microseconds. */
export const PG_TIMESTAMP_MAX_MICROS = 9_224_318_015_999_999_999n;
/** Deepest nesting of arrays and objects a `jsonb` value may have to be mapped (deeper values are refused). */
export const PG_JSONB_DEPTH_MAX = 1000;
/** Most dimensions of a PostgreSQL array (`MAXDIM`). */
export const PG_ARRAY_DIMENSIONS_MAX = 6;

/** A `jsonb` value as a record holds it: integers beyond 2^53 as `bigint`, so that none is rounded. */
export type PgJson = null | boolean | number | bigint | string | PgJson[] | { [key: string]: PgJson };
/** A PostgreSQL array as a record holds it: nested arrays, one level per dimension, NULL elements as `null`. */
export type PgArray<T> = (T | null)[] | PgArray<T>[];
/** An `interval` as a record holds it: PostgreSQL's three fields, exactly. */
export interface PgInterval {
  /** Months (years are 12 months), a 32-bit integer. */
  months: number;
  /** Days, a 32-bit integer; PostgreSQL keeps them apart from months and from microseconds. */
  days: number;
  /** Microseconds of the time part, a 64-bit integer. */
  microseconds: bigint;
}

// ---------------------------------------------------------------------------------------------
// Zod helpers: what mapped columns use, and what a generated module imports.

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const DAY_MICROS = 86_400_000_000n;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIME_PATTERN = /^(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}|24:00:00\.000000)$/;
const TIMETZ_PATTERN = /^(?:(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{6}|24:00:00\.000000)[+-](?:0\d|1[0-5]):[0-5]\d:[0-5]\d$/;

/** Whether `text` is a value a `numeric(precision, scale)` (or unconstrained `numeric`) prints and parses back unchanged. */
function isNumericText(text: string, precision?: number, scale?: number): boolean {
  if (text === 'NaN') return true;
  if (text === 'Infinity' || text === '-Infinity') return precision === undefined;
  const match = /^-?(0|[1-9]\d*)(?:\.(\d+))?$/.exec(text);
  if (match === null || /^-0(?:\.0+)?$/.test(text)) return false;
  if (precision === undefined || scale === undefined) return true;
  const fraction = match[2] ?? '';
  let units: bigint;
  if (scale >= 0) {
    if (fraction.length !== scale) return false;
    units = BigInt(match[1]! + fraction);
  } else {
    if (fraction !== '' || (match[1] !== '0' && !match[1]!.endsWith('0'.repeat(-scale)))) return false;
    units = BigInt(match[1]!) / 10n ** BigInt(-scale);
  }
  return units < 10n ** BigInt(precision);
}

function isRectangular(value: unknown[]): boolean {
  if (value.length === 0) return true;
  const shape: number[] = [];
  for (let level: unknown = value; Array.isArray(level); level = level[0]) {
    if (level.length === 0) return false;
    shape.push(level.length);
  }
  const check = (item: unknown, depth: number): boolean =>
    depth === shape.length ? !Array.isArray(item) : Array.isArray(item) && item.length === shape[depth] && item.every((inner) => check(inner, depth + 1));
  return check(value, 0);
}

function isPgTimestamp(value: Timestamp, precision?: number): boolean {
  if (value.micros === PG_INFINITY_MICROS || value.micros === PG_MINUS_INFINITY_MICROS) return true;
  if (value.micros < PG_TIMESTAMP_MIN_MICROS || value.micros > PG_TIMESTAMP_MAX_MICROS) return false;
  return precision === undefined || value.micros % 10n ** BigInt(6 - precision) === 0n;
}

function isPgDate(value: Timestamp): boolean {
  return isPgTimestamp(value) && (value.micros === PG_INFINITY_MICROS || value.micros === PG_MINUS_INFINITY_MICROS || value.micros % DAY_MICROS === 0n);
}

/** Whether the six fractional digits of a time (`HH:MM:SS.ffffff...`) end in zeros past `precision`. */
function isPrecise(time: string, precision?: number): boolean {
  return precision === undefined || precision >= 6 || time.slice(9 + precision, 15) === '0'.repeat(6 - precision);
}

function codePoints(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/**
 * The zod helpers mapped columns use; a generated module imports them from the record layer (see
 * {@link ColumnMapping.helpers}).
 */
export const pgZod = {
  /** A `real`: any number a single-precision float holds exactly, NaN and ±Infinity included. */
  pgFloat4: (): z.ZodType<number> =>
    keyAsDouble(z.custom<number>((value) => typeof value === 'number' && (Number.isNaN(value) || Math.fround(value) === value), 'expected a number that a real (single precision) holds exactly')),
  /** A `double precision`: any number, NaN and ±Infinity included. */
  pgFloat8: (): z.ZodType<number> => keyAsDouble(z.custom<number>((value) => typeof value === 'number', 'expected a number')),
  /** A `numeric` as its canonical decimal text (exactly `scale` fractional digits when declared), or NaN, ±Infinity. */
  pgNumeric: (precision?: number, scale?: number): z.ZodType<string> =>
    z.string().refine((value) => isNumericText(value, precision, scale), precision === undefined ? 'expected numeric text' : `expected numeric(${precision},${scale}) text`),
  /** A `character varying(length)`: at most `length` characters (code points). */
  pgVarchar: (length: number): z.ZodType<string> => z.string().refine((value) => codePoints(value) <= length, `expected at most ${length} characters`),
  /** A `character(length)`: exactly `length` characters (code points), blank-padded as PostgreSQL prints it. */
  pgBpchar: (length: number): z.ZodType<string> => z.string().refine((value) => codePoints(value) === length, `expected exactly ${length} characters (blank-padded)`),
  /** A `timestamp` or `timestamptz` in PostgreSQL's range, or ±infinity (see `PG_INFINITY_MICROS`). */
  pgTimestamp: (precision?: number): z.ZodType<Timestamp> =>
    timestamp().refine((value) => isPgTimestamp(value, precision), 'expected a timestamp in PostgreSQL range (4714-11-24 BC to 294276-12-31), ±infinity, at the declared precision'),
  /** A `date`: a timestamp at 00:00:00 UTC in PostgreSQL's timestamp range, or ±infinity. */
  pgDate: (): z.ZodType<Timestamp> =>
    timestamp().refine((value) => isPgDate(value), 'expected a date: a timestamp at 00:00:00 UTC from 4714-11-24 BC to 294276-12-31, or ±infinity'),
  /** A `time`: `HH:MM:SS.ffffff`, up to `24:00:00.000000`, with no more than `precision` fractional digits that are not zero. */
  pgTime: (precision?: number): z.ZodType<string> =>
    z.string().regex(TIME_PATTERN, 'expected a time HH:MM:SS.ffffff').refine((value) => isPrecise(value, precision), `expected at most ${precision} fractional digits`),
  /** A `time with time zone`: `HH:MM:SS.ffffff±HH:MM:SS`, with no more than `precision` fractional digits that are not zero. */
  pgTimetz: (precision?: number): z.ZodType<string> =>
    z.string().regex(TIMETZ_PATTERN, 'expected a time with time zone HH:MM:SS.ffffff+HH:MM:SS').refine((value) => isPrecise(value, precision), `expected at most ${precision} fractional digits`),
  /** An `interval`: months, days and microseconds, as PostgreSQL keeps them. */
  pgInterval: (): z.ZodType<PgInterval> =>
    z.object({
      months: z.number().int().min(INT32_MIN).max(INT32_MAX),
      days: z.number().int().min(INT32_MIN).max(INT32_MAX),
      microseconds: z.bigint().min(INT64_MIN).max(INT64_MAX),
    }),
  /** The current instant: the default of a `timestamptz` (or, read as UTC, `timestamp`) column defaulting to `now()`. */
  pgNow: (): Timestamp => Timestamp.now(),
  /** Today at 00:00 UTC: the default of a `date` column defaulting to `CURRENT_DATE`. */
  pgToday: (): Timestamp => {
    const micros = Timestamp.now().micros;
    return new Timestamp(micros - (((micros % DAY_MICROS) + DAY_MICROS) % DAY_MICROS));
  },
  /** A `jsonb` value (integers beyond 2^53 as bigints). */
  pgJsonb: z.lazy(() =>
    z.union([z.null(), z.boolean(), z.number(), z.bigint(), z.string(), z.array(pgJsonbSchema()), z.record(z.string(), pgJsonbSchema())]),
  ) as z.ZodType<PgJson>,
  /**
   * An array of `element`s (each may be null), of one to `dimensions` dimensions, rectangular as
   * PostgreSQL requires.
   */
  pgArray: <T extends z.ZodType>(element: T, dimensions: number = PG_ARRAY_DIMENSIONS_MAX): z.ZodType<PgArray<z.output<T>>> => {
    const levels: z.ZodType[] = [z.array(element.nullable())];
    for (let depth = 2; depth <= dimensions; depth++) levels.push(z.array(levels[levels.length - 1]!));
    if (levels.length === 1) return levels[0] as z.ZodType<PgArray<z.output<T>>>;
    return z
      .union(levels as [z.ZodType, z.ZodType, ...z.ZodType[]])
      .refine((value) => isRectangular(value as unknown[]), 'expected a rectangular array: sub-arrays of a level have one length, none empty') as z.ZodType<PgArray<z.output<T>>>;
  },
};

function pgJsonbSchema(): z.ZodType<PgJson> {
  return pgZod.pgJsonb;
}

// ---------------------------------------------------------------------------------------------
// Codecs: one per PostgreSQL type, without a column's nullability or name.

/** A value a codec cannot convert; the column wrapper turns it into `record_invalid` naming the column. */
class ValueError extends Error {}

interface Codec {
  zod: z.ZodType;
  source: string;
  helpers: string[];
  /**
   * The text of the value a record holds as `null` (jsonb's JSON `null`), for types that have one;
   * where SQL NULL is possible too, the two cannot be told apart and that value is refused.
   */
  nullValue?: string;
  /** The range of an integer type (narrowed by domain CHECKs); absent for other types. */
  bounds?: { min: bigint; max: bigint };
  /** SQL of type text for a (non-null) value of `expression`; NULL stays NULL. */
  select(expression: string): string;
  fromText(text: string): unknown;
  toText(value: unknown): string;
  key: KeyBehaviour;
}

type CodecResult = { codec: Codec } | { unsupported: string };

const SORTS_AND_EQUALS = (family: string): KeyBehaviour => ({ keyable: true, equality: true, order: true, family, difference: null });
const NOT_KEYABLE = (family: string, difference: string): KeyBehaviour => ({ keyable: false, equality: false, order: false, family, difference });

function fail(message: string): never {
  throw new ValueError(message);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  if (value instanceof Timestamp) return `Timestamp(${value.micros}n)`;
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}

function integerCodec(bounds: { min: number; max: number }): Codec {
  const check = (value: number): number => {
    if (value < bounds.min || value > bounds.max) fail(`${value} is outside ${bounds.min}..${bounds.max}`);
    return value;
  };
  const int32 = bounds.min === INT32_MIN && bounds.max === INT32_MAX;
  return {
    zod: int32 ? z.int32() : z.int().min(bounds.min).max(bounds.max),
    source: int32 ? 'z.int32()' : `z.int().min(${bounds.min}).max(${bounds.max})`,
    helpers: [],
    bounds: { min: BigInt(bounds.min), max: BigInt(bounds.max) },
    select: (e) => `${e}::text`,
    fromText: (text) => {
      if (!/^-?\d+$/.test(text)) fail(`${JSON.stringify(text)} is not an integer`);
      return check(Number(text));
    },
    toText: (value) => {
      if (typeof value !== 'number' || !Number.isInteger(value)) fail(`expected an integer number, not ${describeValue(value)}`);
      return String(check(value));
    },
    key: SORTS_AND_EQUALS('integer'),
  };
}

function bigintCodec(bounds: { min: bigint; max: bigint }): Codec {
  const check = (value: bigint): bigint => {
    if (value < bounds.min || value > bounds.max) fail(`${value} is outside ${bounds.min}..${bounds.max}`);
    return value;
  };
  const int64 = bounds.min === INT64_MIN && bounds.max === INT64_MAX;
  return {
    zod: int64 ? z.int64() : z.bigint().min(bounds.min).max(bounds.max),
    source: int64 ? 'z.int64()' : `z.bigint().min(${bounds.min}n).max(${bounds.max}n)`,
    helpers: [],
    bounds,
    select: (e) => `${e}::text`,
    fromText: (text) => {
      if (!/^-?\d+$/.test(text)) fail(`${JSON.stringify(text)} is not an integer`);
      return check(BigInt(text));
    },
    toText: (value) => {
      if (typeof value !== 'bigint') fail(`expected a bigint, not ${describeValue(value)}`);
      return check(value).toString();
    },
    key: SORTS_AND_EQUALS('integer'),
  };
}

function floatText(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (Object.is(value, -0)) return '-0';
  // The shortest text that reads back as this double; PostgreSQL's float8in / float4in read it exactly
  // (a double that is a float4 is the float4 nearest to its own text).
  return String(value);
}

function floatCodec(bytes: 4 | 8): Codec {
  const name = bytes === 4 ? 'pgFloat4' : 'pgFloat8';
  return {
    zod: bytes === 4 ? pgZod.pgFloat4() : pgZod.pgFloat8(),
    source: `${name}()`,
    helpers: [name],
    // The bits themselves: float8out / float4out print fewer digits when extra_float_digits < 1.
    select: (e) => `encode(${bytes === 4 ? 'float4send' : 'float8send'}(${e}), 'hex')`,
    fromText: (text) => {
      if (!new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(text)) fail(`${JSON.stringify(text)} is not the hex of a ${bytes}-byte float`);
      const view = new DataView(new Uint8Array(Buffer.from(text, 'hex')).buffer);
      return bytes === 4 ? view.getFloat32(0) : view.getFloat64(0);
    },
    toText: (value) => {
      if (typeof value !== 'number') fail(`expected a number, not ${describeValue(value)}`);
      if (bytes === 4 && !Number.isNaN(value) && Math.fround(value) !== value) fail(`${value} is not a value a real (single precision) holds`);
      return floatText(value);
    },
    // Keyed as doubles (keyAsDouble): numeric order, -0 as 0, NaN equal to itself and above every
    // number, as PostgreSQL compares floats.
    key: SORTS_AND_EQUALS('number'),
  };
}

function numericCodec(precision: number | null, scale: number | null): Codec {
  const constrained = precision !== null;
  const p = precision ?? undefined;
  const s = constrained ? (scale ?? 0) : undefined;
  const check = (text: string): string => {
    if (!isNumericText(text, p, s)) fail(`${JSON.stringify(text)} is not ${constrained ? `numeric(${p},${s})` : 'numeric'} text PostgreSQL prints`);
    return text;
  };
  return {
    zod: pgZod.pgNumeric(p, s),
    source: constrained ? `pgNumeric(${p}, ${s})` : 'pgNumeric()',
    helpers: ['pgNumeric'],
    select: (e) => `${e}::text`,
    fromText: check,
    toText: (value) => {
      if (typeof value !== 'string') fail(`expected numeric text, not ${describeValue(value)}`);
      return check(value);
    },
    key: {
      keyable: true,
      equality: constrained,
      order: false,
      family: 'string',
      difference: constrained
        ? 'numeric values are decimal text in keys, which does not sort like numbers'
        : 'numeric values are decimal text in keys, which does not sort like numbers, and keeps the scale PostgreSQL ignores in comparisons (1.0 = 1.00)',
    },
  };
}

function textCodec(options: { typeName: 'text' | 'varchar' | 'bpchar'; length: number | null }): Codec {
  const { typeName, length } = options;
  let zod: z.ZodType = z.string();
  let source = 'z.string()';
  let helpers: string[] = [];
  if (typeName === 'varchar' && length !== null) {
    zod = pgZod.pgVarchar(length);
    source = `pgVarchar(${length})`;
    helpers = ['pgVarchar'];
  } else if (typeName === 'bpchar' && length !== null) {
    zod = pgZod.pgBpchar(length);
    source = `pgBpchar(${length})`;
    helpers = ['pgBpchar'];
  }
  const check = (text: string): string => {
    if (text.includes('\u0000')) fail('PostgreSQL text cannot hold the character U+0000');
    if (length !== null) {
      const count = codePoints(text);
      if (typeName === 'varchar' && count > length) fail(`${count} characters is longer than ${length}`);
      if (typeName === 'bpchar' && count !== length) fail(`${count} characters, not ${length} (character(${length}) values are blank-padded)`);
    }
    return text;
  };
  const unpaddedBpchar = typeName === 'bpchar' && length === null;
  return {
    zod,
    source,
    helpers,
    // A cast of character(n) to text drops its trailing blanks; bpcharout prints them.
    select: (e) => (typeName === 'bpchar' ? `textin(bpcharout(${e}))` : `${e}::text`),
    fromText: (text) => text,
    toText: (value) => {
      if (typeof value !== 'string') fail(`expected a string, not ${describeValue(value)}`);
      return check(value);
    },
    key: unpaddedBpchar
      ? { keyable: true, equality: false, order: false, family: 'string', difference: 'PostgreSQL compares bpchar values without their trailing blanks; keys compare them with' }
      : SORTS_AND_EQUALS('string'),
  };
}

const booleanCodec: Codec = {
  zod: z.boolean(),
  source: 'z.boolean()',
  helpers: [],
  select: (e) => `${e}::text`,
  fromText: (text) => (text === 'true' ? true : text === 'false' ? false : fail(`${JSON.stringify(text)} is not a boolean`)),
  toText: (value) => (typeof value === 'boolean' ? String(value) : fail(`expected a boolean, not ${describeValue(value)}`)),
  key: SORTS_AND_EQUALS('boolean'),
};

const uuidCodec: Codec = {
  zod: z.string().regex(UUID_PATTERN),
  source: `z.string().regex(${UUID_PATTERN.toString()})`,
  helpers: [],
  select: (e) => `${e}::text`,
  fromText: (text) => (UUID_PATTERN.test(text) ? text : fail(`${JSON.stringify(text)} is not a uuid`)),
  toText: (value) => (typeof value === 'string' && UUID_PATTERN.test(value) ? value : fail(`expected a lower-case uuid string, not ${describeValue(value)}`)),
  // Lower-case hex sorts as the 16 bytes PostgreSQL compares.
  key: SORTS_AND_EQUALS('string'),
};

const byteaCodec: Codec = {
  zod: z.instanceof(Uint8Array),
  source: 'z.instanceof(Uint8Array)',
  helpers: [],
  // bytea_output decides what a cast to text prints; hex is fixed.
  select: (e) => `encode(${e}, 'hex')`,
  fromText: (text) => {
    if (!/^(?:[0-9a-f]{2})*$/.test(text)) fail('not the hex of a bytea');
    return new Uint8Array(Buffer.from(text, 'hex'));
  },
  toText: (value) => (value instanceof Uint8Array ? `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}` : fail(`expected a Uint8Array, not ${describeValue(value)}`)),
  key: SORTS_AND_EQUALS('bytes'),
};

const jsonCodec: Codec = {
  zod: z.string(),
  source: 'z.string()',
  helpers: [],
  select: (e) => `${e}::text`,
  fromText: (text) => text,
  toText: (value) => {
    if (typeof value !== 'string') fail(`expected the text of a json value, not ${describeValue(value)}`);
    if (value.includes('\u0000')) fail('PostgreSQL text cannot hold the character U+0000');
    return value;
  },
  key: { keyable: true, equality: false, order: false, family: 'string', difference: 'PostgreSQL has no equality or order for json' },
};

const jsonbCodec: Codec = {
  zod: pgZod.pgJsonb,
  source: 'pgJsonb',
  helpers: ['pgJsonb'],
  nullValue: 'null',
  select: (e) => `${e}::text`,
  fromText: (text) => parseJsonb(text),
  toText: (value) => jsonbText(value, 0),
  key: NOT_KEYABLE('json', 'jsonb values are objects and arrays, which keys cannot hold'),
};

function enumCodec(labels: string[]): Codec {
  const known = new Set(labels);
  return {
    zod: z.enum(labels as [string, ...string[]]),
    source: `z.enum([${labels.map(literal).join(', ')}])`,
    helpers: [],
    select: (e) => `${e}::text`,
    fromText: (text) => (known.has(text) ? text : fail(`${JSON.stringify(text)} is not a label of the enum`)),
    toText: (value) => (typeof value === 'string' && known.has(value) ? value : fail(`expected one of the enum's labels, not ${describeValue(value)}`)),
    key: { keyable: true, equality: true, order: false, family: 'string', difference: 'enum labels sort as text in keys, not in the order of the enum' },
  };
}

// --- dates and times ---

/** Days since 1970-01-01 of a proleptic Gregorian date (astronomical year: 0 is 1 BC). */
function daysFromCivil(year: bigint, month: bigint, day: bigint): bigint {
  const y = month <= 2n ? year - 1n : year;
  const era = (y >= 0n ? y : y - 399n) / 400n;
  const yearOfEra = y - era * 400n;
  const dayOfYear = (153n * (month + (month > 2n ? -3n : 9n)) + 2n) / 5n + day - 1n;
  const dayOfEra = yearOfEra * 365n + yearOfEra / 4n - yearOfEra / 100n + dayOfYear;
  return era * 146097n + dayOfEra - 719468n;
}

/** The proleptic Gregorian date of a count of days since 1970-01-01 (H. Hinnant's algorithm, on bigints). */
function civilFromDays(days: bigint): { year: bigint; month: bigint; day: bigint } {
  const z0 = days + 719468n;
  const era = (z0 >= 0n ? z0 : z0 - 146096n) / 146097n;
  const dayOfEra = z0 - era * 146097n;
  const yearOfEra = (dayOfEra - dayOfEra / 1460n + dayOfEra / 36524n - dayOfEra / 146096n) / 365n;
  const dayOfYear = dayOfEra - (365n * yearOfEra + yearOfEra / 4n - yearOfEra / 100n);
  const mp = (5n * dayOfYear + 2n) / 153n;
  const day = dayOfYear - (153n * mp + 2n) / 5n + 1n;
  const month = mp < 10n ? mp + 3n : mp - 9n;
  return { year: yearOfEra + era * 400n + (month <= 2n ? 1n : 0n), month, day };
}

function floorDivide(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

const pad = (value: bigint, width: number): string => value.toString().padStart(width, '0');

/** `YYYY-MM-DD` (year padded to four digits), and the era: PostgreSQL prints 1 BC for year 0. */
function dateText(days: bigint): { date: string; bc: boolean } {
  const { year, month, day } = civilFromDays(days);
  const bc = year <= 0n;
  return { date: `${pad(bc ? 1n - year : year, 4)}-${pad(month, 2)}-${pad(day, 2)}`, bc };
}

/** `HH:MM:SS.ffffff` of microseconds since midnight (86,400,000,000 prints as 24:00:00.000000). */
function timeText(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  return `${pad(seconds / 3600n, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}.${pad(micros % 1_000_000n, 6)}`;
}

/** Microseconds of `extract(epoch ...)` text: `-?digits[.digits]` with at most six fractional digits. */
function epochMicros(text: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,6}))?$/.exec(text);
  if (match === null) fail(`${JSON.stringify(text)} is not epoch seconds`);
  const micros = BigInt(match[2]!) * 1_000_000n + BigInt((match[3] ?? '').padEnd(6, '0'));
  return match[1] === '-' ? -micros : micros;
}

function timestampCodec(options: { zone: boolean; precision: number | null }): Codec {
  const precision = options.precision ?? undefined;
  const check = (value: unknown): Timestamp => {
    if (!(value instanceof Timestamp)) fail(`expected a Timestamp, not ${describeValue(value)}`);
    if (!isPgTimestamp(value, precision)) fail(`${value.micros} microseconds is outside PostgreSQL's timestamp range or finer than its precision (${precision ?? 6} digits)`);
    return value;
  };
  return {
    zod: pgZod.pgTimestamp(precision),
    source: precision === undefined ? 'pgTimestamp()' : `pgTimestamp(${precision})`,
    helpers: ['pgTimestamp'],
    // Epoch seconds: of the instant for timestamptz, of the wall clock read as UTC for timestamp; neither depends on TimeZone or DateStyle.
    select: (e) => `extract(epoch from ${e})::text`,
    fromText: (text) => {
      if (text === 'Infinity') return new Timestamp(PG_INFINITY_MICROS);
      if (text === '-Infinity') return new Timestamp(PG_MINUS_INFINITY_MICROS);
      return check(new Timestamp(epochMicros(text)));
    },
    toText: (value) => {
      const micros = check(value).micros;
      if (micros === PG_INFINITY_MICROS) return 'infinity';
      if (micros === PG_MINUS_INFINITY_MICROS) return '-infinity';
      const days = floorDivide(micros, DAY_MICROS);
      const { date, bc } = dateText(days);
      return `${date} ${timeText(micros - days * DAY_MICROS)}${options.zone ? '+00' : ''}${bc ? ' BC' : ''}`;
    },
    key: SORTS_AND_EQUALS('timestamp'),
  };
}

const dateCodec: Codec = (() => {
  const check = (value: unknown): Timestamp => {
    if (!(value instanceof Timestamp)) fail(`expected a Timestamp, not ${describeValue(value)}`);
    if (!isPgDate(value)) fail(`${value.micros} microseconds is not 00:00:00 UTC of a date from 4714-11-24 BC to 294276-12-31, nor ±infinity`);
    return value;
  };
  return {
    zod: pgZod.pgDate(),
    source: 'pgDate()',
    helpers: ['pgDate'],
    select: (e) => `(CASE WHEN ${e} IS NULL THEN NULL WHEN isfinite(${e}) THEN (${e} - '1970-01-01'::date)::text WHEN ${e} > '1970-01-01'::date THEN 'infinity' ELSE '-infinity' END)`,
    fromText: (text) => {
      if (text === 'infinity') return new Timestamp(PG_INFINITY_MICROS);
      if (text === '-infinity') return new Timestamp(PG_MINUS_INFINITY_MICROS);
      if (!/^-?\d+$/.test(text)) fail(`${JSON.stringify(text)} is not a count of days`);
      const micros = BigInt(text) * DAY_MICROS;
      if (micros > PG_TIMESTAMP_MAX_MICROS) fail(`date ${dateText(BigInt(text)).date} is after 294276-12-31, the last date a Timestamp keeps below infinity`);
      return check(new Timestamp(micros));
    },
    toText: (value) => {
      const micros = check(value).micros;
      if (micros === PG_INFINITY_MICROS) return 'infinity';
      if (micros === PG_MINUS_INFINITY_MICROS) return '-infinity';
      const { date, bc } = dateText(micros / DAY_MICROS);
      return `${date}${bc ? ' BC' : ''}`;
    },
    key: SORTS_AND_EQUALS('timestamp'),
  };
})();

function timeCodec(options: { zone: boolean; precision: number | null }): Codec {
  const precision = options.precision ?? undefined;
  const pattern = options.zone ? TIMETZ_PATTERN : TIME_PATTERN;
  const name = options.zone ? 'pgTimetz' : 'pgTime';
  const check = (text: string): string => {
    if (!pattern.test(text)) fail(`${JSON.stringify(text)} is not a time${options.zone ? ' with time zone HH:MM:SS.ffffff+HH:MM:SS' : ' HH:MM:SS.ffffff'}`);
    if (!isPrecise(text, precision)) fail(`${text} has more than ${precision} fractional digits`);
    return text;
  };
  return {
    zod: options.zone ? pgZod.pgTimetz(precision) : pgZod.pgTime(precision),
    source: `${name}(${precision ?? ''})`,
    helpers: [name],
    // Seconds since midnight (and the offset, seconds east of UTC), independent of DateStyle.
    select: (e) => (options.zone ? `(extract(epoch from ${e}::time)::text || ' ' || extract(timezone from ${e})::text)` : `extract(epoch from ${e})::text`),
    fromText: (text) => {
      if (!options.zone) return check(timeText(epochMicros(text)));
      const [local, zone] = text.split(' ');
      if (zone === undefined || !/^-?\d+$/.test(zone)) fail(`${JSON.stringify(text)} is not a time and an offset`);
      const offset = BigInt(zone);
      const magnitude = offset < 0n ? -offset : offset;
      return check(`${timeText(epochMicros(local!))}${offset < 0n ? '-' : '+'}${pad(magnitude / 3600n, 2)}:${pad((magnitude / 60n) % 60n, 2)}:${pad(magnitude % 60n, 2)}`);
    },
    toText: (value) => (typeof value === 'string' ? check(value) : fail(`expected a time string, not ${describeValue(value)}`)),
    // Fixed-width text sorts as the time it shows; PostgreSQL sorts times with time zone by UTC first.
    key: options.zone
      ? { keyable: true, equality: true, order: false, family: 'string', difference: 'PostgreSQL sorts times with time zone by their UTC time; keys sort the local text' }
      : SORTS_AND_EQUALS('string'),
  };
}

/** PostgreSQL 17's infinite intervals: every field at its extreme. */
const INTERVAL_INFINITY: PgInterval = { months: INT32_MAX, days: INT32_MAX, microseconds: INT64_MAX };
const INTERVAL_MINUS_INFINITY: PgInterval = { months: INT32_MIN, days: INT32_MIN, microseconds: INT64_MIN };

const INTERVAL_SCHEMA = pgZod.pgInterval();

const intervalCodec: Codec = {
  zod: INTERVAL_SCHEMA,
  source: 'pgInterval()',
  helpers: ['pgInterval'],
  // Fields by extract (numeric, exact, independent of IntervalStyle): months from years and
  // months, microseconds from hours, minutes and microseconds (each truncated toward zero).
  select: (e) =>
    `(CASE WHEN extract(epoch from ${e}) = 'Infinity'::numeric THEN 'infinity' WHEN extract(epoch from ${e}) = '-Infinity'::numeric THEN '-infinity' ` +
    `ELSE (extract(year from ${e}) * 12 + extract(month from ${e}))::text || ' ' || extract(day from ${e})::text || ' ' || ` +
    `(extract(hour from ${e}) * 3600000000 + extract(minute from ${e}) * 60000000 + extract(microseconds from ${e}))::text END)`,
  fromText: (text) => {
    if (text === 'infinity') return { ...INTERVAL_INFINITY };
    if (text === '-infinity') return { ...INTERVAL_MINUS_INFINITY };
    const match = /^(-?\d+)(?:\.0+)? (-?\d+)(?:\.0+)? (-?\d+)(?:\.0+)?$/.exec(text);
    if (match === null) fail(`${JSON.stringify(text)} is not months, days and microseconds`);
    return { months: Number(match[1]), days: Number(match[2]), microseconds: BigInt(match[3]!) };
  },
  toText: (value) => {
    const parsed = INTERVAL_SCHEMA.safeParse(value);
    if (!parsed.success) fail(`expected an interval { months, days, microseconds }, not ${describeValue(value)}`);
    const { months, days, microseconds } = parsed.data;
    if (months === INT32_MAX && days === INT32_MAX && microseconds === INT64_MAX) return 'infinity';
    if (months === INT32_MIN && days === INT32_MIN && microseconds === INT64_MIN) return '-infinity';
    // Every field signed: with IntervalStyle sql_standard a leading minus would otherwise apply to unsigned fields too.
    const signed = (n: number | bigint): string => (n < 0 ? String(n) : `+${n}`);
    return `${signed(months)} months ${signed(days)} days ${signed(microseconds)} microseconds`;
  },
  key: NOT_KEYABLE('interval', 'intervals are objects, which keys cannot hold (and PostgreSQL compares them after justifying 1 month as 30 days)'),
};

// --- jsonb ---

/** Normal form `[-]digits e exponent` of a decimal number's text, for comparing values exactly. */
function decimalKey(text: string): string | null {
  const match = /^(-?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (match === null) return null;
  let digits = (match[2]! + (match[3] ?? '')).replace(/^0+/, '');
  let exponent = BigInt(match[4] ?? '0') - BigInt((match[3] ?? '').length);
  if (digits === '') return '0';
  const trimmed = digits.replace(/0+$/, '');
  exponent += BigInt(digits.length - trimmed.length);
  digits = trimmed;
  return `${match[1]}${digits}e${exponent}`;
}

/** The record value of a jsonb number's text (PostgreSQL prints plain decimals), or an error saying why none is exact. */
function jsonbNumber(text: string): number | bigint {
  const key = decimalKey(text);
  if (key === null) fail(`${JSON.stringify(text)} is not a JSON number`);
  if (key === '0') return 0;
  const [, sign, digits, exponentText] = /^(-?)(\d+)e(-?\d+)$/.exec(key)!;
  const exponent = Number(exponentText);
  if (exponent >= 0) {
    // An integer: a number when that is exact, otherwise a bigint.
    if (digits!.length + exponent <= 15) return Number(`${sign}${digits}${'0'.repeat(exponent)}`);
    const integer = BigInt(`${sign}${digits}${'0'.repeat(exponent)}`);
    return Number.isSafeInteger(Number(integer)) ? Number(integer) : integer;
  }
  const value = Number(text);
  if (!Number.isFinite(value) || decimalKey(String(value)) !== key) {
    fail(`jsonb number ${text.length > 40 ? `${text.slice(0, 40)}...` : text} has no exact double (the nearest prints as ${String(value)})`);
  }
  return value;
}

/** Parses PostgreSQL's jsonb text exactly (numbers by {@link jsonbNumber}), at most {@link PG_JSONB_DEPTH_MAX} levels deep. */
function parseJsonb(text: string): PgJson {
  let at = 0;
  const space = (): void => {
    while (at < text.length && (text[at] === ' ' || text[at] === '\n' || text[at] === '\t' || text[at] === '\r')) at++;
  };
  const value = (depth: number): PgJson => {
    if (depth > PG_JSONB_DEPTH_MAX) fail(`jsonb nested deeper than ${PG_JSONB_DEPTH_MAX} levels`);
    space();
    const c = text[at];
    if (c === '{') {
      at++;
      const object: { [key: string]: PgJson } = {};
      space();
      if (text[at] === '}') {
        at++;
        return object;
      }
      for (;;) {
        space();
        const key = string();
        // zod's records and msgpack both assign keys, which makes "__proto__" the prototype: the key would vanish.
        if (key === '__proto__') fail('jsonb key "__proto__" cannot be kept: zod and msgpack take it for the object\'s prototype');
        space();
        if (text[at++] !== ':') fail('malformed jsonb text: expected ":"');
        object[key] = value(depth + 1);
        space();
        const next = text[at++];
        if (next === '}') return object;
        if (next !== ',') fail('malformed jsonb text: expected "," or "}"');
      }
    }
    if (c === '[') {
      at++;
      const array: PgJson[] = [];
      space();
      if (text[at] === ']') {
        at++;
        return array;
      }
      for (;;) {
        array.push(value(depth + 1));
        space();
        const next = text[at++];
        if (next === ']') return array;
        if (next !== ',') fail('malformed jsonb text: expected "," or "]"');
      }
    }
    if (c === '"') return string();
    for (const [word, result] of [['true', true], ['false', false], ['null', null]] as const) {
      if (text.startsWith(word, at)) {
        at += word.length;
        return result;
      }
    }
    const number = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(at, at + 400_000));
    if (number === null) fail(`malformed jsonb text at offset ${at}`);
    at += number[0].length;
    return jsonbNumber(number[0]);
  };
  const string = (): string => {
    if (text[at] !== '"') fail('malformed jsonb text: expected a string');
    const start = at;
    at++;
    while (at < text.length && text[at] !== '"') at += text[at] === '\\' ? 2 : 1;
    if (at >= text.length) fail('malformed jsonb text: unterminated string');
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const result = value(0);
  space();
  if (at !== text.length) fail('malformed jsonb text: text after the value');
  return result;
}

/** JSON text of a record's jsonb value, keys sorted (jsonb has its own key order), bigints as integers. */
function jsonbText(value: unknown, depth: number): string {
  if (depth > PG_JSONB_DEPTH_MAX) fail(`jsonb nested deeper than ${PG_JSONB_DEPTH_MAX} levels`);
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail(`jsonb cannot hold the number ${value}`);
    return Object.is(value, -0) ? '0' : String(value);
  }
  if (typeof value === 'string') {
    if (value.includes('\u0000')) fail('jsonb cannot hold the character U+0000');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => jsonbText(item, depth + 1)).join(', ')}]`;
  if (typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${jsonbText(key, depth + 1)}: ${jsonbText((value as Record<string, unknown>)[key], depth + 1)}`).join(', ')}}`;
  }
  fail(`jsonb cannot hold ${describeValue(value)}`);
}

// --- arrays ---

function arrayCodec(element: Codec, options: { elementIsJsonb: boolean }): Codec {
  const dimensions = options.elementIsJsonb ? 1 : PG_ARRAY_DIMENSIONS_MAX;
  const elementSource = element.source;
  return {
    zod: pgZod.pgArray(element.zod, dimensions),
    source: dimensions === 1 ? `pgArray(${elementSource}, 1)` : `pgArray(${elementSource})`,
    helpers: [...element.helpers, 'pgArray'],
    // The dimensions, then a JSON array of the elements' texts in storage order (row-major);
    // array_out would print elements in their session-dependent forms.
    select: (e) =>
      `(CASE WHEN ${e} IS NULL THEN NULL ELSE coalesce(array_dims(${e}), '') || coalesce((SELECT to_json(array_agg(${element.select('strata_element.e')} ORDER BY strata_element.i))::text ` +
      `FROM unnest(${e}) WITH ORDINALITY AS strata_element(e, i)), '[]') END)`,
    fromText: (text) => {
      const match = /^((?:\[-?\d+:-?\d+\])*)(\[[\s\S]*\])$/.exec(text);
      if (match === null) fail('not the dimensions and elements of an array');
      const bounds = [...match[1]!.matchAll(/\[(-?\d+):(-?\d+)\]/g)].map((m) => ({ lower: Number(m[1]), upper: Number(m[2]) }));
      const odd = bounds.find((bound) => bound.lower !== 1);
      if (odd !== undefined) fail(`array dimensions ${match[1]} do not start at 1; a record array keeps no lower bounds`);
      if (options.elementIsJsonb && bounds.length > 1) fail(`a jsonb array of ${bounds.length} dimensions: a record keeps jsonb arrays of one dimension only (its elements may be JSON arrays)`);
      const flat = JSON.parse(match[2]!) as (string | null)[];
      const shape = bounds.map((bound) => bound.upper);
      if (flat.length !== shape.reduce((product, length) => product * length, shape.length === 0 ? 0 : 1)) fail('array elements do not fill its dimensions');
      let next = 0;
      const build = (depth: number): unknown[] => {
        const level: unknown[] = [];
        for (let i = 0; i < shape[depth]!; i++) {
          if (depth === shape.length - 1) {
            const item = flat[next++]!;
            const value = item === null ? null : element.fromText(item);
            if (item !== null && value === null) fail(`element ${next} is the JSON value null, which a record array cannot tell from a NULL element`);
            level.push(value);
          } else {
            level.push(build(depth + 1));
          }
        }
        return level;
      };
      return shape.length === 0 ? [] : build(0);
    },
    toText: (value) => {
      if (!Array.isArray(value)) fail(`expected an array, not ${describeValue(value)}`);
      if (dimensions > 1 && !isRectangular(value)) fail('the array is not rectangular (sub-arrays of a level differ in length, or one is empty)');
      const write = (level: unknown[], depth: number): string => {
        if (depth > dimensions) fail(`the array has more than ${dimensions} dimensions`);
        return `{${level
          .map((item) => {
            if (item === null || item === undefined) return 'NULL';
            if (Array.isArray(item) && dimensions > 1) return write(item, depth + 1);
            return `"${element.toText(item).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
          })
          .join(',')}}`;
      };
      return write(value, 1);
    },
    key: NOT_KEYABLE('array', 'arrays cannot be part of a key'),
  };
}

// --- resolution of a model type to a codec ---

interface DomainCheckReport {
  schema: string;
  domain: string;
  check: string;
  definition: string;
  reason: string;
}

interface CodecContext {
  /** Domain CHECK constraints not expressed in zod, collected once per domain and check. */
  domainChecks: Map<string, DomainCheckReport>;
}

function codecFor(type: PgType, context: CodecContext, depth = 0): CodecResult {
  if (depth > 32) return { unsupported: `type ${type.name} nests domains and arrays deeper than 32 levels` };
  switch (type.kind) {
    case 'enum':
      return { codec: enumCodec(type.labels) };
    case 'other':
      return { unsupported: `type ${type.declared} is not mapped by the record layer` };
    case 'domain': {
      const base = codecFor(type.base, context, depth + 1);
      if ('unsupported' in base) return base;
      return { codec: withDomainChecks(base.codec, type, context) };
    }
    case 'array': {
      const element = codecFor(type.element, context, depth + 1);
      if ('unsupported' in element) return element;
      if (resolvesToArray(type.element)) return { unsupported: `type ${type.declared} is an array of a domain over an array, which a record array cannot tell from a dimension` };
      return { codec: arrayCodec(element.codec, { elementIsJsonb: resolvesToBase(type.element) === 'jsonb' }) };
    }
    case 'base':
      return baseCodec(type);
  }
}

function resolvesToArray(type: PgType): boolean {
  return type.kind === 'array' || (type.kind === 'domain' && resolvesToArray(type.base));
}

function resolvesToBase(type: PgType): string | null {
  if (type.kind === 'base') return type.typeName;
  return type.kind === 'domain' ? resolvesToBase(type.base) : null;
}

function baseCodec(type: Extract<PgType, { kind: 'base' }>): CodecResult {
  switch (type.typeName) {
    case 'int2':
      return { codec: integerCodec({ min: -32768, max: 32767 }) };
    case 'int4':
      return { codec: integerCodec({ min: INT32_MIN, max: INT32_MAX }) };
    case 'int8':
      return { codec: bigintCodec({ min: INT64_MIN, max: INT64_MAX }) };
    case 'float4':
      return { codec: floatCodec(4) };
    case 'float8':
      return { codec: floatCodec(8) };
    case 'numeric':
      return { codec: numericCodec(type.precision, type.scale) };
    case 'text':
    case 'varchar':
    case 'bpchar':
      return { codec: textCodec({ typeName: type.typeName, length: type.length }) };
    case 'bool':
      return { codec: booleanCodec };
    case 'uuid':
      return { codec: uuidCodec };
    case 'bytea':
      return { codec: byteaCodec };
    case 'json':
      return { codec: jsonCodec };
    case 'jsonb':
      return { codec: jsonbCodec };
    case 'date':
      return { codec: dateCodec };
    case 'time':
      return { codec: timeCodec({ zone: false, precision: type.precision }) };
    case 'timetz':
      return { codec: timeCodec({ zone: true, precision: type.precision }) };
    case 'timestamp':
      return { codec: timestampCodec({ zone: false, precision: type.precision }) };
    case 'timestamptz':
      return { codec: timestampCodec({ zone: true, precision: type.precision }) };
    case 'interval':
      return { codec: intervalCodec };
    default:
      return { unsupported: `type ${type.declared} is not mapped by the record layer` };
  }
}

/**
 * A domain's CHECKs of the form `VALUE op integer` joined by AND, over an integer base type,
 * become zod bounds; any other CHECK (or a NOT VALID one, which stored values may break) is
 * reported.
 */
function withDomainChecks(codec: Codec, type: Extract<PgType, { kind: 'domain' }>, context: CodecContext): Codec {
  const base = resolvesToBase(type.base);
  const integer = base === 'int2' || base === 'int4' || base === 'int8';
  let result = codec;
  for (const check of type.checks) {
    const bounds = integer ? integerBounds(check.definition) : null;
    if (bounds === null) {
      const key = `${type.schema}.${type.name}.${check.name}`;
      context.domainChecks.set(key, {
        schema: type.schema,
        domain: type.name,
        check: check.name,
        definition: check.definition,
        reason: integer
          ? `CHECK of domain ${type.schema}.${type.name} is not of the form VALUE >= / > / <= / < / = an integer (joined by AND), which zod bounds express`
          : `CHECK of domain ${type.schema}.${type.name} over ${type.base.name}: only integer bounds become part of a zod schema`,
      });
      continue;
    }
    result = narrowInteger(result, bounds, base === 'int8');
  }
  return result;
}

function integerBounds(definition: string): { min: bigint | null; max: bigint | null } | null {
  const body = /^CHECK \((.*)\)$/s.exec(definition.trim());
  if (body === null) return null;
  let min: bigint | null = null;
  let max: bigint | null = null;
  for (const raw of splitTopLevel(stripParentheses(body[1]!), ' AND ')) {
    const term = /^VALUE (>=|>|<=|<|=) (?:'(-?\d+)'::\w+|\(?(-?\d+)\)?(?:::\w+)?)$/.exec(stripParentheses(raw));
    if (term === null) return null;
    const value = BigInt(term[2] ?? term[3]!);
    const op = term[1]!;
    if (op === '>=' || op === '>' || op === '=') {
      const low = op === '>' ? value + 1n : value;
      min = min === null || low > min ? low : min;
    }
    if (op === '<=' || op === '<' || op === '=') {
      const high = op === '<' ? value - 1n : value;
      max = max === null || high < max ? high : max;
    }
  }
  return { min, max };
}

function stripParentheses(text: string): string {
  let result = text.trim();
  // Bounded by the text's length: each round removes two characters.
  while (result.startsWith('(') && result.endsWith(')') && balanced(result.slice(1, -1))) result = result.slice(1, -1).trim();
  return result;
}

function balanced(text: string): boolean {
  let depth = 0;
  for (const c of text) {
    if (c === '(') depth++;
    if (c === ')' && --depth < 0) return false;
  }
  return depth === 0;
}

function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/** The integer codec with its bounds narrowed to `bounds`. */
function narrowInteger(codec: Codec, bounds: { min: bigint | null; max: bigint | null }, big: boolean): Codec {
  assert(codec.bounds !== undefined, 'an integer codec has bounds');
  const min = bounds.min !== null && bounds.min > codec.bounds.min ? bounds.min : codec.bounds.min;
  const max = bounds.max !== null && bounds.max < codec.bounds.max ? bounds.max : codec.bounds.max;
  return big ? bigintCodec({ min, max }) : integerCodec({ min: Number(min), max: Number(max) });
}

// ---------------------------------------------------------------------------------------------
// Columns

function columnMapping(options: { schema: string; table: string; column: PgColumn; codec: Codec; nullable: boolean }): ColumnMapping {
  const { schema, table, column, codec, nullable } = options;
  const where = `${schema}.${table}.${column.name}`;
  const invalid = (message: string, cause?: unknown): RecordLayerError =>
    new RecordLayerError('record_invalid', `column ${where} (${typeLabel(column.type)}): ${message}`, { details: { schema, table, column: column.name, field: column.name }, cause });
  const toText = (value: unknown): string | null => {
    if (value === null || value === undefined) {
      if (nullable) return null;
      // In a NOT NULL jsonb column, null is the JSON value null.
      if (codec.nullValue !== undefined) return codec.nullValue;
      throw invalid('null, but the column is NOT NULL');
    }
    try {
      return codec.toText(value);
    } catch (error) {
      if (error instanceof ValueError) throw invalid(error.message, error);
      throw error;
    }
  };
  return {
    column: column.name,
    field: column.name,
    type: column.type,
    nullable,
    zod: nullable ? codec.zod.nullable() : codec.zod,
    source: nullable ? `${codec.source}.nullable()` : codec.source,
    helpers: orderHelpers(codec.helpers),
    select: (quotedColumn) => codec.select(quotedColumn),
    fromText: (text) => {
      if (text === null) {
        if (!nullable) throw invalid('NULL, but the column is NOT NULL');
        return null;
      }
      try {
        const value = codec.fromText(text);
        if (value === null && nullable) fail('the JSON value null, which a record cannot tell from SQL NULL in a column that may be NULL');
        return value;
      } catch (error) {
        if (error instanceof ValueError) throw invalid(error.message, error);
        throw error;
      }
    },
    toText,
    canonical: (value) => {
      const text = toText(value);
      return text === null ? 'null' : JSON.stringify(text);
    },
    key: codec.key,
  };
}

function typeLabel(type: PgType): string {
  return type.kind === 'base' || type.kind === 'array' || type.kind === 'other' ? type.declared : type.name;
}

/** The {@link pgZod} helpers among `names`, once each, sorted. */
function orderHelpers(names: readonly string[]): string[] {
  for (const name of names) assert(name in pgZod, `unknown zod helper ${name}`);
  return [...new Set(names)].sort();
}

// ---------------------------------------------------------------------------------------------
// Tables and the schema

/**
 * Maps a PostgreSQL schema model to a record schema: one record type per table, with its primary
 * key, unique and plain indexes, references and sequences, and a list of everything else.
 *
 * @remarks
 * Types (record value; `select` form):
 * - `smallint`, `integer`: `number` in range; `bigint`: `bigint`.
 * - `real`, `double precision`: `number`, NaN, ±Infinity and -0 included (selected as the hex of
 *   their bits, so no digit depends on `extra_float_digits`).
 * - `numeric`: its decimal text as PostgreSQL prints it (`'1.50'`, `'NaN'`, `'Infinity'`), never
 *   a float; a declared scale is checked exactly.
 * - `text`, `varchar(n)`, `char(n)` (blank-padded as printed), `uuid` (lower case), enums (their
 *   labels), `json` (its exact text): `string`. `boolean`: `boolean`. `bytea`: `Uint8Array`.
 * - `timestamptz`: a {@link Timestamp} of the instant. `timestamp`: the wall clock read as UTC
 *   (`2024-01-01 12:00` is `2024-01-01T12:00:00Z`). `date`: the Timestamp of 00:00:00 UTC that
 *   day. Microseconds, BC dates and ±infinity are kept (infinity as {@link PG_INFINITY_MICROS}).
 * - `time`: `'HH:MM:SS.ffffff'`; `time with time zone`: `'HH:MM:SS.ffffff+HH:MM:SS'`;
 *   `interval`: `{ months, days, microseconds }` ({@link PgInterval}).
 * - `jsonb`: the parsed value ({@link PgJson}); integers beyond 2^53 as `bigint`.
 * - arrays: nested arrays, one level per dimension, NULL elements as `null`, `[]` when empty.
 * - domains: their base type, with NOT NULL, and integer bounds from `CHECK (VALUE >= a AND VALUE <= b)`.
 *
 * Refused by `fromText` (`record_invalid`, naming the column): a `jsonb` number with a fraction
 * that no double holds exactly (`0.1` is kept: the double's shortest text is `0.1`), and `jsonb`
 * nested deeper than {@link PG_JSONB_DEPTH_MAX}; a `date` after 294276-12-31; an array whose
 * dimensions do not start at 1; a `jsonb[]` of more than one dimension; a `jsonb` object key
 * `"__proto__"` (zod and msgpack would drop it); the JSON value `null` as a whole `jsonb` value where
 * SQL NULL is possible too (a nullable column, an array element), since a record holds both as
 * `null` (in a NOT NULL jsonb column, `null` is the JSON value). A `jsonb` number keeps its
 * value, not its trailing zeros (`1.50` becomes `1.5`), as jsonb equality does.
 *
 * Keys: the primary key, unique constraints and unique indexes need columns whose values are
 * equal in keys iff equal in PostgreSQL (not floats, unconstrained `numeric`, intervals, arrays,
 * jsonb); plain indexes also need keys to sort like PostgreSQL's btree (not `numeric`, floats,
 * enums, `timetz`), and otherwise are reported. Text sorts by code point in keys, as PostgreSQL's
 * `C` collation; keys sort NULL first. A unique index lets records with a null field coexist, as
 * PostgreSQL's NULLS DISTINCT. A table without a primary key uses its first unique constraint (or
 * unique index) over NOT NULL columns; with none, it is reported as an unmapped `table`.
 *
 * References: a foreign key on a mapped table's primary key becomes a reference (fields in the
 * order of that key), `enforced: false` when named in `options.unenforced`, with a value index on
 * its fields unless an index already starts with them (named after the foreign key; it is added
 * where keys only compare equal like PostgreSQL's, as a reference needs no order). Its actions
 * (CASCADE, SET NULL, SET DEFAULT) and deferral are reported, as are foreign keys to other
 * columns than the referenced table's record key, to unmapped tables, or between columns whose
 * values do not compare in keys (an integer and a numeric).
 *
 * Also reported: column (and domain) defaults other than the sequence of a serial or identity
 * column (which becomes the record type's `sequences` entry), and partitioning.
 * @throws RecordLayerError `invalid_schema` when `options.unenforced` names a foreign key the model
 * does not have, or when no table can be mapped (a schema needs a record type).
 * @example
 * ```ts
 * import pg from 'pg';
 * import { introspect, mapSchema } from '@strata/records';
 *
 * const client = new pg.Client({ connectionString: 'postgres://localhost/pagila' });
 * await client.connect();
 * const mapped = mapSchema(await introspect(client), { unenforced: ['staff_store_id_fkey'] });
 * const film = mapped.tables.find((table) => table.typeName === 'film')!;
 * const sql = `SELECT ${film.columns.map((c) => c.select(`"${c.column}"`)).join(', ')} FROM public.film`;
 * const rows = await client.query({ text: sql, rowMode: 'array', types: { getTypeParser: () => (text: string) => text } });
 * const records = rows.rows.map((row: (string | null)[]) => Object.fromEntries(film.columns.map((c, i) => [c.field, c.fromText(row[i] ?? null)])));
 * for (const entry of mapped.unmapped) console.log(`${entry.kind} ${entry.name}: ${entry.reason}`);
 * await client.end();
 * ```
 */
export function mapSchema(model: PgSchema, options: MapOptions = {}): MappedSchema {
  const unenforced = new Set(options.unenforced ?? []);
  const foreignKeyNames = new Set(model.tables.flatMap((table) => table.foreignKeys.flatMap((fk) => [fk.name, `${table.schema}.${table.name}.${fk.name}`])));
  const unknown = [...unenforced].filter((name) => !foreignKeyNames.has(name)).sort();
  if (unknown.length > 0) {
    const names = unknown.map((name) => JSON.stringify(name)).join(', ');
    throw new RecordLayerError('invalid_schema', `mapSchema: unenforced names ${names}, which ${unknown.length === 1 ? 'is not a foreign key' : 'are not foreign keys'} of the model`, {
      details: { unknown },
    });
  }

  const context: CodecContext = { domainChecks: new Map() };
  const unmapped: MappedUnmapped[] = [];
  const defaultSchema = model.schemas.includes('public') ? 'public' : new Set(model.tables.map((t) => t.schema)).size === 1 ? model.tables[0]!.schema : null;
  const typeNames = recordTypeNames(model.tables, defaultSchema);
  const sequenceName = (schema: string, name: string): string => (schema === defaultSchema ? name : `${schema}.${name}`);

  // Columns the model reports because of their type, and which this mapping maps, leave `unmapped`.
  const mappedByHere = new Set<string>();

  // Pass 1: columns and primary keys of every table.
  const drafts: TableDraft[] = [];
  for (const table of model.tables) {
    const typeName = typeNames.get(table)!;
    const columns: ColumnMapping[] = [];
    const skipped: PgUnmapped[] = [];
    const reported = (column: PgColumn): PgUnmapped[] => model.unmapped.filter((u) => u.kind === 'column' && u.schema === table.schema && u.table === table.name && u.name === column.name);
    for (const column of table.columns) {
      const resolved = codecFor(column.type, context);
      const entries = reported(column);
      if (column.generated !== null || 'unsupported' in resolved) {
        const generated = (entry: PgUnmapped): boolean => column.generated !== null && entry.definition === column.generated.expression;
        // A model entry about a type this mapping maps does not apply to a generated column it skips for being generated.
        const kept = entries.filter((entry) => 'unsupported' in resolved || generated(entry));
        for (const entry of entries) if (!kept.includes(entry)) mappedByHere.add(unmappedKey(entry));
        const own: PgUnmapped[] =
          'unsupported' in resolved && kept.every(generated)
            ? [{ kind: 'column', schema: table.schema, table: table.name, name: column.name, reason: resolved.unsupported, definition: typeLabel(column.type) }]
            : [];
        skipped.push(...kept, ...own);
        unmapped.push(...own);
        continue;
      }
      for (const entry of entries) mappedByHere.add(unmappedKey(entry));
      const nullable = !column.notNull && !domainNotNull(column.type);
      columns.push(columnMapping({ schema: table.schema, table: table.name, column, codec: resolved.codec, nullable }));
    }
    const primary = choosePrimaryKey(table, columns);
    if ('reason' in primary) {
      unmapped.push({ kind: 'table', schema: table.schema, table: table.name, name: table.name, reason: primary.reason, definition: null });
      continue;
    }
    drafts.push({ model: table, typeName, columns, skipped, primaryKey: primary.fields, primaryKeySource: primary.source });
  }
  const byTable = new Map(drafts.map((draft) => [`${draft.model.schema}.${draft.model.name}`, draft]));

  // Pass 2: indexes, references, sequences and reports of each mapped table.
  const types: Record<string, RecordTypeDefinition> = {};
  const tables: TableMapping[] = [];
  for (const draft of drafts) {
    const { model: table, columns } = draft;
    const column = (name: string): ColumnMapping | undefined => columns.find((candidate) => candidate.column === name);
    const indexes: Record<string, IndexDefinition> = {};
    const report = (kind: MappedUnmappedKind, name: string, reason: string, definition: string | null): void => {
      unmapped.push({ kind, schema: table.schema, table: table.name, name, reason, definition });
    };
    const unusable = (names: string[], need: 'equality' | 'order'): string | null => {
      for (const name of names) {
        const mapped = column(name);
        if (mapped === undefined) return `column ${name} is not mapped`;
        if (!mapped.key.keyable || !mapped.key.equality || (need === 'order' && !mapped.key.order)) return `column ${name} (${typeLabel(mapped.type)}): ${mapped.key.difference}`;
      }
      return null;
    };
    const addIndex = (name: string, definition: IndexDefinition): void => {
      let candidate = name;
      for (let n = 2; indexes[candidate] !== undefined; n++) candidate = `${name}_${n}`;
      indexes[candidate] = definition;
    };

    for (const unique of table.uniqueConstraints) {
      if (draft.primaryKeySource.kind === 'unique_constraint' && draft.primaryKeySource.name === unique.name) continue;
      const why = unusable(unique.columns, 'equality');
      if (why !== null) report('unique_constraint', unique.name, `not enforced: ${why}`, `UNIQUE (${unique.columns.join(', ')})`);
      else addIndex(unique.name, index.value(unique.columns, { unique: true }));
    }
    for (const pgIndex of table.indexes) {
      if (!isPlainIndex(pgIndex)) continue; // introspect reported it (partial, expression, non-btree)
      if (draft.primaryKeySource.kind === 'unique_index' && draft.primaryKeySource.name === pgIndex.name) continue;
      const fields = pgIndex.keys.map((key) => (key.kind === 'column' ? key.name : ''));
      const why = unusable(fields, pgIndex.unique ? 'equality' : 'order');
      if (why !== null) report('index', pgIndex.name, pgIndex.unique ? `unique index not enforced: ${why}` : `keys would not sort like PostgreSQL: ${why}`, pgIndex.definition);
      else addIndex(pgIndex.name, index.value(fields, { unique: pgIndex.unique }));
    }

    const references: Record<string, ReferenceDefinition> = {};
    for (const fk of table.foreignKeys) {
      const enforced = !unenforced.has(fk.name) && !unenforced.has(`${table.schema}.${table.name}.${fk.name}`);
      const resolved = referenceOf(fk, draft, byTable);
      if ('reason' in resolved) {
        report('foreign_key', fk.name, resolved.reason, foreignKeyDefinition(fk));
        continue;
      }
      const reference: ReferenceDefinition = { type: resolved.type, fields: resolved.fields, enforced };
      if (referencingIndex({ schema: z.object({}), primaryKey: draft.primaryKey, indexes }, reference) === null) addIndex(fk.name, index.value(resolved.fields));
      references[fk.name] = reference;
      const lost = lostForeignKeyParts(fk);
      if (lost.length > 0) report('foreign_key', fk.name, `mapped as reference ${fk.name}, without ${lost.join('; ')}`, foreignKeyDefinition(fk));
    }

    const sequences: TableMapping['sequences'] = [];
    const sequenceFields: Record<string, string> = {};
    for (const pgColumn of table.columns) {
      const mapped = column(pgColumn.name);
      if (pgColumn.default !== null && !(pgColumn.sequence !== null && /^nextval\(/.test(pgColumn.default))) {
        if (mapped === undefined || !applyDefault(mapped, pgColumn.default)) {
          report('default', pgColumn.name, `DEFAULT ${pgColumn.default}: not a constant or clock default the record layer fills in; inserts must set the field`, pgColumn.default);
        }
      } else if (pgColumn.default === null && pgColumn.sequence === null && pgColumn.generated === null) {
        const domainDefault = domainDefaultOf(model, pgColumn.type);
        if (domainDefault !== null && (mapped === undefined || !applyDefault(mapped, domainDefault))) {
          report('default', pgColumn.name, `DEFAULT ${domainDefault} of its domain: not a constant or clock default the record layer fills in; inserts must set the field`, domainDefault);
        }
      }
      if (pgColumn.sequence === null || mapped === undefined) continue;
      const name = sequenceName(pgColumn.sequence.schema, pgColumn.sequence.name);
      sequences.push({ field: mapped.field, schema: pgColumn.sequence.schema, name: pgColumn.sequence.name, sequence: name });
      const integer = mapped.key.family === 'integer';
      if (integer && !mapped.nullable) sequenceFields[mapped.field] = name;
      else report('default', pgColumn.name, `filled from sequence ${pgColumn.sequence.schema}.${pgColumn.sequence.name}, which a record type declares for NOT NULL integer fields only`, pgColumn.default);
    }
    if (table.kind === 'partitioned') {
      report('partitioning', table.name, `partitioned by ${table.partitionKey} into ${table.partitions.length} partitions, which become one record type; partition bounds (which refuse rows outside them) are not kept`, table.partitionKey);
    }

    const shape = Object.fromEntries(columns.map((c) => [c.field, c.zod]));
    types[draft.typeName] = recordType({
      schema: z.object(shape),
      primaryKey: draft.primaryKey,
      indexes,
      references,
      sequences: sequenceFields as Record<never, string>,
    }) as RecordTypeDefinition;
    tables.push({
      schema: table.schema,
      table: table.name,
      typeName: draft.typeName,
      columns,
      skipped: draft.skipped,
      primaryKey: draft.primaryKey,
      primaryKeySource: draft.primaryKeySource,
      sequences,
    });
  }

  // Foreign keys of tables that are not mapped are covered by their table's entry; references to them are reported above.
  for (const check of [...context.domainChecks.values()]) {
    unmapped.push({ kind: 'check_constraint', schema: check.schema, table: null, name: `${check.domain}.${check.check}`, reason: check.reason, definition: check.definition });
  }
  for (const entry of model.unmapped) if (!mappedByHere.has(unmappedKey(entry))) unmapped.push(entry);
  const all = dedupe(unmapped).sort(
    (a, b) => compare(a.kind, b.kind) || compare(a.schema, b.schema) || compare(a.table ?? '', b.table ?? '') || compare(a.name, b.name) || compare(a.reason, b.reason),
  );
  if (tables.length === 0) {
    throw new RecordLayerError('invalid_schema', `mapSchema: no table of schemas ${model.schemas.join(', ')} can be mapped to a record type`, {
      details: { unmapped: all.filter((entry) => entry.kind === 'table').map((entry) => `${entry.schema}.${entry.name}: ${entry.reason}`) },
    });
  }
  return { schema: defineSchema(types), tables, unmapped: all };
}

interface TableDraft {
  model: PgTable;
  typeName: string;
  columns: ColumnMapping[];
  skipped: PgUnmapped[];
  primaryKey: string[];
  primaryKeySource: TableMapping['primaryKeySource'];
}

function unmappedKey(entry: { kind: string; schema: string; table: string | null; name: string; reason: string }): string {
  return JSON.stringify([entry.kind, entry.schema, entry.table, entry.name, entry.reason]);
}

function dedupe(entries: MappedUnmapped[]): MappedUnmapped[] {
  const seen = new Set<string>();
  return entries.filter((entry) => {
    const key = unmappedKey(entry);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function domainNotNull(type: PgType): boolean {
  return type.kind === 'domain' && (type.notNull || domainNotNull(type.base));
}

// Clock functions as pg_get_expr prints them, possibly under a cast.
const NOW_DEFAULT = /^(?:now\(\)|CURRENT_TIMESTAMP|LOCALTIMESTAMP|statement_timestamp\(\)|transaction_timestamp\(\))$/;
const TODAY_DEFAULT = /^(?:CURRENT_DATE|\('now'::text\)::date)$/;
const CAST_SUFFIX = /^\((.*)\)::[a-z][a-z0-9_ ."]*$/;
const LITERAL_DEFAULT = /^'((?:[^']|'')*)'(?:::[a-z][a-z0-9_ ."()]*)?$/;
const NUMBER_DEFAULT = /^\(?(-?\d+(?:\.\d+)?)\)?(?:::[a-z][a-z0-9_ ."()]*)?$/;

/**
 * Makes the column's field default to what PostgreSQL would store for `expression`: a constant
 * (a literal PostgreSQL's own text conversion of the column takes as it is, e.g. `true`, `3`,
 * `4.99`, `'G'::mpaa_rating`), or the clock (`now()` and its synonyms for timestamps, read as UTC
 * for `timestamp`; `CURRENT_DATE` for dates). Returns false, changing nothing, for anything else.
 */
function applyDefault(column: ColumnMapping, expression: string): boolean {
  const base = baseTypeName(column.type);
  let bare = expression.trim();
  const cast = CAST_SUFFIX.exec(bare);
  if (cast !== null && (NOW_DEFAULT.test(cast[1]!) || TODAY_DEFAULT.test(cast[1]!))) bare = cast[1]!;
  let filled: { value: unknown; source: string; helpers: string[] } | null = null;
  if (NOW_DEFAULT.test(bare) && (base === 'timestamp' || base === 'timestamptz')) filled = { value: pgZod.pgNow, source: 'pgNow', helpers: ['pgNow'] };
  else if (TODAY_DEFAULT.test(bare) && base === 'date') filled = { value: pgZod.pgToday, source: 'pgToday', helpers: ['pgToday'] };
  else {
    const literal = LITERAL_DEFAULT.exec(bare)?.[1]?.replaceAll("''", "'") ?? NUMBER_DEFAULT.exec(bare)?.[1] ?? (bare === 'true' || bare === 'false' ? bare : undefined);
    if (literal === undefined) return false;
    let value: unknown;
    try {
      value = column.fromText(literal);
    } catch {
      return false; // not PostgreSQL's text for a value of the column (e.g. 0 for a numeric(5,2), printed 0.00)
    }
    const source = constantSource(value);
    if (source === null || !column.zod.safeParse(value).success) return false;
    filled = { value, source, helpers: [] };
  }
  column.zod = column.zod.default(filled.value as never);
  column.source = `${column.source}.default(${filled.source})`;
  column.helpers = orderHelpers([...column.helpers, ...filled.helpers]);
  return true;
}

// TypeScript source of a constant default, or null for values a literal does not express simply.
function constantSource(value: unknown): string | null {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' && Number.isFinite(value) && !Object.is(value, -0)) return String(value);
  return null;
}

// The catalog name of a column's type under its domains ('enum' for enums, 'array', 'other').
function baseTypeName(type: PgType): string {
  if (type.kind === 'domain') return baseTypeName(type.base);
  return type.kind === 'base' ? type.typeName : type.kind;
}

function domainDefaultOf(model: PgSchema, type: PgType): string | null {
  if (type.kind !== 'domain') return null;
  const domain = model.domains.find((candidate) => candidate.schema === type.schema && candidate.name === domainName(type));
  return domain?.default ?? domainDefaultOf(model, type.base);
}

// PgDomainType.name is format_type (possibly schema-qualified, quoted); PgDomain.name is the bare typname.
function domainName(type: Extract<PgType, { kind: 'domain' }>): string {
  const bare = type.name.startsWith(`${type.schema}.`) ? type.name.slice(type.schema.length + 1) : type.name;
  return bare.startsWith('"') && bare.endsWith('"') ? bare.slice(1, -1).replaceAll('""', '"') : bare;
}

function isPlainIndex(pgIndex: PgIndex): boolean {
  return pgIndex.predicate === null && pgIndex.method === 'btree' && pgIndex.keys.every((key) => key.kind === 'column');
}

function choosePrimaryKey(table: PgTable, columns: ColumnMapping[]): { fields: string[]; source: TableMapping['primaryKeySource'] } | { reason: string } {
  const problem = (names: string[]): string | null => {
    for (const name of names) {
      const mapped = columns.find((candidate) => candidate.column === name);
      if (mapped === undefined) return `column ${name} is not mapped`;
      if (!mapped.key.keyable || !mapped.key.equality) return `column ${name} (${typeLabel(mapped.type)}): ${mapped.key.difference}`;
      if (mapped.nullable) return `column ${name} may be NULL`;
    }
    return null;
  };
  if (table.primaryKey !== null) {
    const why = problem(table.primaryKey.columns);
    if (why === null) return { fields: [...table.primaryKey.columns], source: { kind: 'primary_key', name: table.primaryKey.name } };
    return { reason: `primary key ${table.primaryKey.name} cannot be a record key: ${why}` };
  }
  const candidates: { kind: 'unique_constraint' | 'unique_index'; key: PgKey }[] = [
    ...table.uniqueConstraints.map((key) => ({ kind: 'unique_constraint' as const, key })),
    ...table.indexes.filter((i) => i.unique && isPlainIndex(i)).map((i) => ({ kind: 'unique_index' as const, key: { name: i.name, columns: i.keys.map((k) => (k.kind === 'column' ? k.name : '')) } })),
  ];
  for (const candidate of candidates) {
    if (problem(candidate.key.columns) === null) return { fields: [...candidate.key.columns], source: { kind: candidate.kind, name: candidate.key.name } };
  }
  return { reason: 'no primary key, and no unique constraint or unique index over NOT NULL columns a record key can hold' };
}

function referenceOf(fk: PgForeignKey, draft: TableDraft, byTable: Map<string, TableDraft>): { type: string; fields: string[] } | { reason: string } {
  const target = byTable.get(`${fk.references.schema}.${fk.references.table}`);
  if (target === undefined) return { reason: `references ${fk.references.schema}.${fk.references.table}, which is not mapped to a record type` };
  const sameSet = fk.references.columns.length === target.primaryKey.length && target.primaryKey.every((field) => fk.references.columns.includes(field));
  if (!sameSet) {
    return { reason: `references (${fk.references.columns.join(', ')}) of ${fk.references.schema}.${fk.references.table}, not its record key (${target.primaryKey.join(', ')}); a reference names a primary key` };
  }
  const fields = target.primaryKey.map((field) => fk.columns[fk.references.columns.indexOf(field)]!);
  for (const [i, field] of fields.entries()) {
    const mine = draft.columns.find((candidate) => candidate.column === field);
    const theirs = target.columns.find((candidate) => candidate.column === target.primaryKey[i])!;
    if (mine === undefined) return { reason: `column ${field} is not mapped` };
    if (!mine.key.keyable || !mine.key.equality || mine.key.family !== theirs.key.family) {
      return { reason: `column ${field} (${typeLabel(mine.type)}) does not compare in keys with ${target.model.name}.${theirs.column} (${typeLabel(theirs.type)})` };
    }
  }
  return { type: target.typeName, fields };
}

function lostForeignKeyParts(fk: PgForeignKey): string[] {
  const lost: string[] = [];
  const action = (what: 'DELETE' | 'UPDATE', value: PgForeignKey['onDelete']): void => {
    if (value === 'no_action' || value === 'restrict') return;
    const sql = value.toUpperCase().replace('_', ' ');
    lost.push(
      what === 'DELETE'
        ? `ON DELETE ${sql} (the record layer refuses to delete a record an enforced reference names)`
        : `ON UPDATE ${sql} (a record's primary key does not change in place in the record layer)`,
    );
  };
  action('DELETE', fk.onDelete);
  action('UPDATE', fk.onUpdate);
  if (fk.deferrable) lost.push(`DEFERRABLE${fk.initiallyDeferred ? ' INITIALLY DEFERRED' : ''} (a reference is checked at each write)`);
  return lost;
}

function foreignKeyDefinition(fk: PgForeignKey): string {
  return `FOREIGN KEY (${fk.columns.join(', ')}) REFERENCES ${fk.references.schema}.${fk.references.table}(${fk.references.columns.join(', ')})`;
}

function recordTypeNames(tables: PgTable[], defaultSchema: string | null): Map<PgTable, string> {
  const candidates = new Map(tables.map((table) => [table, table.schema === defaultSchema ? table.name : `${table.schema}_${table.name}`]));
  const counts = new Map<string, number>();
  for (const name of candidates.values()) counts.set(name, (counts.get(name) ?? 0) + 1);
  const names = new Map<PgTable, string>();
  for (const [table, name] of candidates) names.set(table, counts.get(name)! > 1 ? `${table.schema}.${table.name}` : name);
  const unique = new Set(names.values());
  assert(unique.size === names.size, 'record type names are unique');
  return names;
}

/** A single-quoted TypeScript string literal. */
function literal(text: string): string {
  return `'${JSON.stringify(text).slice(1, -1).replaceAll('\\"', '"').replaceAll("'", "\\'")}'`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// Bugs are assertions, always on.
function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
