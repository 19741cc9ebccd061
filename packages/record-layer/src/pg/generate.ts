/**
 * Writes the TypeScript module of a {@link MappedSchema}: the record schema as source code that an
 * application imports, with a type per record type and a header naming everything not mapped.
 *
 * Invariants:
 * 1. The module's `schema` is the mapped schema: the same record types, fields (the columns' zod
 *    sources), primary keys, indexes, references and sequences, so its `describe()` equals
 *    `mapped.schema.describe()`.
 * 2. Deterministic: the same mapped schema and options give the same text (record types in table
 *    order, fields in column order, indexes and references in the schema's order, the header in
 *    the order of `mapped.unmapped`).
 * 3. Every entry of `mapped.unmapped` appears in the header by kind, name and reason.
 * 4. The module imports only `@strata/records` (or `options.recordsModule`) and `zod`: the zod
 *    helpers its fields use are the record layer's `pgZod`, so a module and `mapSchema` validate
 *    alike.
 */
import type { IndexDefinition, RecordTypeDefinition, ReferenceDefinition } from '../schema.js';
import type { MappedSchema, MappedUnmapped, TableMapping } from './type-map.js';

/** Options of {@link generateModule}. */
export interface GenerateOptions {
  /** Module specifier to import the record layer from (default `@strata/records`). */
  recordsModule?: string;
  /** A line for the top of the header, e.g. the command that generated the module (default none). */
  comment?: string;
}

/** Type names a generated record type never takes (they would hide a global or an import the module uses). */
const RESERVED_TYPE_NAMES = new Set([
  'Array', 'BigInt', 'Boolean', 'Date', 'Error', 'Function', 'Map', 'Number', 'Object', 'Omit', 'Partial', 'PgArray', 'PgJson', 'Pick',
  'Promise', 'Record', 'RecordOf', 'Set', 'String', 'Symbol', 'Timestamp', 'Uint8Array',
]);

/**
 * The TypeScript source of a module that exports `schema` (a `defineSchema` of the mapped record
 * types) and a type per record type (`export type Film = RecordOf<typeof schema.types.film>`).
 *
 * @remarks
 * The header comment lists `mapped.unmapped`, grouped by kind, each as `schema.table.name: reason`.
 * Field names are the column names (quoted when they are not identifiers); type names are the
 * record type names in PascalCase (`film_actor` → `FilmActor`), with a number appended when two
 * would be the same, and `Record` appended to names the module itself uses (`Date` → `DateRecord`).
 * The zod helpers the fields use (`pgNumeric`, `pgTimestamp`, `pgArray`, ...) come from the
 * record layer's `pgZod`.
 * @throws Error (an assertion) when `mapped` is inconsistent: a table whose record type is missing
 * from `mapped.schema`, or whose fields differ from its columns.
 * @example
 * ```ts
 * import fs from 'node:fs/promises';
 * import pg from 'pg';
 * import { generateModule, introspect, mapSchema } from '@strata/records';
 *
 * const client = new pg.Client({ connectionString: 'postgres://localhost/app' });
 * await client.connect();
 * const mapped = mapSchema(await introspect(client));
 * await fs.writeFile('src/schema.ts', generateModule(mapped, { comment: 'strata-pg introspect --url postgres://localhost/app' }));
 * await client.end();
 * ```
 */
export function generateModule(mapped: MappedSchema, options: GenerateOptions = {}): string {
  const recordsModule = options.recordsModule ?? '@strata/records';
  const helpers = [...new Set(mapped.tables.flatMap((table) => table.columns.flatMap((column) => column.helpers)))].sort();
  const typeNames = tsTypeNames(mapped.tables.map((table) => table.typeName));

  const lines: string[] = [];
  lines.push(...header(mapped, options.comment));
  lines.push('');
  const usesIndex = Object.values(mapped.schema.types).some((type) => Object.keys(type.indexes).length > 0);
  const imports = ['defineSchema', ...(usesIndex ? ['index'] : []), ...(helpers.length > 0 ? ['pgZod'] : []), 'recordType', 'type RecordOf'];
  lines.push(`import { ${imports.join(', ')} } from ${literal(recordsModule)};`);
  lines.push(`import { z } from 'zod';`);
  if (helpers.length > 0) lines.push('', `const { ${helpers.join(', ')} } = pgZod;`);
  lines.push('');
  lines.push('/** The record types, one per mapped PostgreSQL table. */');
  lines.push('export const schema = defineSchema({');
  for (const table of mapped.tables) lines.push(...recordTypeSource(mapped, table));
  lines.push('});');
  for (const table of mapped.tables) {
    lines.push('');
    lines.push(`/** A record of ${comment(`${table.schema}.${table.table}`)}. */`);
    lines.push(`export type ${typeNames.get(table.typeName)!} = RecordOf<typeof schema.types${propertyAccess(table.typeName)}>;`);
  }
  return `${lines.join('\n')}\n`;
}

function header(mapped: MappedSchema, firstLine: string | undefined): string[] {
  const schemas = [...new Set(mapped.tables.map((table) => table.schema))];
  const lines: string[] = [];
  if (firstLine !== undefined) lines.push(`// ${comment(firstLine)}`);
  lines.push(`// Record types of PostgreSQL ${schemas.length === 1 ? 'schema' : 'schemas'} ${schemas.map(comment).join(', ')}, generated by strata-pg from its catalog.`);
  lines.push('// Generate it again rather than edit it: edits are lost then.');
  lines.push('//');
  if (mapped.unmapped.length === 0) {
    lines.push('// Everything in the schemas is mapped.');
    return lines;
  }
  lines.push(`// Not mapped (${mapped.unmapped.length}):`);
  let kind: string | null = null;
  for (const entry of mapped.unmapped) {
    if (entry.kind !== kind) {
      kind = entry.kind;
      lines.push('//', `//   ${kind}`);
    }
    lines.push(`//     ${comment(`${unmappedName(entry)}: ${entry.reason}`)}`);
  }
  return lines;
}

function unmappedName(entry: MappedUnmapped): string {
  return `${entry.schema}.${entry.table === null ? '' : `${entry.table}.`}${entry.name}`;
}

function recordTypeSource(mapped: MappedSchema, table: TableMapping): string[] {
  const definition = mapped.schema.types[table.typeName] as RecordTypeDefinition | undefined;
  assert(definition !== undefined, `mapped.schema has record type ${table.typeName} of table ${table.schema}.${table.table}`);
  const fields = Object.keys(definition.schema.shape as object);
  assert(
    fields.length === table.columns.length && table.columns.every((column, i) => fields[i] === column.field),
    `record type ${table.typeName} has the fields of its columns`,
  );
  const lines: string[] = [];
  const source = table.primaryKeySource;
  lines.push(`  /** ${comment(`${table.schema}.${table.table}`)}: primary key ${source.kind === 'primary_key' ? comment(source.name) : `from ${source.kind.replace('_', ' ')} ${comment(source.name)}`}. */`);
  lines.push(`  ${propertyName(table.typeName)}: recordType({`);
  lines.push('    schema: z.object({');
  for (const column of table.columns) lines.push(`      ${propertyName(column.field)}: ${column.source},`);
  lines.push('    }),');
  lines.push(`    primaryKey: ${stringArray(definition.primaryKey)},`);
  const indexes = Object.entries(definition.indexes);
  if (indexes.length > 0) {
    lines.push('    indexes: {');
    for (const [name, index] of indexes) lines.push(`      ${propertyName(name)}: ${indexSource(index)},`);
    lines.push('    },');
  }
  const references = Object.entries(definition.references ?? {});
  if (references.length > 0) {
    lines.push('    references: {');
    for (const [name, reference] of references) lines.push(`      ${propertyName(name)}: ${referenceSource(reference)},`);
    lines.push('    },');
  }
  const sequences = Object.entries((definition.sequences ?? {}) as Record<string, string>);
  if (sequences.length > 0) lines.push(`    sequences: { ${sequences.map(([field, name]) => `${propertyName(field)}: ${literal(name)}`).join(', ')} },`);
  lines.push('  }),');
  return lines;
}

function indexSource(definition: IndexDefinition): string {
  switch (definition.kind) {
    case 'value':
      return `index.value(${stringArray(definition.fields)}${definition.unique ? ', { unique: true }' : ''})`;
    case 'count':
      return `index.count(${groupBy(definition.groupBy)})`;
    case 'sum':
    case 'min':
    case 'max': {
      const group = groupBy(definition.groupBy);
      return `index.${definition.kind}(${literal(definition.field)}${group === '' ? '' : `, ${group}`})`;
    }
    case 'version':
      return 'index.version()';
  }
}

function groupBy(fields: readonly string[]): string {
  return fields.length === 0 ? '' : `{ groupBy: ${stringArray(fields)} }`;
}

function referenceSource(reference: ReferenceDefinition): string {
  return `{ type: ${literal(reference.type)}, fields: ${stringArray(reference.fields)}${reference.enforced === false ? ', enforced: false' : ''} }`;
}

/** PascalCase TypeScript type names of record type names, unique and never one of {@link RESERVED_TYPE_NAMES}. */
function tsTypeNames(typeNames: string[]): Map<string, string> {
  const names = new Map<string, string>();
  const taken = new Set<string>();
  for (const typeName of typeNames) {
    const words = typeName.split(/[^\p{L}\p{N}]+/u).filter((word) => word.length > 0);
    let base = words.map((word) => word[0]!.toUpperCase() + word.slice(1)).join('');
    if (base === '') base = 'Record';
    if (/^\p{N}/u.test(base)) base = `Table${base}`;
    if (RESERVED_TYPE_NAMES.has(base)) base = `${base}Record`;
    let name = base;
    // Bounded by the number of record types: each step tries a new suffix.
    for (let n = 2; taken.has(name); n++) name = `${base}${n}`;
    taken.add(name);
    names.set(typeName, name);
  }
  return names;
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function propertyName(name: string): string {
  // A literal key "__proto__" would set the object's prototype; a computed one is a property.
  if (name === '__proto__') return `[${literal(name)}]`;
  return IDENTIFIER.test(name) ? name : literal(name);
}

function propertyAccess(name: string): string {
  return IDENTIFIER.test(name) ? `.${name}` : `[${literal(name)}]`;
}

function stringArray(values: readonly string[]): string {
  return `[${values.map(literal).join(', ')}]`;
}

/** A single-quoted TypeScript string literal. */
function literal(text: string): string {
  return `'${JSON.stringify(text).slice(1, -1).replaceAll('\\"', '"').replaceAll("'", "\\'")}'`;
}

/** Text safe inside a line comment or a doc comment: no line breaks, no comment end. */
function comment(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ').replaceAll('*/', '*\\/');
}

// Bugs are assertions, always on.
function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
