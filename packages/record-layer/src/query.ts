/**
 * Query execution: runs a {@link Plan} inside one transaction, pages with opaque cursors, streams
 * across transactions, and reads aggregate indexes.
 *
 * Invariants:
 * 1. A cursor names the last key a page accounted for (returned, or read and filtered out); the
 *    next page starts strictly after it, so paging never returns a record twice nor skips one that
 *    existed before the first page, still matches and kept its place in the order (records
 *    inserted meanwhile, and records whose sort key changed, may or may not appear, or appear
 *    again, depending on where they sort).
 * 2. Every index entry points at a record (the write path's invariant 1); a missing one is a bug
 *    and fails an assertion rather than being skipped.
 * 3. An in-memory sort holds at most {@link SORT_RECORDS_MAX} records; a query that would need more
 *    is refused with `invalid_query` before anything is returned.
 * 4. A streaming transaction stops after {@link STREAM_TRANSACTION_MS} or
 *    {@link STREAM_TRANSACTION_RECORDS} records, well inside the five-second MVCC window.
 */
import { limits, nodeRuntime, type Database, type Transaction } from '@strata/core';
import { pack, packedItemOffsets, unpack, type TupleItem } from '@strata/tuple';
import { RecordLayerError } from './errors.js';
import { readInt64 } from './int64.js';
import {
  buildingNote,
  checkQuery,
  compareItems,
  describeCondition,
  matches,
  normalizeWhere,
  planQuery,
  printItem,
  type Condition,
  type IndexPlan,
  type OrderBy,
  type OrderTerm,
  type Plan,
  type PlannerQuery,
  type PlannerTarget,
  type Where,
} from './planner.js';
import { keyItem, type IndexDefinition } from './schema.js';

/**
 * Most records a query may gather and sort in memory (an order no index gives, a union of `or`
 * branches, a full scan in another order). Ten thousand records of a few hundred bytes are a few
 * megabytes and well under a second to read, so a page still fits one transaction's five seconds.
 */
export const SORT_RECORDS_MAX = 10_000;

/** Records fetched by primary key concurrently after a value index scan. */
export const FETCH_BATCH_RECORDS = 64;

/** Longest a transaction of `RecordStore.stream` reads before it commits and the next continues. */
export const STREAM_TRANSACTION_MS = 1_000;

/** Most records one transaction of `RecordStore.stream` returns. */
export const STREAM_TRANSACTION_RECORDS = 1_000;

/** A query of `findMany`. */
export interface FindManyQuery<R = Record<string, unknown>> extends PlannerQuery<R> {
  /**
   * Most records to return (default: all that match). `0` returns no records and reads none; its
   * page's cursor is the one passed (`null` when none was).
   */
  limit?: number;
  /** The `cursor` of the previous page (of the same query), to continue after it. */
  cursor?: string | null;
}

/** A page of results. */
export interface FindManyResult<R> {
  /** The records, in order. */
  records: R[];
  /** Pass as `cursor` to read the next page (in any later transaction); `null` when there is no more. */
  cursor: string | null;
}

/** How a query would run, in words (see `Collection.explain`). */
export interface Explanation {
  /** The index read ({@link PRIMARY_KEY_INDEX} for the records themselves), or `union` for an `or` read branch by branch. */
  index: string;
  /** The key ranges read, in words. */
  ranges: string[];
  /** Conditions checked on each record read, in words, or `null`. */
  residual: string | null;
  /** True when every record of the type is read. */
  fullScan: boolean;
  /** True when the index gives the requested order (no sort in memory). */
  ordered: boolean;
  /** True when results are gathered and sorted in memory (at most {@link SORT_RECORDS_MAX}). */
  sortInMemory: boolean;
  /** For a union: each branch's plan. */
  branches?: Explanation[];
}

/** The filter of an aggregate read: equality on the aggregate index's groupBy fields. */
export interface AggregateQuery<R = Record<string, unknown>> {
  where?: Where<R>;
}

/** A budget that stops a page early (streaming). */
export interface PageBudget {
  /** When `now()` passes this, the page ends at the last key it read. */
  deadline: number;
  now(): number;
}

/** What the query functions need of a collection. */
export interface QueryContext extends PlannerTarget {
  readonly tx: Transaction;
  /** The store's schema version: a cursor holds only under the schema it was made with. */
  readonly schemaVersion: number;
  /** Reads a record by its primary key items. */
  readRecord(primaryKey: TupleItem[]): Promise<Record<string, unknown> | null>;
  /** Reads records by their packed primary keys (the bytes `pack(primaryKey)` gives), in order. */
  readPacked(primaryKeys: readonly Uint8Array[]): Promise<(Record<string, unknown> | null)[]>;
  /** Decodes a record's stored bytes. */
  decode(bytes: Uint8Array): Record<string, unknown>;
}

/** Where a page stopped: a range of the plan and the key after that range's prefix. */
interface Position {
  range: number;
  suffix: Uint8Array;
}

interface Entry {
  range: number;
  /** The key that stands for the record: the index entry, or the record's key without its chunk number. */
  logical: Uint8Array;
  /** The packed primary key, when the scan is of an index. */
  primaryKey: Uint8Array | null;
  /** The record's bytes, when the scan is of the records themselves. */
  bytes: Uint8Array | null;
}

/**
 * Runs `query` and returns one page.
 * @throws RecordLayerError `no_index_for_query`, `unknown_field`, `invalid_query` (also for a cursor of another query).
 */
export async function findMany(context: QueryContext, query: FindManyQuery<unknown>, budget?: PageBudget): Promise<FindManyResult<Record<string, unknown>>> {
  checkQuery(query);
  const limit = query.limit ?? Infinity;
  if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 0)) throw invalid(`limit must be a non-negative integer, got ${String(limit)}`);
  let plan = planQuery(context, query);
  let fingerprint = planFingerprint(plan, context);
  const made = cursorFingerprint(query.cursor ?? null);
  if (made !== null && made !== fingerprint) {
    // The cursor's plan read another index: since then one became readable (a build finished) that
    // this query now prefers. While the cursor's index is readable, the paging goes on over it.
    const sources = attempt(() => JSON.parse(fingerprintSource(made)) as string[]);
    const again = Array.isArray(sources) ? attempt(() => planQuery(context, query, sources)) : null;
    if (again !== null && planFingerprint(again, context) === made) {
      plan = again;
      fingerprint = made;
    }
  }
  const cursor = decodeCursor(query.cursor ?? null, fingerprint);
  // A page of no records (SQL's LIMIT 0) reads nothing and leaves the position where it was.
  if (limit === 0) return { records: [], cursor: query.cursor ?? null };
  if (plan.sortInMemory) return sortedPage(context, plan, limit, cursor?.k ?? null, fingerprint);
  const source = plan.source as IndexPlan;
  const start = cursor === null ? null : { range: cursor.r ?? 0, suffix: cursor.s ?? new Uint8Array() };
  const page = await scan(context, source, start, limit, budget);
  return {
    records: page.records,
    cursor: page.position === null ? null : encodeCursor({ p: fingerprint, r: page.position.range, s: page.position.suffix }),
  };
}

/** How `query` would run. */
export function explain(context: PlannerTarget, query: PlannerQuery<unknown>): Explanation {
  const plan = planQuery(context, query);
  const describe = (source: IndexPlan): Explanation => ({
    index: source.index,
    ranges: source.ranges.map((r) => r.description + (source.reverse ? ' (reverse)' : '')),
    residual: source.residual === null ? null : describeCondition(source.residual),
    fullScan: plan.fullScan,
    ordered: source.ordered && !plan.sortInMemory,
    sortInMemory: plan.sortInMemory,
  });
  if (plan.source.kind === 'index') return describe(plan.source);
  const branches = plan.source.branches.map(describe);
  return { index: 'union', ranges: branches.flatMap((b) => b.ranges), residual: null, fullScan: false, ordered: false, sortInMemory: true, branches };
}

// --- streaming scans ------------------------------------------------------------------------------

async function scan(
  context: QueryContext,
  plan: IndexPlan,
  start: Position | null,
  limit: number,
  budget: PageBudget | undefined,
): Promise<{ records: Record<string, unknown>[]; position: Position | null }> {
  const records: Record<string, unknown>[] = [];
  // The last entries returned and read; a page's cursor is made from one of them at its end.
  let lastReturned: Entry | null = null;
  let lastRead: Entry | null = null;
  const position = (entry: Entry | null): Position | null =>
    entry === null ? null : { range: entry.range, suffix: entry.logical.subarray(plan.ranges[entry.range]!.prefix.length) };
  let batch: Entry[] = [];
  // Fetches and filters the batch; true once the page is full.
  const flush = async (): Promise<boolean> => {
    const fetched = plan.primary ? batch.map((e) => context.decode(e.bytes!)) : await context.readPacked(batch.map((e) => e.primaryKey!));
    for (let i = 0; i < batch.length; i++) {
      const record = fetched[i];
      assert(record !== null && record !== undefined, `index ${plan.index} of ${context.typeName} has an entry without a record`);
      lastRead = batch[i]!;
      if (!matches(plan.residual, record)) continue;
      records.push(record);
      lastReturned = lastRead;
      if (records.length >= limit) return true;
    }
    batch = [];
    return false;
  };
  // Without a residual filter every index entry read becomes a record returned, so a range never
  // needs more than `limit` entries: asking for just those keeps the first read small.
  const wanted = !plan.primary && plan.residual === null && limit !== Infinity ? limit : undefined;
  if (wanted !== undefined && !plan.merge && budget === undefined) {
    // Then the entries are known in advance: read them range by range, each read bounded by what
    // is still wanted, and fetch their records in batches.
    for (const entry of await limitedEntries(context, plan, start, wanted)) {
      batch.push(entry);
      if (batch.length >= FETCH_BATCH_RECORDS && (await flush())) return { records, position: position(lastReturned) };
    }
    if (batch.length > 0 && (await flush())) return { records, position: position(lastReturned) };
    return { records, position: null };
  }
  const entries = orderedEntries(context, plan, start, wanted);
  try {
    for await (const entry of entries) {
      batch.push(entry);
      if (batch.length < Math.min(FETCH_BATCH_RECORDS, limit - records.length)) continue;
      if (await flush()) return { records, position: position(lastReturned) };
      if (budget !== undefined && budget.now() > budget.deadline) return { records, position: position(lastRead) };
    }
    if (batch.length > 0 && (await flush())) return { records, position: position(lastReturned) };
    return { records, position: null };
  } finally {
    // Stops the range reads still open, which narrows their conflict ranges to what was read.
    await entries.return(undefined);
  }
}

/** The plan's entries in its order, starting after `start`; `wanted` bounds the entries read from each range. */
async function* orderedEntries(context: QueryContext, plan: IndexPlan, start: Position | null, wanted: number | undefined): AsyncGenerator<Entry> {
  const order = plan.ranges.map((_, i) => i);
  if (plan.reverse) order.reverse();
  if (!plan.merge) {
    const from = start === null ? 0 : order.indexOf(start.range);
    if (from < 0) throw invalid('the cursor does not belong to this query');
    for (let i = from; i < order.length; i++) {
      yield* rangeEntries(context, plan, order[i]!, start !== null && i === from ? start.suffix : null, wanted);
    }
    return;
  }
  // Several ranges (one per `in` value) merged by the key after their prefixes, which is the
  // requested order; a record lives in exactly one range, so suffixes never tie.
  const sources = order.map((r) => rangeEntries(context, plan, r, start?.suffix ?? null, wanted));
  try {
    const heads = await Promise.all(sources.map((s) => s.next()));
    for (;;) {
      let best = -1;
      let bestSuffix: Uint8Array | null = null;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i]!;
        if (head.done === true) continue;
        const suffix = head.value.logical.subarray(plan.ranges[head.value.range]!.prefix.length);
        const c = bestSuffix === null ? -1 : Buffer.compare(suffix, bestSuffix);
        if (bestSuffix === null || (plan.reverse ? c > 0 : c < 0)) {
          best = i;
          bestSuffix = suffix;
        }
      }
      if (best < 0) return;
      yield (heads[best] as IteratorYieldResult<Entry>).value;
      heads[best] = await sources[best]!.next();
    }
  } finally {
    await Promise.all(sources.map((s) => s.return(undefined)));
  }
}

/**
 * At most `wanted` index entries of a plan without a merge, in its order, after `start`: each
 * range read with one bounded request.
 */
async function limitedEntries(context: QueryContext, plan: IndexPlan, start: Position | null, wanted: number): Promise<Entry[]> {
  const order = plan.ranges.map((_, i) => i);
  if (plan.reverse) order.reverse();
  const from = start === null ? 0 : order.indexOf(start.range);
  if (from < 0) throw invalid('the cursor does not belong to this query');
  const keyLength = context.definition.primaryKey.length;
  const out: Entry[] = [];
  for (let i = from; i < order.length && out.length < wanted; i++) {
    const bounds = rangeBounds(plan, order[i]!, start !== null && i === from ? start.suffix : null);
    if (bounds === null) continue;
    const prefixLength = plan.ranges[order[i]!]!.prefix.length;
    for (const row of await context.tx.getRangeAll(bounds.begin, bounds.end, { reverse: plan.reverse, limit: wanted - out.length })) {
      out.push(indexEntry(order[i]!, row.key, prefixLength, keyLength));
    }
  }
  return out;
}

// The keys of range `range` of a plan, after `after` (a suffix of the range's prefix) when given; null when empty.
function rangeBounds(plan: IndexPlan, range: number, after: Uint8Array | null): { begin: Uint8Array; end: Uint8Array } | null {
  const planned = plan.ranges[range]!;
  let { begin, end } = planned;
  if (after !== null) {
    const logical = concat(planned.prefix, after);
    // Every key standing for `logical` extends it, so all of them lie in [logical, logical + 0xff).
    if (!plan.reverse) begin = max(begin, concat(logical, new Uint8Array([0xff])));
    else end = min(end, logical);
  }
  begin = rangeKey(begin);
  end = rangeKey(end);
  return Buffer.compare(begin, end) >= 0 ? null : { begin, end };
}

/**
 * A range boundary cut to one byte over the key limit (the longest boundary a range read takes):
 * the same range of stored keys, all of which are within the limit, so that a condition on a value
 * too long for any key finds what it should (nothing, for an equality) instead of failing.
 */
export function rangeKey(key: Uint8Array): Uint8Array {
  return key.length > limits.KEY_SIZE_MAX + 1 ? key.subarray(0, limits.KEY_SIZE_MAX + 1) : key;
}

// The entry of an index key: it ends with the packed primary key, which is sliced off as bytes
// (the range's prefix packs whole items, so only the items after it are walked).
function indexEntry(range: number, key: Uint8Array, prefixLength: number, keyLength: number): Entry {
  const offsets = packedItemOffsets(key, prefixLength);
  assert(offsets.length >= keyLength, 'an index entry ends with the primary key');
  return { range, logical: key, primaryKey: key.subarray(offsets[offsets.length - keyLength]), bytes: null };
}

/** The entries of one range (records grouped from their chunks), after `after` when given, at most `wanted` of an index. */
async function* rangeEntries(
  context: QueryContext,
  plan: IndexPlan,
  range: number,
  after: Uint8Array | null,
  wanted: number | undefined,
): AsyncGenerator<Entry> {
  const bounds = rangeBounds(plan, range, after);
  if (bounds === null) return;
  const keyLength = context.definition.primaryKey.length;
  const rows = context.tx.getRange(bounds.begin, bounds.end, { reverse: plan.reverse, limit: wanted });
  if (!plan.primary) {
    const prefixLength = plan.ranges[range]!.prefix.length;
    for await (const row of rows) yield indexEntry(range, row.key, prefixLength, keyLength);
    return;
  }
  // Records are (recordsPrefix..., primaryKey..., chunk): chunks of one record are adjacent, and
  // a record's logical key is its chunks' key without the last item.
  const prefixLength = context.subspace.prefix.length;
  let current: { logical: Uint8Array; chunks: Uint8Array[] } | null = null;
  const complete = (group: NonNullable<typeof current>): Entry => {
    const chunks = plan.reverse ? group.chunks.reverse() : group.chunks;
    return { range, logical: group.logical, primaryKey: null, bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) };
  };
  for await (const row of rows) {
    const offsets = packedItemOffsets(row.key, prefixLength);
    const logical = row.key.subarray(0, offsets[offsets.length - 1]!);
    if (current !== null && Buffer.compare(current.logical, logical) === 0) {
      current.chunks.push(row.value);
      continue;
    }
    if (current !== null) yield complete(current);
    current = { logical, chunks: [row.value] };
  }
  if (current !== null) yield complete(current);
}

// --- in-memory sorting ----------------------------------------------------------------------------

async function sortedPage(
  context: QueryContext,
  plan: Plan,
  limit: number,
  after: Uint8Array | null,
  fingerprint: string,
): Promise<FindManyResult<Record<string, unknown>>> {
  const sources = plan.source.kind === 'union' ? plan.source.branches : [plan.source];
  const byKey = new Map<string, { record: Record<string, unknown>; key: TupleItem[] }>();
  const doubles = context.doubles;
  for (const source of sources) {
    const { records } = await scan(context, source, null, SORT_RECORDS_MAX + 1, undefined);
    for (const record of records) {
      const primaryKey = context.definition.primaryKey.map((f) => keyItem(record[f], f, doubles.has(f)));
      const id = Buffer.from(pack(primaryKey)).toString('latin1');
      if (!byKey.has(id)) byKey.set(id, { record, key: [...plan.orderBy.map((t) => keyItem(record[t.field], t.field, doubles.has(t.field))), ...primaryKey] });
    }
    if (byKey.size > SORT_RECORDS_MAX) {
      throw invalid(
        `the query needs more than ${SORT_RECORDS_MAX} records sorted in memory; add an index that serves its filter and order, or narrow the filter`,
      );
    }
  }
  const compare = sortKeyComparator(plan.orderBy);
  const afterKey = after === null ? null : (unpack(after) as TupleItem[]);
  const rows = [...byKey.values()].filter((row) => afterKey === null || compare(row.key, afterKey) > 0).sort((a, b) => compare(a.key, b.key));
  const page = rows.slice(0, limit);
  const more = rows.length > page.length;
  return {
    records: page.map((row) => row.record),
    cursor: more ? encodeCursor({ p: fingerprint, k: pack(page[page.length - 1]!.key) }) : null,
  };
}

/** Compares sort keys (the order terms' values, then the primary key ascending). */
function sortKeyComparator(terms: readonly OrderTerm[]): (a: TupleItem[], b: TupleItem[]) => number {
  return (a, b) => {
    for (let i = 0; i < a.length; i++) {
      const c = compareItems(a[i]!, b[i]!);
      if (c !== 0) return terms[i]?.direction === 'desc' ? -c : c;
    }
    return 0;
  };
}

// --- cursors --------------------------------------------------------------------------------------

interface CursorState {
  /** The plan the cursor belongs to. */
  p: string;
  r?: number;
  s?: Uint8Array;
  k?: Uint8Array;
}

// Names the plan a cursor belongs to: the index and direction in words, then a 32-bit FNV-1a digest
// of what decides the result (the ranges' keys, and the filter they leave to check), so that a
// cursor handed to a query with other values is refused instead of silently skipping or repeating
// records. Made for every page that returns a cursor: plain loops, no text unless a filter is left.
function planFingerprint(plan: Plan, context: QueryContext): string {
  let hash = 0x811c9dc5;
  const bytes = (value: Uint8Array): void => {
    for (let i = 0; i < value.length; i++) hash = Math.imul(hash ^ value[i]!, 0x01000193);
    hash = Math.imul(hash ^ 0xff, 0x01000193);
  };
  const text = (value: string): void => {
    for (let i = 0; i < value.length; i++) hash = Math.imul(hash ^ value.charCodeAt(i), 0x01000193);
    hash = Math.imul(hash ^ 0xffff, 0x01000193);
  };
  // A position means something only under the schema it was made with: a schema change may rebuild
  // an index under its name (other fields, another key form), or drop and declare it again.
  text(String(context.schemaVersion));
  const sources = plan.source.kind === 'union' ? plan.source.branches : [plan.source];
  for (const source of sources) {
    text(source.index);
    // How the ranges are read (merged, or one after another) says what a position in them means.
    text(source.merge ? 'merge' : 'sequence');
    for (const range of source.ranges) {
      bytes(range.begin);
      bytes(range.end);
    }
    if (source.residual !== null) text(describeCondition(source.residual));
  }
  for (const term of plan.orderBy) text(`${term.field}:${term.direction}`);
  if (plan.sortInMemory && plan.where !== null) text(describeCondition(plan.where));
  const digest = (hash >>> 0).toString(16).padStart(8, '0');
  // The indexes read, as JSON (any name is safe in it), lead: a cursor of a changed plan is planned
  // again over them (see findMany).
  const names = JSON.stringify(sources.map((source) => source.index));
  return `${names}:${plan.sortInMemory ? 'memory' : (plan.source as IndexPlan).reverse ? 'reverse' : 'forward'}:${digest}`;
}

// A cursor is base64url of: a format byte, then a kind byte (0: a position, 1: a sort key), the
// fingerprint's length (u16) and UTF-8 bytes, for a position its range (u32), then the suffix or
// key bytes to the end. Binary rather than JSON: every page that has more makes one.
const CURSOR_FORMAT = 2;
const CURSOR_POSITION = 0;
const CURSOR_KEY = 1;

function encodeCursor(state: CursorState): string {
  const position = state.k === undefined;
  const bytes = (position ? state.s : state.k) ?? new Uint8Array();
  const fingerprintBytes = Buffer.byteLength(state.p, 'utf8');
  const head = 4 + fingerprintBytes + (position ? 4 : 0);
  const out = Buffer.allocUnsafe(head + bytes.length);
  out[0] = CURSOR_FORMAT;
  out[1] = position ? CURSOR_POSITION : CURSOR_KEY;
  out.writeUInt16BE(fingerprintBytes, 2);
  out.write(state.p, 4, 'utf8');
  if (position) out.writeUInt32BE(state.r ?? 0, 4 + fingerprintBytes);
  out.set(bytes, head);
  return out.toString('base64url');
}

// The fingerprint a cursor was made with, or null for none (or for bytes no cursor has, which
// decodeCursor refuses).
function cursorFingerprint(cursor: string | null): string | null {
  if (typeof cursor !== 'string') return null;
  const bytes = Buffer.from(cursor, 'base64url');
  if (bytes.length < 4 || bytes[0] !== CURSOR_FORMAT) return null;
  const end = 4 + bytes.readUInt16BE(2);
  return bytes.length < end ? null : bytes.toString('utf8', 4, end);
}

// The indexes a fingerprint names, as JSON: the fingerprint is that, then
// `:forward|reverse|memory:digest` (see planFingerprint; an index name may itself hold a colon).
function fingerprintSource(print: string): string {
  return print.slice(0, print.lastIndexOf(':', print.lastIndexOf(':') - 1));
}

// A fingerprint's plan in words, for errors.
function describePrint(print: string): string {
  const source = fingerprintSource(print);
  const names = attempt(() => JSON.parse(source) as string[]);
  const memory = print.slice(source.length + 1).startsWith('memory:') ? ', sorted in memory' : '';
  if (!Array.isArray(names)) return `another plan${memory}`;
  return names.length === 1 ? `index ${names[0]}${memory}` : `a union of indexes ${names.join(', ')}${memory}`;
}

// `fn`'s result, or null when it throws.
function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch {
    return null;
  }
}

function decodeCursor(cursor: string | null, fingerprint: string): CursorState | null {
  if (cursor === null) return null;
  const bytes = typeof cursor === 'string' ? Buffer.from(cursor, 'base64url') : Buffer.alloc(0);
  const notOurs = (): RecordLayerError => new RecordLayerError('invalid_query', 'the cursor is not one findMany returned');
  if (bytes.length < 4 || bytes[0] !== CURSOR_FORMAT || (bytes[1] !== CURSOR_POSITION && bytes[1] !== CURSOR_KEY)) throw notOurs();
  const position = bytes[1] === CURSOR_POSITION;
  const fingerprintEnd = 4 + bytes.readUInt16BE(2);
  const head = fingerprintEnd + (position ? 4 : 0);
  if (bytes.length < head) throw notOurs();
  const made = bytes.toString('utf8', 4, fingerprintEnd);
  if (made !== fingerprint) {
    if (fingerprintSource(made) !== fingerprintSource(fingerprint)) {
      throw invalid(
        `the cursor was made by a plan that read ${describePrint(made)}, and this query now reads ${describePrint(fingerprint)}: either the query is another one (pass the same where and orderBy as the page that returned the cursor) or the plan changed since in a way it cannot follow (its index is no longer readable, or holds other fields): start again without the cursor`,
      );
    }
    throw invalid('the cursor belongs to another query (pass the same where and orderBy as the page that returned it), or to a store whose schema changed since it was made (start again without it)');
  }
  const rest = new Uint8Array(bytes.subarray(head));
  return position ? { p: fingerprint, r: bytes.readUInt32BE(fingerprintEnd), s: rest } : { p: fingerprint, k: rest };
}

// --- streaming across transactions ---------------------------------------------------------------

/** Options of `RecordStore.stream`. */
export interface StreamOptions {
  /** Longest one transaction reads (default {@link STREAM_TRANSACTION_MS}). */
  transactionMs?: number;
  /** Most records one transaction returns (default {@link STREAM_TRANSACTION_RECORDS}). */
  transactionRecords?: number;
  /** The clock, in milliseconds (default: the real one). */
  now?: () => number;
}

/**
 * Yields every record `query` matches, reading them in successive transactions that each stop
 * after a time and record budget, continuing from the previous one's cursor.
 *
 * @remarks
 * Records are yielded only after the transaction that read them has finished, so a retried
 * transaction never yields a record twice. The result is not one snapshot: each transaction reads
 * at its own read version (see the cursor invariant in this file's header).
 */
export async function* streamQuery(
  db: Database,
  page: (tx: Transaction, query: FindManyQuery<unknown>, budget: PageBudget) => Promise<FindManyResult<Record<string, unknown>>>,
  query: FindManyQuery<unknown>,
  options: StreamOptions = {},
): AsyncGenerator<Record<string, unknown>> {
  const transactionMs = options.transactionMs ?? STREAM_TRANSACTION_MS;
  const transactionRecords = options.transactionRecords ?? STREAM_TRANSACTION_RECORDS;
  if (!Number.isSafeInteger(transactionRecords) || transactionRecords < 1) throw invalid(`stream: transactionRecords must be a positive integer, got ${String(transactionRecords)}`);
  const now = options.now ?? nodeRuntime.now;
  let remaining = query.limit ?? Infinity;
  let cursor = query.cursor ?? null;
  // Each round either ends the stream or moves the cursor forward, so the loop ends.
  for (;;) {
    const limit = Math.min(remaining, transactionRecords);
    const result = await db.transact((tx) => page(tx, { ...query, limit, cursor }, { deadline: now() + transactionMs, now }));
    for (const record of result.records) yield record;
    remaining -= result.records.length;
    if (result.cursor === null || remaining <= 0) return;
    cursor = result.cursor;
  }
}

// --- aggregates -----------------------------------------------------------------------------------

type AggregateKind = 'count' | 'sum' | 'min' | 'max';

/**
 * Reads an aggregate (count, sum, min or max) from an aggregate index whose groupBy fields are
 * exactly the filter's equality fields.
 * @throws RecordLayerError `no_index_for_query` naming the aggregate index to add; `unknown_field`; `invalid_query`.
 */
export async function aggregate(context: QueryContext, kind: AggregateKind, field: string | null, query: AggregateQuery<unknown>): Promise<unknown> {
  if (field !== null && !Object.hasOwn(context.definition.schema.shape, field)) {
    throw new RecordLayerError('unknown_field', `${context.typeName} has no field ${JSON.stringify(field)}`, { details: { type: context.typeName, field } });
  }
  const where = normalizeWhere(context, query.where);
  const group = equalityGroup(where);
  const fields = [...group.keys()];
  const kinds: readonly string[] = kind === 'min' || kind === 'max' ? ['min', 'max'] : [kind];
  const found = Object.entries(context.definition.indexes)
    .map(([name, d]) => [name, d] as const)
    .filter((pair): pair is readonly [string, Exclude<IndexDefinition, { kind: 'value' | 'version' }>] => pair[1].kind !== 'value' && pair[1].kind !== 'version')
    .find(([, d]) => kinds.includes(d.kind) && (d.kind === 'count' || d.field === field) && d.groupBy.length === fields.length && d.groupBy.every((f) => group.has(f)));
  if (group.size === 0 && where !== null) throw noAggregate(context, kind, field, fields, 'an aggregate index serves only equality conditions');
  if (found === undefined) throw noAggregate(context, kind, field, fields, `no ${kind} index of ${context.typeName} has groupBy [${fields.join(', ')}]`);
  const [name, definition] = found;
  const prefix = [...context.indexPrefix(name), ...definition.groupBy.map((f) => group.get(f)!)];
  if (kind === 'count' || kind === 'sum') {
    const key = context.subspace.pack(prefix);
    // A group value too long for a key has no records.
    return readInt64(key.length > limits.KEY_SIZE_MAX ? null : await context.tx.get(key));
  }
  // Min and max entries are (group..., value, primaryKey...): the first non-null entry is the
  // least value and the last is the greatest, whichever of the two kinds the index was declared.
  const { end } = context.subspace.range(prefix);
  const begin = context.subspace.range([...prefix, null]).end;
  const [entry] = await context.tx.getRangeAll(rangeKey(begin), rangeKey(end), { limit: 1, reverse: kind === 'max' });
  if (entry === undefined) return null;
  const items = context.subspace.unpack(entry.key) as TupleItem[];
  const record = await context.readRecord(items.slice(items.length - context.definition.primaryKey.length));
  assert(record !== null, `index ${name} of ${context.typeName} has an entry without a record`);
  return record[field!];
}

/** The filter's equality values by field; any other condition makes an empty map (with a non-null where). */
function equalityGroup(where: Condition | null): Map<string, TupleItem> {
  const group = new Map<string, TupleItem>();
  if (where === null) return group;
  const items = where.kind === 'and' ? where.items : [where];
  for (const item of items) {
    if (item.kind !== 'compare' || item.op !== 'eq' || group.has(item.field)) return new Map();
    group.set(item.field, item.value);
  }
  return group;
}

function noAggregate(context: QueryContext, kind: AggregateKind, field: string | null, fields: string[], why: string): RecordLayerError {
  const groupBy = fields.length === 0 ? '' : `{ groupBy: [${fields.map((f) => `'${f}'`).join(', ')}] }`;
  const suggestion = field === null ? `index.${kind}(${groupBy})` : `index.${kind}('${field}'${groupBy === '' ? '' : `, ${groupBy}`})`;
  const building = context.building ?? [];
  return new RecordLayerError(
    'no_index_for_query',
    `${why}; add ${suggestion} to the indexes of ${context.typeName} (groupBy lists the fields the where compares for equality)${buildingNote(context.typeName, building)}`,
    { details: { type: context.typeName, kind, field, groupBy: fields, ...(building.length > 0 ? { building: [...building] } : {}) } },
  );
}

// --- helpers --------------------------------------------------------------------------------------

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function max(a: Uint8Array, b: Uint8Array): Uint8Array {
  return Buffer.compare(a, b) >= 0 ? a : b;
}

function min(a: Uint8Array, b: Uint8Array): Uint8Array {
  return Buffer.compare(a, b) <= 0 ? a : b;
}

function invalid(message: string): RecordLayerError {
  return new RecordLayerError('invalid_query', message);
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}


