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
export { RecordStore, Collection, RECORD_CHUNK_BYTES, DELETE_MANY_PAGE_RECORDS, readInt64, type RecordStoreOptions, type StoreView, type InsertManyOptions } from './record-store.js';
export {
  defineSchema,
  recordType,
  index,
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
