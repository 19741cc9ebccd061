/**
 * The rental desk on PostgreSQL: the app as it was written for Pagila, with SQL through
 * node-postgres (`pg`), joins in the database, and Pagila's own stored function `film_in_stock` to
 * find a free copy.
 *
 * Invariants:
 * 1. Results have the shapes and forms of desk.ts, whatever the server's settings: instants are
 *    printed by `to_char` in UTC with microseconds, amounts as `numeric::text`, and strings are
 *    ordered with `COLLATE "C"` (code point order, as record keys sort). Every session runs with
 *    `TimeZone=UTC`, so that adding n days to a `timestamptz` adds n times 24 hours.
 * 2. `rentFilm` locks the film's copies at the store (`FOR UPDATE`) before it looks for a free one
 *    in a later statement, so two desks renting the last free copy at once cannot both take it:
 *    the second waits for the first, then sees its rental.
 */
import pg from 'pg';
import {
  checkCustomerQuery,
  checkOverdueQuery,
  checkRentRequest,
  checkReturnRequest,
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

/** Options of {@link PostgresDesk}. */
export interface PostgresDeskOptions {
  /** The Pagila database, `postgresql://user:password@host:port/pagila`. */
  connectionString: string;
  /** Connections in the desk's pool (default 4). */
  connections?: number;
}

/** An instant as the desk prints it: ISO 8601 in UTC with six fractional digits. */
function iso(expression: string): string {
  return `to_char((${expression}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

/** Each statement has a name, so the pool's connections prepare it once and reuse the plan. */
const SQL = {
  customerByEmail: {
    name: 'desk_customer_by_email',
    text: `SELECT customer_id, store_id, first_name, last_name, email, activebool FROM customer
            WHERE email = $1 ORDER BY customer_id LIMIT $2`,
  },
  customerByLastName: {
    name: 'desk_customer_by_last_name',
    text: `SELECT customer_id, store_id, first_name, last_name, email, activebool FROM customer
            WHERE starts_with(last_name, $1) ORDER BY last_name COLLATE "C", customer_id LIMIT $2`,
  },
  film: { name: 'desk_film', text: 'SELECT title, rental_rate::text AS rental_rate, rental_duration FROM film WHERE film_id = $1' },
  lockCopies: {
    name: 'desk_lock_copies',
    text: 'SELECT inventory_id FROM inventory WHERE film_id = $1 AND store_id = $2 ORDER BY inventory_id FOR UPDATE',
  },
  // Pagila's film_in_stock returns the ids of the copies without an open rental (in a column
  // named after its OUT parameter, p_film_count).
  freeCopy: { name: 'desk_free_copy', text: 'SELECT min(p_film_count) AS inventory_id FROM film_in_stock($1, $2)' },
  insertRental: {
    name: 'desk_insert_rental',
    text: `INSERT INTO rental (rental_date, inventory_id, customer_id, staff_id) VALUES ($1::timestamptz, $2, $3, $4)
           RETURNING rental_id, ${iso('rental_date')} AS rented_at, ${iso('rental_date + make_interval(days => $5::int)')} AS due_at`,
  },
  insertPayment: {
    name: 'desk_insert_payment',
    text: `INSERT INTO payment (customer_id, staff_id, rental_id, amount, payment_date) VALUES ($1, $2, $3, $4::numeric, $5::timestamptz)
           RETURNING payment_id, amount::text AS amount`,
  },
  returnRental: {
    name: 'desk_return_rental',
    text: `UPDATE rental AS r SET return_date = $2::timestamptz
             FROM inventory AS i JOIN film AS f ON f.film_id = i.film_id
            WHERE r.rental_id = $1 AND r.return_date IS NULL AND i.inventory_id = r.inventory_id
        RETURNING r.rental_id, f.title, r.customer_id, ${iso('r.rental_date')} AS rented_at,
                  ${iso('r.rental_date + make_interval(days => f.rental_duration)')} AS due_at, ${iso('r.return_date')} AS returned_at,
                  r.return_date > r.rental_date + make_interval(days => f.rental_duration) AS late`,
  },
  overdue: {
    name: 'desk_overdue',
    text: `SELECT r.rental_id, ${iso('r.rental_date')} AS rented_at, ${iso('d.due')} AS due_at,
                  floor(extract(epoch FROM $1::timestamptz - d.due) / 86400)::int AS days_overdue,
                  c.customer_id, c.first_name || ' ' || c.last_name AS customer_name, c.email, f.film_id, f.title, i.store_id
             FROM rental AS r
             JOIN inventory AS i ON i.inventory_id = r.inventory_id
             JOIN film AS f ON f.film_id = i.film_id
             JOIN customer AS c ON c.customer_id = r.customer_id
            CROSS JOIN LATERAL (SELECT r.rental_date + make_interval(days => f.rental_duration) AS due) AS d
            WHERE r.return_date IS NULL AND r.rental_date < $1::timestamptz AND d.due < $1::timestamptz
            ORDER BY r.rental_date, r.rental_id
            LIMIT $2`,
  },
  revenue: {
    name: 'desk_revenue',
    text: `SELECT c.category_id, c.name, sum(p.amount)::text AS revenue, count(*)::int AS payments
             FROM payment AS p
             JOIN rental AS r ON r.rental_id = p.rental_id
             JOIN inventory AS i ON i.inventory_id = r.inventory_id
             JOIN film_category AS fc ON fc.film_id = i.film_id
             JOIN category AS c ON c.category_id = fc.category_id
            GROUP BY c.category_id, c.name
            ORDER BY sum(p.amount) DESC, c.name COLLATE "C", c.category_id`,
  },
} as const;

interface CustomerRow {
  customer_id: number;
  store_id: number;
  first_name: string;
  last_name: string;
  email: string | null;
  activebool: boolean;
}

/**
 * {@link RentalDesk} on PostgreSQL.
 *
 * @example
 * ```ts
 * const desk: RentalDesk = new PostgresDesk({ connectionString: 'postgresql://postgres@127.0.0.1/pagila' });
 * try {
 *   console.log(await desk.revenueByCategory());
 * } finally {
 *   await desk.close();
 * }
 * ```
 */
export class PostgresDesk implements RentalDesk {
  /** Always `postgresql`. */
  readonly backend = 'postgresql';
  readonly #pool: pg.Pool;

  constructor(options: PostgresDeskOptions) {
    // Invariant 1: every session in UTC.
    this.#pool = new pg.Pool({ connectionString: options.connectionString, max: options.connections ?? 4, options: '-c TimeZone=UTC' });
  }

  /** {@inheritDoc RentalDesk.findCustomer} */
  async findCustomer(query: CustomerQuery): Promise<CustomerSummary[]> {
    const { by, text, limit } = checkCustomerQuery(query);
    const statement = by === 'email' ? SQL.customerByEmail : SQL.customerByLastName;
    const { rows } = await this.#pool.query<CustomerRow>({ ...statement, values: [text, limit] });
    return rows.map((row) => ({
      customerId: row.customer_id,
      storeId: row.store_id,
      firstName: row.first_name,
      lastName: row.last_name,
      email: row.email,
      active: row.activebool,
    }));
  }

  /** {@inheritDoc RentalDesk.rentFilm} */
  async rentFilm(request: RentRequest): Promise<RentalReceipt | null> {
    const { filmId, storeId, customerId, staffId, at, recordPayment } = checkRentRequest(request);
    return this.#transaction(async (client) => {
      const film = (await client.query<{ title: string; rental_rate: string; rental_duration: number }>({ ...SQL.film, values: [filmId] })).rows[0];
      if (film === undefined) return null;
      // Invariant 2: lock the copies, then look for a free one in the next statement's snapshot.
      await client.query({ ...SQL.lockCopies, values: [filmId, storeId] });
      const inventoryId = (await client.query<{ inventory_id: number | null }>({ ...SQL.freeCopy, values: [filmId, storeId] })).rows[0]!.inventory_id;
      if (inventoryId === null) return null;
      const rental = (
        await client.query<{ rental_id: number; rented_at: string; due_at: string }>({ ...SQL.insertRental, values: [at, inventoryId, customerId, staffId, film.rental_duration] })
      ).rows[0]!;
      const payment = recordPayment
        ? (await client.query<{ payment_id: number; amount: string }>({ ...SQL.insertPayment, values: [customerId, staffId, rental.rental_id, film.rental_rate, at] })).rows[0]!
        : null;
      return {
        rentalId: rental.rental_id,
        inventoryId,
        storeId,
        filmId,
        title: film.title,
        customerId,
        staffId,
        rentedAt: rental.rented_at,
        dueAt: rental.due_at,
        payment: payment === null ? null : { paymentId: payment.payment_id, amount: payment.amount },
      };
    });
  }

  /** {@inheritDoc RentalDesk.returnFilm} */
  async returnFilm(request: ReturnRequest): Promise<ReturnReceipt | null> {
    const { rentalId, at } = checkReturnRequest(request);
    const { rows } = await this.#pool.query<{ rental_id: number; title: string; customer_id: number; rented_at: string; due_at: string; returned_at: string; late: boolean }>({
      ...SQL.returnRental,
      values: [rentalId, at],
    });
    const row = rows[0];
    if (row === undefined) return null;
    return { rentalId: row.rental_id, title: row.title, customerId: row.customer_id, rentedAt: row.rented_at, dueAt: row.due_at, returnedAt: row.returned_at, late: row.late };
  }

  /** {@inheritDoc RentalDesk.listOverdue} */
  async listOverdue(query: OverdueQuery): Promise<OverdueRental[]> {
    const { now, limit } = checkOverdueQuery(query);
    const { rows } = await this.#pool.query<{
      rental_id: number;
      rented_at: string;
      due_at: string;
      days_overdue: number;
      customer_id: number;
      customer_name: string;
      email: string | null;
      film_id: number;
      title: string;
      store_id: number;
    }>({ ...SQL.overdue, values: [now, limit] });
    return rows.map((row) => ({
      rentalId: row.rental_id,
      rentedAt: row.rented_at,
      dueAt: row.due_at,
      daysOverdue: row.days_overdue,
      customerId: row.customer_id,
      customerName: row.customer_name,
      email: row.email,
      filmId: row.film_id,
      title: row.title,
      storeId: row.store_id,
    }));
  }

  /** {@inheritDoc RentalDesk.revenueByCategory} */
  async revenueByCategory(): Promise<CategoryRevenue[]> {
    const { rows } = await this.#pool.query<{ category_id: number; name: string; revenue: string; payments: number }>(SQL.revenue);
    return rows.map((row) => ({ categoryId: row.category_id, category: row.name, revenue: row.revenue, payments: row.payments }));
  }

  /** Ends the pool's connections. */
  async close(): Promise<void> {
    await this.#pool.end();
  }

  async #transaction<T>(body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      const result = await body(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}
