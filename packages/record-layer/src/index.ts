/**
 * `@strata/records`: typed records with secondary indexes on Strata.
 *
 * @example
 * ```ts
 * import { open } from '@strata/core';
 * import { RecordStore, defineSchema, index, recordType } from '@strata/records';
 * import { z } from 'zod';
 *
 * const schema = defineSchema({
 *   customers: recordType({
 *     schema: z.object({ id: z.bigint(), email: z.string().email(), name: z.string() }),
 *     primaryKey: ['id'],
 *     indexes: { byEmail: index.value(['email'], { unique: true }) },
 *   }),
 * });
 * const db = await open();
 * const store = await RecordStore.open(db, { path: ['shop'], schema });
 * await db.transact((tx) => tx.at(store).customers.insert({ id: 1n, email: 'ada@example.com', name: 'Ada' }));
 * ```
 * @packageDocumentation
 */
export { readInt64 } from './int64.js';
export { RecordStore, Collection, RECORD_CHUNK_BYTES, DELETE_MANY_PAGE_RECORDS, type RecordStoreOptions, type StoreView, type InsertManyOptions } from './record-store.js';
export {
  defineSchema,
  recordType,
  index,
  doubleFields,
  keyAsDouble,
  keyItem,
  Schema,
  SCHEMA_FORMAT_VERSION,
  type IndexDefinition,
  type ReferenceDefinition,
  type RecordTypeDefinition,
  type RecordOf,
  type RecordInput,
  type SchemaTypes,
  type SchemaDescription,
  type FieldType,
  type AnyObjectSchema,
} from './schema.js';
export { Timestamp, timestamp } from './timestamp.js';
export { BUILD_TRANSACTION_RECORDS, BUILD_TRANSACTION_MS, type BuildIndexesOptions, type BuildIndexesResult, type IndexState } from './online-indexer.js';
export { RecordLayerError, RECORD_LAYER_ERROR_CODES, type RecordLayerErrorCode } from './errors.js';
export {
  SORT_RECORDS_MAX,
  FETCH_BATCH_RECORDS,
  STREAM_TRANSACTION_MS,
  STREAM_TRANSACTION_RECORDS,
  type FindManyQuery,
  type FindManyResult,
  type Explanation,
  type AggregateQuery,
  type StreamOptions,
} from './query.js';
export {
  PLAN_RANGES_MAX,
  PRIMARY_KEY_INDEX,
  type PlannerQuery,
  type Where,
  type OrderBy,
  type FieldCondition,
  type FieldOperators,
  type Scalar,
  type Direction,
} from './planner.js';
export { introspect, INTROSPECT_TYPE_DEPTH_MAX, MAPPED_BASE_TYPES, type IntrospectOptions } from './pg/introspect.js';
export {
  mapSchema,
  pgZod,
  PG_EPOCH_SHIFT_MICROS,
  PG_INFINITY_MICROS,
  PG_MINUS_INFINITY_MICROS,
  PG_TIMESTAMP_MIN_MICROS,
  PG_TIMESTAMP_MAX_MICROS,
  PG_JSONB_DEPTH_MAX,
  PG_ARRAY_DIMENSIONS_MAX,
  type ColumnMapping,
  type KeyBehaviour,
  type TableMapping,
  type MapOptions,
  type MappedSchema,
  type MappedUnmapped,
  type MappedUnmappedKind,
  type PgJson,
  type PgArray,
  type PgInterval,
} from './pg/type-map.js';
export { generateModule, type GenerateOptions } from './pg/generate.js';
export { copy, COPY_BATCH_ROWS, COPY_BATCH_TEXT, COPY_CONNECTIONS, COPY_STATE_DIRECTORY, type CopyOptions, type CopyProgress, type CopyResult, type CopiedTable } from './pg/copy.js';
export { verify, VERIFY_BATCH_ROWS, VERIFY_DIFFERENCES_MAX, type VerifyOptions, type VerifyResult, type VerifiedTable, type VerifyDifference } from './pg/verify.js';
export { SOURCE_SESSION_SETTINGS, type SourceConnection } from './pg/source.js';
export type {
  PgSchema,
  PgTable,
  PgPartition,
  PgColumn,
  PgType,
  PgBaseType,
  PgArrayType,
  PgEnumType,
  PgDomainType,
  PgOtherType,
  PgCheck,
  PgSequenceReference,
  PgKey,
  PgForeignKey,
  PgForeignKeyAction,
  PgIndex,
  PgIndexKey,
  PgEnum,
  PgDomain,
  PgUnmapped,
  PgUnmappedKind,
} from './pg/model.js';
