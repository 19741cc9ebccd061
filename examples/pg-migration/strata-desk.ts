/**
 * The rental desk on Strata's record layer, over Pagila's record types as `strata-pg introspect`
 * generated them (schema.ts) plus the two indexes of desk-schema.ts.
 *
 * What changed from the SQL of postgres-desk.ts, and why:
 * - Joins happen here, in TypeScript: the record layer reads one record type at a time. Each step
 *   reads by primary key or through an index (`findMany` with `where` and `orderBy`); no query
 *   reads every record of a type to filter it. The one report that needs every payment,
 *   `revenueByCategory`, reads each table it joins once, as PostgreSQL's hash join does.
 * - Pagila's stored functions (`film_in_stock`, `inventory_in_stock`) and its `last_updated`
 *   trigger are not migrated: the desk looks for a free copy itself, and sets `last_update` on
 *   every write.
 * - `numeric` columns are decimal texts (`"2.99"`): amounts are copied as texts and summed exactly
 *   with {@link DecimalSum}, never as floats.
 * - `timestamptz` columns are {@link Timestamp}s (microseconds since 1970, UTC); a day is 24 hours.
 * - New ids come from the record types' sequences (`rental_rental_id_seq`,
 *   `payment_payment_id_seq`), which the copy set to continue after PostgreSQL's.
 *
 * Invariants:
 * 1. Every method that reads for a decision and then writes (`rentFilm`, `returnFilm`) does both in
 *    one `db.transact`: two desks renting the last free copy at once conflict, and the retried one
 *    sees the copy taken.
 * 2. Every loop is bounded: by the copies of one film at one store, by `limit` and the open
 *    rentals before `now`, or by the records of the tables a report reads.
 */
import type { Database } from '@strata/core';
import { Timestamp, type FindManyResult, type RecordStore } from '@strata/records';
import {
  DAY_MICROS,
  checkCustomerQuery,
  checkOverdueQuery,
  checkRentRequest,
  checkReturnRequest,
  compareCodePoints,
  type CategoryRevenue,
  type CustomerQuery,
  type CustomerSummary,
  type OverdueQuery,
  type OverdueRental,
  type RentalDesk,
  type RentalReceipt,
  type RentRequest,
  type ReturnReceipt,
  type ReturnRequest,
} from './desk.js';
import { DecimalSum } from './decimal-sum.js';
import type { deskSchema } from './desk-schema.js';
import type { Customer, Film, Inventory, Rental } from './schema.js';

/** The record store the desk works on: Pagila's record types with the desk's indexes. */
export type DeskStore = RecordStore<typeof deskSchema.types>;

/** Open rentals `listOverdue` reads per page of its index range. */
const OVERDUE_PAGE_RECORDS = 100;

/** Options of {@link StrataDesk}. */
export interface StrataDeskOptions {
  /** The open database; the desk does not close it. */
  db: Database;
  /** The store opened with `deskSchema`, its indexes built (`store.buildIndexes`). */
  store: DeskStore;
}

/**
 * {@link RentalDesk} on the record layer.
 *
 * @example
 * ```ts
 * const store = await RecordStore.open(db, { path: ['pagila'], schema: deskSchema });
 * await store.buildIndexes(db);
 * const desk: RentalDesk = new StrataDesk({ db, store });
 * const overdue = await desk.listOverdue({ now: '2022-07-31T18:00:00Z', limit: 10 });
 * ```
 */
export class StrataDesk implements RentalDesk {
  /** Always `strata`. */
  readonly backend = 'strata';
  readonly #db: Database;
  readonly #store: DeskStore;

  constructor(options: StrataDeskOptions) {
    this.#db = options.db;
    this.#store = options.store;
  }

  /** {@inheritDoc RentalDesk.findCustomer} */
  async findCustomer(query: CustomerQuery): Promise<CustomerSummary[]> {
    const { by, text, limit } = checkCustomerQuery(query);
    const { records } = await this.#db.transact((tx) => {
      const customers = tx.at(this.#store).customer;
      // customer_email (added by the desk) and Pagila's idx_last_name serve these in order.
      return by === 'email'
        ? customers.findMany({ where: { email: text }, orderBy: { customer_id: 'asc' }, limit })
        : customers.findMany({ where: { last_name: { startsWith: text } }, orderBy: [{ last_name: 'asc' }, { customer_id: 'asc' }], limit });
    });
    return records.map(customerSummary);
  }

  /** {@inheritDoc RentalDesk.rentFilm} */
  async rentFilm(request: RentRequest): Promise<RentalReceipt | null> {
    const { filmId, storeId, customerId, staffId, at, recordPayment } = checkRentRequest(request);
    const rentedAt = Timestamp.parse(at);
    return this.#db.transact(async (tx) => {
      const view = tx.at(this.#store);
      const film = await view.film.get({ film_id: filmId });
      if (film === null) return null;
      // What Pagila's film_in_stock does: the copies at the store (idx_store_id_film_id), each
      // free when it has no open rental (idx_fk_inventory_id). Reading them makes a concurrent
      // rental of the same copy conflict with this transaction (invariant 1).
      const copies = await view.inventory.findMany({ where: { store_id: storeId, film_id: filmId }, orderBy: { inventory_id: 'asc' } });
      const open = await Promise.all(copies.records.map((copy) => view.rental.findFirst({ where: { inventory_id: copy.inventory_id, return_date: null } })));
      const copy = copies.records.find((_, i) => open[i] === null);
      if (copy === undefined) return null;
      // Pagila's last_updated trigger set last_update on every write; the desk does it now.
      const rental = await view.rental.insert({
        rental_date: rentedAt,
        inventory_id: copy.inventory_id,
        customer_id: customerId,
        return_date: null,
        staff_id: staffId,
        last_update: Timestamp.now(),
      });
      const payment = recordPayment
        ? await view.payment.insert({ customer_id: customerId, staff_id: staffId, rental_id: rental.rental_id, amount: film.rental_rate, payment_date: rentedAt })
        : null;
      return {
        rentalId: rental.rental_id,
        inventoryId: copy.inventory_id,
        storeId,
        filmId,
        title: film.title,
        customerId,
        staffId,
        rentedAt: rentedAt.toISOString(),
        dueAt: dueAt(rentedAt, film).toISOString(),
        payment: payment === null ? null : { paymentId: payment.payment_id, amount: payment.amount },
      };
    });
  }

  /** {@inheritDoc RentalDesk.returnFilm} */
  async returnFilm(request: ReturnRequest): Promise<ReturnReceipt | null> {
    const { rentalId, at } = checkReturnRequest(request);
    const returnedAt = Timestamp.parse(at);
    return this.#db.transact(async (tx) => {
      const view = tx.at(this.#store);
      const rental = await view.rental.get({ rental_id: rentalId });
      if (rental === null || rental.return_date !== null) return null;
      const film = await filmOfCopy(view, rental.inventory_id);
      await view.rental.update({ rental_id: rentalId }, { return_date: returnedAt, last_update: Timestamp.now() });
      const due = dueAt(rental.rental_date, film);
      return {
        rentalId,
        title: film.title,
        customerId: rental.customer_id,
        rentedAt: rental.rental_date.toISOString(),
        dueAt: due.toISOString(),
        returnedAt: returnedAt.toISOString(),
        late: returnedAt.micros > due.micros,
      };
    });
  }

  /** {@inheritDoc RentalDesk.listOverdue} */
  async listOverdue(query: OverdueQuery): Promise<OverdueRental[]> {
    const { now: nowText, limit } = checkOverdueQuery(query);
    const now = Timestamp.parse(nowText);
    return this.#db.transact(async (tx) => {
      const view = tx.at(this.#store);
      const films = new Map<number, Promise<Film>>();
      const overdue: OverdueRental[] = [];
      let cursor: string | null = null;
      // Invariant 2: each page moves the cursor forward through the open rentals rented before
      // `now` (rental_open_by_date: return_date = null, then rental_date), and the loop stops at
      // the limit or after the last page.
      do {
        const page: FindManyResult<Rental> = await view.rental.findMany({ where: { return_date: null, rental_date: { lt: now } }, orderBy: { rental_date: 'asc' }, limit: OVERDUE_PAGE_RECORDS, cursor });
        const copies = await Promise.all(page.records.map((rental) => copyOf(view, rental.inventory_id)));
        const due = await Promise.all(
          copies.map(async (copy, i) => {
            let film = films.get(copy.film_id);
            if (film === undefined) films.set(copy.film_id, (film = filmOf(view, copy.film_id)));
            return { film: await film, due: dueAt(page.records[i]!.rental_date, await film) };
          }),
        );
        const late = page.records.map((rental, i) => ({ rental, copy: copies[i]!, ...due[i]! })).filter(({ due }) => due.micros < now.micros).slice(0, limit - overdue.length);
        const customers = await Promise.all(late.map(({ rental }) => view.customer.get({ customer_id: rental.customer_id })));
        for (const [i, { rental, copy, film, due }] of late.entries()) {
          const customer = customers[i]!;
          assert(customer !== null, `rental ${rental.rental_id} names customer ${rental.customer_id}, which exists (an enforced reference)`);
          overdue.push({
            rentalId: rental.rental_id,
            rentedAt: rental.rental_date.toISOString(),
            dueAt: due.toISOString(),
            daysOverdue: Number((now.micros - due.micros) / DAY_MICROS),
            customerId: customer.customer_id,
            customerName: `${customer.first_name} ${customer.last_name}`,
            email: customer.email,
            filmId: film.film_id,
            title: film.title,
            storeId: copy.store_id,
          });
        }
        cursor = page.cursor;
      } while (cursor !== null && overdue.length < limit);
      return overdue;
    });
  }

  /**
   * {@inheritDoc RentalDesk.revenueByCategory}
   *
   * @remarks
   * Reads every payment, rental, copy, film category and category once, each table in
   * successive short transactions (`store.stream`), payments first: a payment read has its
   * rental committed already, and the later tables are read later, so the join finds it. The
   * result is not one snapshot: payments made while it runs may or may not count.
   */
  async revenueByCategory(): Promise<CategoryRevenue[]> {
    const db = this.#db;
    const store = this.#store;
    // Payments per rental; then, table by table, only the rows those rentals lead to.
    const byRental = new Map<number, DecimalSum>();
    for await (const payment of store.stream(db, 'payment')) {
      let sum = byRental.get(payment.rental_id);
      if (sum === undefined) byRental.set(payment.rental_id, (sum = new DecimalSum()));
      sum.add(payment.amount);
    }
    const byCopy = new Map<number, DecimalSum>();
    for await (const rental of store.stream(db, 'rental')) {
      const sum = byRental.get(rental.rental_id);
      if (sum !== undefined) addTo(byCopy, rental.inventory_id, sum);
    }
    const byFilm = new Map<number, DecimalSum>();
    for await (const copy of store.stream(db, 'inventory')) {
      const sum = byCopy.get(copy.inventory_id);
      if (sum !== undefined) addTo(byFilm, copy.film_id, sum);
    }
    const byCategory = new Map<number, DecimalSum>();
    for await (const link of store.stream(db, 'film_category')) {
      const sum = byFilm.get(link.film_id);
      if (sum !== undefined) addTo(byCategory, link.category_id, sum);
    }
    const revenue: (CategoryRevenue & { sum: DecimalSum })[] = [];
    for await (const category of store.stream(db, 'category')) {
      const sum = byCategory.get(category.category_id);
      if (sum !== undefined) revenue.push({ categoryId: category.category_id, category: category.name, revenue: sum.toString(), payments: sum.count, sum });
    }
    revenue.sort((a, b) => b.sum.compare(a.sum) || compareCodePoints(a.category, b.category) || a.categoryId - b.categoryId);
    return revenue.map(({ sum: _, ...line }) => line);
  }

  /** Nothing to release: the database belongs to the caller, who closes it. */
  async close(): Promise<void> {}
}

type DeskView = ReturnType<DeskStore['bind']>;

function customerSummary(customer: Customer): CustomerSummary {
  return {
    customerId: customer.customer_id,
    storeId: customer.store_id,
    firstName: customer.first_name,
    lastName: customer.last_name,
    email: customer.email,
    active: customer.activebool,
  };
}

function dueAt(rentedAt: Timestamp, film: Film): Timestamp {
  return new Timestamp(rentedAt.micros + BigInt(film.rental_duration) * DAY_MICROS);
}

async function copyOf(view: DeskView, inventoryId: number): Promise<Inventory> {
  const copy = await view.inventory.get({ inventory_id: inventoryId });
  assert(copy !== null, `inventory ${inventoryId} exists (rentals reference it, enforced)`);
  return copy;
}

async function filmOf(view: DeskView, filmId: number): Promise<Film> {
  const film = await view.film.get({ film_id: filmId });
  assert(film !== null, `film ${filmId} exists (inventory references it, enforced)`);
  return film;
}

async function filmOfCopy(view: DeskView, inventoryId: number): Promise<Film> {
  return filmOf(view, (await copyOf(view, inventoryId)).film_id);
}

function addTo(sums: Map<number, DecimalSum>, key: number, sum: DecimalSum): void {
  let total = sums.get(key);
  if (total === undefined) sums.set(key, (total = new DecimalSum()));
  total.addSum(sum);
}

// Bugs are assertions, always on.
function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
