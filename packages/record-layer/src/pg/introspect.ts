/**
 * Reads a PostgreSQL database's catalog (`pg_catalog`) into a {@link PgSchema}: the first step of
 * migrating a PostgreSQL application into the record layer.
 *
 * Invariants:
 * 1. Read only: every statement is a `SELECT` on `pg_catalog` with names passed as parameters
 *    (`$1`), never interpolated into the text.
 * 2. A partition is never a table of its own: it is listed under its partitioned parent.
 * 3. Nothing is silently dropped: a trigger, table CHECK constraint, exclusion constraint,
 *    partial / expression / non-btree index, view, materialized view, foreign table, rule, policy,
 *    function, unused sequence or type, a column of a type the record layer does not map, a
 *    generated column, and a constraint or index that exists on a partition only, each appear in
 *    `unmapped` by name with the reason.
 * 4. The result is deterministic and JSON-serializable (see `model.ts`).
 */
import type pg from 'pg';
import { RecordLayerError } from '../errors.js';
import type {
  PgCheck,
  PgColumn,
  PgDomain,
  PgEnum,
  PgForeignKey,
  PgForeignKeyAction,
  PgIndex,
  PgIndexKey,
  PgPartition,
  PgSchema,
  PgSequenceReference,
  PgTable,
  PgType,
  PgUnmapped,
} from './model.js';

/** Options of {@link introspect}. */
export interface IntrospectOptions {
  /**
   * Schemas to read. Default: every schema except `information_schema` and those whose names
   * start with `pg_` (`pg_catalog`, `pg_toast`, temporary schemas).
   */
  schemas?: string[];
}

/**
 * Deepest nesting of types {@link introspect} follows (a domain over an array of a domain ...);
 * PostgreSQL itself allows no cycles, so a deeper chain is a bug.
 */
export const INTROSPECT_TYPE_DEPTH_MAX = 32;

/**
 * Base types whose values the record layer maps (by `pg_type.typname`). Arrays, domains and enums
 * are mapped when what they are built on is; every other type is reported in `unmapped`.
 */
export const MAPPED_BASE_TYPES: readonly string[] = [
  'bool',
  'int2',
  'int4',
  'int8',
  'float4',
  'float8',
  'numeric',
  'text',
  'varchar',
  'bpchar',
  'bytea',
  'uuid',
  'json',
  'jsonb',
  'date',
  'time',
  'timetz',
  'interval',
  'timestamp',
  'timestamptz',
];

/**
 * Reads tables, columns, types, keys, foreign keys, indexes, enums and domains of a PostgreSQL
 * database, and names everything that cannot become part of a record schema.
 *
 * @remarks
 * Requires PostgreSQL 13 or later (it reads `pg_trigger.tgparentid`). The client is used as it is:
 * no transaction is opened, so run it inside `BEGIN ISOLATION LEVEL REPEATABLE READ` for a single
 * snapshot when the schema may change meanwhile. Type names and expressions are printed by
 * PostgreSQL relative to the session's `search_path` (with the default path, `public.year` prints
 * as `year`). See {@link PgSchema} for the model; table CHECK
 * constraints are listed in `unmapped`, domain CHECK constraints under their domain.
 * @throws RecordLayerError `pg_schema_not_found` when `options.schemas` names a schema that does not
 * exist; the driver's error, unchanged, when a catalog query fails.
 * @example
 * ```ts
 * import pg from 'pg';
 * import { introspect } from '@strata/records';
 *
 * const client = new pg.Client({ connectionString: 'postgres://localhost/app' });
 * await client.connect();
 * const schema = await introspect(client, { schemas: ['public'] });
 * for (const item of schema.unmapped) console.log(`${item.kind} ${item.name}: ${item.reason}`);
 * await client.end();
 * ```
 */
export async function introspect(client: pg.ClientBase, options: IntrospectOptions = {}): Promise<PgSchema> {
  const namespaces = await readNamespaces(client, options.schemas);
  const oids = namespaces.map((namespace) => namespace.oid);
  const schemas = namespaces.map((namespace) => namespace.name).sort(compare);

  const relations = await query<RelationRow>(
    client,
    `SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relispartition AS is_partition,
            CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partition_key,
            pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound,
            (SELECT i.inhparent::text FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition) AS parent,
            CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid, true) END AS view_definition
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relnamespace = ANY($1::oid[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`,
    [oids],
  );
  const byOid = new Map(relations.map((relation) => [relation.oid, relation]));
  // Tables and partitions (at any depth) are read alike; partitions are then folded into their parents.
  const tableRelations = relations.filter((relation) => relation.kind === 'r' || relation.kind === 'p');
  const tableOids = tableRelations.map((relation) => relation.oid);

  const unmapped: PgUnmapped[] = [];
  const columnRows = await readColumns(client, tableOids);
  const types = await readTypes(client, columnRows.map((row) => row.type_oid));
  const usedSequences = new Set<string>();
  const columnsByTable = new Map<string, PgColumn[]>();
  for (const row of columnRows) {
    const relation = byOid.get(row.table_oid)!;
    const type = describeType(types, { oid: row.type_oid, typmod: row.typmod, depth: 0 });
    const sequence = sequenceOf(row);
    if (row.sequence_oid !== null) usedSequences.add(row.sequence_oid);
    const generated = row.generated === '' ? null : { expression: row.default_expression ?? '', stored: row.generated === 's' };
    const column: PgColumn = {
      name: row.name,
      type,
      notNull: row.not_null,
      default: generated === null ? row.default_expression : null,
      identity: row.identity === 'a' ? 'always' : row.identity === 'd' ? 'by_default' : null,
      generated,
      sequence,
    };
    const columns = columnsByTable.get(row.table_oid) ?? [];
    columns.push(column);
    columnsByTable.set(row.table_oid, columns);
    if (relation.is_partition) continue;
    if (!type.mapped) {
      unmapped.push({ kind: 'column', schema: relation.schema, table: relation.name, name: row.name, reason: `type ${row.declared_type} is not mapped by the record layer`, definition: row.declared_type });
    }
    if (generated !== null) {
      unmapped.push({ kind: 'column', schema: relation.schema, table: relation.name, name: row.name, reason: 'generated column: the record layer does not evaluate its expression', definition: generated.expression });
    }
  }

  const constraints = await readConstraints(client, tableOids);
  const indexes = await readIndexes(client, tableOids);
  const tables = new Map<string, PgTable>();
  for (const relation of tableRelations) {
    tables.set(relation.oid, {
      schema: relation.schema,
      name: relation.name,
      kind: relation.kind === 'p' ? 'partitioned' : 'table',
      partitionKey: relation.partition_key,
      partitions: [],
      columns: columnsByTable.get(relation.oid) ?? [],
      primaryKey: null,
      uniqueConstraints: [],
      foreignKeys: [],
      indexes: [],
    });
  }

  for (const row of constraints) {
    const relation = byOid.get(row.table_oid)!;
    const table = tables.get(row.table_oid)!;
    // A constraint a partition inherits from its parent is the parent's; one a partition alone has is reported below.
    if (relation.is_partition) continue;
    switch (row.type) {
      case 'p':
        table.primaryKey = { name: row.name, columns: row.columns };
        break;
      case 'u':
        table.uniqueConstraints.push({ name: row.name, columns: row.columns });
        break;
      case 'f':
        table.foreignKeys.push(foreignKey(row));
        break;
      case 'c':
        unmapped.push({ kind: 'check_constraint', schema: relation.schema, table: relation.name, name: row.name, reason: 'CHECK constraints are not enforced by the record layer', definition: row.definition });
        break;
      case 'x':
        unmapped.push({ kind: 'exclusion_constraint', schema: relation.schema, table: relation.name, name: row.name, reason: 'exclusion constraints have no record-layer equivalent', definition: row.definition });
        break;
      case 'n':
        // PostgreSQL 18 records NOT NULL as a constraint; it is already the column's notNull.
        break;
      default:
        unmapped.push({ kind: 'check_constraint', schema: relation.schema, table: relation.name, name: row.name, reason: `constraint type ${row.type} is not mapped`, definition: row.definition });
    }
  }
  // Constraints defined on a partition only (not cloned from the parent's) cannot be part of the parent's record type.
  for (const row of constraints) {
    const relation = byOid.get(row.table_oid)!;
    if (!relation.is_partition || row.parent_constraint !== '0' || row.type === 'n') continue;
    unmapped.push({ kind: 'partition_constraint', schema: relation.schema, table: relation.name, name: row.name, reason: `defined on partition ${relation.name} only, not on its partitioned table`, definition: row.definition });
  }

  for (const row of indexes) {
    const relation = byOid.get(row.table_oid)!;
    if (row.constraint_backed) continue;
    if (relation.is_partition) {
      // An index attached to a partitioned index is the parent's index; a local one is reported.
      if (row.attached) continue;
      unmapped.push({ kind: 'partition_index', schema: relation.schema, table: relation.name, name: row.name, reason: `defined on partition ${relation.name} only, not on its partitioned table`, definition: row.definition });
      continue;
    }
    const keys: PgIndexKey[] = row.key_attnums.slice(0, row.key_count).map((attnum, position) =>
      attnum === 0 ? { kind: 'expression', definition: row.key_definitions[position]! } : { kind: 'column', name: row.key_definitions[position]! },
    );
    const index: PgIndex = {
      name: row.name,
      keys,
      include: row.key_definitions.slice(row.key_count),
      unique: row.unique,
      method: row.method,
      predicate: row.predicate,
      definition: row.definition,
    };
    tables.get(row.table_oid)!.indexes.push(index);
    const reasons: string[] = [];
    if (row.predicate !== null) reasons.push(`partial index (WHERE ${row.predicate})`);
    if (keys.some((key) => key.kind === 'expression')) reasons.push('expression index');
    if (row.method !== 'btree') reasons.push(`${row.method} index`);
    if (reasons.length > 0) {
      unmapped.push({ kind: 'index', schema: relation.schema, table: relation.name, name: row.name, reason: `${reasons.join(', ')}: the record layer has no such index`, definition: row.definition });
    }
  }

  // Invariant 2: fold partitions into their parents, depth first.
  const partitionsOf = new Map<string, RelationRow[]>();
  for (const relation of tableRelations) {
    if (relation.parent === null) continue;
    const children = partitionsOf.get(relation.parent) ?? [];
    children.push(relation);
    partitionsOf.set(relation.parent, children);
  }
  const partitionTree = (oid: string, depth: number): PgPartition[] => {
    assert(depth <= INTROSPECT_TYPE_DEPTH_MAX, `introspect: partitions nested deeper than ${INTROSPECT_TYPE_DEPTH_MAX}`);
    return (partitionsOf.get(oid) ?? [])
      .map((child) => ({ schema: child.schema, name: child.name, bound: child.bound ?? '', partitions: partitionTree(child.oid, depth + 1) }))
      .sort(byName);
  };
  const result: PgTable[] = [];
  for (const relation of tableRelations) {
    if (relation.is_partition) continue;
    const table = tables.get(relation.oid)!;
    table.partitions = partitionTree(relation.oid, 0);
    table.uniqueConstraints.sort(byName);
    table.foreignKeys.sort(byName);
    table.indexes.sort(byName);
    result.push(table);
  }
  result.sort(byName);

  for (const relation of relations) {
    if (relation.kind === 'v') unmapped.push({ kind: 'view', schema: relation.schema, table: null, name: relation.name, reason: 'views are not stored; the record layer has no views', definition: relation.view_definition });
    if (relation.kind === 'm') unmapped.push({ kind: 'materialized_view', schema: relation.schema, table: null, name: relation.name, reason: 'materialized views have no record-layer equivalent', definition: relation.view_definition });
    if (relation.kind === 'f') unmapped.push({ kind: 'foreign_table', schema: relation.schema, table: null, name: relation.name, reason: 'foreign tables live in another server', definition: null });
    if (relation.kind === 'S' && !usedSequences.has(relation.oid)) {
      unmapped.push({ kind: 'sequence', schema: relation.schema, table: null, name: relation.name, reason: 'no introspected column takes its values from this sequence', definition: null });
    }
  }

  unmapped.push(...(await readTriggers(client, oids)), ...(await readRules(client, oids)), ...(await readPolicies(client, oids)), ...(await readFunctions(client, oids)));

  const enums: PgEnum[] = [];
  const domains: PgDomain[] = [];
  for (const type of types.values()) {
    if (type.type_type === 'e') enums.push({ schema: type.schema, name: type.type_name, labels: type.labels });
    if (type.type_type === 'd') {
      domains.push({
        schema: type.schema,
        name: type.type_name,
        base: describeType(types, { oid: type.base_oid, typmod: type.base_typmod, depth: 1 }),
        notNull: type.not_null,
        checks: type.checks.slice().sort(byName),
        default: type.default_expression,
      });
    }
  }
  unmapped.push(...(await readUnusedTypes(client, { namespaces: oids, used: [...types.keys()] })));
  enums.sort(byName);
  domains.sort(byName);
  unmapped.sort(
    (a, b) => compare(a.kind, b.kind) || compare(a.schema, b.schema) || compare(a.table ?? '', b.table ?? '') || compare(a.name, b.name),
  );
  return { schemas, tables: result, enums, domains, unmapped };
}

interface RelationRow {
  oid: string;
  schema: string;
  name: string;
  kind: 'r' | 'p' | 'v' | 'm' | 'f' | 'S';
  is_partition: boolean;
  partition_key: string | null;
  bound: string | null;
  parent: string | null;
  view_definition: string | null;
}

interface ColumnRow {
  table_oid: string;
  name: string;
  type_oid: string;
  typmod: number;
  declared_type: string;
  not_null: boolean;
  default_expression: string | null;
  identity: '' | 'a' | 'd';
  generated: '' | 's' | 'v';
  sequence_oid: string | null;
  sequence_schema: string | null;
  sequence_name: string | null;
  sequence_relation: 'identity' | 'owned' | 'default' | null;
}

interface TypeRow {
  oid: string;
  schema: string;
  type_name: string;
  name: string;
  type_type: string;
  category: string;
  element_oid: string;
  base_oid: string;
  base_typmod: number;
  not_null: boolean;
  default_expression: string | null;
  labels: string[];
  checks: PgCheck[];
}

interface ConstraintRow {
  table_oid: string;
  name: string;
  type: string;
  columns: string[];
  referenced_schema: string | null;
  referenced_table: string | null;
  referenced_columns: string[] | null;
  on_update: string;
  on_delete: string;
  deferrable: boolean;
  deferred: boolean;
  parent_constraint: string;
  definition: string;
}

interface IndexRow {
  table_oid: string;
  name: string;
  key_count: number;
  key_attnums: number[];
  key_definitions: string[];
  unique: boolean;
  method: string;
  predicate: string | null;
  definition: string;
  constraint_backed: boolean;
  attached: boolean;
}

async function query<Row extends object>(client: pg.ClientBase, text: string, values: unknown[]): Promise<Row[]> {
  const result = await client.query<Row>(text, values);
  return result.rows;
}

async function readNamespaces(client: pg.ClientBase, requested: string[] | undefined): Promise<{ oid: string; name: string }[]> {
  const rows = await query<{ oid: string; name: string }>(
    client,
    `SELECT n.oid::text AS oid, n.nspname AS name FROM pg_catalog.pg_namespace n
      WHERE CASE WHEN $1::text[] IS NULL THEN n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ELSE n.nspname = ANY($1::text[]) END`,
    [requested ?? null],
  );
  if (requested !== undefined) {
    const found = new Set(rows.map((row) => row.name));
    const missing = requested.filter((name) => !found.has(name));
    if (missing.length > 0) {
      throw new RecordLayerError('pg_schema_not_found', `introspect: schema ${missing.map((name) => JSON.stringify(name)).join(', ')} does not exist`, { details: { missing } });
    }
  }
  return rows;
}

async function readColumns(client: pg.ClientBase, tableOids: string[]): Promise<ColumnRow[]> {
  // The sequence: an identity column's internal one, else a serial column's owned one (pg_depend
  // 'a' on the column), else the one the default expression depends on (nextval without OWNED BY).
  return query<ColumnRow>(
    client,
    `SELECT a.attrelid::text AS table_oid, a.attname AS name, a.atttypid::text AS type_oid, a.atttypmod AS typmod,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS declared_type, a.attnotnull AS not_null,
            pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) AS default_expression, a.attidentity::text AS identity, a.attgenerated::text AS generated,
            s.oid::text AS sequence_oid, sn.nspname AS sequence_schema, s.relname AS sequence_name, seq.relation AS sequence_relation
       FROM pg_catalog.pg_attribute a
       LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
       LEFT JOIN LATERAL (
         SELECT candidate.oid, candidate.relation FROM (
           SELECT d.objid AS oid, CASE d.deptype WHEN 'i' THEN 'identity' ELSE 'owned' END AS relation, 0 AS rank
             FROM pg_catalog.pg_depend d
            WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
              AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype IN ('a', 'i')
           UNION ALL
           SELECT d.refobjid, 'default', 1
             FROM pg_catalog.pg_depend d
            WHERE d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid AND d.refclassid = 'pg_catalog.pg_class'::regclass
         ) candidate JOIN pg_catalog.pg_class sc ON sc.oid = candidate.oid AND sc.relkind = 'S'
         ORDER BY candidate.rank LIMIT 1
       ) seq ON true
       LEFT JOIN pg_catalog.pg_class s ON s.oid = seq.oid
       LEFT JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
      WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attrelid, a.attnum`,
    [tableOids],
  );
}

function sequenceOf(row: ColumnRow): PgSequenceReference | null {
  if (row.sequence_schema === null || row.sequence_name === null || row.sequence_relation === null) return null;
  return { schema: row.sequence_schema, name: row.sequence_name, relation: row.sequence_relation };
}

async function readTypes(client: pg.ClientBase, roots: string[]): Promise<Map<string, TypeRow>> {
  const types = new Map<string, TypeRow>();
  let pending = [...new Set(roots)];
  // Bounded: each round follows one level of element / base type.
  for (let round = 0; pending.length > 0; round++) {
    assert(round <= INTROSPECT_TYPE_DEPTH_MAX, `introspect: types nested deeper than ${INTROSPECT_TYPE_DEPTH_MAX}`);
    const rows = await query<TypeRow>(
      client,
      `SELECT t.oid::text AS oid, n.nspname AS schema, t.typname AS type_name, pg_catalog.format_type(t.oid, NULL) AS name,
              t.typtype::text AS type_type, t.typcategory::text AS category, t.typelem::text AS element_oid,
              t.typbasetype::text AS base_oid, t.typtypmod AS base_typmod, t.typnotnull AS not_null, t.typdefault AS default_expression,
              ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels,
              COALESCE((SELECT json_agg(json_build_object('name', c.conname, 'definition', pg_catalog.pg_get_constraintdef(c.oid)) ORDER BY c.conname)
                          FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c'), '[]'::json) AS checks
         FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        WHERE t.oid = ANY($1::oid[])`,
      [pending],
    );
    const next: string[] = [];
    for (const row of rows) {
      types.set(row.oid, row);
      if (row.category === 'A' && row.element_oid !== '0') next.push(row.element_oid);
      if (row.type_type === 'd') next.push(row.base_oid);
    }
    pending = [...new Set(next)].filter((oid) => !types.has(oid));
  }
  return types;
}

function describeType(types: Map<string, TypeRow>, at: { oid: string; typmod: number; depth: number }): PgType {
  assert(at.depth <= INTROSPECT_TYPE_DEPTH_MAX, `introspect: types nested deeper than ${INTROSPECT_TYPE_DEPTH_MAX}`);
  const type = types.get(at.oid);
  assert(type !== undefined, `introspect: type ${at.oid} was not read`);
  const declared = declaredName(type, at.typmod);
  if (type.type_type === 'd') {
    // A domain's own typmod (typtypmod) applies to its base type.
    const base = describeType(types, { oid: type.base_oid, typmod: type.base_typmod, depth: at.depth + 1 });
    return { kind: 'domain', schema: type.schema, name: type.name, base, notNull: type.not_null, checks: type.checks.slice().sort(byName), mapped: base.mapped };
  }
  if (type.type_type === 'e') return { kind: 'enum', schema: type.schema, name: type.name, labels: type.labels, mapped: true };
  if (type.category === 'A' && type.element_oid !== '0') {
    const element = describeType(types, { oid: type.element_oid, typmod: at.typmod, depth: at.depth + 1 });
    return { kind: 'array', name: type.name, declared: `${declaredOf(element)}[]`, element, mapped: element.mapped };
  }
  if (type.type_type !== 'b') return { kind: 'other', name: type.name, declared, typeType: type.type_type, mapped: false };
  const modifiers = decodeTypmod(type.type_name, at.typmod);
  return { kind: 'base', name: type.name, typeName: type.type_name, declared, category: type.category, ...modifiers, mapped: MAPPED_BASE_TYPES.includes(type.type_name) };
}

function declaredOf(type: PgType): string {
  return type.kind === 'base' || type.kind === 'array' || type.kind === 'other' ? type.declared : type.name;
}

function declaredName(type: TypeRow, typmod: number): string {
  const { length, precision, scale } = decodeTypmod(type.type_name, typmod);
  if (type.type_name === 'numeric' && precision !== null) return `${type.name}(${precision},${scale ?? 0})`;
  if (length !== null) return `${type.name}(${length})`;
  if (precision !== null) {
    // Time types print their precision before "with/without time zone".
    const zone = / with(out)? time zone$/.exec(type.name);
    return zone === null ? `${type.name}(${precision})` : `${type.name.slice(0, zone.index)}(${precision})${zone[0]}`;
  }
  return type.name;
}

// The typmod encodings of PostgreSQL's built-in types (numeric.c, varchar.c, varbit.c, date.c, timestamp.c).
function decodeTypmod(typeName: string, typmod: number): { length: number | null; precision: number | null; scale: number | null } {
  const none = { length: null, precision: null, scale: null };
  if (typmod < 0) return none;
  switch (typeName) {
    case 'numeric': {
      const value = typmod - 4;
      // PostgreSQL 15+ allows a negative scale, stored as an 11-bit two's complement number.
      return { length: null, precision: (value >> 16) & 0xffff, scale: ((value & 0x7ff) ^ 1024) - 1024 };
    }
    case 'varchar':
    case 'bpchar':
      return { length: typmod - 4, precision: null, scale: null };
    case 'bit':
    case 'varbit':
      return { length: typmod, precision: null, scale: null };
    case 'time':
    case 'timetz':
    case 'timestamp':
    case 'timestamptz':
      return { length: null, precision: typmod, scale: null };
    case 'interval':
      return { length: null, precision: (typmod & 0xffff) === 0xffff ? null : typmod & 0xffff, scale: null };
    default:
      return none;
  }
}

async function readConstraints(client: pg.ClientBase, tableOids: string[]): Promise<ConstraintRow[]> {
  return query<ConstraintRow>(
    client,
    `SELECT c.conrelid::text AS table_oid, c.conname AS name, c.contype::text AS type,
            ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, position)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.position) AS columns,
            rn.nspname AS referenced_schema, r.relname AS referenced_table,
            CASE WHEN c.contype = 'f' THEN ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(attnum, position)
                    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.position) END AS referenced_columns,
            c.confupdtype::text AS on_update, c.confdeltype::text AS on_delete, c.condeferrable AS deferrable, c.condeferred AS deferred,
            c.conparentid::text AS parent_constraint, pg_catalog.pg_get_constraintdef(c.oid, true) AS definition
       FROM pg_catalog.pg_constraint c
       LEFT JOIN pg_catalog.pg_class r ON r.oid = c.confrelid
       LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = r.relnamespace
      WHERE c.conrelid = ANY($1::oid[])
      ORDER BY c.conrelid, c.conname`,
    [tableOids],
  );
}

const FOREIGN_KEY_ACTIONS: Record<string, PgForeignKeyAction> = { a: 'no_action', r: 'restrict', c: 'cascade', n: 'set_null', d: 'set_default' };

function foreignKey(row: ConstraintRow): PgForeignKey {
  assert(row.referenced_schema !== null && row.referenced_table !== null && row.referenced_columns !== null, `introspect: foreign key ${row.name} has no referenced table`);
  const onDelete = FOREIGN_KEY_ACTIONS[row.on_delete];
  const onUpdate = FOREIGN_KEY_ACTIONS[row.on_update];
  assert(onDelete !== undefined && onUpdate !== undefined, `introspect: foreign key ${row.name} has unknown actions ${row.on_delete}/${row.on_update}`);
  return {
    name: row.name,
    columns: row.columns,
    references: { schema: row.referenced_schema, table: row.referenced_table, columns: row.referenced_columns },
    onDelete,
    onUpdate,
    deferrable: row.deferrable,
    initiallyDeferred: row.deferred,
  };
}

async function readIndexes(client: pg.ClientBase, tableOids: string[]): Promise<IndexRow[]> {
  // key_definitions holds, per index column, the column name or the expression text; the first
  // key_count are keys, the rest INCLUDE columns.
  return query<IndexRow>(
    client,
    `SELECT i.indrelid::text AS table_oid, ic.relname AS name, i.indnkeyatts AS key_count,
            ARRAY(SELECT i.indkey[k - 1]::int FROM generate_series(1, i.indnatts) k ORDER BY k) AS key_attnums,
            ARRAY(SELECT CASE WHEN i.indkey[k - 1] = 0 THEN pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
                              ELSE (SELECT a.attname::text FROM pg_catalog.pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]) END
                    FROM generate_series(1, i.indnatts) k ORDER BY k) AS key_definitions,
            i.indisunique AS unique, am.amname AS method, pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
            pg_catalog.pg_get_indexdef(i.indexrelid) AS definition,
            EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x')) AS constraint_backed,
            EXISTS (SELECT 1 FROM pg_catalog.pg_inherits h WHERE h.inhrelid = i.indexrelid) AS attached
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_catalog.pg_am am ON am.oid = ic.relam
      WHERE i.indrelid = ANY($1::oid[])
      ORDER BY i.indrelid, ic.relname`,
    [tableOids],
  );
}

type UnmappedRow = Omit<PgUnmapped, 'reason'> & { reason?: string };

async function readTriggers(client: pg.ClientBase, namespaces: string[]): Promise<PgUnmapped[]> {
  // Internal triggers implement foreign keys; a partition's clone of its parent's trigger (tgparentid) is the parent's.
  const rows = await query<UnmappedRow>(
    client,
    `SELECT 'trigger' AS kind, n.nspname AS schema, t.tgname AS name, c.relname AS table, pg_catalog.pg_get_triggerdef(t.oid, true) AS definition
       FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relnamespace = ANY($1::oid[]) AND NOT t.tgisinternal AND t.tgparentid = 0`,
    [namespaces],
  );
  return rows.map((row) => ({ ...row, reason: 'triggers run code the record layer does not run' }));
}

async function readRules(client: pg.ClientBase, namespaces: string[]): Promise<PgUnmapped[]> {
  // _RETURN is the rule that implements a view; the view itself is reported.
  const rows = await query<UnmappedRow>(
    client,
    `SELECT 'rule' AS kind, n.nspname AS schema, r.rulename AS name, c.relname AS table, pg_catalog.pg_get_ruledef(r.oid, true) AS definition
       FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relnamespace = ANY($1::oid[]) AND r.rulename <> '_RETURN'`,
    [namespaces],
  );
  return rows.map((row) => ({ ...row, reason: 'rules rewrite queries, which the record layer does not do' }));
}

async function readPolicies(client: pg.ClientBase, namespaces: string[]): Promise<PgUnmapped[]> {
  const rows = await query<UnmappedRow>(
    client,
    `SELECT 'policy' AS kind, n.nspname AS schema, p.polname AS name, c.relname AS table, pg_catalog.pg_get_expr(p.polqual, p.polrelid, true) AS definition
       FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_class c ON c.oid = p.polrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relnamespace = ANY($1::oid[])`,
    [namespaces],
  );
  return rows.map((row) => ({ ...row, reason: 'row-level security policies have no record-layer equivalent' }));
}

async function readFunctions(client: pg.ClientBase, namespaces: string[]): Promise<PgUnmapped[]> {
  const rows = await query<UnmappedRow & { routine: string }>(
    client,
    `SELECT 'function' AS kind, n.nspname AS schema, p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS name,
            NULL AS table, NULL AS definition, p.prokind::text AS routine
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE p.pronamespace = ANY($1::oid[])
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')`,
    [namespaces],
  );
  const what: Record<string, string> = { f: 'function', p: 'procedure', a: 'aggregate', w: 'window function' };
  return rows.map(({ routine, ...row }) => ({ ...row, reason: `${what[routine] ?? 'routine'}: server-side code is not migrated` }));
}

async function readUnusedTypes(client: pg.ClientBase, options: { namespaces: string[]; used: string[] }): Promise<PgUnmapped[]> {
  // Enums, domains, composite (standalone, not a table's row type) and range types no introspected column uses.
  const rows = await query<UnmappedRow>(
    client,
    `SELECT 'type' AS kind, n.nspname AS schema, t.typname AS name, NULL AS table,
            CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain over ' || pg_catalog.format_type(t.typbasetype, t.typtypmod)
                           WHEN 'c' THEN 'composite' WHEN 'r' THEN 'range' ELSE 'multirange' END AS definition
       FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typnamespace = ANY($1::oid[]) AND NOT (t.oid = ANY($2::oid[]))
        AND (t.typtype IN ('e', 'd', 'r', 'm') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) = 'c'))
        AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')`,
    [options.namespaces, options.used],
  );
  return rows.map((row) => ({ ...row, reason: 'no introspected table column uses this type' }));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byName<T extends { name: string; schema?: string }>(a: T, b: T): number {
  return compare(a.schema ?? '', b.schema ?? '') || compare(a.name, b.name);
}

// Bugs are assertions, always on: a catalog that breaks one is not the catalog this code reads.
function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
