/**
 * The jobs layer (`@strata/jobs`), shown on a shop's background work: typed queues whose jobs are
 * enqueued in the transaction of the order that needs them, a worker pool whose effects commit
 * with the job's completion, retries after a flaky mail server, a dead letter fixed and redriven,
 * a worker crash and the recovery of its job once the lease expires, and a cron schedule.
 *
 * Every step prints what happened in plain words through `options.log`, and the function returns
 * a {@link JobsSummary} so that a test can check the same facts the reader is told. Steps wait for
 * the workers by polling counts and the handlers' own records, never by sleeping a fixed time, and
 * every wait is bounded: it fails with a clear error instead of hanging.
 */
import { isStrataError, open, type Database, type Transaction } from '@strata/core';
import { JOB_STATES, JobStore, Queue, listSchedules, schedule, unschedule, type JobCounts, type JobEventName, type JobState } from '@strata/jobs';
import { Subspace, msgpackEncoder, type TupleItem } from '@strata/tuple';
import { z } from 'zod';

/** Where to run and where to print. */
export interface JobsOptions {
  /** The data directory. It should be empty or missing; the example creates what it needs. */
  path: string;
  /** Receives each line of the explanation. */
  log: (line: string) => void;
}

/** A refused operation, as the example saw it. */
export interface Refusal {
  /** The error's code, such as `payload_invalid`. */
  code: string;
  /** The error's message. */
  message: string;
  /** The error's structured details. */
  details: Record<string, unknown>;
}

/** The facts the example established, for the test to check. */
export interface JobsSummary {
  enqueue: {
    /** The orders placed, each with its three jobs in the same transaction. */
    ordersPlaced: number[];
    /** Each queue's counts after the orders were placed. */
    countsAfterOrders: Record<string, JobCounts>;
    /** The declined order: its transaction enqueued three jobs and then threw. */
    rolledBack: { error: string; countsBefore: Record<string, JobCounts>; countsAfter: Record<string, JobCounts>; orderStored: boolean };
    /** The email job with a malformed address, refused at enqueue. */
    invalidPayload: Refusal | null;
    /** The emails queue's counts after the refusal. */
    emailCountsAfterInvalid: JobCounts;
  };
  pool: {
    /** The attempt on which each order's invoice job completed. */
    completedAttempts: Record<number, number>;
    /** How many times each order's invoice was written. */
    invoiceWrites: Record<number, number>;
    counts: JobCounts;
  };
  retries: {
    /** The order whose email went to the greylisting mail server. */
    flakyOrder: number;
    /** The attempts of its email job that failed, and their errors. */
    failed: { attempt: number; error: string }[];
    /** The attempt on which each order's email job completed. */
    completedAttempts: Record<number, number>;
    /** Deliveries the mail server refused and accepted. */
    refusedDeliveries: number;
    acceptedDeliveries: number;
    /** How many times each order's sent-email record was written. */
    emailWrites: Record<number, number>;
    counts: JobCounts;
  };
  deadLetter: {
    order: number;
    /** The attempts that failed before the job went to the dead letters. */
    failedAttempts: number[];
    /** The attempt reported with the `dead` event. */
    deadAttempt: number | null;
    /** What `deadLetters` returned, as orders. */
    deadLetterOrders: number[];
    lastError: string | null;
    countsWhileDead: JobCounts;
    /** How many jobs `redrive` ran again. */
    redriven: number;
    /** The attempt on which the redriven job completed (attempts restart after a redrive). */
    completedAttempt: number | null;
    invoiceWrites: number;
    countsAfter: JobCounts;
  };
  crash: {
    /** The claim the crashed worker left behind. */
    claim: { worker: string | null; attempt: number; token: number };
    /** The attempt and token on which a live worker completed the reclaimed job. */
    recoveredAttempt: number | null;
    recoveredToken: number | null;
    /** The reclaimed job's last error: why its first attempt counted as failed. */
    lastError: string | null;
    /** The attempts on which the other shipments completed. */
    otherAttempts: number[];
    /** The crashed worker's completion with its stale token, which also tried to write a shipment. */
    staleCompletion: Refusal | null;
    /** How many times each order's shipment was written. */
    shipmentWrites: Record<number, number>;
    counts: JobCounts;
  };
  cron: {
    /** Each fire time, relative to the first, with the jobs run for it and its report's writes. */
    fires: { offsetMs: number; wholeSecond: boolean; jobs: number; writes: number; orders: number }[];
    /** Schedules left after `unschedule`. */
    schedulesAfter: number;
  };
  final: {
    counts: Record<string, JobCounts>;
    /** Errors the workers reported through `onError` (none expected). */
    workerErrors: string[];
  };
}

// --- the shop's data --------------------------------------------------------------------------------

interface Order {
  id: number;
  customer: string;
  email: string;
  country: string;
  totalCents: number;
}

/** Every effect record counts its own writes: a job whose effect ran twice would show 2. */
interface Effect {
  writes: number;
}
interface Invoice extends Effect {
  orderId: number;
  totalCents: number;
  vatPercent: number;
  vatCents: number;
}
interface SentEmail extends Effect {
  orderId: number;
  to: string;
}
interface Shipment extends Effect {
  orderId: number;
  label: string;
}
interface Report extends Effect {
  report: string;
  orders: number;
}

const orders = new Subspace(['shop', 'orders']).withValueEncoder(msgpackEncoder<Order>());
const vatRates = new Subspace(['shop', 'vat-rates']).withValueEncoder(msgpackEncoder<number>());
const invoices = new Subspace(['shop', 'invoices']).withValueEncoder(msgpackEncoder<Invoice>());
const sentEmails = new Subspace(['shop', 'sent-emails']).withValueEncoder(msgpackEncoder<SentEmail>());
const shipments = new Subspace(['shop', 'shipments']).withValueEncoder(msgpackEncoder<Shipment>());
const reports = new Subspace(['shop', 'reports']).withValueEncoder(msgpackEncoder<Report>());

const ORDERS: Order[] = [
  { id: 1001, customer: 'Ada', email: 'ada@example.com', country: 'FR', totalCents: 6400 },
  { id: 1002, customer: 'Bob', email: 'bob@example.com', country: 'DE', totalCents: 2400 },
  { id: 1003, customer: 'Chloé', email: 'chloe@slowmail.example', country: 'FR', totalCents: 4550 },
  { id: 1004, customer: 'Dan', email: 'dan@example.com', country: 'SE', totalCents: 2000 },
];
/** Placed in step 4: Iceland has no VAT rate yet, so its invoice cannot be made. */
const ICELAND_ORDER: Order = { id: 1005, customer: 'Eva', email: 'eva@example.com', country: 'IS', totalCents: 3900 };
/** Placed in step 1, and its payment declined: its transaction throws. */
const DECLINED_ORDER: Order = { id: 1099, customer: 'Finn', email: 'finn@example.com', country: 'DE', totalCents: 1250 };
const VAT_PERCENT: Record<string, number> = { FR: 20, DE: 19, SE: 25 };
const ICELAND_VAT_PERCENT = 24;

// --- the queues -------------------------------------------------------------------------------------

const RETRY_DELAY_MS = 100;
const POOL_LEASE_MS = 2_000;
const CRASH_LEASE_MS = 300;
const CRON = '* * * * * *';
const CRON_FIRES = 3;
/** The longest any step waits for the workers before it gives up with an error. */
const WAIT_MS_MAX = 10_000;

const orderPayload = z.object({ orderId: z.number().int().positive() });
const emailPayload = z.object({ orderId: z.number().int().positive(), to: z.email() });
const reportPayload = z.object({ report: z.enum(['sales']) });

function openQueues(store: JobStore) {
  return {
    invoices: new Queue(store, 'invoices', { payload: orderPayload, maxAttempts: 2, backoff: { type: 'fixed', delayMs: RETRY_DELAY_MS } }),
    emails: new Queue(store, 'emails', { payload: emailPayload, maxAttempts: 5, backoff: { type: 'fixed', delayMs: RETRY_DELAY_MS } }),
    shipments: new Queue(store, 'shipments', { payload: orderPayload, maxAttempts: 3, backoff: { type: 'fixed', delayMs: RETRY_DELAY_MS } }),
    reports: new Queue(store, 'reports', { payload: reportPayload }),
  };
}
type Queues = ReturnType<typeof openQueues>;

/** A mail server that greylists one domain: it refuses the first two deliveries to each of its addresses. */
class MailServer {
  refused = 0;
  accepted = 0;
  readonly #tries = new Map<string, number>();

  send(to: string): void {
    const tries = (this.#tries.get(to) ?? 0) + 1;
    this.#tries.set(to, tries);
    if (to.endsWith('@slowmail.example') && tries <= 2) {
      this.refused++;
      throw new Error('451 greylisted, try again later');
    }
    this.accepted++;
  }
}

// --- helpers ----------------------------------------------------------------------------------------

/** Cents as money: 1250 -> "12.50". */
function money(cents: number): string {
  return (cents / 100).toFixed(2);
}

function vatOf(totalCents: number, percent: number): number {
  return Math.round((totalCents * percent) / 100);
}

/** Runs `action` and returns the StrataError it threw, or null if it succeeded. */
async function refusal(action: () => Promise<unknown>): Promise<Refusal | null> {
  try {
    await action();
    return null;
  } catch (error) {
    if (!isStrataError(error)) throw error;
    return { code: error.code, message: error.message, details: error.details };
  }
}

/**
 * Writes an effect record in `tx`, counting the write: read, add one, write back. In a completion
 * transaction this commits exactly when the job's completion does.
 */
async function recordEffect<T extends Effect>(tx: Transaction, subspace: Subspace<TupleItem[], T>, key: TupleItem[], value: Omit<T, 'writes'>): Promise<void> {
  const view = tx.at(subspace);
  const existing = await view.get(key);
  view.set(key, { ...value, writes: (existing?.writes ?? 0) + 1 } as T);
}

/** Polls `check` until it is true; throws after {@link WAIT_MS_MAX} naming what it waited for. */
async function waitUntil(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS_MAX;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`jobs example: waited ${WAIT_MS_MAX} ms for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function showCounts(counts: JobCounts, states: readonly JobState[] = JOB_STATES): string {
  return states.map((state) => `${state} ${counts[state]}`).join(', ');
}

/** One event of a queue's job, as a listener saw it. */
interface SeenEvent {
  event: JobEventName;
  id: string;
  attempt: number;
  error?: string;
}

// --- the walkthrough --------------------------------------------------------------------------------

/** Runs the jobs layer walkthrough on a database in `options.path` and reports what happened. */
export async function runJobs(options: JobsOptions): Promise<JobsSummary> {
  const { log } = options;
  const heading = (title: string): void => {
    log('');
    log(`-- ${title}`);
  };
  const db: Database = await open({ path: options.path });
  const store = await JobStore.open(db, { path: ['shop', 'jobs'] });
  const queues: Queues = openQueues(store);
  const queueList = [queues.invoices, queues.emails, queues.shipments, queues.reports];

  // Which order each job belongs to (from the enqueue results), and every event each queue reported.
  const orderOfJob = new Map<string, number>();
  const events: Record<string, SeenEvent[]> = {};
  for (const queue of queueList) {
    const seen: SeenEvent[] = (events[queue.name] = []);
    for (const event of ['completed', 'failed', 'dead'] as const) {
      queue.on(event, ({ id, attempt, error }) => seen.push({ event, id, attempt, ...(error === undefined ? {} : { error }) }));
    }
  }
  const eventsOf = (queue: string, orderId: number): SeenEvent[] => events[queue]!.filter((event) => orderOfJob.get(event.id) === orderId);
  const completedAttempts = (queue: string): Record<number, number> => {
    const attempts: Record<number, number> = {};
    for (const event of events[queue]!) if (event.event === 'completed') attempts[orderOfJob.get(event.id)!] = event.attempt;
    return attempts;
  };

  const workers: { stop(): Promise<void> }[] = [];
  const workerErrors: string[] = [];
  const onError = (error: unknown): void => {
    workerErrors.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  };

  const countsOf = (queue: Queue): Promise<JobCounts> => db.transact((tx) => queue.counts(tx));
  const allCounts = async (list: readonly Queue[]): Promise<Record<string, JobCounts>> => {
    const out: Record<string, JobCounts> = {};
    for (const queue of list) out[queue.name] = await countsOf(queue);
    return out;
  };
  const writesOf = async <T extends Effect>(subspace: Subspace<TupleItem[], T>, ids: number[]): Promise<Record<number, number>> =>
    db.transact(async (tx) => {
      const writes: Record<number, number> = {};
      for (const id of ids) writes[id] = (await tx.at(subspace).get([id]))?.writes ?? 0;
      return writes;
    });

  /** Writes the order and enqueues its invoice, email and shipment, all in `tx`. */
  const placeOrder = async (tx: Transaction, order: Order): Promise<void> => {
    tx.at(orders).set([order.id], order);
    const jobs = [
      await queues.invoices.enqueue(tx, { orderId: order.id }),
      await queues.emails.enqueue(tx, { orderId: order.id, to: order.email }),
      await queues.shipments.enqueue(tx, { orderId: order.id }),
    ];
    // Remembered only if the transaction commits (a retried transaction enqueues new jobs).
    void tx.getVersionstamp().then(
      () => jobs.forEach((job) => orderOfJob.set(job.id, order.id)),
      () => {},
    );
  };

  // ------------------------------------------------------------------------------------------------
  heading('1. Jobs enqueued in the transaction of the order that needs them');
  log("JobStore.open(db, { path: ['shop', 'jobs'] }) opened the job store. Four queues, each with a zod payload:");
  for (const queue of queueList) {
    const fields = Object.keys((queue.schema as z.ZodObject).shape).join(', ');
    const backoff = queue.defaults.backoff.type === 'fixed' ? `fixed backoff ${queue.defaults.backoff.delayMs} ms` : 'exponential backoff from 1 s';
    log(`  ${queue.name.padEnd(9)}  payload { ${fields} }`.padEnd(42) + `  ${queue.defaults.maxAttempts} attempts, ${backoff}`);
  }
  await db.transact((tx) => {
    for (const [country, percent] of Object.entries(VAT_PERCENT)) tx.at(vatRates).set([country], percent);
  });
  log(`VAT rates stored for ${Object.entries(VAT_PERCENT).map(([country, percent]) => `${country} ${percent}%`).join(', ')}.`);
  log('placeOrder(tx, order) writes the order and enqueues its invoice, confirmation email and');
  log('shipment, in the one transaction it is given.');
  for (const order of ORDERS) await db.transact((tx) => placeOrder(tx, order));
  await waitUntil('the placed orders to be recorded', () => orderOfJob.size === ORDERS.length * 3);
  const placingQueues = [queues.invoices, queues.emails, queues.shipments];
  const countsAfterOrders = await allCounts(placingQueues);
  log(
    `${ORDERS.length} orders placed (#${ORDERS[0]!.id} to #${ORDERS.at(-1)!.id}); ready jobs: ` +
      placingQueues.map((queue) => `${queue.name} ${countsAfterOrders[queue.name]!.ready}`).join(', ') + '.',
  );
  const countsBefore = await allCounts(placingQueues);
  let declined = '';
  try {
    await db.transact(async (tx) => {
      await placeOrder(tx, DECLINED_ORDER);
      throw new Error('card declined');
    });
  } catch (error) {
    declined = error instanceof Error ? error.message : String(error);
  }
  const countsAfter = await allCounts(placingQueues);
  const declinedStored = (await db.transact((tx) => tx.at(orders).get([DECLINED_ORDER.id]))) !== null;
  log(`Order #${DECLINED_ORDER.id}: placeOrder ran, then the payment failed and the transaction threw "${declined}".`);
  log(
    `  Ready jobs before: ${placingQueues.map((queue) => `${queue.name} ${countsBefore[queue.name]!.ready}`).join(', ')}; ` +
      `after: ${placingQueues.map((queue) => `${queue.name} ${countsAfter[queue.name]!.ready}`).join(', ')}. ` +
      `Order #${DECLINED_ORDER.id} stored: ${declinedStored ? 'yes' : 'no'}.`,
  );
  const invalidPayload = await refusal(() => db.transact((tx) => queues.emails.enqueue(tx, { orderId: 1001, to: 'not-an-email' })));
  const emailCountsAfterInvalid = await countsOf(queues.emails);
  log(`An email job with to: "not-an-email" is refused: ${invalidPayload?.code}, field ${String(invalidPayload?.details.field)}`);
  log(`  (${invalidPayload?.message}). Ready emails: still ${emailCountsAfterInvalid.ready}.`);

  // ------------------------------------------------------------------------------------------------
  heading('2. A worker pool, its effects committed with the completion');
  const invoiceWorker = queues.invoices.work(
    async (job) => {
      // The order is there: the job was enqueued in the order's transaction.
      const { order, vatPercent } = await db.transact(async (tx) => {
        const found = (await tx.at(orders).get([job.payload.orderId]))!;
        return { order: found, vatPercent: await tx.at(vatRates).get([found.country]) };
      });
      if (vatPercent === null) throw new Error(`no VAT rate for country ${order.country}`);
      await job.complete((tx) =>
        recordEffect(tx, invoices, [order.id], { orderId: order.id, totalCents: order.totalCents, vatPercent, vatCents: vatOf(order.totalCents, vatPercent) }),
      );
    },
    { concurrency: 4, leaseMs: POOL_LEASE_MS, workerId: 'invoice-pool', onError },
  );
  workers.push(invoiceWorker);
  log(`invoices.work(handler, { concurrency: 4, leaseMs: ${POOL_LEASE_MS} }) started. The handler reads the order and its`);
  log("country's VAT rate, then job.complete((tx) => ...) writes the invoice in the transaction that");
  log('marks the job completed.');
  await waitUntil('the invoices to complete', async () => (await countsOf(queues.invoices)).completed === ORDERS.length);
  const orderIds = ORDERS.map((order) => order.id);
  const poolCounts = await countsOf(queues.invoices);
  const poolAttempts = completedAttempts('invoices');
  const poolWrites = await writesOf(invoices, orderIds);
  const written = await db.transact((tx) => tx.at(invoices).getRangeAll());
  log(`All ${ORDERS.length} invoice jobs completed:`);
  for (const { value: invoice } of written) {
    const order = ORDERS.find((o) => o.id === invoice.orderId)!;
    log(
      `  #${invoice.orderId}  ${order.country}  ${money(invoice.totalCents).padStart(5)} + VAT ${invoice.vatPercent}% ${money(invoice.vatCents).padStart(5)}` +
        ` = ${money(invoice.totalCents + invoice.vatCents).padStart(5)}  (attempt ${poolAttempts[invoice.orderId]}, written ${invoice.writes} time${invoice.writes === 1 ? '' : 's'})`,
    );
  }
  log(`counts(invoices): ${showCounts(poolCounts, ['ready', 'running', 'completed', 'dead'])}.`);

  // ------------------------------------------------------------------------------------------------
  heading('3. Retries after a flaky mail server');
  const mail = new MailServer();
  const emailWorker = queues.emails.work(
    async (job) => {
      mail.send(job.payload.to);
      await job.complete((tx) => recordEffect(tx, sentEmails, [job.payload.orderId], { orderId: job.payload.orderId, to: job.payload.to }));
    },
    { concurrency: 4, leaseMs: POOL_LEASE_MS, workerId: 'email-pool', onError },
  );
  workers.push(emailWorker);
  log(`emails.work(...) sends each confirmation through a mail server that greylists slowmail.example: it`);
  log(`refuses the first two deliveries to an address there. The queue allows 5 attempts, ${RETRY_DELAY_MS} ms apart.`);
  await waitUntil('the emails to complete', async () => (await countsOf(queues.emails)).completed === ORDERS.length);
  const flaky = ORDERS.find((order) => order.email.endsWith('@slowmail.example'))!;
  const emailAttempts = completedAttempts('emails');
  for (const order of ORDERS) {
    for (const event of eventsOf('emails', order.id)) {
      const outcome = event.event === 'completed' ? 'sent' : `failed (${event.error}), retried in ${RETRY_DELAY_MS} ms`;
      log(`  ${order.email.padEnd(22)}  attempt ${event.attempt}: ${outcome}`);
    }
  }
  const flakyFailed = eventsOf('emails', flaky.id)
    .filter((event) => event.event === 'failed')
    .map((event) => ({ attempt: event.attempt, error: event.error ?? '' }));
  const emailWrites = await writesOf(sentEmails, orderIds);
  const emailCounts = await countsOf(queues.emails);
  const refusedDeliveries = mail.refused;
  const acceptedDeliveries = mail.accepted;
  log(`The mail server refused ${refusedDeliveries} deliveries and accepted ${acceptedDeliveries}. Sent-email records written: ${orderIds.map((id) => `#${id} ${emailWrites[id]}`).join(', ')}.`);
  log(`counts(emails): ${showCounts(emailCounts, ['delayed', 'ready', 'running', 'completed', 'dead'])}.`);

  // ------------------------------------------------------------------------------------------------
  heading('4. A dead letter, fixed and redriven');
  await db.transact((tx) => placeOrder(tx, ICELAND_ORDER));
  log(`Order #${ICELAND_ORDER.id} goes to Iceland (${ICELAND_ORDER.country}), which has no VAT rate yet, so its invoice job fails`);
  log(`every attempt. The invoices queue allows 2 attempts.`);
  await waitUntil('the Iceland invoice to die', async () => (await countsOf(queues.invoices)).dead === 1);
  const icelandEvents = eventsOf('invoices', ICELAND_ORDER.id);
  for (const event of icelandEvents) {
    log(`  attempt ${event.attempt}: ${event.event === 'dead' ? 'failed again, out of attempts: dead' : `failed (${event.error}), retried in ${RETRY_DELAY_MS} ms`}`);
  }
  const { deadLetterIds, lastError } = await db.transact(async (tx) => {
    const ids = await queues.invoices.deadLetters(tx);
    return { deadLetterIds: ids, lastError: ids.length === 0 ? null : ((await queues.invoices.get(tx, ids[0]!))?.lastError ?? null) };
  });
  const deadLetterOrders = deadLetterIds.map((id) => orderOfJob.get(id)!);
  const countsWhileDead = await countsOf(queues.invoices);
  log(`invoices.deadLetters(tx): ${deadLetterOrders.map((id) => `the invoice of order #${id}`).join(', ')}, last error "${lastError}".`);
  log(`counts(invoices): ${showCounts(countsWhileDead, ['ready', 'running', 'completed', 'dead'])}.`);
  log(`The fix: store Iceland's VAT rate (${ICELAND_VAT_PERCENT}%), and in the same transaction invoices.redrive(tx), which`);
  log('makes the dead letters ready again with their attempts reset.');
  const redriven = await db.transact(async (tx) => {
    tx.at(vatRates).set([ICELAND_ORDER.country], ICELAND_VAT_PERCENT);
    return queues.invoices.redrive(tx);
  });
  await waitUntil('the redriven invoice to complete', async () => (await countsOf(queues.invoices)).completed === ORDERS.length + 1);
  // Its confirmation email goes out meanwhile; waiting for it keeps the final counts the same on every run.
  await waitUntil("the Iceland order's email to complete", async () => (await countsOf(queues.emails)).completed === ORDERS.length + 1);
  const redriveCompleted = eventsOf('invoices', ICELAND_ORDER.id).find((event) => event.event === 'completed');
  const icelandInvoice = (await db.transact((tx) => tx.at(invoices).get([ICELAND_ORDER.id])))!;
  const countsAfterRedrive = await countsOf(queues.invoices);
  log(
    `redrive ran ${redriven.length} job again. It completed on attempt ${redriveCompleted?.attempt}: ${money(icelandInvoice.totalCents)} + VAT ${icelandInvoice.vatPercent}% ` +
      `${money(icelandInvoice.vatCents)} = ${money(icelandInvoice.totalCents + icelandInvoice.vatCents)}, written ${icelandInvoice.writes} time${icelandInvoice.writes === 1 ? '' : 's'}.`,
  );
  log(`counts(invoices): ${showCounts(countsAfterRedrive, ['ready', 'running', 'completed', 'dead'])}.`);

  // ------------------------------------------------------------------------------------------------
  heading('5. A worker crash, and the recovery of its job');
  const allOrderIds = [...orderIds, ICELAND_ORDER.id];
  log(`${allOrderIds.length} shipment jobs are ready and no shipment worker runs yet. A worker process claims one and is`);
  log('killed before it finishes. Here the crash is simulated: the claim commits, and nothing else ever');
  log(`happens, which is exactly what a killed process leaves behind:`);
  log(`  store.claim(tx, 'shipments', { count: 1, worker: 'crashed-worker', leaseMs: ${CRASH_LEASE_MS} })`);
  const [crashed] = await db.transact((tx) => store.claim(tx, 'shipments', { count: 1, worker: 'crashed-worker', leaseMs: CRASH_LEASE_MS }));
  if (crashed === undefined) throw new Error('jobs example: the crashed worker claimed no shipment');
  const crashedOrder = (crashed.payload as { orderId: number }).orderId;
  const countsAfterCrash = await countsOf(queues.shipments);
  log(`  It holds one shipment job: attempt ${crashed.attempts}, fencing token ${crashed.token}. counts(shipments): ${showCounts(countsAfterCrash, ['ready', 'running', 'completed'])}.`);
  const shipmentWorker = queues.shipments.work(
    async (job) => {
      await job.complete((tx) => recordEffect(tx, shipments, [job.payload.orderId], { orderId: job.payload.orderId, label: `SHIP-${job.payload.orderId}` }));
    },
    { concurrency: 4, leaseMs: POOL_LEASE_MS, workerId: 'shipment-pool', onError },
  );
  workers.push(shipmentWorker);
  log(`shipments.work(handler, { concurrency: 4, leaseMs: ${POOL_LEASE_MS} }) starts: a live worker.`);
  await waitUntil('every shipment to complete', async () => (await countsOf(queues.shipments)).completed === allOrderIds.length);
  const shipmentEvents = events['shipments']!.filter((event) => event.event === 'completed');
  const recovered = shipmentEvents.find((event) => event.id === crashed.id);
  const otherAttempts = shipmentEvents.filter((event) => event.id !== crashed.id).map((event) => event.attempt);
  const recoveredJob = await db.transact((tx) => queues.shipments.get(tx, crashed.id));
  log(`It shipped the other ${otherAttempts.length} orders, each on attempt ${[...new Set(otherAttempts)].join(' or ')}. When the crashed lease`);
  log(`expired, the live worker reclaimed that job: the lost attempt counts as failed, with last error`);
  log(`"${recoveredJob?.lastError}". It ran again and completed on attempt ${recovered?.attempt}, under token ${recoveredJob?.token}.`);
  log('The crashed worker "comes back" and completes with its old token, writing a shipment in the same transaction:');
  const staleCompletion = await refusal(() =>
    db.transact(async (tx) => {
      await recordEffect(tx, shipments, [crashedOrder], { orderId: crashedOrder, label: 'SHIP-stale' });
      await store.complete(tx, crashed.id, crashed.token);
    }),
  );
  log(`  refused: ${staleCompletion?.code}: ${staleCompletion?.message.replace(crashed.id, '<id>')}.`);
  const shipmentWrites = await writesOf(shipments, allOrderIds);
  const shipmentCounts = await countsOf(queues.shipments);
  log(`So its write was not committed. Shipments written: ${allOrderIds.map((id) => `#${id} ${shipmentWrites[id]}`).join(', ')}.`);
  log(`counts(shipments): ${showCounts(shipmentCounts, ['ready', 'running', 'completed', 'dead'])}.`);
  log('The package\'s crash test (packages/jobs-layer/test/crash) does this with real worker processes,');
  log('killed with SIGKILL while they run, and checks that every job\'s effect is there exactly once.');

  // ------------------------------------------------------------------------------------------------
  heading('6. A cron schedule');
  const reportRuns: { fireAt: number; jobId: string; orders: number }[] = [];
  for (const workerId of ['report-worker-a', 'report-worker-b']) {
    const reportWorker = queues.reports.work(
      async (job) => {
        let run = { fireAt: 0, orders: 0 };
        await job.complete(async (tx) => {
          // A scheduled job runs at its fire time: its runAt.
          const fireAt = (await queues.reports.get(tx, job.id))!.runAt;
          const count = (await tx.at(orders).getRangeAll()).length;
          await recordEffect(tx, reports, [fireAt], { report: job.payload.report, orders: count });
          run = { fireAt, orders: count };
        });
        reportRuns.push({ ...run, jobId: job.id });
      },
      { concurrency: 1, leaseMs: POOL_LEASE_MS, workerId, onError },
    );
    workers.push(reportWorker);
  }
  log('Two report workers start, as two processes would. Each one fires the queue\'s due schedules.');
  await db.transact((tx) => schedule(tx, queues.reports, { name: 'sales-report', cron: CRON, payload: { report: 'sales' } }));
  log(`schedule(tx, reports, { name: 'sales-report', cron: '${CRON}', payload: { report: 'sales' } }): every second.`);
  await waitUntil(`${CRON_FIRES} sales reports`, () => reportRuns.length >= CRON_FIRES);
  await db.transact((tx) => unschedule(tx, queues.reports, 'sales-report'));
  const schedulesAfter = (await db.transact((tx) => listSchedules(tx, queues.reports))).length;
  // A fire enqueued just before the unschedule still runs; wait for it so every run is counted.
  await waitUntil('the last report to finish', async () => {
    const counts = await countsOf(queues.reports);
    return counts.delayed + counts.ready + counts.running === 0;
  });
  log(`After ${CRON_FIRES} reports, unschedule(tx, reports, 'sales-report') removed it: listSchedules now lists ${schedulesAfter}.`);
  const reportRows = await db.transact((tx) => tx.at(reports).getRangeAll());
  const first = reportRows.length === 0 ? 0 : (reportRows[0]!.key[0] as number);
  const fires = reportRows.map(({ key, value }) => {
    const fireAt = key[0] as number;
    return { offsetMs: fireAt - first, wholeSecond: fireAt % 1000 === 0, jobs: reportRuns.filter((run) => run.fireAt === fireAt).length, writes: value.writes, orders: value.orders };
  });
  log('Fire times, from the first:');
  for (const fire of fires) {
    log(`  +${fire.offsetMs / 1000} s  ${fire.jobs} job, report written ${fire.writes} time${fire.writes === 1 ? '' : 's'} (${fire.orders} orders)`);
  }
  const wholeSeconds = fires.every((fire) => fire.wholeSecond);
  const once = fires.every((fire) => fire.jobs === 1 && fire.writes === 1);
  log(
    `${wholeSeconds ? 'Every fire time is on a whole second' : 'Not every fire time is on a whole second'}, and ` +
      `${once ? 'each had exactly one job' : 'not each had exactly one job'}, although both workers fire due schedules.`,
  );

  // ------------------------------------------------------------------------------------------------
  heading('7. Stopping');
  await Promise.all(workers.map((worker) => worker.stop()));
  log(`worker.stop() on all ${workers.length} workers: each stops claiming and gives back any lease it holds (none: all work is done).`);
  const finalCounts = await allCounts(queueList);
  log('Final counts:');
  for (const queue of queueList) log(`  ${queue.name.padEnd(9)}  ${showCounts(finalCounts[queue.name]!)}`);
  log(`Workers reported ${workerErrors.length} errors through onError.`);
  await db.close();

  return {
    enqueue: {
      ordersPlaced: orderIds,
      countsAfterOrders,
      rolledBack: { error: declined, countsBefore, countsAfter, orderStored: declinedStored },
      invalidPayload,
      emailCountsAfterInvalid,
    },
    pool: { completedAttempts: poolAttempts, invoiceWrites: poolWrites, counts: poolCounts },
    retries: {
      flakyOrder: flaky.id,
      failed: flakyFailed,
      completedAttempts: emailAttempts,
      refusedDeliveries,
      acceptedDeliveries,
      emailWrites,
      counts: emailCounts,
    },
    deadLetter: {
      order: ICELAND_ORDER.id,
      failedAttempts: icelandEvents.filter((event) => event.event === 'failed').map((event) => event.attempt),
      deadAttempt: icelandEvents.find((event) => event.event === 'dead')?.attempt ?? null,
      deadLetterOrders,
      lastError,
      countsWhileDead,
      redriven: redriven.length,
      completedAttempt: redriveCompleted?.attempt ?? null,
      invoiceWrites: icelandInvoice.writes,
      countsAfter: countsAfterRedrive,
    },
    crash: {
      claim: { worker: crashed.worker, attempt: crashed.attempts, token: crashed.token },
      recoveredAttempt: recovered?.attempt ?? null,
      recoveredToken: recoveredJob?.token ?? null,
      lastError: recoveredJob?.lastError ?? null,
      otherAttempts,
      staleCompletion,
      shipmentWrites,
      counts: shipmentCounts,
    },
    cron: { fires, schedulesAfter },
    final: { counts: finalCounts, workerErrors },
  };
}
