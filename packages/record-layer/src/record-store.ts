/**
 * Record stores: typed records kept in a directory of the directory layer, with their indexes
 * maintained in the same transaction as every write.
 *
 * Layout inside the store's directory (tuple keys after the directory prefix):
 * - `(0)` -> the schema description (msgpack), compared on every open, with each type's field
 *   table (the position of every field its records may hold, see `record-codec.ts`);
 * - `(1, type, ...primaryKey, chunk)` -> the record: a header byte (0: whole, 1: more chunks
 *   follow) and the record's fields by position (`record-codec.ts`), split into chunks of at most
 *   {@link RECORD_CHUNK_BYTES} so a record may exceed the value limit; a whole record is read with
 *   one point read;
 * - `(2, type, index, ...)` -> index entries: value and min/max indexes
 *   `(...fields, ...primaryKey) -> ''`; count and sum indexes `(...group) -> 8-byte little-endian
 *   integer` kept with atomic add.
 * - `(3, type, index)` -> the state of an index that is not readable (msgpack
 *   `{ state: 'write_only', built }`, see `online-indexer.ts`); no key means readable.
 * - `(4, type, ...primaryKey)` -> the record's version: a packed tuple of one versionstamp (the
 *   last transaction that wrote it), kept for types with a version index. Version index entries
 *   are `(2, type, index, versionstamp, ...primaryKey) -> ''`. The version lives outside the
 *   record's range because a versionstamped value is unreadable in the transaction that wrote it,
 *   and reads of records (and range scans of them) must keep working after a write.
 * - `(5, sequence)` -> a sequence: a packed tuple of one integer, the last value it handed out
 *   (absent: none yet, the next is 1).
 * - `(6)` -> the schema version: a packed tuple of one integer, one more every time an open
 *   changes the stored schema description (absent: 0, as in stores written before it).
 *
 * Invariants:
 * 1. Every index entry of a record is written or removed in the transaction that writes or
 *    removes the record: a readable index and the records never disagree in any committed state.
 *    A write-only index agrees with the records whose primary key is inside its built range
 *    (`online-indexer.ts`, invariant 1).
 * 2. A unique index never holds two records with the same values: the check is a range read in
 *    the writing transaction, so concurrent writers of the same value conflict. As in SQL, a
 *    record with a null (or missing) value in any of the index's fields collides with nothing.
 * 3. A refused write writes nothing, even when the caller catches the error and commits: every
 *    check (validation, existence, unique values, references, indexed values) runs before the
 *    first mutation; for an insertMany, every record's checks run before any record's mutations.
 * 4. A record of a type with a version index has a version key iff it was written since the type
 *    got one (or an online build indexed it), and each version index holds (within its built
 *    range) exactly one entry per record, under that version. A write clears the record's entries
 *    under its committed version at once, and marks the record to be stamped; the stamping waits
 *    for commit (`tx.onCommit`), where each record still marked gets one entry and its version
 *    key under the commit's versionstamp, user versions in order of first write. A delete
 *    removes the mark, so a record written and deleted in one transaction leaves nothing.
 * 5. A record's index entries are those of the record as reads see it, a field it lacks holding its
 *    default. A record stored without a defaulted field that an index covers only predates that
 *    index or that default (writes store the schema's output, defaults included); the index is then
 *    built (or rebuilt, see `#checkEvolution`) over it, and the build stores the default in the
 *    record, so later reads, and the entries later writes remove, keep that value.
 * 6. A transaction that uses a store object (`tx.at(store)`) fails with `schema_changed` unless
 *    the schema version key holds the version the store object was opened with (or last changed
 *    the schema to); with `not_committed` (retried) when its snapshot predates the open that stored
 *    that version. An open that changes the stored schema also bumps the database's metadata
 *    version (core's `METADATA_VERSION_KEY`, which comes with the read version), and so does a
 *    directory removal: a transaction of the database the store object was opened in that reads
 *    the metadata version the store object last saw with its schema version needs no read of the
 *    schema version key. It reads the metadata version as a snapshot and puts the schema version
 *    key in its read conflicts (or reads it), so a transaction and an open that changes this
 *    store's schema, or a removal of its directory, conflict, and bumps by other stores and
 *    directories do not: no transaction commits writes made under a schema other than the stored
 *    one (whose indexes it would not maintain), as FoundationDB's Record Layer checks the store
 *    header against its meta-data version stamp.
 */
import { METADATA_VERSION_KEY, StrataError, isStrataError, limits, type Database, type Transaction, type TransactionBinding } from '@strata/core';
import { DirectoryLayer, Double, Subspace, Versionstamp, pack, packWithPrefix, packWithVersionstamp, unpack, type DirectoryPath, type Tuple, type TupleItem } from '@strata/tuple';
import { Packr } from 'msgpackr';
import type { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { int64 } from './int64.js';
import { fieldTypeChange, fieldTypeText, hasDefault, holdsKindOf, indexedFields, innerSchema, keyItem, mayHoldObjects, parseFieldType, peelFieldType, referencingIndex, sequenceFillsNumbers, settleKeyForms, type FieldType, type IndexDefinition, type RecordInput, type RecordOf, type RecordTypeDefinition, type Schema, type SchemaDescription, type SchemaTypes } from './schema.js';
import { RecordCodec, extendFieldTables } from './record-codec.js';
import { printItem } from './planner.js';
import { buildIndexes, decodeIndexState, encodeIndexState, type BuildIndexesOptions, type BuildIndexesResult, type IndexState } from './online-indexer.js';
import { aggregate, explain, findMany, streamQuery, type AggregateQuery, type Explanation, type FindManyQuery, type FindManyResult, type PageBudget, type QueryContext, type StreamOptions } from './query.js';

/** Records `deleteMany` reads per page while collecting what to delete. */
export const DELETE_MANY_PAGE_RECORDS = 500;

/** Records larger than this are split across several keys. */
export const RECORD_CHUNK_BYTES = 90_000;

/** First byte of chunk 0: the whole record is in this key. */
const RECORD_WHOLE = 0x00;
/** First byte of chunk 0: the record continues in chunks 1, 2, ... */
const RECORD_SPLIT = 0x01;

/** What every write of a record type needs, computed once per store and type (collections are made per transaction). */
interface TypeFacts {
  /** The type's field names. */
  readonly fields: ReadonlySet<string>;
  /**
   * The fields whose values may hold objects (see `mayHoldObjects`): where a write looks for
   * nested keys that parsing dropped.
   */
  readonly nestedFields: readonly string[];
  /** Whether the type's schema drops fields it does not name when it parses (zod's default). */
  readonly stripsUnknown: boolean;
  /** The type's indexes. */
  readonly indexes: readonly (readonly [string, IndexDefinition])[];
  /** Whether the type has a version index. */
  readonly versioned: boolean;
  /** Whether the type has enforced references (checked on every insert and update). */
  readonly referencing: boolean;
  /** The fields a sequence fills, with the sequence's name. */
  readonly sequences: readonly (readonly [string, string])[];
  /** The fields with a default, with their schema (a record stored without one reads with it). */
  readonly defaults: readonly (readonly [string, z.ZodType])[];
  /** Encodes and decodes its records with its field table. */
  readonly codec: RecordCodec;
  /** The packed prefix `(1, type)` of its records' keys. */
  readonly recordPrefix: Uint8Array;
  /** The packed prefix `(2, type, index)` of each index's entries. */
  readonly indexPrefixes: ReadonlyMap<string, Uint8Array>;
  /** The fields whose numbers keys hold as doubles (see `settleKeyForms`). */
  readonly doubles: ReadonlySet<string>;
}

/** A record as read from storage, with the number of chunks it occupies. */
interface Stored<R> {
  record: R;
  chunks: number;
}

const SCHEMA = 0;
const RECORDS = 1;
const INDEXES = 2;
const INDEX_STATES = 3;
const VERSIONS = 4;
const SEQUENCES = 5;
const SCHEMA_VERSION = 6;
// The prefixes of the keys a record's primary key goes into, by type (see Collection's #keyPrefixes).
const KEY_PREFIXES = new WeakMap<TypeFacts, { prefixes: readonly (readonly [string, number])[]; overhead: number }>();
// Integers within this bound pack into at most 10 bytes (a type code and up to 9 bytes).
const BIG_KEY_ITEM = 2n ** 64n - 1n;

/** A field description text (schema.ts) whose value has a default when the record lacks it: how a store written before the `defaulted` lists tells. */
const DEFAULTED = /^(?:optional<|nullable<)*default</;

/** Chunk number 0 packed: the last byte of a record's first key. */
const CHUNK_ZERO = pack([0])[0]!;

/** Largest user version of a versionstamp: how many records one transaction may stamp. */
const USER_VERSION_MAX = 0xffff;

// The schema description's msgpack (records have their own codec, record-codec.ts).
const packr = new Packr({ useRecords: false, moreTypes: true, useBigIntExtension: true, copyBuffers: true });

/** Options of {@link RecordStore.open}. */
export interface RecordStoreOptions<T extends SchemaTypes> {
  /** The directory the store lives in (created if missing). */
  path: DirectoryPath;
  /** The record types. */
  schema: Schema<T>;
  /** The directory layer (default: the standard one). */
  directoryLayer?: DirectoryLayer;
}

/** Options of {@link Collection.insertMany}. */
export interface InsertManyOptions {
  /**
   * Whether each enforced reference of the new records must name an existing record (default
   * true). `false` is for bulk loads whose references hold at their source but whose records
   * arrive in an order that does not put every referenced record first (a cycle, as between a
   * store and its manager): check them afterwards. Deletes are always checked.
   */
  checkReferences?: boolean;
}

/** A typed view of one record type inside a transaction (see {@link RecordStore}). */
export type StoreView<T extends SchemaTypes> = { readonly [K in keyof T]: Collection<T[K]> };

/**
 * A store of typed records in a directory.
 *
 * @remarks
 * `tx.at(store)` gives one {@link Collection} per record type; every write validates the record
 * against its zod schema and maintains every index in the same transaction.
 * @example
 * ```ts
 * const store = await RecordStore.open(db, { path: ['shop'], schema });
 * await db.transact(async (tx) => {
 *   await tx.at(store).orders.insert({ id: 1n, customerId: 7n, total: 1200n });
 * });
 * ```
 */
export class RecordStore<T extends SchemaTypes> implements TransactionBinding<StoreView<T>> {
  /**
   * The indexes known not to be readable, by record type (loaded on open). An index only ever goes
   * from write-only to readable while a store is open, so a stale entry here costs one read of the
   * index's state key and is never wrong.
   */
  readonly #writeOnly = new Map<string, Set<string>>();

  /**
   * The records each transaction will stamp at commit, by record (`type` and packed primary key),
   * with the version indexes to stamp them in (invariant 4).
   */
  readonly #toStamp = new WeakMap<Transaction, Map<string, { type: string; key: TupleItem[]; indexes: Set<string> }>>();

  readonly #facts = new Map<string, TypeFacts>();
  // Each type's field table (record-codec.ts), as the store holds it once open.
  #fieldTables: Record<string, string[]> = {};
  // Each type's fields whose numbers keys hold as doubles, as the store holds them once open.
  #doubles: Record<string, string[]> = {};
  // The schema version this store object was opened with (invariant 6), and its stored bytes (null
  // for version 0, never stored).
  #schemaVersion = 0;
  #schemaVersionBytes: Uint8Array | null = null;
  // The key of the schema version (invariant 6), read by a transaction's check when the metadata
  // version is not #metadataVersion.
  #versionKey: Uint8Array | null = null;
  // A metadata version at which the schema version was this store object's (invariant 6): a
  // transaction that reads it needs no read of the schema version key.
  #metadataVersion: Uint8Array | null = null;
  // The origin (`tx.origin`) of the database this store object was opened in: #metadataVersion
  // holds only for its transactions.
  #origin: object | null = null;
  // A version at which the schema version this store object was opened with is stored: the open's
  // commit version when it wrote it, its read version otherwise. A transaction reading before it
  // may see an older one, which a retry does not.
  #openedAt = 0;

  private constructor(
    /** The record types. */
    readonly schema: Schema<T>,
    /** The store's directory. */
    readonly subspace: Subspace,
  ) {}

  /** @internal The schema version this store object was opened with (or last changed the schema to). */
  get schemaVersion(): number {
    return this.#schemaVersion;
  }

  /** @internal What writes of record type `name` need (computed on first use). */
  typeFacts(name: string): TypeFacts {
    let facts = this.#facts.get(name);
    if (facts === undefined) {
      const type = this.schema.type(name);
      const indexes = Object.entries(type.indexes);
      facts = {
        fields: new Set(Object.keys(type.schema.shape)),
        nestedFields: Object.entries(type.schema.shape as Record<string, z.ZodType>).filter(([, schema]) => mayHoldObjects(schema)).map(([field]) => field),
        stripsUnknown: (type.schema as z.ZodObject).def.catchall === undefined,
        indexes,
        versioned: indexes.some(([, definition]) => definition.kind === 'version'),
        referencing: Object.values(type.references ?? {}).some((reference) => reference.enforced !== false),
        sequences: Object.entries(type.sequences ?? {}) as [string, string][],
        defaults: Object.entries(type.schema.shape as Record<string, z.ZodType>).filter(([, schema]) => hasDefault(schema)),
        codec: new RecordCodec(this.#fieldTables[name] ?? Object.keys(type.schema.shape)),
        recordPrefix: packWithPrefix(this.subspace.prefix, [RECORDS, name]),
        indexPrefixes: new Map(indexes.map(([index]) => [index, packWithPrefix(this.subspace.prefix, [INDEXES, name, index])])),
        doubles: new Set(this.#doubles[name] ?? []),
      };
      this.#facts.set(name, facts);
    }
    return facts;
  }

  /**
   * Opens (creating if needed) the store in `options.path`, checking that the schema is the one
   * stored or a safe change of it.
   * @remarks
   * A new (or changed) index on a type that has records is accepted write-only: queries do not use
   * it until {@link RecordStore.buildIndexes} has indexed the stored records. On a type without
   * records it is readable at once.
   * A field's type may change only to one that accepts every value the old one did (required to
   * optional or nullable, optional to defaulted, enum and literal values or union members widened)
   * while records are stored; a dropped field added back must accept the values it held. An index
   * over a field that gains or loses a default is rebuilt like a changed one. An open that changes
   * the stored schema makes every other store object of the directory fail with `schema_changed`
   * (see {@link RecordStore.bind}); opening the stored schema again changes nothing.
   * @throws RecordLayerError `schema_incompatible` naming the type, the field and why, for an unsafe
   * change on a type that already has records (a changed primary key, a primary key field whose
   * numbers change key form, a new required field, a field type that may refuse stored values, a
   * nested field dropped, a type removed).
   */
  static async open<T extends SchemaTypes>(db: Database, options: RecordStoreOptions<T>): Promise<RecordStore<T>> {
    const directories = options.directoryLayer ?? new DirectoryLayer();
    // The store, the open's transaction, its read version, and whether it wrote the schema version
    // (see #openedAt). The directory is opened in the same transaction, so a removal of it conflicts.
    const opened = await db.transact(async (tx) => {
      const directory = await directories.createOrOpen(tx, options.path, { layer: 'strata-records' });
      const subspace = new Subspace(directory.prefix);
      const store = new RecordStore(options.schema, subspace);
      const readVersion = await tx.getReadVersion();
      let wrote = false;
      const key = subspace.pack([SCHEMA]);
      const versionKey = subspace.pack([SCHEMA_VERSION]);
      // The metadata version is read as a snapshot: the schema's keys, read (and written) here,
      // are what this open must not race (invariant 6).
      const [[storedBytes, versionBytes], metadataVersion] = await Promise.all([tx.getMany([key, versionKey]), tx.get(METADATA_VERSION_KEY, { snapshot: true })]);
      const next = options.schema.describe();
      store.#writeOnly.clear();
      const stored = storedBytes === null ? null : (packr.unpack(storedBytes!) as SchemaDescription);
      settleKeyForms(stored, next);
      store.#doubles = Object.fromEntries(Object.entries(next.types).map(([name, type]) => [name, type.doubles ?? []]));
      if (stored !== null) await store.#checkEvolution(tx, stored, next);
      store.#fieldTables = extendFieldTables(stored, next);
      const droppedFields = extendDroppedFields(stored, next);
      // The version moves only when the description does: opening the stored schema again (another
      // process starting) leaves every open store object working.
      const nextBytes = packr.pack({ ...next, fieldTables: store.#fieldTables, ...(droppedFields === null ? {} : { droppedFields }) });
      store.#schemaVersion = decodeSchemaVersion(versionBytes ?? null);
      store.#schemaVersionBytes = versionBytes ?? null;
      if (storedBytes === null || Buffer.compare(storedBytes!, nextBytes) !== 0) {
        store.#schemaVersion++;
        store.#schemaVersionBytes = pack([store.#schemaVersion]);
        tx.set(key, nextBytes);
        tx.set(versionKey, store.#schemaVersionBytes);
        tx.bumpMetadataVersion();
        wrote = true;
      }
      store.#metadataVersion = metadataVersion;
      store.#origin = tx.origin;
      store.#versionKey = versionKey;
      const { begin, end } = subspace.range([INDEX_STATES]);
      for (const row of await tx.getRangeAll(begin, end)) {
        const [, type, indexName] = subspace.unpack(row.key) as [number, string, string];
        if (options.schema.types[type]?.indexes[indexName] !== undefined) store.markWriteOnly(type, indexName);
      }
      return { store, tx, readVersion, wrote };
    });
    const { store, tx } = opened;
    store.#openedAt = opened.wrote ? tx.getCommittedVersion() : opened.readVersion;
    if (opened.wrote) store.#metadataVersion = await tx.getVersionstamp();
    return store;
  }

  /**
   * Builds every write-only index of the store over the records already stored (an online index
   * build), in bounded transactions, then makes each readable.
   *
   * @remarks
   * An index added to a record type that already holds records starts write-only: writers keep it
   * up to date for the records the build has already passed, queries do not use it. Each build
   * transaction indexes at most `transactionRecords` records or runs at most `transactionMs`, and
   * stores its progress (the last primary key indexed) in the same transaction, so a build that
   * stops (a crash, `transactionsMax`) continues where it left off on the next call, from any
   * process. Writers may run throughout; see `online-indexer.ts` for why the result is exact.
   * @throws RecordLayerError `unique_violation` naming the index and the values when a unique index
   * meets two records with the same values (the index stays write-only; fix the records and call
   * again); `record_invalid` for a record whose indexed value an index cannot hold.
   * @example
   * ```ts
   * const result = await store.buildIndexes(db, { transactionRecords: 500 });
   * console.log(result.built); // ['orders.byStatus']
   * ```
   */
  buildIndexes(db: Database, options: BuildIndexesOptions = {}): Promise<BuildIndexesResult> {
    return buildIndexes(db, this as unknown as RecordStore<SchemaTypes>, options);
  }

  /** The indexes of `type` that are write-only as far as this store object knows. */
  writeOnlyIndexes(type: string): ReadonlySet<string> {
    return this.#writeOnly.get(type) ?? EMPTY_SET;
  }

  /** @internal Records that index `indexName` of `type` is write-only. */
  markWriteOnly(type: string, indexName: string): void {
    let set = this.#writeOnly.get(type);
    if (set === undefined) this.#writeOnly.set(type, (set = new Set()));
    set.add(indexName);
  }

  /** @internal Records that index `indexName` of `type` has become readable. */
  markReadable(type: string, indexName: string): void {
    this.#writeOnly.get(type)?.delete(indexName);
  }

  /**
   * @internal Marks the record `key` of `type` to be stamped in version indexes `indexes` when `tx`
   * commits (added to any indexes it is already marked for).
   */
  markForStamp(tx: Transaction, type: string, key: TupleItem[], indexes: readonly string[]): void {
    let marks = this.#toStamp.get(tx);
    if (marks === undefined) {
      marks = new Map();
      this.#toStamp.set(tx, marks);
      tx.onCommit(() => this.#stamp(tx));
    }
    const id = stampId(type, key);
    const mark = marks.get(id) ?? { type, key, indexes: new Set<string>() };
    for (const name of indexes) mark.indexes.add(name);
    marks.set(id, mark);
  }

  /** @internal Forgets the mark of the record `key` of `type` in `tx` (it was deleted). */
  unmarkForStamp(tx: Transaction, type: string, key: readonly TupleItem[]): void {
    this.#toStamp.get(tx)?.delete(stampId(type, key));
  }

  // At commit: one entry per marked record in each of its version indexes, and its version key,
  // under the commit's versionstamp; user versions in the order records were first marked.
  #stamp(tx: Transaction): void {
    const marks = this.#toStamp.get(tx);
    this.#toStamp.delete(tx);
    if (marks === undefined) return;
    if (marks.size > USER_VERSION_MAX + 1) {
      throw new RecordLayerError('invalid_query', `one transaction can write at most ${USER_VERSION_MAX + 1} records of types with a version index`);
    }
    let userVersion = 0;
    for (const { type, key, indexes } of marks.values()) {
      for (const name of indexes) {
        tx.setVersionstampedKey(packWithVersionstamp([INDEXES, type, name, Versionstamp.incomplete(userVersion), ...key], this.subspace.prefix), EMPTY);
      }
      tx.setVersionstampedValue(this.versionKey(type, key), packWithVersionstamp([Versionstamp.incomplete(userVersion)]));
      userVersion++;
    }
  }

  /** @internal The key holding the version of record `key` of `type`. */
  versionKey(type: string, key: readonly TupleItem[]): Uint8Array {
    return this.subspace.pack([VERSIONS, type, ...key]);
  }

  /** @internal The key holding the state of index `indexName` of `type`. */
  indexStateKey(type: string, indexName: string): Uint8Array {
    return this.subspace.pack([INDEX_STATES, type, indexName]);
  }

  /**
   * @internal The state of index `indexName` of `type` read in `tx` (a read that conflicts with a
   * build transaction moving the index's progress), updating what this store object knows.
   */
  async readIndexState(tx: Transaction, type: string, indexName: string): Promise<IndexState> {
    const bytes = await tx.get(this.indexStateKey(type, indexName));
    if (bytes === null) {
      this.markReadable(type, indexName);
      return { state: 'readable', built: null };
    }
    return decodeIndexState(bytes);
  }

  async #checkEvolution(tx: Transaction, stored: SchemaDescription, next: SchemaDescription): Promise<void> {
    const droppedBefore = stored.droppedFields ?? {};
    const refuse = (type: string, why: string): never => {
      throw new RecordLayerError('schema_incompatible', `record type ${type}: ${why}`, { details: { type } });
    };
    for (const [name, before] of Object.entries(stored.types)) {
      const after = next.types[name];
      const hasRecords = async (): Promise<boolean> => {
        const { begin, end } = this.subspace.range([RECORDS, name]);
        return (await tx.getRangeAll(begin, end, { limit: 1 })).length > 0;
      };
      if (after === undefined) {
        if (await hasRecords()) refuse(name, 'the type was removed from the schema but records of it are stored');
        const states = this.subspace.range([INDEX_STATES, name]);
        tx.clearRange(states.begin, states.end);
        const versions = this.subspace.range([VERSIONS, name]);
        tx.clearRange(versions.begin, versions.end);
        continue;
      }
      if (JSON.stringify(before.primaryKey) !== JSON.stringify(after.primaryKey)) {
        refuse(name, `the primary key changed from (${before.primaryKey.join(', ')}) to (${after.primaryKey.join(', ')}); stored records are keyed by the old one`);
      }
      for (const [field, text] of Object.entries(after.fields)) {
        const old = before.fields[field];
        const type = after.fieldTypes?.[field] ?? parseFieldType(text);
        if (old === undefined) {
          const mayBeMissing = type === null ? text.startsWith('optional<') || text.startsWith('default<') : peelFieldType(type).missing;
          if (!mayBeMissing && (await hasRecords())) {
            refuse(name, `new field ${field} is required, but stored records do not have it; make it optional or give it a default`);
          }
          // A field added back keeps the position it had (record-codec.ts): the records written
          // before it was dropped still hold its values there, and must read under the new type.
          const dropped = droppedBefore[name]?.[field];
          const why = dropped === undefined || type === null ? null : fieldTypeChange(dropped, type);
          if (why !== null && (await hasRecords())) {
            refuse(name, `field ${field} was dropped while records held it as ${fieldTypeText(dropped!)}; added back, it ${why}: add it back as ${fieldTypeText(dropped!)}, or under another name`);
          }
        } else {
          // Stores written before field types were kept (format 1) have only the text, whose enum
          // and literal values and union members are unknown: those compare as unchanged.
          const oldType = before.fieldTypes?.[field] ?? parseFieldType(old);
          const why = oldType === null || type === null ? (old === text ? null : `changed type from ${old} to ${text}, which stored records may not satisfy`) : fieldTypeChange(oldType, type);
          if (why !== null && (await hasRecords())) refuse(name, `field ${field} ${why}`);
        }
      }
      // A field whose numbers change key form (see doubleFields) leaves stored keys in the old one.
      const reformed = new Set(Object.keys(after.fields).filter((field) => (before.doubles?.includes(field) ?? false) !== (after.doubles?.includes(field) ?? false)));
      const rekeyed = after.primaryKey.filter((field) => reformed.has(field));
      if (rekeyed.length > 0 && (await hasRecords())) {
        const field = rekeyed[0]!;
        refuse(
          name,
          after.doubles?.includes(field) === true
            ? `primary key field ${field} is a number that may hold fractions, keyed as a double so that keys sort in numeric order, but stored records were keyed with integral numbers as integers; declare it z.number().int() if it holds only integers, or copy the records into a new store`
            : `primary key field ${field} now holds only integers, keyed as integers, but stored records were keyed as doubles; declare it z.number() again, or copy the records into a new store`,
        );
      }
      // A new or changed index starts empty: readable at once on a type without records, otherwise
      // write-only with nothing built, until buildIndexes has indexed the stored records. An index
      // over a field whose numbers changed key form, or that gained or lost a default, counts as
      // changed: records stored without the field now read differently, so its entries no longer
      // match them (invariant 5).
      const defaulted = (description: typeof before, field: string): boolean => description.defaulted?.includes(field) ?? DEFAULTED.test(description.fields[field]!);
      const defaultChanged = (field: string): boolean =>
        before.fields[field] !== undefined && after.fields[field] !== undefined && defaulted(before, field) !== defaulted(after, field);
      const changed: string[] = [];
      for (const [indexName, definition] of Object.entries(after.indexes)) {
        const old = before.indexes[indexName];
        if (old === undefined || JSON.stringify(old) !== JSON.stringify(definition) || indexedFields(definition).some((field) => defaultChanged(field) || reformed.has(field))) changed.push(indexName);
      }
      const stored = changed.length > 0 && (await hasRecords());
      for (const indexName of changed) {
        this.#clearIndex(tx, name, indexName);
        if (stored) tx.set(this.indexStateKey(name, indexName), encodeIndexState({ state: 'write_only', built: null }));
        else tx.clear(this.indexStateKey(name, indexName));
      }
      // A dropped index's entries and state go with it.
      for (const indexName of Object.keys(before.indexes)) {
        if (after.indexes[indexName] === undefined) {
          this.#clearIndex(tx, name, indexName);
          tx.clear(this.indexStateKey(name, indexName));
        }
      }
      // Stored versions serve only version indexes; with none left they would go stale.
      if (!Object.values(after.indexes).some((d) => d.kind === 'version')) {
        const versions = this.subspace.range([VERSIONS, name]);
        tx.clearRange(versions.begin, versions.end);
      }
    }
  }

  #clearIndex(tx: Transaction, type: string, indexName: string): void {
    // From the index's own key (where an ungrouped count or sum lives) to the end of its entries.
    tx.clearRange(this.subspace.pack([INDEXES, type, indexName]), this.subspace.range([INDEXES, type, indexName]).end);
  }

  /**
   * Yields every record of type `type` that `query` matches, in its order, reading in successive
   * transactions that each stay well inside the five-second transaction limit.
   *
   * @remarks
   * Each transaction stops after {@link STREAM_TRANSACTION_MS} milliseconds or
   * {@link STREAM_TRANSACTION_RECORDS} records and the next one continues from its cursor, so a
   * stream of any length never hits `transaction_too_old`. The records are not one snapshot:
   * records written during the stream may or may not be seen, but a record that exists throughout,
   * matches throughout and keeps its place in the order (its sort fields, or its version for
   * `$version`, unchanged) is yielded exactly once. A record whose place moves meanwhile, as in any
   * keyset paging, is skipped if it moves behind the stream and yielded again if it moves ahead.
   * An index that finishes building meanwhile does not disturb it: it goes on over the indexes it
   * began with while they are readable (and fails with `invalid_query` rather than repeat or skip
   * records if one is dropped, or if the store's schema changes under it).
   * @throws RecordLayerError as {@link Collection.findMany}.
   * @example
   * ```ts
   * for await (const order of store.stream(db, 'orders', { where: { status: 'open' } })) console.log(order.id);
   * ```
   */
  stream<K extends keyof T & string>(db: Database, type: K, query: FindManyQuery<RecordOf<T[K]>> = {}, options: StreamOptions = {}): AsyncGenerator<RecordOf<T[K]>> {
    this.schema.type(type);
    const page = (tx: Transaction, q: FindManyQuery<unknown>, budget: PageBudget): Promise<FindManyResult<Record<string, unknown>>> =>
      (this.bind(tx)[type] as unknown as Collection<RecordTypeDefinition>).findPage(q, budget);
    return streamQuery(db, page, query as FindManyQuery<unknown>, options) as AsyncGenerator<RecordOf<T[K]>>;
  }

  /**
   * Hands out the next value of sequence `name` in `tx`: one more than the last, 1 for a new
   * sequence. Inserts call it for the fields a record type's `sequences` fill.
   *
   * @remarks
   * Unlike PostgreSQL's `nextval`, the sequence is transactional: a value is handed out only if
   * `tx` commits, so committed values have no gaps, and two transactions that take a value from
   * one sequence conflict (one retries). That serializes inserters of one sequence; a type
   * written at a high rate by many clients is better keyed by a uuid or a versionstamp.
   * @throws RecordLayerError `invalid_query` for a name that is not a non-empty string.
   * @example
   * ```ts
   * const id = await db.transact((tx) => store.nextValue(tx, 'invoice_number'));
   * ```
   */
  async nextValue(tx: Transaction, name: string): Promise<bigint> {
    const next = ((await this.readSequence(tx, name)) ?? 0n) + 1n;
    tx.set(this.#sequenceKey(name), pack([next]));
    return next;
  }

  /**
   * The last value sequence `name` handed out (or was set to), read in `tx`; `null` for a
   * sequence never used.
   */
  async readSequence(tx: Transaction, name: string): Promise<bigint | null> {
    const bytes = await tx.get(this.#sequenceKey(name));
    if (bytes === null) return null;
    const [value] = unpack(bytes);
    assert(typeof value === 'bigint' || typeof value === 'number', `sequence ${name} holds an integer`);
    return BigInt(value);
  }

  /**
   * Sets the last value of sequence `name`: the next {@link RecordStore.nextValue} returns
   * `last + 1` (PostgreSQL's `setval(name, last)`). A migration sets each sequence after copying
   * the rows whose ids it handed out.
   */
  setSequence(tx: Transaction, name: string, last: bigint): void {
    if (typeof last !== 'bigint') throw new RecordLayerError('invalid_query', `setSequence takes the last value as a bigint, not ${typeof last}`);
    tx.set(this.#sequenceKey(name), pack([last]));
  }

  #sequenceKey(name: string): Uint8Array {
    if (typeof name !== 'string' || name.length === 0) throw new RecordLayerError('invalid_query', 'a sequence name must be a non-empty string');
    return this.subspace.pack([SEQUENCES, name]);
  }

  /**
   * @internal The check that `tx` sees the schema version this store object was opened with
   * (invariant 6): a read of the metadata version (no storage read: it comes with the read
   * version), and of the schema version key only when the metadata version moved since this store
   * object last saw it (or `tx` is of another database); started when the store is bound into the
   * transaction (`tx.at(store)` binds it once per transaction) and awaited by every operation that
   * reads or writes records. It resolves to the error the transaction's operations throw:
   * `schema_changed` (not retryable) when another open changed the schema, `not_committed` when
   * the transaction's snapshot predates the open that made this store object, or the read's own
   * failure; null when the schema is the one this store object was opened with. Resolved rather
   * than rejected, so that a transaction that never awaits it (a view only explained) leaves no
   * rejection unhandled, with one promise a check.
   */
  schemaCheck(tx: Transaction): Promise<Error | null> {
    // Another database's metadata versions say nothing of this one's.
    if (tx.origin !== this.#origin) return this.#readSchemaVersion(tx, null);
    // A snapshot read, and a conflict on the schema version key alone: a bump by another store, or
    // a removal of another directory, leaves this transaction alone. A change of this store's schema
    // writes the key, and a removal of its directory clears it, so either still conflicts.
    return tx.get(METADATA_VERSION_KEY, { snapshot: true }).then(
      (metadataVersion) => {
        if (!sameBytes(metadataVersion, this.#metadataVersion)) return this.#readSchemaVersion(tx, metadataVersion);
        // The transaction may have ended meanwhile (one only explained never awaits the check):
        // the check then resolves to the refusal, as it does to every other error.
        try {
          tx.addReadConflictKey(this.#versionKey!);
        } catch (error) {
          return asError(error);
        }
        return null;
      },
      // This transaction bumped the metadata version (removed a directory, say): the key is
      // unreadable in it until it commits, so the schema version key is read instead.
      (error: unknown) => (isStrataError(error) && error.code === 'accessed_unreadable' ? this.#readSchemaVersion(tx, null) : asError(error)),
    );
  }

  // The check when the metadata version moved since this store object last saw it: one read of the
  // schema version key. If it still holds this store object's version, the metadata version read
  // (`metadataVersion`, at the same read version) is one the schema version holds at, so later
  // transactions that read it skip this read.
  #readSchemaVersion(tx: Transaction, metadataVersion: Uint8Array | null): Promise<Error | null> {
    return tx.get(this.#versionKey!).then((bytes) => {
      const error = this.#compareSchemaVersion(bytes, tx);
      if (error === null && metadataVersion !== null && (this.#metadataVersion === null || Buffer.compare(metadataVersion, this.#metadataVersion) > 0)) {
        this.#metadataVersion = metadataVersion;
      }
      return error;
    }, asError);
  }

  #compareSchemaVersion(bytes: Uint8Array | null, tx: Transaction): Error | null | Promise<Error | null> {
    const expected = this.#schemaVersionBytes;
    if (bytes === null ? expected === null : expected !== null && Buffer.compare(bytes, expected) === 0) return null;
    const version = decodeSchemaVersion(bytes);
    // A transaction that read before the open that made this store object sees an older version: a
    // retry, at a newer read version, sees this one. Any other older version (another database, a
    // removed directory) stays: no retry would help.
    if (version < this.#schemaVersion) {
      return tx.getReadVersion().then((readVersion) =>
        readVersion < this.#openedAt
          ? new StrataError('not_committed', `the transaction reads the store as it was before version ${this.#schemaVersion} of its schema, which this store object was opened with: retry it`, {
              details: { expected: this.#schemaVersion, stored: version },
            })
          : this.#schemaChanged(version),
      );
    }
    return this.#schemaChanged(version);
  }

  #schemaChanged(version: number): RecordLayerError {
    return new RecordLayerError(
      'schema_changed',
      `the schema of the store in this directory changed (version ${version}) since this store object was opened with version ${this.#schemaVersion}; open the store again with RecordStore.open`,
      { details: { expected: this.#schemaVersion, stored: version } },
    );
  }

  /**
   * The store seen inside a transaction: one collection per record type (what `tx.at(store)` returns).
   *
   * @remarks
   * Binding the store into a transaction checks the stored schema version (without a storage
   * read while the database's metadata version has not moved), and every operation fails with
   * `schema_changed` if another {@link RecordStore.open} changed the schema since this store object
   * was opened: a store object keeps working only while its schema is the stored one, so it never
   * writes records without the indexes a newer schema added.
   * @throws RecordLayerError `schema_changed` (from the operations, not from `bind`); StrataError
   * `not_committed` (retried by `db.transact`) when the transaction's snapshot predates the open
   * that made this store object.
   */
  bind(tx: Transaction): StoreView<T> {
    const view: Record<string, Collection<RecordTypeDefinition>> = {};
    const check = this.schemaCheck(tx);
    for (const name of Object.keys(this.schema.types)) view[name] = new Collection(this as unknown as RecordStore<SchemaTypes>, tx, name, this.schema.type(name), check);
    return view as StoreView<T>;
  }

  /**
   * @internal The collection of record type `name` in `tx`, for code that names types at run time
   * (the PostgreSQL copy and verify). Each call starts its own schema check.
   * @throws RecordLayerError `unknown_record_type`.
   */
  collection(tx: Transaction, name: string): Collection<RecordTypeDefinition> {
    return new Collection(this as unknown as RecordStore<SchemaTypes>, tx, name, this.schema.type(name), this.schemaCheck(tx));
  }
}

/**
 * The records of one type inside a transaction: writes that validate and maintain indexes, and
 * reads by primary key.
 */
export class Collection<D extends RecordTypeDefinition> {
  readonly #store: RecordStore<SchemaTypes>;
  readonly #tx: Transaction;
  readonly #name: string;
  readonly #type: D;
  readonly #facts: TypeFacts;
  readonly #fields: ReadonlySet<string>;
  // The transaction's check of the store's schema version (invariant 6).
  readonly #schemaChecked: Promise<Error | null>;

  /** @internal Made by {@link RecordStore.bind}, with the transaction's check of the schema version. */
  constructor(store: RecordStore<SchemaTypes>, tx: Transaction, name: string, type: D, schemaChecked: Promise<Error | null>) {
    this.#store = store;
    this.#tx = tx;
    this.#schemaChecked = schemaChecked;
    this.#name = name;
    this.#type = type;
    this.#facts = store.typeFacts(name);
    this.#fields = this.#facts.fields;
  }

  /** The name of the record type. */
  get typeName(): string {
    return this.#name;
  }

  /**
   * Inserts a record.
   * @throws RecordLayerError `record_invalid` (naming the field and the rule), `unknown_field`,
   * `record_exists`, `unique_violation`.
   */
  async insert(record: RecordInput<D>): Promise<RecordOf<D>> {
    const sequences = this.#facts.sequences.length === 0 ? null : new Map<string, bigint>();
    const parsed = this.#validate(await this.#fillSequences(record, sequences));
    const key = this.#primaryKey(parsed);
    if ((await this.#readStored(key)) !== null) throw this.#exists(key);
    await this.#write(key, null, parsed, sequences);
    return parsed;
  }

  #exists(key: TupleItem[]): RecordLayerError {
    return new RecordLayerError('record_exists', `a ${this.#name} record with primary key ${describeKey(key)} already exists`, { details: { type: this.#name, key } });
  }

  /**
   * Inserts several records (in this transaction, in order): all of them, or none.
   *
   * @remarks
   * Every check runs before the first write: validation, primary keys repeated in `records` or
   * already stored, unique values repeated in `records` or already indexed, and references. A
   * refused call writes nothing (sequence values included), even when the caller catches the error
   * and commits the transaction. A record may refer to a record earlier in `records`, as if each
   * were inserted in turn.
   * @throws RecordLayerError as {@link Collection.insert}, and `foreign_key_violation`;
   * `record_invalid` when `records` is not an array.
   * @example
   * ```ts
   * await tx.at(store).customers.insertMany([{ id: 1n, email: 'ada@example.com', name: 'Ada' }, { id: 2n, email: 'bob@example.com', name: 'Bob' }]);
   * ```
   */
  async insertMany(records: readonly RecordInput<D>[], options: InsertManyOptions = {}): Promise<RecordOf<D>[]> {
    if (!Array.isArray(records)) throw new RecordLayerError('record_invalid', `insertMany takes an array of ${this.#name} records`, { details: { type: this.#name } });
    const sequences = this.#facts.sequences.length === 0 ? null : new Map<string, bigint>();
    let filled: readonly unknown[] = records;
    if (sequences !== null) {
      const withValues: unknown[] = [];
      for (const record of records) withValues.push(await this.#fillSequences(record, sequences)); // in order: values follow the records
      filled = withValues;
    }
    const parsed = filled.map((record) => this.#validate(record));
    const keys = parsed.map((record) => this.#primaryKey(record));
    const packedKeys = keys.map((key) => pack(key));
    // The existence reads go out together.
    const existing = await this.#readStoredPacked(packedKeys);
    const packed = packedKeys.map(latin1);
    const seen = new Set<string>();
    for (let i = 0; i < parsed.length; i++) {
      if (existing[i] !== null || seen.has(packed[i]!)) throw this.#exists(keys[i]!);
      seen.add(packed[i]!);
    }
    // Then each record's remaining checks and its mutations, in order, with nothing written yet: the
    // batch stands in for the writes of the records before it (their unique values and keys).
    const batch: InsertBatch = { earlier: new Set(), unique: new Map() };
    const changes: Change[] = [];
    const checkReferences = options.checkReferences ?? true;
    for (let i = 0; i < parsed.length; i++) {
      await this.#plan(keys[i]!, null, parsed[i]!, checkReferences, batch, changes);
      batch.earlier.add(packed[i]!);
    }
    // Encoding can still refuse a value (msgpack has no symbols), so every record is encoded (and
    // copied: the encoder reuses its buffer) before the first write.
    const encoded = parsed.map((record) => this.#encode(record).slice());
    for (let i = 0; i < parsed.length; i++) this.#checkChunkKeys(keys[i]!, encoded[i]!.length);
    if (sequences !== null) this.#setSequences(sequences);
    for (let i = 0; i < parsed.length; i++) this.#writeRecord(keys[i]!, 0, encoded[i]!);
    applyChanges(this.#tx, changes);
    return parsed;
  }

  /**
   * The record with this primary key (an object holding the primary key fields), or `null`.
   * @throws RecordLayerError `invalid_query` for a missing primary key field, or a value its field's
   * schema refuses (which no record could have).
   */
  async get(key: Partial<RecordOf<D>>): Promise<RecordOf<D> | null> {
    return this.#read(this.#primaryKey(key as Record<string, unknown>, 'get'));
  }

  /**
   * Changes some fields of a record; the result is validated as a whole. A field given as
   * `undefined` is left as it is (as in Prisma); `null` clears a nullable field; to drop an optional
   * field altogether, {@link Collection.upsert} the whole record without it.
   * @throws RecordLayerError `record_not_found`, `record_invalid`, `unknown_field`, `unique_violation`;
   * `invalid_query` for a key as {@link Collection.get} refuses it.
   */
  async update(key: Partial<RecordOf<D>>, changes: Partial<RecordInput<D>>): Promise<RecordOf<D>> {
    const primaryKey = this.#primaryKey(key as Record<string, unknown>, 'update');
    const stored = await this.#readStored(primaryKey);
    if (stored === null) throw new RecordLayerError('record_not_found', `no ${this.#name} record has primary key ${describeKey(primaryKey)}`, { details: { type: this.#name, key: primaryKey } });
    const parsed = this.#validate({ ...(this.#fromStorage(stored.record) as Record<string, unknown>), ...this.#definedChanges(changes) });
    const newKey = this.#primaryKey(parsed);
    if (!sameKey(newKey, primaryKey)) {
      throw new RecordLayerError('record_invalid', `update cannot change the primary key of a ${this.#name} record`, { details: { type: this.#name } });
    }
    await this.#write(primaryKey, stored, parsed);
    return parsed;
  }

  /** Inserts the record, or replaces the one with the same primary key. */
  async upsert(record: RecordInput<D>): Promise<RecordOf<D>> {
    const sequences = this.#facts.sequences.length === 0 ? null : new Map<string, bigint>();
    const parsed = this.#validate(await this.#fillSequences(record, sequences));
    const key = this.#primaryKey(parsed);
    await this.#write(key, await this.#readStored(key), parsed, sequences);
    return parsed;
  }

  /**
   * Deletes the record with this primary key; `false` if there was none.
   * @throws RecordLayerError `foreign_key_violation` while records refer to it; `invalid_query` for
   * a key as {@link Collection.get} refuses it.
   */
  async delete(key: Partial<RecordOf<D>>): Promise<boolean> {
    const primaryKey = this.#primaryKey(key as Record<string, unknown>, 'delete');
    const old = await this.#readStored(primaryKey);
    if (old === null) return false;
    await this.#write(primaryKey, old, null);
    return true;
  }

  /**
   * One page of the records that match `query`, in its order.
   *
   * @remarks
   * The planner picks an index (see {@link Collection.explain}); conditions it does not enforce are
   * checked on each record read. Pass the returned `cursor` (with the same `where` and `orderBy`)
   * to a later call, in this or any later transaction, for the next page; it is `null` when there
   * is no more. Without `limit` every matching record is returned, which must fit one transaction:
   * use {@link RecordStore.stream} for large results.
   * @throws RecordLayerError `no_index_for_query` naming the index to add (unless `allowFullScan`),
   * `unknown_field` naming the field, `invalid_query` (a malformed query, a cursor of another
   * query, or more than `SORT_RECORDS_MAX` records to sort in memory).
   * @example
   * ```ts
   * const { records, cursor } = await tx.at(store).orders.findMany({ where: { status: 'open' }, orderBy: { createdAt: 'desc' }, limit: 20 });
   * ```
   */
  async findMany(query: FindManyQuery<RecordOf<D>> = {}): Promise<FindManyResult<RecordOf<D>>> {
    return (await findMany(await this.#currentQueryContext(), query as FindManyQuery<unknown>)) as FindManyResult<RecordOf<D>>;
  }

  /**
   * The first record `query` matches (in its order), or `null`.
   * @throws RecordLayerError as {@link Collection.findMany}.
   * @example
   * ```ts
   * const latest = await tx.at(store).orders.findFirst({ where: { customerId: 7n }, orderBy: { createdAt: 'desc' } });
   * ```
   */
  async findFirst(query: Omit<FindManyQuery<RecordOf<D>>, 'limit'> = {}): Promise<RecordOf<D> | null> {
    const { records } = await this.findMany({ ...query, limit: 1 });
    return records[0] ?? null;
  }

  /**
   * Deletes every record `query` matches, in this transaction, maintaining the indexes; returns
   * how many were deleted.
   *
   * @remarks
   * Everything happens in the caller's transaction, so its limits apply (five seconds, ten
   * megabytes of mutations): for very many records, delete in pages of several transactions
   * (`findMany` with a `limit` and `cursor`, then `delete`). All or nothing: every record's checks
   * run before the first is deleted, and a record that refers to another one deleted by the same
   * call does not keep it (as PostgreSQL checks a `DELETE`'s foreign keys when it ends).
   * @throws RecordLayerError as {@link Collection.findMany}; `foreign_key_violation` when a record
   * that is not deleted refers to one that would be (nothing is deleted); `invalid_query` for a
   * `limit`, `cursor` or `orderBy` (deleteMany deletes every match).
   * @example
   * ```ts
   * const removed = await tx.at(store).orders.deleteMany({ where: { status: 'cancelled' } });
   * ```
   */
  async deleteMany(query: Omit<FindManyQuery<RecordOf<D>>, 'limit' | 'cursor' | 'orderBy'> = {}): Promise<number> {
    if (typeof query !== 'object' || query === null) throw new RecordLayerError('invalid_query', `deleteMany takes a query object, got ${query === null ? 'null' : typeof query}`);
    for (const option of ['limit', 'cursor', 'orderBy'] as const) {
      if ((query as Record<string, unknown>)[option] !== undefined) {
        throw new RecordLayerError('invalid_query', `deleteMany deletes every record that matches; it takes no ${option} (page with findMany and delete to delete some)`, { details: { option } });
      }
    }
    // Collect first, then delete: deleting while paging would move the index under the cursor.
    const matched: RecordOf<D>[] = [];
    let cursor: string | null = null;
    do {
      const page: FindManyResult<RecordOf<D>> = await this.findMany({ ...query, limit: DELETE_MANY_PAGE_RECORDS, cursor });
      matched.push(...page.records);
      cursor = page.cursor;
    } while (cursor !== null);
    // Every delete is planned (its checks run) before the first is written (invariant 3), and a
    // record that refers to another record of the same call does not keep it: as PostgreSQL checks
    // a DELETE's foreign keys when the statement ends.
    const keys: TupleItem[][] = [];
    const packed: Uint8Array[] = [];
    const deleting = new Set<string>();
    for (const record of matched) {
      const key = this.#primaryKey(record as Record<string, unknown>);
      const bytes = pack(key);
      const id = latin1(bytes);
      if (deleting.has(id)) continue; // once, however many times the query found it
      deleting.add(id);
      keys.push(key);
      packed.push(bytes);
    }
    const stored = await this.#readStoredPacked(packed);
    const changes: Change[] = [];
    for (let i = 0; i < keys.length; i++) await this.#plan(keys[i]!, stored[i]!, null, true, null, changes, deleting);
    for (let i = 0; i < keys.length; i++) this.#writeRecord(keys[i]!, stored[i]!.chunks, null);
    applyChanges(this.#tx, changes);
    return keys.length;
  }

  /**
   * How {@link Collection.findMany} would run `query`: the index, its key ranges, the residual
   * filter, and whether it is a full scan or sorts in memory. Reads nothing.
   * @throws RecordLayerError as {@link Collection.findMany}.
   * @example
   * ```ts
   * tx.at(store).orders.explain({ where: { status: 'open' } }).index; // 'byStatus'
   * ```
   */
  explain(query: Omit<FindManyQuery<RecordOf<D>>, 'limit' | 'cursor'> = {}): Explanation {
    return explain(this.#queryContext(), query as FindManyQuery<unknown>);
  }

  /**
   * How many records match `where`, read from a count index whose groupBy fields are exactly the
   * fields `where` compares for equality (no where: a count index without groupBy).
   * @throws RecordLayerError `no_index_for_query` naming the count index to add; `unknown_field`.
   * @example
   * ```ts
   * const open = await tx.at(store).orders.count({ where: { status: 'open' } });
   * ```
   */
  async count(query: AggregateQuery<RecordOf<D>> = {}): Promise<bigint> {
    return (await aggregate(await this.#currentQueryContext(), 'count', null, query as AggregateQuery<unknown>)) as bigint;
  }

  /**
   * The sum of an integer field over the records that match `where`, from a sum index (as {@link Collection.count}).
   * @throws RecordLayerError `no_index_for_query` naming the sum index to add; `unknown_field`.
   * @example
   * ```ts
   * const spent = await tx.at(store).orders.sum('total', { where: { customerId: 7n } });
   * ```
   */
  async sum(field: keyof RecordOf<D> & string, query: AggregateQuery<RecordOf<D>> = {}): Promise<bigint> {
    return (await aggregate(await this.#currentQueryContext(), 'sum', field, query as AggregateQuery<unknown>)) as bigint;
  }

  /**
   * The least value of `field` over the records that match `where` (missing values left out), or
   * `null` when there is none; from a min or max index with those groupBy fields.
   * @throws RecordLayerError `no_index_for_query` naming the index to add; `unknown_field`.
   * @example
   * ```ts
   * const first = await tx.at(store).orders.min('createdAt', { where: { customerId: 7n } });
   * ```
   */
  async min<K extends keyof RecordOf<D> & string>(field: K, query: AggregateQuery<RecordOf<D>> = {}): Promise<RecordOf<D>[K] | null> {
    return (await aggregate(await this.#currentQueryContext(), 'min', field, query as AggregateQuery<unknown>)) as RecordOf<D>[K] | null;
  }

  /**
   * The greatest value of `field` over the records that match `where`, or `null` (as {@link Collection.min}).
   * @throws RecordLayerError `no_index_for_query` naming the index to add; `unknown_field`.
   * @example
   * ```ts
   * const largest = await tx.at(store).orders.max('total');
   * ```
   */
  async max<K extends keyof RecordOf<D> & string>(field: K, query: AggregateQuery<RecordOf<D>> = {}): Promise<RecordOf<D>[K] | null> {
    return (await aggregate(await this.#currentQueryContext(), 'max', field, query as AggregateQuery<unknown>)) as RecordOf<D>[K] | null;
  }

  /** @internal One page that also stops at `budget` (for {@link RecordStore.stream}). */
  findPage(query: FindManyQuery<unknown>, budget: PageBudget): Promise<FindManyResult<Record<string, unknown>>> {
    return this.#currentQueryContext().then((context) => findMany(context, query, budget));
  }

  // Reads the state of every index this store object thinks is write-only (so an index built by
  // another process since is used), then makes the query context.
  async #currentQueryContext(): Promise<QueryContext> {
    const schemaChanged = await this.#schemaChecked;
    if (schemaChanged !== null) throw schemaChanged;
    for (const name of [...this.#store.writeOnlyIndexes(this.#name)]) await this.#store.readIndexState(this.#tx, this.#name, name);
    return this.#queryContext();
  }

  // Queries see only readable indexes (a write-only index is incomplete); `building` names the rest
  // so a refused query can say why.
  #queryContext(): QueryContext {
    const name = this.#name;
    const building = [...this.#store.writeOnlyIndexes(name)].filter((index) => this.#type.indexes[index] !== undefined);
    const definition: RecordTypeDefinition =
      building.length === 0
        ? this.#type
        : { ...this.#type, indexes: Object.fromEntries(Object.entries(this.#type.indexes).filter(([index]) => !building.includes(index))) };
    return {
      typeName: name,
      definition,
      doubles: this.#facts.doubles,
      building,
      subspace: this.#store.subspace,
      recordsPrefix: [RECORDS, name],
      indexPrefix: (index: string) => [INDEXES, name, index],
      tx: this.#tx,
      schemaVersion: this.#store.schemaVersion,
      readRecord: (key: TupleItem[]) => this.#read(key) as Promise<Record<string, unknown> | null>,
      readPacked: async (keys: readonly Uint8Array[]) => {
        const stored = await this.#readStoredPacked(keys);
        return stored.map((one) => (one === null ? null : (this.#fromStorage(one.record) as Record<string, unknown>)));
      },
      decode: (bytes: Uint8Array) => this.#fromStorage(this.#decode(bytes)) as Record<string, unknown>,
    };
  }

  // ---------------------------------------------------------------------------------------------

  // The fields an update sets: those of `changes` whose value is not undefined (undefined leaves a
  // field as it is, as in Prisma; null clears a nullable field).
  #definedChanges(changes: unknown): Record<string, unknown> {
    if (typeof changes !== 'object' || changes === null || Array.isArray(changes)) {
      throw new RecordLayerError('record_invalid', `update of a ${this.#name} record needs an object of the fields to change, got ${changes === null ? 'null' : Array.isArray(changes) ? 'an array' : typeof changes}`, {
        details: { type: this.#name },
      });
    }
    this.#checkFields(changes as Record<string, unknown>);
    const defined: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(changes)) if (value !== undefined) defined[field] = value;
    return defined;
  }

  #checkFields(record: Record<string, unknown>): void {
    for (const field of Object.keys(record)) {
      if (!this.#fields.has(field)) {
        throw new RecordLayerError('unknown_field', `${this.#name} has no field ${JSON.stringify(field)}`, { details: { type: this.#name, field } });
      }
    }
  }

  // The record with each sequence-fed field it leaves out (undefined) set to its sequence's next
  // value. Nothing is written: `taken` gets the last value taken from each sequence, for
  // #setSequences to store with the write, so a refused write hands out no value (null when the
  // type has no sequence).
  async #fillSequences(record: unknown, taken: Map<string, bigint> | null): Promise<unknown> {
    const sequences = this.#facts.sequences;
    if (taken === null || typeof record !== 'object' || record === null) return record;
    const schemaChanged = await this.#schemaChecked;
    if (schemaChanged !== null) throw schemaChanged;
    let filled: Record<string, unknown> | null = null;
    for (const [field, sequence] of sequences) {
      if ((record as Record<string, unknown>)[field] !== undefined) continue;
      filled ??= { ...(record as Record<string, unknown>) };
      const next = (taken.get(sequence) ?? (await this.#store.readSequence(this.#tx, sequence)) ?? 0n) + 1n;
      taken.set(sequence, next);
      if (!sequenceFillsNumbers(this.#type, field)) filled[field] = next;
      else if (next <= BigInt(Number.MAX_SAFE_INTEGER)) filled[field] = Number(next);
      else throw new RecordLayerError('record_invalid', `${this.#name}.${field}: sequence ${sequence} reached ${next}, past the largest safe integer number; declare the field as a bigint`, { details: { type: this.#name, field } });
    }
    return filled ?? record;
  }

  // Stores the last value taken from each sequence by #fillSequences.
  #setSequences(taken: ReadonlyMap<string, bigint>): void {
    for (const [sequence, last] of taken) this.#store.setSequence(this.#tx, sequence, last);
  }

  #validate(record: unknown): RecordOf<D> {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new RecordLayerError('record_invalid', `a ${this.#name} record must be an object`, { details: { type: this.#name } });
    }
    this.#checkFields(record as Record<string, unknown>);
    const result = (this.#type.schema as z.ZodType).safeParse(record);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      // A strict object (z.strictObject) refuses a key it does not name: the same refusal as below.
      if (issue.code === 'unrecognized_keys') throw this.#unknownField(fieldPath([...issue.path, issue.keys[0]!]), result.error);
      const field = issue.path.join('.') || '(record)';
      throw new RecordLayerError('record_invalid', `${this.#name}.${field}: ${issue.message}`, {
        details: { type: this.#name, field, rule: issue.code },
        cause: result.error,
      });
    }
    // An object schema drops keys it does not name (zod's default) at any depth; the top level was
    // checked above. What parsing dropped below it is found by comparing the input with zod's
    // output, which also follows the branch of a union that zod chose, in the fields whose schema
    // may hold objects: a record of scalars pays nothing.
    for (const field of this.#facts.nestedFields) {
      const dropped = droppedKey((record as Record<string, unknown>)[field], (result.data as Record<string, unknown>)[field]);
      if (dropped === null) continue;
      // Inside a union, zod takes the first member that accepts the value: the key may belong to
      // another member, which the message says.
      const union = unionOnPath(this.#type.schema.shape[field] as z.ZodType, dropped);
      const note = union === null ? '' : `: the first member of the union at ${JSON.stringify(fieldPath([field, ...union]))} that accepts the value does not declare it`;
      throw this.#unknownField(fieldPath([field, ...dropped]), undefined, note);
    }
    return result.data as RecordOf<D>;
  }

  #unknownField(field: string, cause?: unknown, note = ''): RecordLayerError {
    return new RecordLayerError('unknown_field', `${this.#name} has no field ${JSON.stringify(field)}${note}`, { details: { type: this.#name, field }, cause });
  }

  #primaryKey(record: Record<string, unknown>, operation?: string): TupleItem[] {
    if (operation !== undefined) {
      if (typeof record !== 'object' || record === null) {
        throw new RecordLayerError('invalid_query', `${operation} takes an object holding the primary key fields (${this.#type.primaryKey.join(', ')})`);
      }
      this.#checkFields(record);
    }
    return this.#type.primaryKey.map((field) => {
      const value = record[field];
      if (value === undefined) {
        throw new RecordLayerError('invalid_query', `${operation ?? 'the record'} needs primary key field ${JSON.stringify(field)} of ${this.#name}`, {
          details: { type: this.#name, field },
        });
      }
      // A value of another type would be keyed apart from every record and silently find none.
      if (operation !== undefined && !holdsKindOf(this.#type.schema.shape[field] as z.ZodType, value)) {
        throw new RecordLayerError('invalid_query', `${operation}: ${printItem(value)} is not a valid value of primary key field ${this.#name}.${field}`, {
          details: { type: this.#name, field },
        });
      }
      return keyItem(value, field, this.#facts.doubles.has(field));
    });
  }

  // The record as stored: what its index entries were computed from, and how many chunks hold it.
  async #readStored(key: TupleItem[]): Promise<Stored<RecordOf<D>> | null> {
    return (await this.#readStoredPacked([pack(key)]))[0]!;
  }

  // #readStored of several records, by their packed primary keys: their first chunks are read
  // together, and any further chunks (of a split record) afterwards.
  async #readStoredPacked(keys: readonly Uint8Array[]): Promise<(Stored<RecordOf<D>> | null)[]> {
    // Every read and write of records comes here first: none runs under a schema that changed.
    const schemaChanged = await this.#schemaChecked;
    if (schemaChanged !== null) throw schemaChanged;
    const prefix = this.#facts.recordPrefix;
    // Each record's chunks are (recordPrefix, key..., chunk): its first key ends in chunk 0.
    const firstKeys = keys.map((key) => {
      const first = new Uint8Array(prefix.length + key.length + 1);
      first.set(prefix);
      first.set(key, prefix.length);
      first[first.length - 1] = CHUNK_ZERO;
      return first;
    });
    // Borrowed: decoded at once, and the decoder copies what it keeps (copyBuffers).
    // Every borrowed value is decoded before the next await.
    // A key too long for the key limit holds no record (and a read of it would fail): the others
    // are read as copies then, since they wait for one another.
    const values = firstKeys.some((key) => key.length > limits.KEY_SIZE_MAX)
      ? await Promise.all(firstKeys.map((key) => (key.length > limits.KEY_SIZE_MAX ? null : this.#tx.get(key))))
      : await this.#tx.getMany(firstKeys, { borrow: true });
    const out = values.map((value) => (value === null || value[0] !== RECORD_WHOLE ? null : { record: this.#decode(value), chunks: 1 }));
    for (let i = 0; i < values.length; i++) {
      if (values[i] === null || out[i] !== null) continue;
      // A split record: every chunk, the keys that extend the record's (as `range` gives them).
      const begin = firstKeys[i]!.slice();
      begin[begin.length - 1] = 0x00;
      const end = firstKeys[i]!.slice();
      end[end.length - 1] = 0xff;
      const chunks = await this.#tx.getRangeAll(begin, end);
      out[i] = { record: this.#decode(Buffer.concat(chunks.map((chunk) => chunk.value))), chunks: chunks.length };
    }
    return out;
  }

  // The fields of a stored record (its bytes start with the header byte).
  #decode(bytes: Uint8Array): RecordOf<D> {
    if (bytes[0] !== RECORD_WHOLE && bytes[0] !== RECORD_SPLIT) {
      throw new RecordLayerError('record_invalid', `a stored ${this.#name} record has an unknown header byte 0x${(bytes[0] ?? 0).toString(16)}`);
    }
    return this.#facts.codec.decode(bytes) as RecordOf<D>;
  }

  // The record as the current schema sees it.
  async #read(key: TupleItem[]): Promise<RecordOf<D> | null> {
    const stored = await this.#readStored(key);
    return stored === null ? null : this.#fromStorage(stored.record);
  }

  /**
   * A stored record as the current schema sees it: fields the schema dropped are left out and
   * fields it added get their defaults.
   * @throws RecordLayerError `record_invalid` if the stored record no longer satisfies the schema.
   */
  #fromStorage(stored: RecordOf<D>): RecordOf<D> {
    // Fields the schema no longer has are left out: by the schema itself when it drops what it does
    // not name, otherwise first.
    let known = stored as Record<string, unknown>;
    if (!this.#facts.stripsUnknown) {
      known = {};
      for (const [field, value] of Object.entries(stored as Record<string, unknown>)) if (this.#fields.has(field)) known[field] = value;
    }
    const result = (this.#type.schema as z.ZodType).safeParse(known);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw new RecordLayerError('record_invalid', `a stored ${this.#name} record no longer matches the schema at ${issue.path.join('.') || '(record)'}: ${issue.message}`, {
        details: { type: this.#name, field: issue.path.join('.'), rule: issue.code },
        cause: result.error,
      });
    }
    return result.data as RecordOf<D>;
  }

  /**
   * The indexes this write maintains: every readable index, and each write-only index whose built
   * range holds `key` (online-indexer.ts, invariant 2). Reading a write-only index's state makes
   * this transaction conflict with a build transaction that moves its progress.
   */
  async #maintained(key: TupleItem[]): Promise<readonly (readonly [string, IndexDefinition])[]> {
    const writeOnly = this.#store.writeOnlyIndexes(this.#name);
    if (writeOnly.size === 0) return this.#facts.indexes;
    const out: [string, IndexDefinition][] = [];
    for (const [name, definition] of this.#facts.indexes) {
      if (writeOnly.has(name)) {
        const state = await this.#store.readIndexState(this.#tx, this.#name, name);
        if (state.state === 'write_only' && (state.built === null || Buffer.compare(pack(key), state.built) > 0)) continue;
      }
      out.push([name, definition]);
    }
    return out;
  }

  // Checks a write and makes its mutations (with the sequence values its record took, if any).
  async #write(key: TupleItem[], stored: Stored<RecordOf<D>> | null, next: RecordOf<D> | null, sequences: ReadonlyMap<string, bigint> | null = null): Promise<void> {
    const changes: Change[] = [];
    await this.#plan(key, stored, next, true, null, changes);
    // From here on nothing awaits: the record's encoding is a view on the encoder's buffer, which
    // the next encode (of any transaction) reuses. Encoding can still refuse a value (msgpack has
    // no symbols), so it comes before the first write.
    const bytes = next === null ? null : this.#encode(next);
    if (bytes !== null) this.#checkChunkKeys(key, bytes.length);
    if (sequences !== null) this.#setSequences(sequences);
    this.#writeRecord(key, stored?.chunks ?? 0, bytes);
    applyChanges(this.#tx, changes);
  }

  // The record's bytes as stored: one header byte, then the encoded record (a view on the
  // encoder's buffer). The header tells a reader of chunk 0 whether more chunks follow, so a whole
  // record is read with one point read.
  #encode(record: RecordOf<D>): Uint8Array {
    const bytes = this.#facts.codec.encode(record as Record<string, unknown>);
    bytes[0] = bytes.length > RECORD_CHUNK_BYTES ? RECORD_SPLIT : RECORD_WHOLE;
    return bytes;
  }

  // Writes the record's chunks (none for a delete) and clears the old record's chunks past them.
  #writeRecord(key: TupleItem[], storedChunks: number, bytes: Uint8Array | null): void {
    const tx = this.#tx;
    let chunks = 0;
    if (bytes !== null) {
      for (let offset = 0; offset < bytes.length; chunks++, offset += RECORD_CHUNK_BYTES) {
        const chunk = bytes.length <= RECORD_CHUNK_BYTES ? bytes : bytes.subarray(offset, offset + RECORD_CHUNK_BYTES);
        tx.set(packWithPrefix(this.#facts.recordPrefix, [...key, chunks]), chunk);
      }
    }
    // Chunks of the old record past the new one's last (all of them for a delete) go; the rest
    // were just overwritten. Point clears: a range clear costs every layer below more.
    for (let chunk = chunks; chunk < storedChunks; chunk++) tx.clear(packWithPrefix(this.#facts.recordPrefix, [...key, chunk]));
  }

  /**
   * Runs every check of a write and appends its mutations to `changes`, writing nothing, so that a
   * refusal (here or in a later record of an insertMany) leaves the transaction untouched
   * (invariant 3). `batch` holds what the records an insertMany planned before this one would
   * have written, which the reads here cannot see yet.
   */
  async #plan(
    key: TupleItem[],
    stored: Stored<RecordOf<D>> | null,
    next: RecordOf<D> | null,
    checkReferences: boolean,
    batch: InsertBatch | null,
    changes: Change[],
    deleting: ReadonlySet<string> | null = null,
  ): Promise<void> {
    // The old entries are those of the record as reads see it (invariant 5).
    const old = stored === null ? null : this.#asRead(stored.record);
    // (Each await below is skipped when it has nothing to wait for: most writes have no write-only
    // index, no reference and no unique index.)
    const indexes = this.#store.writeOnlyIndexes(this.#name).size === 0 ? this.#facts.indexes : await this.#maintained(key);
    const versioned = this.#facts.versioned;
    // The committed version whose entries this write replaces (stamping waits for commit, so the
    // version key still holds the committed one even after earlier writes in this transaction).
    const oldVersion = versioned && old !== null ? await this.#readVersion(key) : null;
    // Everything that can refuse the write runs before the first mutation (invariant 3): references,
    // unique checks, and computing every index change (which validates indexed values).
    if (next !== null) this.#checkKeySizes(key);
    // Index changes first: they refuse a value too long for an entry before a read of it would.
    for (const [name, definition] of indexes) this.#indexChanges(name, definition, key, old, next, changes);
    if (next === null) await this.#checkNotReferenced(key, deleting);
    else if (checkReferences && this.#facts.referencing) await this.#checkReferencedRecords(key, old, next, batch);
    if (next !== null) for (const [name, definition] of indexes) if (isUnique(definition)) await this.#checkUnique(name, definition, key, next, batch);
    if (versioned) this.#versionChanges(indexes, key, oldVersion, next !== null, changes);
  }

  /**
   * A stored record as reads see it, as far as index entries go: with the default of each field it
   * lacks that has one (the same object when it lacks none). The other fields an index can hold
   * (scalars) read back as stored, since what is stored is the schema's output. Cheaper than a
   * whole read (`#fromStorage`), and never refuses: a record that no longer satisfies the schema
   * can still be deleted.
   */
  #asRead(stored: RecordOf<D>): RecordOf<D> {
    let view: Record<string, unknown> | null = null;
    for (const [field, schema] of this.#facts.defaults) {
      if ((stored as Record<string, unknown>)[field] !== undefined) continue;
      const result = schema.safeParse(undefined);
      if (!result.success || result.data === undefined) continue;
      view ??= { ...(stored as Record<string, unknown>) };
      view[field] = result.data;
    }
    return (view ?? stored) as RecordOf<D>;
  }

  /**
   * @internal Adds the entries of one stored record to index `indexName` (for the online index
   * build): checks uniqueness first, then writes, as a writer inserting the record would.
   *
   * @remarks
   * The entries are those of the record as reads see it: a field the record lacks gets its default.
   * That default is then stored in the record (invariant 5), so that the record's entries stay
   * those of its reads whatever the default later becomes (a default computed by a function gives
   * a new value on every read).
   * @throws RecordLayerError `unique_violation`, `record_invalid` (an indexed value a key cannot hold).
   */
  async backfill(indexName: string, key: TupleItem[], bytes: Uint8Array): Promise<void> {
    const definition = this.#type.indexes[indexName];
    assert(definition !== undefined, `index ${indexName} of ${this.#name} exists`);
    const schemaChanged = await this.#schemaChecked;
    if (schemaChanged !== null) throw schemaChanged;
    const stored = this.#decode(bytes);
    const record = this.#asRead(stored);
    if (definition.kind === 'version') {
      // A record stored before the index was declared may have a key too long for its entries.
      const entryBytes = this.#facts.indexPrefixes.get(indexName)!.length + 13 + pack(key).length;
      if (entryBytes > limits.KEY_SIZE_MAX) {
        throw new RecordLayerError(
          'record_invalid',
          `version index ${this.#name}.${indexName} cannot hold ${this.#name} record ${abbreviate(describeKey(key))}: its entry would take ${entryBytes} bytes, over the key limit of ${limits.KEY_SIZE_MAX}; delete the record (or store it under a shorter key) and build again`,
          { details: { type: this.#name, index: indexName, key, bytes: entryBytes } },
        );
      }
      // The record's stored version when a write since the index was declared left one; otherwise
      // it gets this build transaction's versionstamp, stored too so later writes find the entry.
      const version = await this.#readVersion(key);
      if (version !== null) this.#tx.set(this.#store.subspace.pack([INDEXES, this.#name, indexName, version, ...key]), EMPTY);
      else this.#store.markForStamp(this.#tx, this.#name, key, [indexName]);
      return;
    }
    await this.#checkUnique(indexName, definition, key, record);
    const changes: Change[] = [];
    this.#indexChanges(indexName, definition, key, null, record, changes);
    if (record !== stored) {
      let completed: Record<string, unknown> | null = null;
      for (const field of indexedFields(definition)) {
        const value = (record as Record<string, unknown>)[field];
        if ((stored as Record<string, unknown>)[field] !== undefined || value === undefined) continue;
        completed ??= { ...(stored as Record<string, unknown>) };
        completed[field] = value;
      }
      // The record's chunks are slices of its bytes, so their number follows from its length.
      if (completed !== null) this.#writeRecord(key, Math.ceil(bytes.length / RECORD_CHUNK_BYTES), this.#encode(completed as RecordOf<D>));
    }
    applyChanges(this.#tx, changes);
  }

  // The versionstamp of the transaction that last wrote the record, or null when none is stored.
  async #readVersion(key: TupleItem[]): Promise<Versionstamp | null> {
    const bytes = await this.#tx.get(this.#store.versionKey(this.#name, key));
    if (bytes === null) return null;
    const [version] = unpack(bytes);
    assert(version instanceof Versionstamp, `the version of a ${this.#name} record is a versionstamp`);
    return version;
  }

  // Computes the version index changes of a write (invariant 4): the entries under the committed
  // version go now; the new ones wait for commit, where the record is stamped unless deleted since.
  #versionChanges(indexes: readonly (readonly [string, IndexDefinition])[], key: TupleItem[], oldVersion: Versionstamp | null, written: boolean, changes: Change[]): void {
    const names = indexes.filter(([, definition]) => definition.kind === 'version').map(([name]) => name);
    const tx = this.#tx;
    const subspace = this.#store.subspace;
    if (oldVersion !== null) for (const name of names) changes.push({ op: 'clear', key: subspace.pack([INDEXES, this.#name, name, oldVersion, ...key]), param: null });
    if (written) changes.push({ op: 'run', key: null, param: () => this.#store.markForStamp(tx, this.#name, key, names) });
    else {
      changes.push({ op: 'clear', key: this.#store.versionKey(this.#name, key), param: null });
      changes.push({ op: 'run', key: null, param: () => this.#store.unmarkForStamp(tx, this.#name, key) });
    }
  }

  // Each enforced reference of `next` whose fields are all set names an existing record (read with
  // a conflict range, so a concurrent delete of that record and this write cannot both commit).
  // In an insertMany, a record planned before this one (`batch.earlier`) counts as existing; so does
  // the record itself (`key`, its primary key), for a reference to itself (a tree's root).
  async #checkReferencedRecords(key: TupleItem[], old: RecordOf<D> | null, next: RecordOf<D>, batch: InsertBatch | null): Promise<void> {
    for (const [name, reference] of Object.entries(this.#type.references ?? {})) {
      if (reference.enforced === false) continue;
      const values = reference.fields.map((f) => (next as Record<string, unknown>)[f]);
      if (values.some((value) => value === null || value === undefined)) continue;
      // The items take the forms of the referenced type's primary key fields, as its keys hold them.
      const referenced = this.#store.typeFacts(reference.type).doubles;
      const primaryKey = this.#store.schema.type(reference.type).primaryKey;
      const items = values.map((value, i) => keyItem(value, reference.fields[i]!, referenced.has(primaryKey[i]!)));
      if (old !== null && sameKey(items, reference.fields.map((f, i) => keyItem((old as Record<string, unknown>)[f], f, referenced.has(primaryKey[i]!))))) continue;
      if (reference.type === this.#name && (sameKey(items, key) || batch?.earlier.has(latin1(pack(items))) === true)) continue;
      const recordKey = this.#store.subspace.pack([RECORDS, reference.type, ...items, 0]);
      // A key too long for the key limit names no record.
      if (recordKey.length > limits.KEY_SIZE_MAX || (await this.#tx.get(recordKey)) === null) {
        throw new RecordLayerError('foreign_key_violation', `${this.#name}.${name}: no ${reference.type} record has primary key ${describeKey(items)}`, {
          details: { type: this.#name, reference: name, references: reference.type, key: items },
        });
      }
    }
  }

  // No enforced reference of any record type names the record being deleted (its referencing
  // index is read with a conflict range, so a concurrent insert of a referencing record and this
  // delete cannot both commit). A record that refers only to itself does not hold itself, nor does
  // one of this type deleted in the same call (`deleting`, packed primary keys).
  async #checkNotReferenced(key: TupleItem[], deleting: ReadonlySet<string> | null): Promise<void> {
    for (const [typeName, type] of Object.entries(this.#store.schema.types)) {
      for (const [name, reference] of Object.entries(type.references ?? {})) {
        if (reference.type !== this.#name || reference.enforced === false) continue;
        const indexName = referencingIndex(type, reference)!;
        if (this.#store.writeOnlyIndexes(typeName).has(indexName)) {
          throw new RecordLayerError('foreign_key_violation', `cannot check ${typeName}.${name} before deleting a ${this.#name} record: its index ${indexName} is still being built`, {
            details: { type: typeName, reference: name, index: indexName },
          });
        }
        // The referencing index holds the reference fields in their own key forms, which may differ
        // from this primary key's (a z.number() referring to a z.number().int(), say).
        const forms = this.#store.typeFacts(typeName).doubles;
        const items = key.map((item, i) => keyItem(item instanceof Double ? item.value : item, reference.fields[i]!, forms.has(reference.fields[i]!)));
        const { begin, end } = this.#store.subspace.range([INDEXES, typeName, indexName, ...items]);
        // Read on only past children that do not count, so the first that does ends the read.
        for await (const entry of this.#tx.getRange(begin, end)) {
          const items = this.#store.subspace.unpack(entry.key) as TupleItem[];
          const child = items.slice(items.length - type.primaryKey.length);
          if (typeName === this.#name && (sameKey(child, key) || deleting?.has(latin1(pack(child))) === true)) continue;
          throw new RecordLayerError('foreign_key_violation', `cannot delete ${this.#name} ${describeKey(key)}: ${typeName} ${describeKey(child)} refers to it through ${typeName}.${name}`, {
            details: { type: this.#name, key, referencedBy: typeName, reference: name, child },
          });
        }
      }
    }
  }

  // No other record holds the record's values in unique index `name`: none stored, and (in an
  // insertMany) none planned before it, which then takes them.
  async #checkUnique(name: string, definition: IndexDefinition, key: TupleItem[], record: RecordOf<D>, batch: InsertBatch | null = null): Promise<void> {
    if (!isUnique(definition)) return;
    const values = definition.fields.map((field) => keyItem((record as Record<string, unknown>)[field], field, this.#facts.doubles.has(field)));
    if (values.includes(null)) return; // SQL's rule: null is distinct from every value, null included
    if (batch !== null) {
      let taken = batch.unique.get(name);
      if (taken === undefined) batch.unique.set(name, (taken = new Map()));
      const packedValues = latin1(pack(values));
      const other = taken.get(packedValues);
      if (other !== undefined) throw this.#uniqueViolation(name, values, other);
      taken.set(packedValues, key);
    }
    const { begin, end } = this.#store.subspace.range([INDEXES, this.#name, name, ...values]);
    for (const entry of await this.#tx.getRangeAll(begin, end, { limit: 2 })) {
      const other = (this.#store.subspace.unpack(entry.key) as TupleItem[]).slice(3 + values.length);
      if (!sameKey(other, key)) throw this.#uniqueViolation(name, values, other);
    }
  }

  #uniqueViolation(name: string, values: TupleItem[], other: readonly TupleItem[]): RecordLayerError {
    return new RecordLayerError('unique_violation', `unique index ${this.#name}.${name} already holds ${describeKey(values)} (for primary key ${describeKey(other)})`, {
      details: { type: this.#name, index: name, values },
    });
  }

  // Computes the mutations that keep index `name` right and appends them to `changes`, so that
  // every computation (and any refusal) happens before the first write.
  #indexChanges(name: string, definition: IndexDefinition, key: TupleItem[], old: RecordOf<D> | null, next: RecordOf<D> | null, changes: Change[]): void {
    const prefix = this.#facts.indexPrefixes.get(name)!;
    switch (definition.kind) {
      case 'value': {
        const before = old === null ? null : packWithPrefix(prefix, entryItems(old, definition.fields, null, key, this.#facts.doubles));
        const after = next === null ? null : this.#entryKey(name, definition.fields, packWithPrefix(prefix, entryItems(next, definition.fields, null, key, this.#facts.doubles)));
        if (before !== null && (after === null || Buffer.compare(before, after) !== 0)) changes.push({ op: 'clear', key: before, param: null });
        if (after !== null) changes.push({ op: 'set', key: after, param: EMPTY });
        return;
      }
      case 'min':
      case 'max': {
        const before = old === null ? null : packWithPrefix(prefix, entryItems(old, definition.groupBy, definition.field, key, this.#facts.doubles));
        const after = next === null ? null : this.#entryKey(name, [...definition.groupBy, definition.field], packWithPrefix(prefix, entryItems(next, definition.groupBy, definition.field, key, this.#facts.doubles)));
        if (before !== null) changes.push({ op: 'clear', key: before, param: null });
        if (after !== null) changes.push({ op: 'set', key: after, param: EMPTY });
        return;
      }
      case 'count':
      case 'sum': {
        if (old !== null) {
          const operand = definition.kind === 'count' ? INT64_MINUS_ONE : int64(-this.#sumAmount(name, definition.field, old));
          changes.push({ op: 'add', key: packWithPrefix(prefix, entryItems(old, definition.groupBy, null, NO_ITEMS, this.#facts.doubles)), param: operand });
        }
        if (next !== null) {
          const operand = definition.kind === 'count' ? INT64_ONE : int64(this.#checkedSumAmount(name, definition.field, next));
          changes.push({ op: 'add', key: this.#entryKey(name, definition.groupBy, packWithPrefix(prefix, entryItems(next, definition.groupBy, null, NO_ITEMS, this.#facts.doubles))), param: operand });
        }
        return;
      }
      case 'version':
        // Written by #versionChanges: its entries depend on the transaction, not on the record.
        return;
    }
  }

  // `entry`, a key index `name` would hold for a record, if it fits the key limit.
  #entryKey(name: string, fields: readonly string[], entry: Uint8Array): Uint8Array {
    if (entry.length <= limits.KEY_SIZE_MAX) return entry;
    throw new RecordLayerError(
      'record_invalid',
      `index ${this.#name}.${name} cannot hold this record: its entry would take ${entry.length} bytes, over the key limit of ${limits.KEY_SIZE_MAX}; ${fields.map((field) => this.#name + '.' + field).join(', ')} ${fields.length === 1 ? 'holds a value' : 'hold values'} too long to index`,
      { details: { type: this.#name, index: name, fields: [...fields], bytes: entry.length } },
    );
  }

  // The keys a written record's primary key goes into fit the key limit: its first chunk's (chunk 0
  // packs into 1 byte; a record of more chunks is checked once encoded, see #checkChunkKeys), and
  // each version index entry (a versionstamp packs into 13) with the version key beside the record,
  // write-only version indexes included (their build would fail on it). A cheap upper bound of the
  // key's packed size first: most keys are far below it.
  #checkKeySizes(key: readonly TupleItem[]): void {
    const { prefixes, overhead } = this.#keyPrefixes();
    let bound = 0;
    for (const item of key) {
      if (typeof item === 'string') bound += 2 + 3 * item.length;
      else if (item instanceof Uint8Array) bound += 2 + 2 * item.length;
      else bound += typeof item === 'bigint' && (item < -BIG_KEY_ITEM || item > BIG_KEY_ITEM) ? limits.KEY_SIZE_MAX : 10;
    }
    if (bound + overhead <= limits.KEY_SIZE_MAX) return;
    const packed = pack(key as TupleItem[]).length;
    for (const [what, bytes] of prefixes) if (bytes + packed > limits.KEY_SIZE_MAX) throw this.#keyTooLong(what, bytes + packed);
  }

  // What each key holding a written record's primary key puts before it (see #checkKeySizes), and the
  // most of them, made once per type of a store.
  #keyPrefixes(): { prefixes: readonly (readonly [string, number])[]; overhead: number } {
    let known = KEY_PREFIXES.get(this.#facts);
    if (known === undefined) {
      const versionIndexes = this.#facts.indexes.filter(([, definition]) => definition.kind === 'version').map(([name]) => name);
      const prefixes: [string, number][] = [['the record', this.#facts.recordPrefix.length + 1]];
      if (versionIndexes.length > 0) prefixes.push(['its version key', this.#store.versionKey(this.#name, []).length]);
      for (const name of versionIndexes) prefixes.push([`version index ${this.#name}.${name}`, this.#facts.indexPrefixes.get(name)!.length + 13]);
      known = { prefixes, overhead: Math.max(...prefixes.map(([, bytes]) => bytes)) };
      KEY_PREFIXES.set(this.#facts, known);
    }
    return known;
  }

  // A record of more than one chunk (`length` bytes encoded): its last chunk's key fits the key limit
  // too (chunk numbers past 0 pack into 2 bytes). Checked before anything is written.
  #checkChunkKeys(key: readonly TupleItem[], length: number): void {
    if (length <= RECORD_CHUNK_BYTES) return;
    const bytes = packWithPrefix(this.#facts.recordPrefix, [...key, Math.ceil(length / RECORD_CHUNK_BYTES) - 1]).length;
    if (bytes > limits.KEY_SIZE_MAX) throw this.#keyTooLong('the chunks of a record this large', bytes);
  }

  #keyTooLong(what: string, bytes: number): RecordLayerError {
    return new RecordLayerError(
      'record_invalid',
      `the primary key of this ${this.#name} record is too long for ${what}: ${bytes} bytes, over the key limit of ${limits.KEY_SIZE_MAX}; ${this.#type.primaryKey.map((field) => this.#name + '.' + field).join(', ')} ${this.#type.primaryKey.length === 1 ? 'holds a value' : 'hold values'} too long for a key`,
      { details: { type: this.#name, fields: [...this.#type.primaryKey], bytes } },
    );
  }

  // What a new record adds to sum index `name`: #sumAmount, which must fit the signed 64 bits of
  // the atomic add (int64 would wrap it). A stored record's amount is taken out as it went in, so
  // one stored before this check can still be updated and deleted.
  #checkedSumAmount(name: string, field: string, record: RecordOf<D>): bigint {
    const amount = this.#sumAmount(name, field, record);
    if (amount < INT64_MIN || amount > INT64_MAX) {
      throw new RecordLayerError('record_invalid', `${this.#name}.${field} holds ${amount}, outside the signed 64-bit integers that sum index ${name} adds`, {
        details: { type: this.#name, field, index: name },
      });
    }
    return amount;
  }

  // What `record` adds to sum index `name`: its `field`, an integer (0 when missing).
  #sumAmount(name: string, field: string, record: RecordOf<D>): bigint {
    const value = (record as Record<string, unknown>)[field];
    if (value === undefined || value === null) return 0n;
    if (typeof value === 'bigint') return value;
    if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
    throw new RecordLayerError('record_invalid', `${this.#name}.${field} must be an integer for sum index ${name}`, {
      details: { type: this.#name, field, index: name },
    });
  }
}

/** Names a record across the transaction's user version claims. */
function stampId(type: string, key: readonly TupleItem[]): string {
  return `${type}\u0000${Buffer.from(pack(key as TupleItem[])).toString('latin1')}`;
}

const EMPTY = new Uint8Array(0);
const NO_ITEMS: readonly TupleItem[] = [];

/**
 * What the records an insertMany has checked so far would have written, for the checks of the next
 * (nothing is written until every record passes).
 */
interface InsertBatch {
  /** The packed primary keys of the records before this one ({@link latin1}). */
  readonly earlier: Set<string>;
  /** Per unique index, the packed values the records before this one take, with their primary keys. */
  readonly unique: Map<string, Map<string, TupleItem[]>>;
}

/**
 * The path (keys and array indexes, outermost first) of the first key of `given`, at any depth,
 * that `kept` (zod's output for it) does not have; `null` when parsing dropped nothing. Only plain
 * objects that zod built are compared: values it passes through unchanged (dates, bytes,
 * `Timestamp`s, `z.any()`) are the given value itself.
 */
function droppedKey(given: unknown, kept: unknown): (string | number)[] | null {
  if (given === kept || typeof given !== 'object' || given === null || typeof kept !== 'object' || kept === null) return null;
  if (Array.isArray(given)) {
    if (!Array.isArray(kept)) return null;
    for (let i = 0; i < given.length && i < kept.length; i++) {
      const dropped = droppedKey(given[i], kept[i]);
      if (dropped !== null) return [i, ...dropped];
    }
    return null;
  }
  const prototype = Object.getPrototypeOf(kept) as unknown;
  if (Array.isArray(kept) || (prototype !== Object.prototype && prototype !== null)) return null;
  for (const key in given) {
    if (!Object.hasOwn(given, key)) continue;
    if (!Object.hasOwn(kept, key)) return [key];
    const dropped = droppedKey((given as Record<string, unknown>)[key], (kept as Record<string, unknown>)[key]);
    if (dropped !== null) return [key, ...dropped];
  }
  return null;
}

/** A field's path as users write it: `address.zip`, `tags[0].extra`. */
/**
 * The part of `path` (keys and array indexes inside a field) that leads to the first union the
 * field's schema meets along it, or null when it meets none.
 */
function unionOnPath(schema: z.ZodType, path: readonly (string | number)[]): (string | number)[] | null {
  let current: z.ZodType | undefined = schema;
  for (let i = 0; current !== undefined; i++) {
    const def: { type: string; element?: z.ZodType; shape?: Record<string, z.ZodType> } = (innerSchema(current) as unknown as { def: { type: string } }).def;
    if (def.type === 'union') return path.slice(0, i);
    if (i === path.length) return null;
    const step = path[i]!;
    if (def.type === 'array' && typeof step === 'number') current = def.element;
    else if (def.type === 'object' && typeof step === 'string') current = def.shape?.[step];
    else return null;
  }
  return null;
}

function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) out += typeof segment === 'number' ? `[${segment}]` : out === '' ? String(segment) : `.${String(segment)}`;
  return out;
}

/** Packed bytes as a string, to key a Set or Map. */
function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/**
 * A mutation a write computed before making any (see #plan): a set, a clear, an atomic add, or
 * work to run then (a version index's stamping).
 */
type Change =
  | { readonly op: 'set'; readonly key: Uint8Array; readonly param: Uint8Array }
  | { readonly op: 'add'; readonly key: Uint8Array; readonly param: Uint8Array }
  | { readonly op: 'clear'; readonly key: Uint8Array; readonly param: null }
  | { readonly op: 'run'; readonly key: null; readonly param: () => void };

function applyChanges(tx: Transaction, changes: readonly Change[]): void {
  for (const change of changes) {
    if (change.op === 'set') tx.set(change.key, change.param);
    else if (change.op === 'clear') tx.clear(change.key);
    else if (change.op === 'add') tx.add(change.key, change.param);
    else change.param();
  }
}

/**
 * The items of an index entry of `record`: its `fields` (then `extra`, when given), each as a key
 * item (a double for the fields in `doubles`), then `key` (the primary key's items).
 * @throws RecordLayerError `record_invalid` for a value a key cannot hold.
 */
function entryItems(record: object, fields: readonly string[], extra: string | null, key: readonly TupleItem[], doubles: ReadonlySet<string>): TupleItem[] {
  const items = new Array<TupleItem>(fields.length + (extra === null ? 0 : 1) + key.length);
  let n = 0;
  for (const field of fields) items[n++] = keyItem((record as Record<string, unknown>)[field], field, doubles.has(field));
  if (extra !== null) items[n++] = keyItem((record as Record<string, unknown>)[extra], extra, doubles.has(extra));
  for (const item of key) items[n++] = item;
  return items;
}
const EMPTY_SET: ReadonlySet<string> = new Set();

/**
 * The dropped fields of each type of `next` with their last types: the stored ones, those `next`
 * drops, less those it adds back (null when there are none). A type `next` lacks goes with its
 * dropped fields (a type is only removed without records). The type of a field dropped in a store
 * written before format 2 is read from its text when it was still in the stored types.
 */
function extendDroppedFields(stored: SchemaDescription | null, next: SchemaDescription): Record<string, Record<string, FieldType>> | null {
  const out: Record<string, Record<string, FieldType>> = {};
  for (const [name, type] of Object.entries(next.types)) {
    const dropped: Record<string, FieldType> = { ...(stored?.droppedFields?.[name] ?? {}) };
    const before = stored?.types[name];
    for (const [field, text] of Object.entries(before?.fields ?? {})) {
      if (type.fields[field] !== undefined) continue;
      const last = before!.fieldTypes?.[field] ?? parseFieldType(text);
      if (last !== null) dropped[field] = last;
    }
    for (const field of Object.keys(type.fields)) delete dropped[field];
    if (Object.keys(dropped).length > 0) out[name] = dropped;
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** The schema version held by the bytes of its key (absent: 0, a store from before versions). */
function decodeSchemaVersion(bytes: Uint8Array | null): number {
  if (bytes === null) return 0;
  const [version] = unpack(bytes);
  assert(typeof version === 'number' && Number.isSafeInteger(version), 'the schema version is an integer');
  return version;
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

// Operands of count indexes (the core copies what it is given, so one array serves every add).
const INT64_ONE = int64(1n);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const INT64_MINUS_ONE = int64(-1n);

// A unique value index: what a write checks before it adds the entry.
function isUnique(definition: IndexDefinition): definition is Extract<IndexDefinition, { kind: 'value' }> {
  return definition.kind === 'value' && definition.unique === true;
}

/** True when two primary keys are the same key (compared as packed bytes: `1` and `1n` are equal). */
function sameKey(a: readonly TupleItem[], b: readonly TupleItem[]): boolean {
  return Buffer.compare(pack(a), pack(b)) === 0;
}

function describeKey(key: readonly TupleItem[]): string {
  return `(${key.map(printItem).join(', ')})`;
}
export type { Tuple };

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a === null || b === null ? a === b : Buffer.compare(a, b) === 0;
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

// A text cut to its first 60 characters (a key near the key limit would fill a message).
function abbreviate(text: string): string {
  return text.length <= 60 ? text : `${text.slice(0, 60)}… (${text.length} characters)`;
}
