/**
 * The rental desk's day, as a fixed script of calls on a {@link RentalDesk}: the same inputs and
 * the same "now" on every run and every backend, so that the two backends' reports can be
 * compared as text.
 *
 * The script: find a customer by email and customers by a last-name prefix; rent the one free copy
 * of CONNECTION MICROCOSMOS at store 1 (the other copy is overdue), then fail to rent it again;
 * list the overdue rentals; take the overdue copy back (late), try to return it twice, rent it out
 * again; bring the first rental back on time; list the overdue rentals again (one fewer); and the
 * revenue by category, which now includes the two new payments.
 */
import type { CategoryRevenue, CustomerSummary, OverdueRental, RentalDesk, RentalReceipt, ReturnReceipt } from './desk.js';

/** The instant the desk judges overdue rentals by. Pagila's payments are partitioned by month up to July 2022, so the script stays in July. */
export const SCENARIO_NOW = '2022-07-31T18:00:00Z';

/** One call of the script and what it returned. */
export interface DeskStep {
  /** The call, as code. */
  call: string;
  /** What the desk returned: plain data, the same on both backends. */
  result: CustomerSummary[] | RentalReceipt | ReturnReceipt | OverdueRental[] | CategoryRevenue[] | null;
}

/** Everything the script did, in order. */
export interface DeskReport {
  steps: DeskStep[];
}

/** Options of {@link runDeskScenario}. */
export interface DeskScenarioOptions {
  /** Receives each printed line. */
  log: (line: string) => void;
  /** Overdue rentals printed of each list (all are in the report; default 5). */
  overduePrinted?: number;
}

/** The film the script rents: two copies at store 1, one of them out since February. */
const FILM = 178;
/** The overdue rental of its other copy. */
const OVERDUE_RENTAL = 11593;

/**
 * Runs the script on `desk`, printing each call and its result, and returns the report.
 *
 * @example
 * ```ts
 * const report = await runDeskScenario(new PostgresDesk({ connectionString }), { log: console.log });
 * ```
 */
export async function runDeskScenario(desk: RentalDesk, options: DeskScenarioOptions): Promise<DeskReport> {
  const { log } = options;
  const overduePrinted = options.overduePrinted ?? 5;
  const steps: DeskStep[] = [];
  const step = async <R extends DeskStep['result']>(call: string, run: () => Promise<R>, print: (result: R) => string[]): Promise<R> => {
    const result = await run();
    steps.push({ call, result });
    log(`desk.${call}`);
    for (const line of print(result)) log(`  ${line}`);
    return result;
  };

  await step("findCustomer({ email: 'MARY.SMITH@sakilacustomer.org' })", () => desk.findCustomer({ email: 'MARY.SMITH@sakilacustomer.org' }), customerLines);
  await step("findCustomer({ lastNamePrefix: 'WIL' })", () => desk.findCustomer({ lastNamePrefix: 'WIL' }), customerLines);
  const first = await step(
    `rentFilm({ filmId: ${FILM}, storeId: 1, customerId: 1, staffId: 1, at: '2022-07-30T10:00:00Z' })`,
    () => desk.rentFilm({ filmId: FILM, storeId: 1, customerId: 1, staffId: 1, at: '2022-07-30T10:00:00Z' }),
    rentalLines,
  );
  await step(
    `rentFilm({ filmId: ${FILM}, storeId: 1, customerId: 3, staffId: 1, at: '2022-07-30T10:05:00Z' })`,
    () => desk.rentFilm({ filmId: FILM, storeId: 1, customerId: 3, staffId: 1, at: '2022-07-30T10:05:00Z' }),
    rentalLines,
  );
  await step(`listOverdue({ now: '${SCENARIO_NOW}', limit: 1000 })`, () => desk.listOverdue({ now: SCENARIO_NOW, limit: 1000 }), (rows) => overdueLines(rows, overduePrinted));
  await step(`returnFilm({ rentalId: ${OVERDUE_RENTAL}, at: '2022-07-31T12:00:00Z' })`, () => desk.returnFilm({ rentalId: OVERDUE_RENTAL, at: '2022-07-31T12:00:00Z' }), returnLines);
  await step(`returnFilm({ rentalId: ${OVERDUE_RENTAL}, at: '2022-07-31T12:01:00Z' })`, () => desk.returnFilm({ rentalId: OVERDUE_RENTAL, at: '2022-07-31T12:01:00Z' }), returnLines);
  await step(
    `rentFilm({ filmId: ${FILM}, storeId: 1, customerId: 3, staffId: 2, at: '2022-07-31T12:30:00Z' })`,
    () => desk.rentFilm({ filmId: FILM, storeId: 1, customerId: 3, staffId: 2, at: '2022-07-31T12:30:00Z' }),
    rentalLines,
  );
  if (first !== null) {
    await step(`returnFilm({ rentalId: ${first.rentalId}, at: '2022-07-31T17:00:00Z' })`, () => desk.returnFilm({ rentalId: first.rentalId, at: '2022-07-31T17:00:00Z' }), returnLines);
  }
  await step(`listOverdue({ now: '${SCENARIO_NOW}', limit: 1000 })`, () => desk.listOverdue({ now: SCENARIO_NOW, limit: 1000 }), (rows) => overdueLines(rows, overduePrinted));
  await step('revenueByCategory()', () => desk.revenueByCategory(), revenueLines);
  return { steps };
}

/**
 * Where two reports first differ, in words, or null when they are identical.
 *
 * @example
 * ```ts
 * const difference = compareReports(onPostgres, onStrata);
 * if (difference !== null) throw new Error(difference);
 * ```
 */
export function compareReports(expected: DeskReport, actual: DeskReport): string | null {
  const count = Math.max(expected.steps.length, actual.steps.length);
  for (let i = 0; i < count; i++) {
    const a = expected.steps[i];
    const b = actual.steps[i];
    const left = JSON.stringify(a);
    const right = JSON.stringify(b);
    if (left !== right) return `step ${i + 1} differs:\n  ${left ?? '(missing)'}\n  ${right ?? '(missing)'}`;
  }
  return null;
}

/** `2022-07-30T10:00:00.000000Z` as `2022-07-30 10:00:00` (the microseconds when there are any). */
function when(instant: string): string {
  const text = instant.replace('T', ' ').replace(/Z$/, '');
  return text.endsWith('.000000') ? text.slice(0, 19) : text;
}

function customerLines(customers: CustomerSummary[]): string[] {
  if (customers.length === 0) return ['no customer'];
  return customers.map((c) => `#${c.customerId} ${c.firstName} ${c.lastName} <${c.email ?? 'no email'}>, store ${c.storeId}${c.active ? '' : ', inactive'}`);
}

function rentalLines(receipt: RentalReceipt | null): string[] {
  if (receipt === null) return ['null: no free copy of the film at that store'];
  return [
    `rental #${receipt.rentalId}: ${receipt.title} (film ${receipt.filmId}), copy ${receipt.inventoryId} at store ${receipt.storeId}, to customer ${receipt.customerId} by staff ${receipt.staffId}`,
    `rented ${when(receipt.rentedAt)}, due ${when(receipt.dueAt)}; ${receipt.payment === null ? 'no payment' : `payment #${receipt.payment.paymentId} of ${receipt.payment.amount}`}`,
  ];
}

function returnLines(receipt: ReturnReceipt | null): string[] {
  if (receipt === null) return ['null: no open rental with that id'];
  return [`rental #${receipt.rentalId} (${receipt.title}, customer ${receipt.customerId}) back at ${when(receipt.returnedAt)}, due ${when(receipt.dueAt)}: ${receipt.late ? 'late' : 'on time'}`];
}

function overdueLines(rows: OverdueRental[], printed: number): string[] {
  const lines = [`${rows.length} overdue rentals${rows.length > printed ? `; the ${printed} oldest:` : ':'}`];
  for (const row of rows.slice(0, printed)) {
    lines.push(`#${row.rentalId} rented ${when(row.rentedAt)}, due ${when(row.dueAt)}, ${row.daysOverdue} days overdue: ${row.title} (store ${row.storeId}), ${row.customerName} <${row.email ?? 'no email'}>`);
  }
  return lines;
}

function revenueLines(rows: CategoryRevenue[]): string[] {
  const width = Math.max(...rows.map((row) => row.category.length));
  return rows.map((row) => `${row.category.padEnd(width)} ${row.revenue.padStart(9)}  (${row.payments} payments)`);
}
