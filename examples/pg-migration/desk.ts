/**
 * The rental desk of a video store on Pagila: the one data-access interface the app is written
 * against, and the plain result objects both of its backends return.
 *
 * The app never sees a driver or a record store, only {@link RentalDesk}. `PostgresDesk`
 * (postgres-desk.ts) implements it with SQL on PostgreSQL; `StrataDesk` (strata-desk.ts) with the
 * record layer on Strata, over the record types `strata-pg introspect` generated from Pagila.
 * Moving the app from one to the other is choosing which class to construct.
 *
 * Invariants:
 * 1. Results are plain data, identical on both backends for the same data and the same calls:
 *    ids are numbers, instants are ISO 8601 texts in UTC with six fractional digits (PostgreSQL
 *    and the record layer both keep microseconds), amounts are decimal texts exactly as
 *    PostgreSQL prints `numeric` (never floats), lists come in a stated order with ties broken by
 *    id, and strings sort by code point on both backends.
 * 2. Every request is checked here ({@link checkRentRequest} and the others) before a backend
 *    runs it, so both refuse the same bad input with the same message.
 * 3. An expected outcome is a value: no free copy is `null` from `rentFilm`, a rental that is not
 *    open is `null` from `returnFilm`.
 */

/** The customer fields the desk shows. */
export interface CustomerSummary {
  customerId: number;
  /** The customer's home store. */
  storeId: number;
  firstName: string;
  lastName: string;
  /** Null when Pagila has none. */
  email: string | null;
  /** Pagila's `activebool`. */
  active: boolean;
}

/**
 * How to find customers: by exact email, or by the first letters of the last name.
 *
 * @remarks
 * Both match case and accents exactly, as PostgreSQL's `=` does (Pagila's names are upper case).
 * Results by email are ordered by customer id; by last name, by last name (code point order) and
 * then customer id. At most `limit`
 * (default {@link FIND_CUSTOMERS_DEFAULT}, at most {@link FIND_CUSTOMERS_MAX}) are returned.
 */
export type CustomerQuery = { email: string; limit?: number } | { lastNamePrefix: string; limit?: number };

/** A request to rent a film. */
export interface RentRequest {
  /** The film; the desk picks a free copy of it at `storeId`. */
  filmId: number;
  storeId: number;
  customerId: number;
  /** The staff member at the desk. */
  staffId: number;
  /** When the film is rented, ISO 8601 in UTC (`2022-07-30T10:00:00Z`). */
  at: string;
  /**
   * Record the payment of the film's rental rate with the rental, as Pagila's app does (default
   * true).
   */
  recordPayment?: boolean;
}

/** What the desk hands the customer for a rental. */
export interface RentalReceipt {
  rentalId: number;
  /** The copy rented: an inventory item of the film at the store. */
  inventoryId: number;
  storeId: number;
  filmId: number;
  title: string;
  customerId: number;
  staffId: number;
  rentedAt: string;
  /** `rentedAt` plus the film's rental duration in days (of 24 hours). */
  dueAt: string;
  /** The payment recorded with the rental: its id and amount (the film's rental rate), or null. */
  payment: { paymentId: number; amount: string } | null;
}

/** A request to return a rented copy. */
export interface ReturnRequest {
  rentalId: number;
  /** When it comes back, ISO 8601 in UTC. */
  at: string;
}

/** What the desk says when a copy comes back. */
export interface ReturnReceipt {
  rentalId: number;
  title: string;
  customerId: number;
  rentedAt: string;
  dueAt: string;
  returnedAt: string;
  /** Whether it came back after `dueAt`. */
  late: boolean;
}

/** Which overdue rentals to list. */
export interface OverdueQuery {
  /** The instant to judge by, ISO 8601 in UTC. */
  now: string;
  /** At most this many (default {@link OVERDUE_DEFAULT}, at most {@link OVERDUE_MAX}). */
  limit?: number;
}

/** An open rental past its due time. */
export interface OverdueRental {
  rentalId: number;
  rentedAt: string;
  dueAt: string;
  /** Whole days (of 24 hours) between `dueAt` and the query's `now`, rounded down. */
  daysOverdue: number;
  customerId: number;
  /** `first_name last_name`. */
  customerName: string;
  email: string | null;
  filmId: number;
  title: string;
  /** The store the copy belongs to. */
  storeId: number;
}

/** The takings of one film category. */
export interface CategoryRevenue {
  categoryId: number;
  category: string;
  /** The sum of the payments for rentals of the category's films, exact, as PostgreSQL prints a `numeric` sum. */
  revenue: string;
  /** How many payments that is. */
  payments: number;
}

/**
 * The rental desk: everything the app asks of its database.
 *
 * @remarks
 * Implementations: `PostgresDesk` (SQL) and `StrataDesk` (the record layer). For the same data
 * and the same calls they return identical results (see the invariants of this file).
 * @example
 * ```ts
 * async function rentToMary(desk: RentalDesk): Promise<RentalReceipt | null> {
 *   const [mary] = await desk.findCustomer({ email: 'MARY.SMITH@sakilacustomer.org' });
 *   return desk.rentFilm({ filmId: 178, storeId: 1, customerId: mary!.customerId, staffId: 1, at: '2022-07-30T10:00:00Z' });
 * }
 * ```
 */
export interface RentalDesk {
  /** Which backend this is, for printing. */
  readonly backend: 'postgresql' | 'strata';
  /**
   * Customers by email or by last-name prefix (see {@link CustomerQuery}).
   * @throws Error for a query that is neither, or a limit out of range.
   */
  findCustomer(query: CustomerQuery): Promise<CustomerSummary[]>;
  /**
   * Rents the free copy with the lowest inventory id of a film at a store (a copy without an open
   * rental), with its payment unless `recordPayment` is false; all in one transaction.
   *
   * @returns The receipt, or null when the store has no free copy of the film (or no such film).
   * @throws Error for a malformed request; the backend's error for an unknown customer or staff
   * member (a foreign key violation on both).
   */
  rentFilm(request: RentRequest): Promise<RentalReceipt | null>;
  /**
   * Closes an open rental at `request.at`.
   *
   * @returns The receipt, or null when there is no open rental with that id.
   * @throws Error for a malformed request.
   */
  returnFilm(request: ReturnRequest): Promise<ReturnReceipt | null>;
  /**
   * Open rentals whose due time (rental date plus the film's rental duration in days) is before
   * `now`, oldest rental first (ties by rental id).
   * @throws Error for a malformed `now` or a limit out of range.
   */
  listOverdue(query: OverdueQuery): Promise<OverdueRental[]>;
  /** The revenue of every category with payments, largest first (ties by name, then id). */
  revenueByCategory(): Promise<CategoryRevenue[]>;
  /** Releases what the desk holds (PostgreSQL's connections); the desk is unusable afterwards. */
  close(): Promise<void>;
}

/** Customers `findCustomer` returns when the query names no limit. */
export const FIND_CUSTOMERS_DEFAULT = 20;
/** The largest `limit` `findCustomer` takes. */
export const FIND_CUSTOMERS_MAX = 1_000;
/** Overdue rentals `listOverdue` returns when the query names no limit. */
export const OVERDUE_DEFAULT = 100;
/** The largest `limit` `listOverdue` takes: the Strata desk reads them in one transaction. */
export const OVERDUE_MAX = 1_000;
/** Microseconds in a day of the desk's calendar: 24 hours, in UTC. */
export const DAY_MICROS = 86_400_000_000n;

const INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z$/;

/**
 * Checks an instant the desk was given and returns it in the desk's canonical form (six
 * fractional digits).
 *
 * @throws Error naming `what` unless `text` is `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`, a valid date and time in UTC.
 * @example
 * ```ts
 * checkInstant('2022-07-30T10:00:00Z', 'at'); // '2022-07-30T10:00:00.000000Z'
 * ```
 */
export function checkInstant(text: string, what: string): string {
  const match = typeof text === 'string' ? INSTANT.exec(text) : null;
  if (match === null) throw new Error(`${what} must be an ISO 8601 instant in UTC such as 2022-07-30T10:00:00Z, not ${JSON.stringify(text)}`);
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    throw new Error(`${what} is not a valid date and time: ${JSON.stringify(text)}`);
  }
  return `${text.slice(0, 19)}.${(match[7] ?? '').padEnd(6, '0')}Z`;
}

/**
 * Checks that `value` is a positive 32-bit integer, as Pagila's ids are.
 * @throws Error naming `what` otherwise.
 * @example
 * ```ts
 * checkId(178, 'filmId'); // 178
 * ```
 */
export function checkId(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) throw new Error(`${what} must be a positive 32-bit integer, not ${String(value)}`);
  return value;
}

function checkLimit(limit: number | undefined, options: { fallback: number; max: number; what: string }): number {
  if (limit === undefined) return options.fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > options.max) throw new Error(`${options.what} limit must be an integer from 1 to ${options.max}, not ${String(limit)}`);
  return limit;
}

/** A {@link CustomerQuery} once checked: which field to match, the text, and the limit. */
export type CheckedCustomerQuery = { by: 'email' | 'lastNamePrefix'; text: string; limit: number };

/**
 * Checks a {@link CustomerQuery}.
 * @throws Error unless it has exactly one of `email` and `lastNamePrefix`, a string, and a limit in range.
 * @example
 * ```ts
 * checkCustomerQuery({ lastNamePrefix: 'WIL' }); // { by: 'lastNamePrefix', text: 'WIL', limit: 20 }
 * ```
 */
export function checkCustomerQuery(query: CustomerQuery): CheckedCustomerQuery {
  const limit = checkLimit(query.limit, { fallback: FIND_CUSTOMERS_DEFAULT, max: FIND_CUSTOMERS_MAX, what: 'findCustomer' });
  const hasEmail = 'email' in query && query.email !== undefined;
  const hasPrefix = 'lastNamePrefix' in query && query.lastNamePrefix !== undefined;
  if (hasEmail === hasPrefix) throw new Error('findCustomer takes either email or lastNamePrefix');
  const text = hasEmail ? (query as { email: unknown }).email : (query as { lastNamePrefix: unknown }).lastNamePrefix;
  if (typeof text !== 'string') throw new Error(`findCustomer: ${hasEmail ? 'email' : 'lastNamePrefix'} must be a string`);
  return { by: hasEmail ? 'email' : 'lastNamePrefix', text, limit };
}

/**
 * Checks a {@link RentRequest}; returns it with `at` in canonical form and `recordPayment` filled in.
 * @throws Error naming the field that is wrong.
 * @example
 * ```ts
 * const request = checkRentRequest({ filmId: 178, storeId: 1, customerId: 1, staffId: 1, at: '2022-07-30T10:00:00Z' });
 * request.recordPayment; // true
 * ```
 */
export function checkRentRequest(request: RentRequest): Required<RentRequest> {
  return {
    filmId: checkId(request.filmId, 'filmId'),
    storeId: checkId(request.storeId, 'storeId'),
    customerId: checkId(request.customerId, 'customerId'),
    staffId: checkId(request.staffId, 'staffId'),
    at: checkInstant(request.at, 'at'),
    recordPayment: request.recordPayment ?? true,
  };
}

/**
 * Checks a {@link ReturnRequest}; returns it with `at` in canonical form.
 * @throws Error naming the field that is wrong.
 * @example
 * ```ts
 * checkReturnRequest({ rentalId: 11593, at: '2022-07-31T12:00:00Z' }).at; // '2022-07-31T12:00:00.000000Z'
 * ```
 */
export function checkReturnRequest(request: ReturnRequest): ReturnRequest {
  return { rentalId: checkId(request.rentalId, 'rentalId'), at: checkInstant(request.at, 'at') };
}

/**
 * Checks an {@link OverdueQuery}; returns it with `now` in canonical form and the limit filled in.
 * @throws Error naming the field that is wrong.
 * @example
 * ```ts
 * checkOverdueQuery({ now: '2022-07-31T18:00:00Z' }).limit; // 100
 * ```
 */
export function checkOverdueQuery(query: OverdueQuery): Required<OverdueQuery> {
  return { now: checkInstant(query.now, 'now'), limit: checkLimit(query.limit, { fallback: OVERDUE_DEFAULT, max: OVERDUE_MAX, what: 'listOverdue' }) };
}

/**
 * Orders strings by code point, as both backends do (PostgreSQL with `COLLATE "C"`, record keys by
 * UTF-8 bytes), unlike `<` on JavaScript strings, which compares UTF-16 code units.
 * @example
 * ```ts
 * ['b', 'B', 'a'].sort(compareCodePoints); // ['B', 'a', 'b']
 * ```
 */
export function compareCodePoints(a: string, b: string): number {
  // UTF-16 order differs from code point order only for characters above U+FFFF against U+E000-U+FFFF.
  const left = Array.from(a, (c) => c.codePointAt(0)!);
  const right = Array.from(b, (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(left.length, right.length); i++) if (left[i] !== right[i]) return left[i]! - right[i]!;
  return left.length - right.length;
}
