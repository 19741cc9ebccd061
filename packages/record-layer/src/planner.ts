/**
 * The query planner: turns a `where` and an `orderBy` into a plan over one index (or a union of
 * plans, or an opted-in full scan), without touching the database.
 *
 * Invariants:
 * 1. Every condition of `where` is either enforced by a plan's key ranges or kept in its residual
 *    filter: a plan never returns a record the `where` rejects, nor skips one it accepts.
 * 2. A plan is `ordered` only if reading its ranges (forward, or reverse when every term is
 *    `desc`; merged by the key after the equality prefix when there are several) yields records in
 *    the requested order.
 * 3. A plan that would read every record of the type to filter them (a full scan) is produced
 *    only when the query says `allowFullScan: true`.
 */
import { strinc } from '@strata/core';
import { Double, pack, type Subspace, type TupleItem } from '@strata/tuple';
import type { z } from 'zod';
import { RecordLayerError } from './errors.js';
import { holdsKindOf, innerSchema, keyItem, type RecordTypeDefinition } from './schema.js';
import { Timestamp } from './timestamp.js';

/** Most key ranges one plan may read (an `in` on several fields multiplies them). */
export const PLAN_RANGES_MAX = 1_000;

/** The name plans and `explain()` give the primary key when it serves a query as an index. */
export const PRIMARY_KEY_INDEX = 'primaryKey';

/** A value a condition compares a field with. */
export type Scalar = string | number | bigint | boolean | Uint8Array | Timestamp | Date | null;

/** The operators of one field's condition; several operators on one field must all hold. */
export interface FieldOperators<V = Scalar> {
  /** Equal to the value (`null` matches a missing field). */
  eq?: V | null;
  /** Greater than the value (a missing field never matches a range). */
  gt?: V;
  /** Greater than or equal to the value. */
  gte?: V;
  /** Less than the value. */
  lt?: V;
  /** Less than or equal to the value. */
  lte?: V;
  /** Equal to one of the values. */
  in?: readonly (V | null)[];
  /** A string (or bytes) field that starts with this prefix. */
  startsWith?: V extends string ? string : V extends Uint8Array ? Uint8Array : never;
}

/** A field's condition: a value (equality) or an object of {@link FieldOperators}. */
export type FieldCondition<V = Scalar> = V | null | FieldOperators<V>;

/**
 * A filter: each named field must satisfy its condition, every `and` member must hold and, when
 * `or` is given, at least one of its members. A field given as `undefined`, a condition object
 * without an operator, an operator given `undefined`, an empty `and` or `or` and an empty member of
 * either are refused (`invalid_query`) rather than dropped, which would match every record.
 */
export type Where<R = Record<string, unknown>> = { [K in keyof R]?: FieldCondition<R[K]> } & {
  and?: readonly Where<R>[];
  or?: readonly Where<R>[];
};

/** A sort direction. */
export type Direction = 'asc' | 'desc';

/** Sort terms: one object (its keys in order) or a list of them. */
export type OrderBy<R = Record<string, unknown>> = { [K in keyof R]?: Direction } | readonly { [K in keyof R]?: Direction }[];

/** What the planner reads of a query. */
export interface PlannerQuery<R = Record<string, unknown>> {
  /** The filter (default: every record). */
  where?: Where<R>;
  /**
   * The order (default: whatever order the chosen index gives); `{ $version: 'asc' | 'desc' }` is
   * commit order, from a version index.
   */
  orderBy?: OrderBy<R> | { readonly $version: Direction };
  /** Allow a scan of every record (and an in-memory sort) when no index serves the query. */
  allowFullScan?: boolean;
}

/** A normalized condition: what the residual filter evaluates. */
export type Condition =
  | { readonly kind: 'and' | 'or'; readonly items: readonly Condition[] }
  | { readonly kind: 'compare'; readonly field: string; readonly op: 'eq' | 'gt' | 'gte' | 'lt' | 'lte'; readonly value: TupleItem; readonly double: boolean }
  | { readonly kind: 'in'; readonly field: string; readonly values: readonly TupleItem[]; readonly double: boolean }
  | { readonly kind: 'startsWith'; readonly field: string; readonly prefix: string | Uint8Array };

type Leaf = Exclude<Condition, { kind: 'and' | 'or' }>;

/** One sort term. */
export interface OrderTerm {
  readonly field: string;
  readonly direction: Direction;
}

/** One key range of a plan. */
export interface PlannedRange {
  /** First key (inclusive). */
  readonly begin: Uint8Array;
  /** Last key (exclusive). */
  readonly end: Uint8Array;
  /** The packed index prefix and equality values every key of the range starts with. */
  readonly prefix: Uint8Array;
  /** The range in words, for `explain()`. */
  readonly description: string;
}

/** A plan that reads ranges of one index (the primary key counts as one). */
export interface IndexPlan {
  readonly kind: 'index';
  /** The index name, or {@link PRIMARY_KEY_INDEX}. */
  readonly index: string;
  /** True when the ranges are of the records themselves (no second read per record). */
  readonly primary: boolean;
  /** The ranges, in ascending key order. */
  readonly ranges: readonly PlannedRange[];
  /** Read the ranges from the last key to the first. */
  readonly reverse: boolean;
  /** Interleave the ranges by the key after their prefix (to keep the order across `in` values). */
  readonly merge: boolean;
  /** Conditions the ranges do not enforce, checked on each record read; `null` for none. */
  readonly residual: Condition | null;
  /** True when the records come out in the requested order. */
  readonly ordered: boolean;
  /** How many conditions the ranges enforce. */
  readonly enforced: number;
}

/** A plan that reads each branch of an `or` and keeps each record once. */
export interface UnionPlan {
  readonly kind: 'union';
  readonly branches: readonly IndexPlan[];
}

/** What a query runs. */
export interface Plan {
  /** Where records come from. */
  readonly source: IndexPlan | UnionPlan;
  /** True when every record of the type is read (the query opted in with `allowFullScan`). */
  readonly fullScan: boolean;
  /** True when the records are gathered and sorted in memory (bounded) rather than streamed in order. */
  readonly sortInMemory: boolean;
  /** The sort terms, with constant fields left out. */
  readonly orderBy: readonly OrderTerm[];
  /** The whole filter, for the in-memory paths. */
  readonly where: Condition | null;
}

/** The record type a plan is for, and where its keys live. */
export interface PlannerTarget {
  readonly typeName: string;
  readonly definition: RecordTypeDefinition;
  /** The store's subspace. */
  readonly subspace: Subspace;
  /** The tuple prefix of the type's records (inside `subspace`). */
  readonly recordsPrefix: readonly TupleItem[];
  /** The tuple prefix of an index's entries (inside `subspace`). */
  indexPrefix(name: string): readonly TupleItem[];
  /** The fields whose numbers the store's keys hold as doubles (see `keyItem`). */
  readonly doubles: ReadonlySet<string>;
  /**
   * Indexes of the type that are still being built (write-only): left out of `definition`, so the
   * planner never uses them, and named when a query is refused.
   */
  readonly building?: readonly string[];
}

interface Candidate {
  readonly name: string;
  readonly primary: boolean;
  readonly fields: readonly string[];
  /** The fields in the order they appear in a key (index fields, then the primary key). */
  readonly keyFields: readonly string[];
  readonly prefix: readonly TupleItem[];
}

/**
 * Normalizes a `where` into a {@link Condition} (`null` for none), checking field names and values.
 * @throws RecordLayerError `unknown_field` naming the field; `invalid_query` for a malformed condition.
 */
export function normalizeWhere(target: PlannerTarget, where: unknown): Condition | null {
  if (where === undefined || where === null) return null;
  const condition = normalizeObject(target, where, 'where');
  return condition.kind === 'and' && condition.items.length === 0 ? null : condition;
}

function normalizeObject(target: PlannerTarget, where: unknown, path: string): Condition {
  if (!isPlainObject(where)) throw invalid(`${path} must be an object of field conditions`);
  const items: Condition[] = [];
  for (const [key, value] of Object.entries(where)) {
    // A field left undefined (a variable that was never set) would otherwise drop its condition and
    // match every record, which a deleteMany would then delete.
    if (value === undefined) throw invalid(`${path}.${key} is undefined: leave the field out to match any value, or use null to match records without one`);
    if (key === 'and' || key === 'or') {
      if (!Array.isArray(value)) throw invalid(`${path}.${key} must be an array of conditions`);
      const members = value.map((member, i) => {
        // An empty member says nothing: in an or it would match every record.
        if (isPlainObject(member) && Object.keys(member).length === 0) throw invalid(`${path}.${key}[${i}] is empty: give it a condition, or leave it out`);
        return normalizeObject(target, member, `${path}.${key}[${i}]`);
      });
      if (members.length === 0) throw invalid(`${path}.${key} needs at least one condition`);
      if (key === 'and') items.push(...members);
      else items.push(members.length === 1 ? members[0]! : { kind: 'or', items: members });
      continue;
    }
    checkField(target, key);
    checkScalarField(target, key, `${path}.${key}`);
    if (!isPlainObject(value)) {
      items.push({ kind: 'compare', field: key, op: 'eq', value: item(target, key, value), double: target.doubles.has(key) });
      continue;
    }
    const operators = Object.entries(value);
    if (operators.length === 0) throw invalid(`${path}.${key} has no condition (use eq, gt, gte, lt, lte, in or startsWith)`);
    for (const [op, operand] of operators) {
      if (operand === undefined) throw invalid(`${path}.${key}.${op} is undefined`);
      switch (op) {
        case 'eq':
        case 'gt':
        case 'gte':
        case 'lt':
        case 'lte':
          if (op !== 'eq' && operand === null) throw invalid(`${path}.${key}.${op} cannot be null`);
          items.push({ kind: 'compare', field: key, op, value: item(target, key, operand), double: target.doubles.has(key) });
          break;
        case 'in':
          if (!Array.isArray(operand)) throw invalid(`${path}.${key}.in must be an array`);
          items.push({ kind: 'in', field: key, values: operand.map((v) => item(target, key, v)), double: target.doubles.has(key) });
          break;
        case 'startsWith': {
          if (typeof operand !== 'string' && !(operand instanceof Uint8Array)) throw invalid(`${path}.${key}.startsWith takes a string or bytes`);
          // A prefix of another kind than the field's would silently match nothing.
          const kinds = fieldKinds(target.definition.schema.shape[key] as z.ZodType);
          if (!kinds.has(typeof operand === 'string' ? 'string' : 'unknown')) {
            throw invalid(`${path}.${key}.startsWith takes ${typeof operand === 'string' ? 'a string' : 'bytes'}, but ${target.typeName}.${key} does not hold ${typeof operand === 'string' ? 'strings' : 'bytes'}`);
          }
          items.push({ kind: 'startsWith', field: key, prefix: operand });
          break;
        }
        default:
          throw invalid(`${path}.${key} has an unknown operator ${JSON.stringify(op)} (use eq, gt, gte, lt, lte, in, startsWith)`);
      }
    }
  }
  return items.length === 1 ? items[0]! : { kind: 'and', items };
}

/**
 * Normalizes an `orderBy` into terms.
 * @throws RecordLayerError `unknown_field` naming the field; `invalid_query` for a direction other than asc/desc.
 */
export function normalizeOrderBy(target: PlannerTarget, orderBy: unknown): OrderTerm[] {
  if (orderBy === undefined || orderBy === null) return [];
  const objects = Array.isArray(orderBy) ? orderBy : [orderBy];
  const terms: OrderTerm[] = [];
  for (const object of objects) {
    if (!isPlainObject(object)) throw invalid('orderBy must be an object such as { createdAt: "desc" } or a list of them');
    for (const [field, direction] of Object.entries(object)) {
      checkField(target, field);
      checkScalarField(target, field, `orderBy.${field}`);
      if (direction !== 'asc' && direction !== 'desc') throw invalid(`orderBy.${field} must be "asc" or "desc"`);
      if (!terms.some((t) => t.field === field)) terms.push({ field, direction });
    }
  }
  return terms;
}

/**
 * Chooses how to run a query.
 *
 * @remarks
 * Each candidate index (the primary key first, then the value indexes in declaration order) is
 * matched: equality (or `in`) conditions on a prefix of its fields, then at most one range
 * (`gt`/`gte`/`lt`/`lte`, or `startsWith`) on the next field; `orderBy`, leaving out fields fixed by
 * equality, must name the fields after that prefix, all `asc` (forward) or all `desc` (reverse).
 * An index that enforces at least one condition, or that needs no residual filter, serves the
 * query; among them the planner prefers one that gives the order, then the most conditions
 * enforced, then the fewest ranges. An `or` that no index serves as a whole is planned branch by
 * branch and unioned. A served filter whose order no index gives is sorted in memory only with
 * `allowFullScan`. `only` limits the candidates (of the query, and of each branch of an `or`) to
 * the primary key and the indexes it names (to plan again as a cursor's plan was made, once other
 * indexes became readable).
 * @throws RecordLayerError `no_index_for_query` naming the value index to add; `unknown_field`; `invalid_query`.
 * @example
 * ```ts
 * const plan = planQuery(target, { where: { status: 'open' }, orderBy: { createdAt: 'desc' } });
 * ```
 */
export function planQuery(target: PlannerTarget, query: PlannerQuery<unknown>, only?: readonly string[]): Plan {
  checkQuery(query);
  const version = versionOrder(query.orderBy);
  if (version !== null) return planVersion(target, normalizeWhere(target, query.where), version, query.allowFullScan === true, only);
  const where = normalizeWhere(target, query.where);
  const orderBy = normalizeOrderBy(target, query.orderBy);
  const allowFullScan = query.allowFullScan === true;
  const conjunction = where === null ? [] : where.kind === 'and' ? where.items : [where];
  const leaves = conjunction.filter((c): c is Leaf => c.kind !== 'and' && c.kind !== 'or');
  const others = conjunction.filter((c) => c.kind === 'and' || c.kind === 'or');
  const constant = new Set(leaves.filter((l) => l.kind === 'compare' && l.op === 'eq').map((l) => l.field));
  const terms = orderBy.filter((t) => !constant.has(t.field));
  const plans = candidates(target)
    .filter((c) => only === undefined || c.primary || only.includes(c.name))
    .map((c) => planCandidate(target, c, leaves, others, terms));
  const served = plans.filter((p) => p.enforced > 0 || p.residual === null);
  const best = pickBest(served, terms.length > 0);
  const plan = (source: IndexPlan | UnionPlan, fullScan: boolean, sortInMemory: boolean): Plan => ({ source, fullScan, sortInMemory, orderBy: terms, where });
  if (best !== null && (best.ordered || terms.length === 0)) return plan(best, false, false);
  if (best !== null) {
    if (allowFullScan) return plan(best, false, true);
    throw noIndex(target, suggestFields(leaves, terms), 'gives the requested order');
  }
  // An `or` no single index serves: one plan per branch, if every branch is served.
  const or = others.find((c) => c.kind === 'or');
  if (or !== undefined && or.kind === 'or') {
    const rest = conjunction.filter((c) => c !== or);
    const branches: IndexPlan[] = [];
    for (const member of or.items) {
      const branchWhere: Condition = { kind: 'and', items: [...rest, ...(member.kind === 'and' ? member.items : [member])] };
      try {
        branches.push(planBranch(target, branchWhere, only));
      } catch (error) {
        if (allowFullScan) return fullScan(target, plans, terms, plan);
        throw error;
      }
    }
    return plan({ kind: 'union', branches }, false, true);
  }
  if (allowFullScan) return fullScan(target, plans, terms, plan);
  throw longInList(target, leaves) ?? noIndex(target, suggestFields(leaves, terms), 'serves this filter');
}

// The refusal of a query none of whose plans serves it because an `in` list is too long for one
// scan, or null when no list is.
function longInList(target: PlannerTarget, leaves: readonly Leaf[]): RecordLayerError | null {
  const long = leaves.find((leaf) => leaf.kind === 'in' && sortDistinct(leaf.values).length > PLAN_RANGES_MAX);
  // Only when an index holds the list's field: otherwise the missing index is what to report.
  if (long === undefined || !candidates(target).some((candidate) => candidate.fields.includes(long.field))) return null;
  return new RecordLayerError(
    'no_index_for_query',
    `where.${long.field}.in has more than ${PLAN_RANGES_MAX} values, more key ranges than one scan reads: narrow the query by a field an index serves, or pass allowFullScan: true to check the list on every record`,
    { details: { type: target.typeName, field: long.field } },
  );
}

/** The pseudo-field of `orderBy` that asks for commit order (served by a version index). */
export const VERSION_ORDER = '$version';

// The direction of `orderBy: { $version }`, or null when the order does not name it; commit order
// is a total order of records, so no other term may accompany it.
function versionOrder(orderBy: unknown): Direction | null {
  const objects: unknown[] = Array.isArray(orderBy) ? orderBy : [orderBy];
  if (!objects.some((o) => isPlainObject(o) && Object.hasOwn(o, VERSION_ORDER))) return null;
  const keys = objects.flatMap((o) => (isPlainObject(o) ? Object.keys(o) : ['?']));
  if (keys.length !== 1) throw invalid(`orderBy.${VERSION_ORDER} must be the only sort term (commit order already orders every record)`);
  const direction = (objects[0] as Record<string, unknown>)[VERSION_ORDER];
  if (direction !== 'asc' && direction !== 'desc') throw invalid(`orderBy.${VERSION_ORDER} must be "asc" or "desc"`);
  return direction;
}

// Commit order reads a version index from end to end; a filter is then checked on every record,
// which is a full scan and needs the query's consent (invariant 3).
function planVersion(target: PlannerTarget, where: Condition | null, direction: Direction, allowFullScan: boolean, only: readonly string[] | undefined): Plan {
  const name = Object.entries(target.definition.indexes).find(([index, d]) => d.kind === 'version' && (only === undefined || only.includes(index)))?.[0];
  const building = target.building ?? [];
  if (name === undefined) {
    throw new RecordLayerError(
      'no_index_for_query',
      `no readable version index of ${target.typeName} gives commit order; add index.version() to its indexes${buildingNote(target.typeName, building)}`,
      { details: { type: target.typeName, ...(building.length > 0 ? { building: [...building] } : {}) } },
    );
  }
  if (where !== null && !allowFullScan) {
    throw new RecordLayerError(
      'no_index_for_query',
      `a version index of ${target.typeName} serves no filter; pass allowFullScan: true to check the filter on every record in commit order`,
      { details: { type: target.typeName, index: name } },
    );
  }
  const prefix = target.indexPrefix(name);
  const { begin, end } = target.subspace.range([...prefix]);
  const source: IndexPlan = {
    kind: 'index',
    index: name,
    primary: false,
    ranges: [{ begin, end, prefix: target.subspace.pack([...prefix]), description: `${name}: all (commit order)` }],
    reverse: direction === 'desc',
    merge: false,
    residual: where,
    ordered: true,
    enforced: 0,
  };
  return { source, fullScan: where !== null, sortInMemory: false, orderBy: [{ field: VERSION_ORDER, direction }], where };
}

/** Plans one branch of an `or`: it must be served by an index without a full scan. */
function planBranch(target: PlannerTarget, where: Condition, only: readonly string[] | undefined): IndexPlan {
  const conjunction = where.kind === 'and' ? where.items : [where];
  const leaves = conjunction.filter((c): c is Leaf => c.kind !== 'and' && c.kind !== 'or');
  const others = conjunction.filter((c) => c.kind === 'and' || c.kind === 'or');
  const plans = candidates(target)
    .filter((c) => only === undefined || c.primary || only.includes(c.name))
    .map((c) => planCandidate(target, c, leaves, others, []));
  const best = pickBest(plans.filter((p) => p.enforced > 0 || p.residual === null), false);
  if (best === null) throw longInList(target, leaves) ?? noIndex(target, suggestFields(leaves, []), 'serves this branch of the or');
  return best;
}

function fullScan(_target: PlannerTarget, plans: IndexPlan[], terms: readonly OrderTerm[], plan: (s: IndexPlan, f: boolean, m: boolean) => Plan): Plan {
  // A full scan in an index's order streams (and pages) without sorting; otherwise sort in memory.
  const ordered = plans.find((p) => p.ordered && terms.length > 0);
  const primary = plans[0]!;
  assert(primary.primary, 'the primary key is the first candidate');
  const chosen = ordered ?? primary;
  return plan(chosen, true, !(chosen.ordered || terms.length === 0));
}

function pickBest(plans: CandidatePlan[], wantOrder: boolean): CandidatePlan | null {
  let best: CandidatePlan | null = null;
  const score = (p: CandidatePlan): number[] => [wantOrder && p.ordered ? 1 : 0, p.enforced, -p.rangeCount, p.residual === null ? 1 : 0];
  for (const plan of plans) {
    if (best === null) {
      best = plan;
      continue;
    }
    const a = score(plan);
    const b = score(best);
    const i = a.findIndex((x, k) => x !== b[k]);
    if (i >= 0 && a[i]! > b[i]!) best = plan;
  }
  return best;
}

function candidates(target: PlannerTarget): Candidate[] {
  const { definition } = target;
  const out: Candidate[] = [
    { name: PRIMARY_KEY_INDEX, primary: true, fields: definition.primaryKey, keyFields: definition.primaryKey, prefix: target.recordsPrefix },
  ];
  for (const [name, index] of Object.entries(definition.indexes)) {
    if (index.kind !== 'value') continue;
    out.push({ name, primary: false, fields: index.fields, keyFields: [...index.fields, ...definition.primaryKey], prefix: target.indexPrefix(name) });
  }
  return out;
}

/** A candidate index's plan, with how many ranges it reads (known before they are made). */
class CandidatePlan implements IndexPlan {
  readonly kind = 'index';
  #ranges: readonly PlannedRange[] | undefined;
  readonly #makeRanges: () => readonly PlannedRange[];
  constructor(
    readonly index: string,
    readonly primary: boolean,
    readonly reverse: boolean,
    readonly merge: boolean,
    readonly residual: Condition | null,
    readonly ordered: boolean,
    readonly enforced: number,
    readonly rangeCount: number,
    makeRanges: () => readonly PlannedRange[],
  ) {
    this.#makeRanges = makeRanges;
  }
  get ranges(): readonly PlannedRange[] {
    return (this.#ranges ??= this.#makeRanges());
  }
}

function planCandidate(target: PlannerTarget, candidate: Candidate, leaves: readonly Leaf[], others: readonly Condition[], terms: readonly OrderTerm[]): CandidatePlan {
  // Every candidate is planned for each query and one is chosen, so this walks the few leaves and
  // fields with plain loops; the chosen plan's ranges are made when first read.
  const used: Leaf[] = [];
  const values: TupleItem[][] = [];
  // One range per combination of the equality values (an `in` list gives several).
  let rangeCount = 1;
  let position = 0;
  for (; position < candidate.fields.length; position++) {
    const field = candidate.fields[position]!;
    let eq: Extract<Leaf, { kind: 'compare' }> | undefined;
    let inList: Extract<Leaf, { kind: 'in' }> | undefined;
    for (const leaf of leaves) {
      if (leaf.field !== field || used.includes(leaf)) continue;
      if (leaf.kind === 'compare' && leaf.op === 'eq') eq ??= leaf;
      else if (leaf.kind === 'in') inList ??= leaf;
    }
    if (eq !== undefined) {
      values.push([eq.value]);
      used.push(eq);
    } else if (inList !== undefined) {
      const distinct = sortDistinct(inList.values);
      // Beyond the bound, the list is left to the residual filter: this candidate then competes
      // with what else serves the query (another index, a full scan) instead of failing it.
      if (rangeCount * distinct.length > PLAN_RANGES_MAX) break;
      rangeCount *= distinct.length;
      values.push(distinct);
      used.push(inList);
    } else break;
  }
  let lower: Extract<Leaf, { kind: 'compare' }> | undefined;
  let upper: Extract<Leaf, { kind: 'compare' }> | undefined;
  let prefix: Extract<Leaf, { kind: 'startsWith' }> | undefined;
  const rangeField = candidate.fields[position];
  if (rangeField !== undefined) {
    for (const leaf of leaves) {
      if (leaf.field !== rangeField || used.includes(leaf)) continue;
      if (leaf.kind === 'startsWith' && prefix === undefined && lower === undefined && upper === undefined) prefix = leaf;
      else if (leaf.kind === 'compare' && (leaf.op === 'gt' || leaf.op === 'gte') && lower === undefined && prefix === undefined) lower = leaf;
      else if (leaf.kind === 'compare' && (leaf.op === 'lt' || leaf.op === 'lte') && upper === undefined && prefix === undefined) upper = leaf;
      else continue;
      used.push(leaf);
    }
  }
  // Ordered: every term in one direction, each the key field after the equality prefix (the
  // ranges of an `in` are then merged), or each the next key field that is not fixed to one value,
  // `in` fields of the prefix included (the ranges, in key order, are then read one after another).
  let ordered = true;
  for (let j = 0; j < terms.length && ordered; j++) ordered = terms[j]!.direction === terms[0]!.direction && candidate.keyFields[position + j] === terms[j]!.field;
  let sequential = false;
  if (!ordered && values.some((options) => options.length > 1)) {
    let k = 0;
    sequential = true;
    for (let j = 0; j < terms.length && sequential; j++) {
      while (k < values.length && values[k]!.length <= 1 && candidate.keyFields[k] !== terms[j]!.field) k++;
      sequential = terms[j]!.direction === terms[0]!.direction && candidate.keyFields[k] === terms[j]!.field;
      k++;
    }
    ordered = sequential;
  }
  const reverse = ordered && terms.length > 0 && terms[0]!.direction === 'desc';
  const rest: Condition[] = [];
  for (const leaf of leaves) if (!used.includes(leaf)) rest.push(leaf);
  for (const other of others) rest.push(other);
  const residual: Condition | null = rest.length === 0 ? null : rest.length === 1 ? rest[0]! : { kind: 'and', items: rest };
  const merge = ordered && !sequential && terms.length > 0 && rangeCount > 1;
  const bounds: RangeBounds = { candidate, position, lower, upper, prefix };
  const makeRanges = (): PlannedRange[] => {
    let combinations: TupleItem[][] = [[]];
    for (const options of values) combinations = combinations.flatMap((c) => options.map((v) => [...c, v]));
    return combinations.map((equal) => makeRange(target, bounds, equal));
  };
  return new CandidatePlan(candidate.name, candidate.primary, reverse, merge, residual, ordered, used.length, rangeCount, makeRanges);
}

/** What the ranges of a candidate's plan share: equality values come first, then the range on `position`. */
interface RangeBounds {
  readonly candidate: Candidate;
  /** The index of the field after the equality prefix. */
  readonly position: number;
  readonly lower: Extract<Leaf, { kind: 'compare' }> | undefined;
  readonly upper: Extract<Leaf, { kind: 'compare' }> | undefined;
  readonly prefix: Extract<Leaf, { kind: 'startsWith' }> | undefined;
}

// The bytes a tuple's range puts after the tuple's packed bytes: 0x00 begins it, 0xff ends it.
const AFTER_TUPLE_FIRST = new Uint8Array([0x00]);
const AFTER_TUPLE_LAST = new Uint8Array([0xff]);

function makeRange(target: PlannerTarget, bounds: RangeBounds, equal: TupleItem[]): PlannedRange {
  const { subspace } = target;
  const { candidate, lower, upper, prefix } = bounds;
  const base = [...candidate.prefix, ...equal];
  const packedBase = subspace.pack(base);
  let begin: Uint8Array;
  let end: Uint8Array;
  if (prefix !== undefined) {
    // Tuple-encoded strings and bytes end with a 0x00 terminator: without it, the packed prefix is
    // a byte prefix of every encoded value that starts with it.
    const encoded = pack([prefix.prefix]);
    begin = concat(packedBase, encoded.subarray(0, encoded.length - 1));
    end = strinc(begin);
  } else {
    // The range of every key that extends the base tuple: `subspace.range(base)`, from the bytes
    // packed once.
    begin = concat(packedBase, AFTER_TUPLE_FIRST);
    end = concat(packedBase, AFTER_TUPLE_LAST);
    if (lower !== undefined) begin = lower.op === 'gte' ? subspace.pack([...base, lower.value]) : subspace.range([...base, lower.value]).end;
    // Missing values are stored as null, which sorts first; a range never matches them.
    else if (upper !== undefined) begin = subspace.range([...base, null]).end;
    if (upper !== undefined) end = upper.op === 'lt' ? subspace.pack([...base, upper.value]) : subspace.range([...base, upper.value]).end;
  }
  // The words are for explain(): made only when asked for.
  return new Range(begin, end, packedBase, () => describeRange(bounds, equal));
}

class Range implements PlannedRange {
  #description: string | undefined;
  readonly #describe: () => string;
  constructor(
    readonly begin: Uint8Array,
    readonly end: Uint8Array,
    readonly prefix: Uint8Array,
    describe: () => string,
  ) {
    this.#describe = describe;
  }
  get description(): string {
    return (this.#description ??= this.#describe());
  }
}

function describeRange(bounds: RangeBounds, equal: TupleItem[]): string {
  const { candidate, position, lower, upper, prefix } = bounds;
  const words = equal.map((v, i) => `${candidate.fields[i]} = ${printItem(v)}`);
  const field = candidate.fields[position];
  if (prefix !== undefined) words.push(`${field} startsWith ${printItem(prefix.prefix)}`);
  else {
    if (lower !== undefined) words.push(`${field} ${lower.op === 'gte' ? '>=' : '>'} ${printItem(lower.value)}`);
    if (upper !== undefined) words.push(`${field} ${upper.op === 'lte' ? '<=' : '<'} ${printItem(upper.value)}`);
  }
  return `${candidate.name}: ${words.length === 0 ? 'all' : words.join(', ')}`;
}

/** True when `record` satisfies `condition` (the residual filter; key order decides ranges). */
export function matches(condition: Condition | null, record: Record<string, unknown>): boolean {
  if (condition === null) return true;
  switch (condition.kind) {
    case 'and':
      return condition.items.every((c) => matches(c, record));
    case 'or':
      return condition.items.some((c) => matches(c, record));
    case 'startsWith': {
      const value = record[condition.field];
      if (typeof condition.prefix === 'string') return typeof value === 'string' && value.startsWith(condition.prefix);
      return value instanceof Uint8Array && value.length >= condition.prefix.length && Buffer.compare(value.subarray(0, condition.prefix.length), condition.prefix) === 0;
    }
    case 'in': {
      const value = keyItem(record[condition.field], condition.field, condition.double);
      return condition.values.some((v) => compareItems(value, v) === 0);
    }
    case 'compare': {
      const value = keyItem(record[condition.field], condition.field, condition.double);
      if (condition.op === 'eq') return compareItems(value, condition.value) === 0;
      if (value === null) return false;
      const c = compareItems(value, condition.value);
      return condition.op === 'gt' ? c > 0 : condition.op === 'gte' ? c >= 0 : condition.op === 'lt' ? c < 0 : c <= 0;
    }
  }
}

/** Compares two tuple items in key order (the order indexes keep them in). */
export function compareItems(a: TupleItem, b: TupleItem): number {
  return Buffer.compare(pack([a]), pack([b]));
}

/** A condition in words, for `explain()`. */
export function describeCondition(condition: Condition): string {
  switch (condition.kind) {
    case 'and':
    case 'or':
      return `(${condition.items.map(describeCondition).join(` ${condition.kind} `)})`;
    case 'compare':
      return `${condition.field} ${{ eq: '=', gt: '>', gte: '>=', lt: '<', lte: '<=' }[condition.op]} ${printItem(condition.value)}`;
    case 'in':
      return `${condition.field} in [${condition.values.map(printItem).join(', ')}]`;
    case 'startsWith':
      return `${condition.field} startsWith ${printItem(condition.prefix)}`;
  }
}

/** A tuple item in words. */
export function printItem(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Double) return String(value.value);
  if (value instanceof Uint8Array) return `0x${Buffer.from(value).toString('hex')}`;
  return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? `${inner}n` : inner)) ?? String(value);
}

// The value index a refused query needs: its equality (and `in`) fields, then the order's fields,
// or the range's field when there is no order. When the order starts with another field than the
// range's, the equality fields and the order serve it (the range left to the residual filter); with
// no equality field, only the range's field can be enforced, and a range on one field and an order
// by another cannot come from one index (`orderConflict`).
function suggestFields(leaves: readonly Leaf[], terms: readonly OrderTerm[]): { fields: string[]; orderConflict: string | null } {
  const fields: string[] = [];
  const add = (field: string): void => {
    if (!fields.includes(field)) fields.push(field);
  };
  for (const leaf of leaves) if ((leaf.kind === 'compare' && leaf.op === 'eq') || leaf.kind === 'in') add(leaf.field);
  const range = leaves.find((l) => l.kind === 'startsWith' || (l.kind === 'compare' && l.op !== 'eq'));
  if (range !== undefined && terms.length > 0 && terms[0]!.field !== range.field && fields.length > 0) {
    for (const term of terms) add(term.field);
    return { fields, orderConflict: null };
  }
  if (range === undefined || terms.length === 0 || terms[0]!.field === range.field) {
    if (range !== undefined) add(range.field);
    for (const term of terms) add(term.field);
    return { fields, orderConflict: null };
  }
  add(range.field);
  return { fields, orderConflict: `a range on ${range.field} and an order by ${terms[0]!.field} cannot come from one index` };
}

function noIndex(target: PlannerTarget, { fields, orderConflict }: { fields: string[]; orderConflict: string | null }, what: string): RecordLayerError {
  const suggestion = `index.value([${fields.map((f) => `'${f}'`).join(', ')}])`;
  const building = target.building ?? [];
  const details = { type: target.typeName, suggestedIndex: fields, ...(building.length > 0 ? { building: [...building] } : {}) };
  const note = buildingNote(target.typeName, building);
  // An index that starts with the suggested fields serves them already: what is missing is the order.
  const existing = candidates(target).find((c) => fields.length > 0 && fields.every((f, i) => c.fields[i] === f));
  if (existing !== undefined) {
    return new RecordLayerError(
      'no_index_for_query',
      `no readable index of ${target.typeName} ${what}: ${existing.name} serves the filter, but ${orderConflict ?? 'not in the requested order'}; pass allowFullScan: true to sort the matching records in memory${note}`,
      { details },
    );
  }
  const sorted = orderConflict === null ? '' : ` (${orderConflict}: with it, the order is sorted in memory, which needs allowFullScan: true)`;
  return new RecordLayerError(
    'no_index_for_query',
    `no readable index of ${target.typeName} ${what}; add ${suggestion} to its indexes${sorted}, or pass allowFullScan: true to read every record${note}`,
    { details },
  );
}

/** The sentence a refused query adds when indexes of the type are still being built. */
export function buildingNote(typeName: string, building: readonly string[]): string {
  if (building.length === 0) return '';
  const names = building.map((name) => `${typeName}.${name}`).join(', ');
  return ` (index ${names} is still building: it is write-only until store.buildIndexes(db) has indexed the stored records)`;
}

function checkField(target: PlannerTarget, field: string): void {
  if (!Object.hasOwn(target.definition.schema.shape, field)) {
    throw new RecordLayerError('unknown_field', `${target.typeName} has no field ${JSON.stringify(field)}`, { details: { type: target.typeName, field } });
  }
}

/**
 * Refuses a query that is not an object (`findMany(null)`, say) with `invalid_query`.
 * @throws RecordLayerError `invalid_query`.
 */
export function checkQuery(query: unknown): void {
  if (!isPlainObject(query)) throw invalid(`a query must be an object such as { where, orderBy, limit }, got ${query === null ? 'null' : Array.isArray(query) ? 'an array' : typeof query}`);
}

// Conditions and orders take fields that keys can hold: not objects and arrays.
function checkScalarField(target: PlannerTarget, field: string, path: string): void {
  const type = (innerSchema(target.definition.schema.shape[field] as z.ZodType) as unknown as { def: { type: string } }).def.type;
  if (type === 'object' || type === 'array' || type === 'record' || type === 'map' || type === 'tuple' || type === 'set') {
    throw invalid(`${path}: ${target.typeName}.${field} holds ${type === 'array' || type === 'tuple' || type === 'set' ? 'a list' : 'an object'}, which queries cannot compare or order by (conditions on the fields inside it are not supported); keep what you query in a field of its own`);
  }
}

function item(target: PlannerTarget, field: string, value: unknown): TupleItem {
  if (value !== null && value !== undefined) {
    // A value of the wrong type would compare by type code and silently match nothing.
    if (!holdsKindOf(target.definition.schema.shape[field] as z.ZodType, value)) throw invalid(`where.${field}: ${printItem(value instanceof Timestamp ? value.toISOString() : value)} is not a valid value of ${target.typeName}.${field}`);
  }
  return keyItem(value, field, target.doubles.has(field));
}

// The kinds of value a field may hold, seen through its wrappers and unions: 'string' (a string, an
// enum, string literals), 'other' (any other kind known here, a Timestamp included) and 'unknown'
// (other custom types, bytes among them).
function fieldKinds(schema: z.ZodType): Set<'string' | 'other' | 'unknown'> {
  const inner = innerSchema(schema);
  const def = (inner as unknown as { def: { type: string; options?: z.ZodType[]; values?: unknown[] } }).def;
  switch (def.type) {
    case 'string':
    case 'enum':
    case 'template_literal':
      return new Set(['string']);
    case 'literal':
      return new Set((def.values ?? []).map((value) => (typeof value === 'string' ? 'string' : 'other')));
    case 'union':
      return new Set((def.options ?? []).flatMap((option) => [...fieldKinds(option)]));
    case 'number':
    case 'bigint':
    case 'boolean':
    case 'date':
    case 'object':
    case 'array':
      return new Set(['other']);
    case 'custom':
      return new Set([inner.safeParse(new Timestamp(0n)).success ? 'other' : 'unknown']);
    default:
      return new Set(['unknown']);
  }
}

function sortDistinct(values: readonly TupleItem[]): TupleItem[] {
  const sorted = [...values].sort(compareItems);
  return sorted.filter((v, i) => i === 0 || compareItems(sorted[i - 1]!, v) !== 0);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array) && !(value instanceof Timestamp) && !(value instanceof Date);
}

function invalid(message: string): RecordLayerError {
  return new RecordLayerError('invalid_query', message);
}

function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
