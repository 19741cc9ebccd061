/**
 * The record types the Strata desk opens its store with: Pagila's, exactly as `strata-pg
 * introspect` generated them in schema.ts, plus the two indexes the desk needs and Pagila lacks.
 *
 * schema.ts is generated and checked in unchanged (a test regenerates it and compares), so the
 * app's own additions live here: regenerating schema.ts never loses them.
 *
 * - `customer_email` on `customer (email)`: `findCustomer({ email })`. PostgreSQL answers that
 *   query without an index by reading all 599 customers; the record layer refuses to read every
 *   record for a filter (`no_index_for_query`), so the desk asks for the index.
 * - `rental_open_by_date` on `rental (return_date, rental_date)`: the open rentals (those whose
 *   `return_date` is null) in rental order, for `listOverdue`, which then reads the oldest open
 *   rentals first and stops at its limit.
 *
 * A store the copy filled holds records already, so opening it with this schema starts both
 * indexes write-only; `store.buildIndexes(db)` builds them online, in bounded transactions, while
 * the desk keeps writing, and then they are readable.
 */
import { defineSchema, index, type IndexDefinition, type RecordTypeDefinition } from '@strata/records';
import { schema as pagila } from './schema.js';

/** The indexes the desk adds, by record type and index name. */
export const DESK_INDEXES = {
  customer: { customer_email: index.value(['email']) },
  rental: { rental_open_by_date: index.value(['return_date', 'rental_date']) },
} as const satisfies Record<string, Record<string, IndexDefinition>>;

function withIndexes<D extends RecordTypeDefinition>(type: D, indexes: Record<string, IndexDefinition>): D {
  return { ...type, indexes: { ...type.indexes, ...indexes } };
}

/**
 * Pagila's record types with {@link DESK_INDEXES} added.
 *
 * @example
 * ```ts
 * const store = await RecordStore.open(db, { path: ['pagila'], schema: deskSchema });
 * await store.buildIndexes(db); // the desk's indexes over the copied records
 * ```
 */
export const deskSchema = defineSchema({
  ...pagila.types,
  customer: withIndexes(pagila.types.customer, DESK_INDEXES.customer),
  rental: withIndexes(pagila.types.rental, DESK_INDEXES.rental),
});
