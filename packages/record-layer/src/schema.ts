/**
 * Schemas: record types declared with zod, their primary keys and their indexes.
 */
import { Double, type TupleItem } from '@strata/tuple';
import { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { Timestamp } from './timestamp.js';

/** An index declared beside a record type. */
export type IndexDefinition =
  /** Entries `(values of fields..., primary key...)`: lookups, ranges and ordering on the fields. */
  | { readonly kind: 'value'; readonly fields: readonly string[]; readonly unique: boolean }
  /** A count of records per group, kept with atomic adds. */
  | { readonly kind: 'count'; readonly groupBy: readonly string[] }
  /** A sum of an integer field per group, kept with atomic adds. */
  | { readonly kind: 'sum'; readonly field: string; readonly groupBy: readonly string[] }
  /** The least or greatest value of a field per group (exact under deletes). */
  | { readonly kind: 'min' | 'max'; readonly field: string; readonly groupBy: readonly string[] }
  /**
   * Entries `(versionstamp, primary key...)`: the records in the order of the transactions that
   * last wrote them (see `index.version`).
   */
  | { readonly kind: 'version' };

/** Builders for {@link IndexDefinition}s. */
export const index = {
  /**
   * A value index on one or more fields, optionally unique. A unique index refuses a second record
   * with the same values; as in SQL (PostgreSQL's default `NULLS DISTINCT`), records with a null or
   * missing value in any of its fields never collide.
   */
  value(fields: readonly string[], options: { unique?: boolean } = {}): IndexDefinition {
    return { kind: 'value', fields: [...fields], unique: options.unique === true };
  },
  /** A count of records, per group of `groupBy` fields (default: one count for the type). */
  count(options: { groupBy?: readonly string[] } = {}): IndexDefinition {
    return { kind: 'count', groupBy: [...(options.groupBy ?? [])] };
  },
  /**
   * A sum of an integer field, per group: a `z.bigint()` or a `z.number().int()` field (optional
   * or not: a missing value adds 0).
   *
   * @remarks
   * The sum is kept with FoundationDB's atomic add on a signed 64-bit integer: a value outside
   * that range is refused when written (`record_invalid`), but a total that passes it wraps around
   * (two's complement) without an error.
   */
  sum(field: string, options: { groupBy?: readonly string[] } = {}): IndexDefinition {
    return { kind: 'sum', field, groupBy: [...(options.groupBy ?? [])] };
  },
  /** The least value of a field, per group. */
  min(field: string, options: { groupBy?: readonly string[] } = {}): IndexDefinition {
    return { kind: 'min', field, groupBy: [...(options.groupBy ?? [])] };
  },
  /** The greatest value of a field, per group. */
  max(field: string, options: { groupBy?: readonly string[] } = {}): IndexDefinition {
    return { kind: 'max', field, groupBy: [...(options.groupBy ?? [])] };
  },
  /**
   * A version index: every record under the versionstamp of the transaction that last inserted or
   * updated it, so `findMany({ orderBy: { $version: 'asc' } })` lists records in commit order.
   *
   * @remarks
   * Records written by one transaction are ordered by their first write in it. A record that an
   * online build indexes keeps the versionstamp of its last write when one is stored (writes store
   * it once the type has a version index), and otherwise gets the build transaction's.
   */
  version(): IndexDefinition {
    return { kind: 'version' };
  },
};

/** Any zod object schema. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyObjectSchema = z.ZodObject<any>;

/**
 * A reference (a foreign key): fields of a record that hold the primary key of a record of
 * another type (or the same type), in the order of that type's primary key fields.
 *
 * @remarks
 * An enforced reference is checked on every write: a record whose reference fields are all set
 * must name an existing record, and a record that others name cannot be deleted. A reference
 * with a field that is null or missing names nothing and is not checked (SQL's MATCH SIMPLE).
 * Deleting needs an index on the referencing fields: a value index whose fields start with them.
 */
export interface ReferenceDefinition {
  /** The record type referred to. */
  readonly type: string;
  /** The referencing fields, one per primary key field of `type`. */
  readonly fields: readonly string[];
  /** Checked on writes (default true). Off for a relation the data does not keep. */
  readonly enforced?: boolean;
}

/**
 * A record type: its zod schema, primary key fields, indexes, references and sequence-fed fields.
 * `Q` names the fields a sequence fills (they may be left out on insert).
 */
export interface RecordTypeDefinition<S extends AnyObjectSchema = AnyObjectSchema, Q extends string = string> {
  readonly schema: S;
  readonly primaryKey: readonly string[];
  readonly indexes: Readonly<Record<string, IndexDefinition>>;
  /** References to records of other types, by name (none when absent). */
  readonly references?: Readonly<Record<string, ReferenceDefinition>>;
  /**
   * Fields filled from a sequence of the store when an insert leaves them out: field name to
   * sequence name (see {@link RecordStore.nextValue}). None when absent.
   */
  readonly sequences?: Readonly<Record<Q, string>>;
}

/**
 * Declares a record type.
 * @example
 * ```ts
 * const orders = recordType({
 *   schema: z.object({ id: z.bigint(), customerId: z.bigint(), total: z.bigint() }),
 *   primaryKey: ['id'],
 *   indexes: { byCustomer: index.value(['customerId']), totalByCustomer: index.sum('total', { groupBy: ['customerId'] }) },
 * });
 * ```
 */
export function recordType<S extends AnyObjectSchema, Q extends keyof z.output<S> & string = never>(definition: {
  schema: S;
  primaryKey: readonly (keyof z.output<S> & string)[];
  indexes?: Record<string, IndexDefinition>;
  references?: Record<string, { type: string; fields: readonly (keyof z.output<S> & string)[]; enforced?: boolean }>;
  /**
   * Fields an insert may leave out, filled with the next value of the named sequence (as a
   * PostgreSQL `serial` or identity column). The field's type must be an integer `number` or a
   * `bigint`.
   */
  sequences?: Record<Q, string>;
}): RecordTypeDefinition<S, Q> {
  return {
    schema: definition.schema,
    primaryKey: [...definition.primaryKey],
    indexes: { ...(definition.indexes ?? {}) },
    references: Object.fromEntries(Object.entries(definition.references ?? {}).map(([name, r]) => [name, { type: r.type, fields: [...r.fields], enforced: r.enforced ?? true }])),
    sequences: { ...(definition.sequences ?? {}) } as Record<Q, string>,
  };
}

/** The record types of a schema, by name. */
export type SchemaTypes = Record<string, RecordTypeDefinition>;

/** A record of type `D` as stored and read (zod's output type). */
export type RecordOf<D extends RecordTypeDefinition> = z.output<D['schema']>;
/**
 * A record of type `D` as written (zod's input type: optional fields, fields with defaults and
 * fields a sequence fills may be left out).
 */
export type RecordInput<D extends RecordTypeDefinition> =
  D extends RecordTypeDefinition<infer S, infer Q> ? ([Q] extends [never] ? z.input<S> : Omit<z.input<S>, Q> & Partial<Pick<z.input<S>, Q & keyof z.input<S>>>) : never;

/**
 * A checked set of record types.
 * @example
 * ```ts
 * const schema = defineSchema({ orders, customers });
 * ```
 */
export class Schema<T extends SchemaTypes = SchemaTypes> {
  /** The record types, by name. */
  readonly types: T;
  constructor(types: T) {
    if (typeof types !== 'object' || types === null || Object.keys(types).length === 0) {
      throw new RecordLayerError('invalid_schema', 'a schema needs at least one record type');
    }
    for (const [name, type] of Object.entries(types)) checkRecordType(name, type);
    for (const [name, type] of Object.entries(types)) checkReferences(name, type, types);
    for (const [name, type] of Object.entries(types)) checkSequences(name, type);
    this.types = types;
  }

  /** The definition of record type `name`. */
  type(name: string): RecordTypeDefinition {
    const type = this.types[name];
    if (type === undefined) throw new RecordLayerError('unknown_record_type', `the schema has no record type ${JSON.stringify(name)}`, { details: { type: name } });
    return type;
  }

  /** What the store records about this schema, to compare it with the next one. */
  describe(): SchemaDescription {
    const types: SchemaDescription['types'] = {};
    for (const [name, type] of Object.entries(this.types)) {
      const fields: Record<string, string> = {};
      const fieldTypes: Record<string, FieldType> = {};
      for (const [field, schema] of Object.entries(type.schema.shape as Record<string, z.ZodType>)) {
        fields[field] = describeType(schema);
        fieldTypes[field] = fieldType(schema);
      }
      const defaulted = Object.entries(type.schema.shape as Record<string, z.ZodType>).filter(([, schema]) => hasDefault(schema)).map(([field]) => field);
      types[name] = { primaryKey: [...type.primaryKey], fields, fieldTypes, indexes: structuredClone(type.indexes) as Record<string, IndexDefinition>, doubles: [...doubleFields(type)], defaulted };
    }
    return { formatVersion: SCHEMA_FORMAT_VERSION, types };
  }
}

/**
 * Declares a schema from record types (see {@link recordType}).
 * @throws RecordLayerError `invalid_schema` naming the type and the field for a malformed record
 * type: a key, index, reference or sequence naming a missing field, a sum index over a field that
 * is not an integer (a bigint, or a number with `.int()`), or a field with a zod transform (records are stored as the schema's output
 * and parsed again when read, so a transformed value would not read back).
 */
export function defineSchema<T extends SchemaTypes>(types: T): Schema<T> {
  return new Schema(types);
}

/**
 * The format of {@link SchemaDescription}s this version writes. Format 2 added `fieldTypes` and
 * `droppedFields`; format 1 descriptions (without them) are still read.
 */
export const SCHEMA_FORMAT_VERSION = 2;

/**
 * The stored type of a field, detailed enough to tell whether a new type accepts every value the
 * old one did (what a store compares when it opens with a changed schema): the kind (zod's type
 * name), the type a wrapper (`optional`, `nullable`, `default`) or an array holds, an object's
 * fields, the values of an enum or a literal, and a union's members. Constraints (`.email()`,
 * `.min()`) are not kept.
 */
export interface FieldType {
  readonly kind: string;
  /** The type an `optional`, `nullable` or `default` wraps. */
  readonly inner?: FieldType;
  /** The type of an array's elements. */
  readonly element?: FieldType;
  /** An object's fields. */
  readonly fields?: Readonly<Record<string, FieldType>>;
  /** An enum's or a literal's values, as text (`"a"`, `1`, `2n`, `null`); absent when unknown. */
  readonly values?: readonly string[];
  /** A union's members; absent when unknown. */
  readonly members?: readonly FieldType[];
}

/** The stored description of a schema: enough to tell whether a new schema is a safe change. */
export interface SchemaDescription {
  formatVersion: number;
  types: Record<
    string,
    {
      primaryKey: string[];
      /** Each field's type as short text (the only description of format 1). */
      fields: Record<string, string>;
      /** Each field's type in detail (format 2 on; absent from earlier stores). */
      fieldTypes?: Record<string, FieldType>;
      indexes: Record<string, IndexDefinition>;
      /**
       * The fields whose numbers the store's keys hold as doubles: {@link doubleFields}, less
       * `integral`. Absent from stores written before numbers were keyed by field.
       */
      doubles?: string[];
      /**
       * The fields a record that lacks them reads with a default (`.default()` or `.prefault()`).
       * Absent from stores written before: their field texts tell.
       */
      defaulted?: string[];
      /**
       * Fields that may hold fractions whose keys keep every integral number as an integer, the
       * form of every number before: the fields of a store written then, kept in that form so that
       * its keys stay valid (their order puts integers before fractions). None when absent.
       */
      integral?: string[];
    }
  >;
  /**
   * The last type of each field dropped from a type whose records may still hold it (a dropped
   * field keeps its position, record-codec.ts): a field added back must accept those values.
   * Written by the store; absent from `describe()` and from stores written before format 2.
   */
  droppedFields?: Record<string, Record<string, FieldType>>;
  /**
   * The field table of each type as stored (record-codec.ts): every field its records may hold, by
   * position, dropped fields included. Written by the store; absent from `describe()` and from
   * stores written before tables.
   */
  fieldTables?: Record<string, string[]>;
}

function checkRecordType(name: string, type: RecordTypeDefinition): void {
  if (!(type?.schema instanceof z.ZodObject)) throw new RecordLayerError('invalid_schema', `record type ${name}: schema must be a zod object (z.object({...}))`);
  const fields = new Set(Object.keys(type.schema.shape));
  const field = (where: string, candidate: string): void => {
    if (!fields.has(candidate)) {
      throw new RecordLayerError('invalid_schema', `record type ${name}: ${where} names ${JSON.stringify(candidate)}, which is not a field`, {
        details: { type: name, field: candidate },
      });
    }
  };
  for (const [fieldName, schema] of Object.entries(type.schema.shape as Record<string, z.ZodType>)) {
    const found = findTransform(schema, [fieldName], new Set());
    if (found !== null) {
      const field = found.path.join('');
      throw new RecordLayerError(
        'invalid_schema',
        `record type ${name}: field ${JSON.stringify(field)} uses a zod ${found.kind}; records are stored as the schema's output and parsed again when read, so a transformed value would not read back. Store the value as written and transform it after reading`,
        { details: { type: name, field } },
      );
    }
  }
  if (type.primaryKey.length === 0) throw new RecordLayerError('invalid_schema', `record type ${name}: the primary key needs at least one field`);
  for (const key of type.primaryKey) field('the primary key', key);
  for (const [indexName, definition] of Object.entries(type.indexes)) {
    if (definition.kind === 'value') {
      if (definition.fields.length === 0) throw new RecordLayerError('invalid_schema', `record type ${name}: value index ${indexName} needs at least one field`);
      for (const f of definition.fields) field(`index ${indexName}`, f);
    } else if (definition.kind !== 'version') {
      for (const f of definition.groupBy) field(`index ${indexName}`, f);
      if (definition.kind !== 'count') field(`index ${indexName}`, definition.field);
      if (definition.kind === 'sum') checkSumField(name, indexName, definition.field, (type.schema.shape as Record<string, z.ZodType>)[definition.field]!);
    }
  }
}

// A sum index adds integers (8-byte atomic adds): its field must be a bigint, or a number zod
// restricts to integers (z.number().int(), z.int()), optional or not (a missing value adds 0).
function checkSumField(type: string, indexName: string, field: string, schema: z.ZodType): void {
  const inner = innerSchema(schema);
  const kind = describeType(inner);
  if (kind === 'bigint' || (inner instanceof z.ZodNumber && inner.isInt === true)) return;
  const what = kind === 'number' ? 'a number that may have a fraction' : `of type ${kind}`;
  throw new RecordLayerError('invalid_schema', `record type ${type}: sum index ${indexName} adds field ${JSON.stringify(field)}, which is ${what}; a sum adds integers: declare it z.bigint() or z.number().int()`, {
    details: { type, index: indexName, field },
  });
}

function checkReferences(name: string, type: RecordTypeDefinition, types: SchemaTypes): void {
  const fields = new Set(Object.keys(type.schema.shape));
  for (const [referenceName, reference] of Object.entries(type.references ?? {})) {
    const where = `record type ${name}: reference ${referenceName}`;
    const target = types[reference.type];
    if (target === undefined) throw new RecordLayerError('invalid_schema', `${where} names record type ${JSON.stringify(reference.type)}, which the schema does not have`);
    for (const f of reference.fields) {
      if (!fields.has(f)) throw new RecordLayerError('invalid_schema', `${where} names ${JSON.stringify(f)}, which is not a field`, { details: { type: name, field: f } });
    }
    if (reference.fields.length !== target.primaryKey.length) {
      throw new RecordLayerError('invalid_schema', `${where} has ${reference.fields.length} fields; the primary key of ${reference.type} has ${target.primaryKey.length}`);
    }
    if (reference.enforced !== false && referencingIndex(type, reference) === null) {
      throw new RecordLayerError(
        'invalid_schema',
        `${where} needs an index on its fields to keep deletes of ${reference.type} from leaving it dangling: add index.value([${reference.fields.map((f) => JSON.stringify(f)).join(', ')}])`,
        { details: { type: name, reference: referenceName } },
      );
    }
  }
}

function checkSequences(name: string, type: RecordTypeDefinition): void {
  for (const [field, sequence] of Object.entries(type.sequences ?? {}) as [string, unknown][]) {
    const where = `record type ${name}: sequence field ${JSON.stringify(field)}`;
    const schema = (type.schema.shape as Record<string, z.ZodType | undefined>)[field];
    if (schema === undefined) throw new RecordLayerError('invalid_schema', `${where} is not a field`, { details: { type: name, field } });
    if (typeof sequence !== 'string' || sequence.length === 0) throw new RecordLayerError('invalid_schema', `${where} needs a sequence name`, { details: { type: name, field } });
    const kind = describeType(schema);
    if (kind !== 'number' && kind !== 'bigint') {
      throw new RecordLayerError('invalid_schema', `${where} has type ${kind}; a sequence fills a number or a bigint field`, { details: { type: name, field } });
    }
  }
}

/** Whether a sequence fills field `field` of `type` with numbers (rather than bigints). */
export function sequenceFillsNumbers(type: RecordTypeDefinition, field: string): boolean {
  return describeType((type.schema.shape as Record<string, z.ZodType>)[field]!) === 'number';
}

/** The fields whose values make up the entries of an index (none for a version index). */
export function indexedFields(definition: IndexDefinition): readonly string[] {
  switch (definition.kind) {
    case 'value':
      return definition.fields;
    case 'count':
      return definition.groupBy;
    case 'sum':
    case 'min':
    case 'max':
      return [...definition.groupBy, definition.field];
    case 'version':
      return [];
  }
}

/**
 * Whether a field's schema gives a record that lacks the field a default value (a `.default()` or
 * `.prefault()` among its {@link wrappers}).
 */
export function hasDefault(schema: z.ZodType): boolean {
  return wrappers(schema).some((layer) => {
    const type = (layer as unknown as { def?: { type?: string } }).def?.type;
    return type === 'default' || type === 'prefault';
  });
}

/** The name of a value index of `type` whose fields start with the reference's fields, or null. */
export function referencingIndex(type: RecordTypeDefinition, reference: ReferenceDefinition): string | null {
  for (const [name, definition] of Object.entries(type.indexes)) {
    if (definition.kind === 'value' && reference.fields.every((f, i) => definition.fields[i] === f)) return name;
  }
  return null;
}

/** How deep {@link findTransform} follows nested schemas (a bound for self-referring `z.lazy` types). */
const SCHEMA_DEPTH_MAX = 64;

/**
 * The first transform inside `schema` (`.transform()`, `z.preprocess()`, a pipe into either, a
 * `z.codec()`, a pipe from one scalar kind into another), with the path to it (`address`, `.zip`,
 * `[]` for an array's elements), or null.
 */
function findTransform(schema: z.ZodType, path: string[], seen: Set<z.ZodType>): { kind: string; path: string[] } | null {
  if (seen.has(schema) || path.length > SCHEMA_DEPTH_MAX) return null;
  seen.add(schema);
  const def = (schema as unknown as { def?: Record<string, unknown> }).def ?? {};
  const inner = (child: unknown, step = ''): { kind: string; path: string[] } | null => (child === undefined ? null : findTransform(child as z.ZodType, step === '' ? path : [...path, step], seen));
  const first = (children: readonly unknown[], step = ''): { kind: string; path: string[] } | null => {
    for (const child of children) {
      const found = inner(child, step);
      if (found !== null) return found;
    }
    return null;
  };
  const type = def['type'] as string | undefined;
  if (type !== undefined && (VALUE_WRAPPERS.has(type) || type === 'promise' || type === 'success')) return inner(def['innerType']);
  switch (type) {
    case 'transform':
      return { kind: 'transform (.transform() or z.preprocess())', path };
    case 'pipe': {
      if (typeof def['transform'] === 'function') return { kind: 'codec', path };
      // A pipe into another kind (z.string().pipe(z.coerce.number())) stores what its input refuses.
      const from = pipeEndKind(schema, 'in');
      const to = pipeEndKind(schema, 'out');
      if (from !== null && to !== null && from !== to) return { kind: `pipe from ${from} to ${to}`, path };
      return first([def['in'], def['out']]);
    }
    case 'array':
      return inner(def['element'], '[]');
    case 'set':
      return inner(def['valueType'], '[]');
    case 'object': {
      for (const [key, child] of Object.entries((def['shape'] ?? {}) as Record<string, unknown>)) {
        const found = inner(child, `.${key}`);
        if (found !== null) return found;
      }
      return inner(def['catchall'], '.*');
    }
    case 'record':
    case 'map':
      return first([def['keyType'], def['valueType']], '[]');
    case 'tuple':
      return first([...((def['items'] ?? []) as unknown[]), def['rest']], '[]');
    case 'union':
      return first((def['options'] ?? []) as unknown[]);
    case 'intersection':
      return first([def['left'], def['right']]);
    case 'lazy':
      return inner((def['getter'] as () => unknown)());
    default:
      return null;
  }
}

const SCALAR_KINDS = new Set(['string', 'number', 'bigint', 'boolean', 'date']);

// The scalar kind a schema takes in (`in`) or gives out (`out`), through wrappers and nested pipes;
// null when it is not one scalar kind.
function pipeEndKind(schema: z.ZodType, end: 'in' | 'out', depth = 0): string | null {
  const inner = innerSchema(schema);
  const def = (inner as unknown as { def?: { type?: string; in?: z.ZodType; out?: z.ZodType; values?: unknown[]; getter?: () => z.ZodType } }).def;
  const next = def?.type === 'pipe' ? def[end] : def?.type === 'lazy' ? def.getter?.() : undefined;
  if (next !== undefined) return depth < SCHEMA_DEPTH_MAX ? pipeEndKind(next, end, depth + 1) : null;
  // An enum's or a literal's kind is that of its values, when they share one.
  const values = def?.type === 'enum' ? (inner as unknown as { options: unknown[] }).options : def?.type === 'literal' ? (def.values ?? []) : null;
  if (values !== null) {
    const kinds = new Set(values.map((value) => typeof value));
    return kinds.size === 1 ? [...kinds][0]! : null;
  }
  return def?.type !== undefined && SCALAR_KINDS.has(def.type) ? def.type : null;
}

/**
 * Whether a value of `schema` may hold a plain object anywhere (itself, or inside an array or a
 * wrapper): the fields whose unknown nested keys a write looks for. Scalars, and custom types
 * (`Timestamp`, bytes) that zod passes through unchanged, never do; anything not known here is
 * assumed to.
 */
export function mayHoldObjects(schema: z.ZodType): boolean {
  const def = (innerSchema(schema) as unknown as { def?: { type?: string; element?: z.ZodType } }).def;
  switch (def?.type) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'date':
    case 'symbol':
    case 'undefined':
    case 'null':
    case 'void':
    case 'never':
    case 'nan':
    case 'literal':
    case 'enum':
    case 'template_literal':
    case 'file':
    case 'custom':
      return false;
    case 'array':
      return def.element === undefined || mayHoldObjects(def.element);
    default:
      return true;
  }
}

// A short, stable text of a field's type: schema changes compare these.
function describeType(schema: z.ZodType): string {
  const def = (schema as unknown as { def?: { type?: string; innerType?: z.ZodType; element?: z.ZodType } }).def;
  const type = def?.type ?? 'unknown';
  if ((type === 'optional' || type === 'nullable' || type === 'default') && def?.innerType) return `${type}<${describeType(def.innerType)}>`;
  if (type === 'array' && def?.element) return `array<${describeType(def.element)}>`;
  if (schema instanceof z.ZodObject) return `object{${Object.entries(schema.shape as Record<string, z.ZodType>).map(([k, v]) => `${k}:${describeType(v)}`).join(',')}}`;
  return type;
}

// A field's type in detail (see FieldType).
function fieldType(schema: z.ZodType): FieldType {
  const def = (schema as unknown as { def?: Record<string, unknown> }).def;
  const kind = typeof def?.type === 'string' ? def.type : 'unknown';
  if ((kind === 'optional' || kind === 'nullable' || kind === 'default') && def?.innerType) return { kind, inner: fieldType(def.innerType as z.ZodType) };
  // A prefault gives a missing field a value as a default does; readonly and catch leave the values
  // a field holds as they are.
  if (kind === 'prefault' && def?.innerType) return { kind: 'default', inner: fieldType(def.innerType as z.ZodType) };
  if ((kind === 'readonly' || kind === 'catch') && def?.innerType) return fieldType(def.innerType as z.ZodType);
  if (kind === 'array' && def?.element) return { kind, element: fieldType(def.element as z.ZodType) };
  if (schema instanceof z.ZodObject) {
    return { kind: 'object', fields: Object.fromEntries(Object.entries(schema.shape as Record<string, z.ZodType>).map(([k, v]) => [k, fieldType(v)])) };
  }
  if (kind === 'enum' && typeof def?.entries === 'object' && def.entries !== null) return { kind, values: sortedValues(Object.values(def.entries)) };
  if (kind === 'literal' && Array.isArray(def?.values)) return { kind, values: sortedValues(def.values) };
  if (kind === 'union' && Array.isArray(def?.options)) return { kind, members: (def.options as z.ZodType[]).map(fieldType) };
  return { kind };
}

function sortedValues(values: readonly unknown[]): string[] {
  return [...new Set(values.map(valueText))].sort();
}

function valueText(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  return String(value);
}

/**
 * The {@link FieldType} a format 1 description's text stands for (see `describeType`), with enum
 * and literal values and union members unknown; `null` when the text does not parse.
 */
export function parseFieldType(text: string): FieldType | null {
  let at = 0;
  const type = (): FieldType | null => {
    if (text.startsWith('object{', at)) {
      at += 'object{'.length;
      const fields: Record<string, FieldType> = {};
      while (text[at] !== '}') {
        const colon = text.indexOf(':', at);
        if (colon < 0) return null;
        const name = text.slice(at, colon);
        at = colon + 1;
        const inner = type();
        if (inner === null) return null;
        fields[name] = inner;
        if (text[at] === ',') at++;
        else if (text[at] !== '}') return null;
      }
      at++;
      return { kind: 'object', fields };
    }
    const match = /^[a-z_]+/.exec(text.slice(at));
    if (match === null) return null;
    const kind = match[0];
    at += kind.length;
    if (text[at] !== '<') return { kind };
    at++;
    const inner = type();
    if (inner === null || text[at] !== '>') return null;
    at++;
    if (kind === 'array') return { kind, element: inner };
    if (kind === 'optional' || kind === 'nullable' || kind === 'default') return { kind, inner };
    return null;
  };
  const parsed = type();
  return parsed !== null && at === text.length ? parsed : null;
}

/** A field type as short text, with the values and members it holds (for messages). */
export function fieldTypeText(type: FieldType): string {
  if (type.inner !== undefined) return `${type.kind}<${fieldTypeText(type.inner)}>`;
  if (type.element !== undefined) return `array<${fieldTypeText(type.element)}>`;
  if (type.fields !== undefined) return `object{${Object.entries(type.fields).map(([k, v]) => `${k}:${fieldTypeText(v)}`).join(',')}}`;
  if (type.values !== undefined) return `${type.kind}[${type.values.join(', ')}]`;
  if (type.members !== undefined) return `union<${type.members.map(fieldTypeText).join(' | ')}>`;
  return type.kind;
}

/**
 * A field type without its wrappers (`base`), and what they allow: a record without the field
 * (`missing`: optional or defaulted) and null (`nullable`).
 */
export function peelFieldType(type: FieldType): { missing: boolean; nullable: boolean; base: FieldType } {
  let missing = false;
  let nullable = false;
  let base = type;
  while (base.inner !== undefined) {
    if (base.kind === 'nullable') nullable = true;
    else missing = true;
    base = base.inner;
  }
  return { missing, nullable, base };
}

/**
 * Why a field's type cannot change from `before` to `after` while records are stored: a reason
 * naming the values of `before` that `after` refuses, or `null` when `after` accepts every value
 * `before` did (required to optional or nullable, an enum's or a literal's values or a union's
 * members widened, an object's field made optional). Unknown values or members (a format 1
 * description) compare as the same.
 */
export function fieldTypeChange(before: FieldType, after: FieldType): string | null {
  const b = peelFieldType(before);
  const a = peelFieldType(after);
  if (b.missing && !a.missing) return `became required (was ${fieldTypeText(before)}), but stored records may lack it`;
  if (b.nullable && !a.nullable) return `is no longer nullable (was ${fieldTypeText(before)}), but stored records may hold null`;
  const x = b.base;
  const y = a.base;
  if (x.kind !== y.kind) return `changed type from ${fieldTypeText(x)} to ${fieldTypeText(y)}, which stored records may not satisfy`;
  if (x.values !== undefined && y.values !== undefined) {
    const lost = x.values.filter((value) => !y.values!.includes(value));
    if (lost.length > 0) return `narrowed its values from ${fieldTypeText(x)} to ${fieldTypeText(y)}: stored records may hold ${lost.join(', ')}`;
  }
  if (x.members !== undefined && y.members !== undefined) {
    for (const member of x.members) {
      if (!y.members.some((candidate) => fieldTypeChange(member, candidate) === null)) {
        return `changed its union members from ${fieldTypeText(x)} to ${fieldTypeText(y)}: no member accepts the values of ${fieldTypeText(member)}`;
      }
    }
  }
  if (x.element !== undefined && y.element !== undefined) {
    const why = fieldTypeChange(x.element, y.element);
    if (why !== null) return `has array elements that ${why}`;
  }
  if (x.fields !== undefined && y.fields !== undefined) {
    // Stored records keep a dropped nested field's values, and unlike a record's own fields it has
    // no record of its last type that a field added back under its name could be checked against.
    for (const name of Object.keys(x.fields)) {
      if (y.fields[name] === undefined) return `drops nested field ${name}, whose values stored records keep (a field added back under its name might refuse them)`;
    }
    for (const [name, type] of Object.entries(y.fields)) {
      const old = x.fields[name];
      const why = old === undefined ? (peelFieldType(type).missing ? null : 'is new and required, but stored records lack it') : fieldTypeChange(old, type);
      if (why !== null) return `has a nested field ${name} that ${why}`;
    }
  }
  return null;
}

/**
 * Settles the key form of each number field of `next` (a description from {@link Schema.describe})
 * against the `stored` one: a field takes the double form of {@link doubleFields} unless a store
 * written before numbers were keyed by field holds it already (then it keeps the integral form,
 * `integral`, for as long as it may hold fractions). Sets `doubles` and `integral` of each type of
 * `next`.
 */
export function settleKeyForms(stored: SchemaDescription | null, next: SchemaDescription): void {
  for (const [name, type] of Object.entries(next.types)) {
    const desired = type.doubles ?? [];
    const before = stored?.types[name];
    const integral =
      before === undefined ? [] : before.doubles === undefined ? desired.filter((field) => before.fields[field] !== undefined) : (before.integral ?? []).filter((field) => desired.includes(field));
    type.doubles = desired.filter((field) => !integral.includes(field));
    if (integral.length > 0) type.integral = integral;
    else delete type.integral;
  }
}

const doubleFieldsOf = new WeakMap<RecordTypeDefinition, ReadonlySet<string>>();

/**
 * The fields of `type` whose numbers keys hold as doubles: `z.number()` fields that may hold
 * fractions (declared without `.int()`), or marked with {@link keyAsDouble}, through the wrappers
 * that keep a value's kind (optional, nullable, default, prefault, readonly, catch) and through
 * unions, pipes, intersections and lazy types. The tuple encoding packs an integral number as an
 * integer and a fractional one as a double, and sorts every integer before every double; one form
 * for all of a field's numbers keeps its keys in numeric order. Integer fields keep the integer
 * form (shorter).
 */
export function doubleFields(type: RecordTypeDefinition): ReadonlySet<string> {
  let fields = doubleFieldsOf.get(type);
  if (fields === undefined) {
    fields = new Set(Object.entries(type.schema.shape as Record<string, z.ZodType>).filter(([, schema]) => holdsFractions(schema)).map(([field]) => field));
    doubleFieldsOf.set(type, fields);
  }
  return fields;
}

const keyedAsDoubles = new WeakSet<z.ZodType>();

/**
 * Marks a number schema that zod does not know as one (a `z.custom<number>` that admits NaN and
 * ±Infinity, say) to be keyed as doubles, as a `z.number()` without `.int()` is (see
 * {@link doubleFields}); returns it. The mark is on this schema object: wrappers around it
 * (`.optional()`, `.nullable()`, `.default()`...) keep it, but a refinement or `.describe()` makes
 * a new schema, so mark the result of those.
 */
export function keyAsDouble<S extends z.ZodType<number>>(schema: S): S {
  keyedAsDoubles.add(schema);
  return schema;
}

function holdsFractions(schema: z.ZodType): boolean {
  return numberForm(schema, new Set()) === 'fractions';
}

// Whether the numbers a schema admits may hold fractions ('fractions'), are integers only
// ('integers'), or it says nothing of numbers (null). A union may hold fractions when one member
// does; a value of a pipe or an intersection passes every part, so one part of integers makes it
// integers. Each lazy type is followed once.
function numberForm(schema: z.ZodType, seen: Set<z.ZodType>): 'fractions' | 'integers' | null {
  const layers = wrappers(schema);
  if (layers.some((layer) => keyedAsDoubles.has(layer))) return 'fractions';
  const inner = layers[layers.length - 1]!;
  if (inner instanceof z.ZodNumber) return inner.isInt === true ? 'integers' : 'fractions';
  const def = inner.def as { type: string; options?: z.ZodType[]; in?: z.ZodType; out?: z.ZodType; left?: z.ZodType; right?: z.ZodType; getter?: () => z.ZodType };
  const parts = def.type === 'union' ? def.options : def.type === 'pipe' ? [def.in, def.out] : def.type === 'intersection' ? [def.left, def.right] : def.type === 'lazy' && !seen.has(inner) ? [def.getter?.()] : [];
  seen.add(inner);
  const forms = (parts ?? []).map((part) => (part === undefined ? null : numberForm(part, seen)));
  if (def.type === 'union') return forms.includes('fractions') ? 'fractions' : forms.includes('integers') ? 'integers' : null;
  return forms.includes('integers') ? 'integers' : forms.includes('fractions') ? 'fractions' : null;
}

const VALUE_WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/**
 * A field's schema and the schemas its wrappers hold, outermost first, through the wrappers that
 * keep the kind of a value (optional, nullable, default, prefault, readonly, catch, nonoptional):
 * the last is the schema that decides the value's kind.
 */
export function wrappers(schema: z.ZodType): z.ZodType[] {
  const layers = [schema];
  for (let depth = 0; depth < SCHEMA_DEPTH_MAX; depth++) {
    const def = (layers[layers.length - 1] as unknown as { def?: { type?: string; innerType?: z.ZodType } }).def;
    if (def?.type === undefined || !VALUE_WRAPPERS.has(def.type) || def.innerType === undefined) break;
    layers.push(def.innerType);
  }
  return layers;
}

/** The schema beneath a field's {@link wrappers}: the one that decides the kind of its values. */
export function innerSchema(schema: z.ZodType): z.ZodType {
  const layers = wrappers(schema);
  return layers[layers.length - 1]!;
}

/**
 * Whether `value` (not null or undefined) is of a kind field `schema` holds, whatever the field's
 * checks (a bound, a format, a length): what a condition or a primary key value must be, so that
 * `price > 0` on a positive field, or a key stored before a check was tightened, is still asked.
 * Enum and literal values must be among the field's (as PostgreSQL refuses an unknown enum label);
 * an integer field takes integral numbers only (a fraction would key apart from every integer);
 * custom types (a Timestamp, bytes) are asked their own test, without the checks refined on them;
 * unions, pipes, intersections and lazy types are asked through their parts.
 */
export function holdsKindOf(schema: z.ZodType, value: unknown): boolean {
  const inner = innerSchema(schema);
  const def = (
    inner as unknown as {
      def: { type: string; options?: z.ZodType[]; values?: unknown[]; in?: z.ZodType; out?: z.ZodType; left?: z.ZodType; right?: z.ZodType; getter?: () => z.ZodType };
    }
  ).def;
  // Types made of others hold a value of the kind each part holds (a pipe's value passes both ends,
  // as records are stored untransformed).
  const holds = (part: z.ZodType | undefined): boolean => part !== undefined && holdsKindOf(part, value);
  switch (def.type) {
    case 'string':
      return typeof value === 'string';
    case 'number':
      return typeof value === 'number' && !Number.isNaN(value) && ((inner as z.ZodNumber).isInt !== true || Number.isInteger(value));
    case 'bigint':
      return typeof value === 'bigint';
    case 'boolean':
      return typeof value === 'boolean';
    case 'date':
      return value instanceof Date && !Number.isNaN(value.getTime());
    case 'enum':
      // The enum's values (zod leaves out a numeric TypeScript enum's reverse-mapping names).
      return (inner as unknown as { options: unknown[] }).options.includes(value);
    case 'literal':
      return (def.values ?? []).includes(value);
    case 'union':
      return (def.options ?? []).some(holds);
    case 'pipe':
      return holds(def.in) && holds(def.out);
    case 'intersection':
      return holds(def.left) && holds(def.right);
    case 'lazy':
      // A lazy type met again inside itself adds no kind: each is followed once on a path.
      if (LAZY_PATH.has(inner)) return false;
      LAZY_PATH.add(inner);
      try {
        return holds(def.getter?.());
      } finally {
        LAZY_PATH.delete(inner);
      }
    case 'custom':
      return customKind(inner).safeParse(value).success;
    default:
      // Other types (z.any() refined into a kind, say) are asked whole: their checks may be the kind.
      return inner.safeParse(value).success;
  }
}

// The lazy types holdsKindOf is inside of (it runs synchronously, so one set serves every call).
const LAZY_PATH = new Set<z.ZodType>();

// What a custom type's kind is tested with (made once per type): the type without the checks
// refined on it when its own test still tells kinds apart (it refuses a bare object, as a Timestamp
// or bytes test does), the type whole otherwise (z.custom() with no test, refined into a kind).
const CUSTOM_KINDS = new WeakMap<z.ZodType, z.ZodType>();
function refusesBareObject(test: z.ZodType): boolean {
  try {
    return !test.safeParse({}).success;
  } catch {
    return true; // a test that reads what a bare object lacks refuses it too
  }
}
function customKind(custom: z.ZodType): z.ZodType {
  let kind = CUSTOM_KINDS.get(custom);
  if (kind === undefined) {
    const checks = (custom.def as { checks?: unknown[] }).checks;
    const base = checks === undefined || checks.length === 0 ? custom : custom.clone({ ...custom.def, checks: [] } as never);
    kind = base !== custom && refusesBareObject(base) ? base : custom;
    CUSTOM_KINDS.set(custom, kind);
  }
  return kind;
}

/**
 * The tuple item a field value takes in keys (primary keys and indexes). `double` (see
 * {@link doubleFields}) packs a number as a double whatever its value; -0 takes the form of 0, as
 * `===` and PostgreSQL's keys have it.
 * @throws RecordLayerError `record_invalid` for values keys cannot hold (objects, arrays).
 */
export function keyItem(value: unknown, field: string, double = false): TupleItem {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') {
    const number = value === 0 ? 0 : value;
    return double ? new Double(number) : number;
  }
  if (typeof value === 'string' || typeof value === 'bigint' || typeof value === 'boolean') return value;
  if (value instanceof Uint8Array) return value;
  if (value instanceof Timestamp) return value.micros;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new RecordLayerError('record_invalid', `field ${JSON.stringify(field)} holds an invalid Date`, { details: { field } });
    return BigInt(ms) * 1000n;
  }
  throw new RecordLayerError('record_invalid', `field ${JSON.stringify(field)} holds ${Array.isArray(value) ? 'an array' : 'an object'}, which a key or index cannot hold`, {
    details: { field },
  });
}
