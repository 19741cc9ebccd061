/**
 * The model `introspect` returns: a plain, JSON-serializable description of a PostgreSQL
 * database's schemas, as far as a record schema can use it, and a list of everything it cannot.
 *
 * Invariants:
 * 1. Every value is a string, number, boolean, `null`, array or plain object, so
 *    `JSON.parse(JSON.stringify(model))` equals the model.
 * 2. Tables, and every list of named objects, are sorted by schema then name (UTF-16 code unit
 *    order), so two runs over the same catalog give the same model.
 * 3. An object of the introspected schemas that does not become part of a table's description
 *    appears in {@link PgSchema.unmapped} by name, with the reason.
 */

/**
 * A PostgreSQL type as a column (or a domain, or an array's element) uses it.
 *
 * @remarks
 * `name` is always `format_type(oid, NULL)`: the type's name without modifiers, schema-qualified
 * only when it is not on the search path (e.g. `numeric`, `character varying`, `text[]`,
 * `mpaa_rating`). `declared` is `format_type(oid, typmod)` as the column declares it (e.g.
 * `numeric(4,2)`). `mapped` is false when the record layer will not map values of this type (see
 * {@link PgSchema.unmapped}); an array, or a domain, is mapped when its element, or base, is.
 */
export type PgType = PgBaseType | PgArrayType | PgEnumType | PgDomainType | PgOtherType;

/** A base (scalar) type such as `integer`, `numeric(5,2)`, `text` or `tsvector`. */
export interface PgBaseType {
  /** Discriminant. */
  kind: 'base';
  /** `format_type(oid, NULL)`, e.g. `numeric`, `timestamp with time zone`. */
  name: string;
  /** The catalog name, `pg_type.typname`, e.g. `numeric`, `timestamptz`, `varchar`. */
  typeName: string;
  /** `format_type(oid, typmod)`, e.g. `numeric(4,2)`, `character varying(160)`. */
  declared: string;
  /** `pg_type.typcategory`: `N` numeric, `S` string, `D` date/time, `B` boolean, `U` user, ... */
  category: string;
  /** Declared length of `character varying(n)`, `character(n)`, `bit(n)`; otherwise null. */
  length: number | null;
  /** Declared precision of `numeric(p, s)`, or fractional-second digits of time types; otherwise null. */
  precision: number | null;
  /** Declared scale of `numeric(p, s)`; otherwise null. */
  scale: number | null;
  /** Whether the record layer maps this type. */
  mapped: boolean;
}

/** An array of another type, e.g. `text[]`. */
export interface PgArrayType {
  /** Discriminant. */
  kind: 'array';
  /** `format_type(oid, NULL)`, e.g. `text[]`. */
  name: string;
  /** `format_type(oid, typmod)`, e.g. `character varying(10)[]`. */
  declared: string;
  /** The element type (with the column's modifiers, which apply to the element). */
  element: PgType;
  /** Whether the record layer maps this type: when it maps the element. */
  mapped: boolean;
}

/** An enum type used as a column's type; its labels are also in {@link PgSchema.enums}. */
export interface PgEnumType {
  /** Discriminant. */
  kind: 'enum';
  /** Schema of the type. */
  schema: string;
  /** Name of the type, e.g. `mpaa_rating`. */
  name: string;
  /** Labels in their sort order (`enumsortorder`). */
  labels: string[];
  /** Always true: enums map to a closed set of strings. */
  mapped: boolean;
}

/** A domain used as a column's type; it is also in {@link PgSchema.domains}. */
export interface PgDomainType {
  /** Discriminant. */
  kind: 'domain';
  /** Schema of the domain. */
  schema: string;
  /** Name of the domain, e.g. `year`. */
  name: string;
  /** The type the domain is over, with the domain's modifiers. */
  base: PgType;
  /** Whether the domain is declared `NOT NULL`. */
  notNull: boolean;
  /** The domain's CHECK constraints, by name (see {@link PgDomain.checks}). */
  checks: PgCheck[];
  /** Whether the record layer maps this type: when it maps the base. */
  mapped: boolean;
}

/** Any other type: composite, range, multirange or pseudo-type. Never mapped. */
export interface PgOtherType {
  /** Discriminant. */
  kind: 'other';
  /** `format_type(oid, NULL)`. */
  name: string;
  /** `format_type(oid, typmod)`. */
  declared: string;
  /** `pg_type.typtype`: `c` composite, `r` range, `m` multirange, `p` pseudo. */
  typeType: string;
  /** Always false. */
  mapped: boolean;
}

/** A CHECK constraint: its name and `pg_get_constraintdef` text. */
export interface PgCheck {
  /** Constraint name. */
  name: string;
  /** Definition, e.g. `CHECK (((VALUE >= 1901) AND (VALUE <= 2155)))`. */
  definition: string;
}

/** The sequence a column takes its values from. */
export interface PgSequenceReference {
  /** Schema of the sequence. */
  schema: string;
  /** Name of the sequence. */
  name: string;
  /**
   * How the column uses it: `identity` (the sequence of an identity column), `owned` (a serial
   * column: the sequence is `OWNED BY` the column) or `default` (the column's default calls
   * `nextval` on a sequence the column does not own, as in dumps of Pagila).
   */
  relation: 'identity' | 'owned' | 'default';
}

/** A column of a table, in `attnum` order. */
export interface PgColumn {
  /** Column name. */
  name: string;
  /** The column's type. */
  type: PgType;
  /** Whether the column is `NOT NULL`. */
  notNull: boolean;
  /** Default expression (`pg_get_expr`), e.g. `now()`; null when none or when generated. */
  default: string | null;
  /** `GENERATED ALWAYS AS IDENTITY` → `always`, `BY DEFAULT` → `by_default`; otherwise null. */
  identity: 'always' | 'by_default' | null;
  /** Generation expression of a generated column, and whether it is stored; otherwise null. */
  generated: { expression: string; stored: boolean } | null;
  /** The sequence that produces the column's values, if any. */
  sequence: PgSequenceReference | null;
}

/** A named list of columns: a primary key or a unique constraint. */
export interface PgKey {
  /** Constraint name. */
  name: string;
  /** Columns in key order. */
  columns: string[];
}

/** Referential action of a foreign key (`confupdtype` / `confdeltype`). */
export type PgForeignKeyAction = 'no_action' | 'restrict' | 'cascade' | 'set_null' | 'set_default';

/** A foreign key constraint. */
export interface PgForeignKey {
  /** Constraint name. */
  name: string;
  /** Referencing columns, in constraint order. */
  columns: string[];
  /** The referenced table. */
  references: { schema: string; table: string; columns: string[] };
  /** Action on delete of the referenced row. */
  onDelete: PgForeignKeyAction;
  /** Action on update of the referenced key. */
  onUpdate: PgForeignKeyAction;
  /** Whether the check can be deferred, and whether it is deferred initially. */
  deferrable: boolean;
  /** Whether the check is `INITIALLY DEFERRED`. */
  initiallyDeferred: boolean;
}

/** One key of an index: a column, or an expression. */
export type PgIndexKey = { kind: 'column'; name: string } | { kind: 'expression'; definition: string };

/** An index that does not back a primary key, unique or exclusion constraint. */
export interface PgIndex {
  /** Index name. */
  name: string;
  /** Key columns or expressions, in index order. */
  keys: PgIndexKey[];
  /** `INCLUDE` columns. */
  include: string[];
  /** Whether the index is unique. */
  unique: boolean;
  /** Access method, e.g. `btree`, `gist`. */
  method: string;
  /** The `WHERE` predicate of a partial index; otherwise null. */
  predicate: string | null;
  /** `pg_get_indexdef` text. */
  definition: string;
}

/** A partition of a partitioned table, with its own partitions if it is partitioned too. */
export interface PgPartition {
  /** Schema of the partition. */
  schema: string;
  /** Name of the partition. */
  name: string;
  /** Partition bound (`pg_get_expr(relpartbound)`), e.g. `FOR VALUES FROM (...) TO (...)`. */
  bound: string;
  /** Sub-partitions, sorted by schema and name. */
  partitions: PgPartition[];
}

/** An ordinary table, or a partitioned table with its partitions. */
export interface PgTable {
  /** Schema of the table. */
  schema: string;
  /** Name of the table. */
  name: string;
  /** `table` for an ordinary table, `partitioned` for a partitioned parent. */
  kind: 'table' | 'partitioned';
  /** The partition key (`pg_get_partkeydef`), e.g. `RANGE (payment_date)`; null for ordinary tables. */
  partitionKey: string | null;
  /** Partitions, sorted by schema and name; empty for ordinary tables. */
  partitions: PgPartition[];
  /** Columns in `attnum` order. */
  columns: PgColumn[];
  /** The primary key; null when the table has none. */
  primaryKey: PgKey | null;
  /** Unique constraints (not unique indexes, which are under `indexes`), sorted by name. */
  uniqueConstraints: PgKey[];
  /** Foreign keys, sorted by name. */
  foreignKeys: PgForeignKey[];
  /** Indexes that back no constraint, sorted by name; partial and expression ones are also in `unmapped`. */
  indexes: PgIndex[];
}

/** An enum type used by a table column. */
export interface PgEnum {
  /** Schema of the type. */
  schema: string;
  /** Name of the type. */
  name: string;
  /** Labels in sort order. */
  labels: string[];
}

/** A domain used by a table column. */
export interface PgDomain {
  /** Schema of the domain. */
  schema: string;
  /** Name of the domain. */
  name: string;
  /** The type it is over. */
  base: PgType;
  /** Whether the domain is declared `NOT NULL`. */
  notNull: boolean;
  /**
   * CHECK constraints of the domain, sorted by name.
   *
   * @remarks
   * Domain checks are described here, not in {@link PgSchema.unmapped}: a domain's checks are part
   * of its type, and the mapping step decides whether it can express them. Table CHECK
   * constraints, in contrast, are listed in `unmapped`.
   */
  checks: PgCheck[];
  /** Default expression of the domain; null when none. */
  default: string | null;
}

/** What kind of object an {@link PgUnmapped} entry names. */
export type PgUnmappedKind =
  | 'check_constraint'
  | 'exclusion_constraint'
  | 'partition_constraint'
  | 'trigger'
  | 'index'
  | 'partition_index'
  | 'column'
  | 'view'
  | 'materialized_view'
  | 'foreign_table'
  | 'rule'
  | 'policy'
  | 'function'
  | 'sequence'
  | 'type';

/** Something in the introspected schemas that cannot become part of a record schema. */
export interface PgUnmapped {
  /** What the object is. */
  kind: PgUnmappedKind;
  /** Schema of the object (of its table, for triggers, constraints, indexes and columns). */
  schema: string;
  /** Name of the object; for a function, its name with identity arguments, e.g. `last_day(timestamp with time zone)`. */
  name: string;
  /** The table it belongs to, for triggers, constraints, indexes, columns, rules and policies; otherwise null. */
  table: string | null;
  /** Why it cannot be mapped, in a sentence. */
  reason: string;
  /** Its definition (`pg_get_*def`, or the column's type), when PostgreSQL can print one; otherwise null. */
  definition: string | null;
}

/** The result of `introspect`. */
export interface PgSchema {
  /** The schemas introspected, sorted. */
  schemas: string[];
  /** Ordinary and partitioned tables (partitions only under their parent), sorted by schema and name. */
  tables: PgTable[];
  /** Enum types that table columns use, sorted by schema and name. */
  enums: PgEnum[];
  /** Domains that table columns use, sorted by schema and name. */
  domains: PgDomain[];
  /** Everything that cannot become part of a record schema, sorted by kind, schema, table and name. */
  unmapped: PgUnmapped[];
}
