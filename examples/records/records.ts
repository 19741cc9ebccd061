/**
 * The record layer (`@strata/records`), shown on a small shop: customers, products and orders
 * declared with zod, validated writes, a unique index, an order that lowers the stock in the same
 * transaction, queries served by indexes, paging with a cursor, and aggregates kept by indexes.
 *
 * Every step prints what happened in plain words through `options.log`, and the function returns
 * a {@link RecordsSummary} so that a test can check the same facts the reader is told.
 */
import { open, StrataError, type Database, type Transaction } from '@strata/core';
import { RecordStore, Timestamp, defineSchema, index, recordType, timestamp, type Explanation, type FindManyResult, type IndexDefinition, type RecordOf } from '@strata/records';
import { z } from 'zod';

/** Where to run and where to print. */
export interface RecordsOptions {
  /** The data directory. It should be empty or missing; the example creates what it needs. */
  path: string;
  /** Receives each line of the explanation. */
  log: (line: string) => void;
}

/** A refused write or query, as the example saw it. */
export interface Refusal {
  /** The error's code, such as `record_invalid`. */
  code: string;
  /** The error's message. */
  message: string;
  /** The error's structured details (field and rule, index and values, suggested index...). */
  details: Record<string, unknown>;
}

/** The facts the example established, for the test to check. */
export interface RecordsSummary {
  schema: {
    /** Each record type's primary key fields. */
    primaryKeys: Record<string, string[]>;
    /** Each record type's indexes, as declared. */
    indexes: Record<string, Record<string, IndexDefinition>>;
  };
  writes: {
    customersInserted: number;
    productsInserted: number;
    /** The refused customer with a malformed email. */
    invalid: Refusal | null;
    /** The refused customer with an email already taken. */
    duplicate: Refusal | null;
    /** How many customers are stored after both refusals. */
    customersAfterRefusals: number;
  };
  orders: {
    /** The first order, placed with its stock changes in one transaction. */
    first: { id: bigint; total: bigint; stockBefore: Record<string, number>; stockAfter: Record<string, number> };
    /** Every order placed, by id. */
    placed: bigint[];
    /** The order that asked for more lamps than there were. */
    failed: {
      id: bigint;
      refusal: Refusal | null;
      /** The mug's stock as the transaction saw it after its own update, before the refusal. */
      mugStockInsideTransaction: number | null;
      stockBefore: Record<string, number>;
      stockAfter: Record<string, number>;
      /** True if the failed order was found afterwards (it must not be). */
      orderStored: boolean;
    };
  };
  queries: {
    /** Ada's latest orders, newest first. */
    latest: bigint[];
    latestExplain: Explanation;
    /** The query no index serves, refused. */
    noIndex: Refusal | null;
    /** The same query with allowFullScan: the skus found, and how it ran. */
    fullScan: string[];
    fullScanExplain: Explanation;
    /** The ids of each page, and whether a cursor came back after it. */
    pages: { ids: bigint[]; more: boolean }[];
    /** How many orders store.stream yielded. */
    streamed: number;
  };
  aggregates: {
    /** Orders per status, from the count index. */
    byStatus: Record<string, bigint>;
    /** Ada's total spent from the sum index, and the same computed from her orders. */
    spentByAda: bigint;
    spentByAdaComputed: bigint;
    adaOrders: number;
  };
}

// --- the schema -----------------------------------------------------------------------------------

const customers = recordType({
  schema: z.object({ id: z.bigint(), email: z.email(), name: z.string().min(1) }),
  primaryKey: ['id'],
  indexes: { byEmail: index.value(['email'], { unique: true }) },
});

const products = recordType({
  schema: z.object({
    sku: z.string().min(1),
    name: z.string(),
    priceCents: z.bigint().positive(),
    // Stock can never go below zero: an update that would make it negative is refused.
    stock: z.number().int().min(0),
  }),
  primaryKey: ['sku'],
});

const STATUSES = ['placed', 'paid', 'shipped'] as const;

const orders = recordType({
  schema: z.object({
    id: z.bigint(),
    customerId: z.bigint(),
    createdAt: timestamp(),
    status: z.enum(STATUSES),
    items: z.array(z.object({ sku: z.string(), quantity: z.number().int().positive() })).min(1),
    totalCents: z.bigint(),
  }),
  primaryKey: ['id'],
  indexes: {
    byCustomerDate: index.value(['customerId', 'createdAt']),
    countByStatus: index.count({ groupBy: ['status'] }),
    spentByCustomer: index.sum('totalCents', { groupBy: ['customerId'] }),
  },
});

const schema = defineSchema({ customers, products, orders });
type Store = RecordStore<typeof schema.types>;
type Order = RecordOf<typeof orders>;

// --- the data -------------------------------------------------------------------------------------

const ADA = 1n;
const BOB = 2n;
const CHLOE = 3n;

const CUSTOMERS = [
  { id: ADA, email: 'ada@example.com', name: 'Ada' },
  { id: BOB, email: 'bob@example.com', name: 'Bob' },
  { id: CHLOE, email: 'chloe@example.com', name: 'Chloé' },
];

const PRODUCTS = [
  { sku: 'mug', name: 'Stoneware mug', priceCents: 1250n, stock: 8 },
  { sku: 'lamp', name: 'Desk lamp', priceCents: 3900n, stock: 3 },
  { sku: 'pen', name: 'Fountain pen', priceCents: 2400n, stock: 20 },
  { sku: 'notebook', name: 'Notebook', priceCents: 650n, stock: 30 },
];

type Items = { sku: string; quantity: number }[];

/** Orders placed after the first, one hour apart; the first is placed on its own. */
const MORE_ORDERS: [bigint, Items][] = [
  [BOB, [{ sku: 'pen', quantity: 1 }]],
  [ADA, [{ sku: 'notebook', quantity: 3 }]],
  [CHLOE, [{ sku: 'lamp', quantity: 1 }, { sku: 'notebook', quantity: 1 }]],
  [ADA, [{ sku: 'pen', quantity: 1 }, { sku: 'notebook', quantity: 2 }]],
  [BOB, [{ sku: 'mug', quantity: 2 }]],
  [ADA, [{ sku: 'mug', quantity: 1 }]],
  [CHLOE, [{ sku: 'pen', quantity: 1 }]],
];

const START = Timestamp.parse('2024-05-06T09:00:00Z');
const HOUR = 3_600_000_000n;
/** The order clock: the n-th order is placed n hours after the shop opens. */
const hoursLater = (n: number): Timestamp => new Timestamp(START.micros + BigInt(n) * HOUR);

// --- helpers --------------------------------------------------------------------------------------

/** Cents as money: 1250n -> "12.50". */
function money(cents: bigint): string {
  return `${cents / 100n}.${(cents % 100n).toString().padStart(2, '0')}`;
}

/** A timestamp as "2024-05-06 10:00". */
function when(t: Timestamp): string {
  return t.toISOString().slice(0, 16).replace('T', ' ');
}

/** Runs `action` and returns the StrataError it threw, or null if it succeeded. */
async function refusal(action: () => Promise<unknown>): Promise<Refusal | null> {
  try {
    await action();
    return null;
  } catch (error) {
    if (!(error instanceof StrataError)) throw error;
    return { code: error.code, message: error.message, details: error.details };
  }
}

async function stockOf(db: Database, store: Store, skus: string[]): Promise<Record<string, number>> {
  return db.transact(async (tx) => {
    const stock: Record<string, number> = {};
    for (const sku of skus) stock[sku] = (await tx.at(store).products.get({ sku }))?.stock ?? -1;
    return stock;
  });
}

/**
 * Places an order inside `tx`: reads each product, lowers its stock, and inserts the order with
 * its total. Any refusal (an unknown product, not enough stock) fails the whole transaction.
 * `onStockLowered` lets the example look inside the transaction after each update.
 */
async function placeOrder(
  tx: Transaction,
  store: Store,
  order: { id: bigint; customerId: bigint; createdAt: Timestamp; items: Items },
  onStockLowered: (sku: string, stock: number) => void = () => {},
): Promise<Order> {
  const shop = tx.at(store);
  let totalCents = 0n;
  for (const { sku, quantity } of order.items) {
    const product = await shop.products.get({ sku });
    if (product === null) throw new Error(`no product ${sku}`);
    const updated = await shop.products.update({ sku }, { stock: product.stock - quantity });
    onStockLowered(sku, updated.stock);
    totalCents += product.priceCents * BigInt(quantity);
  }
  return shop.orders.insert({ ...order, status: 'placed', totalCents });
}

function describeIndex(definition: IndexDefinition): string {
  switch (definition.kind) {
    case 'value':
      return `value index on (${definition.fields.join(', ')})${definition.unique ? ', unique' : ''}`;
    case 'count':
      return `count of records per ${definition.groupBy.join(', ')}`;
    case 'version':
      return 'version index (commit order)';
    default:
      return `${definition.kind} of ${definition.field} per ${definition.groupBy.join(', ')}`;
  }
}

// --- the walkthrough ------------------------------------------------------------------------------

/** Runs the record layer walkthrough on a database in `options.path` and reports what happened. */
export async function runRecords(options: RecordsOptions): Promise<RecordsSummary> {
  const { log } = options;
  const heading = (title: string): void => {
    log('');
    log(`-- ${title}`);
  };
  const db: Database = await open({ path: options.path });

  // ----------------------------------------------------------------------------------------------
  heading('1. The schema');
  log('Three record types, each a zod object with a primary key and indexes kept by every write:');
  const width = Math.max(...Object.keys(schema.types).map((name) => name.length));
  for (const [name, type] of Object.entries(schema.types)) {
    const fields = Object.keys(type.schema.shape).join(', ');
    const indexes = Object.entries(type.indexes);
    log(`  ${name.padEnd(width)}  fields ${fields}; primary key (${type.primaryKey.join(', ')})${indexes.length === 0 ? '; no indexes' : ''}`);
    for (const [indexName, definition] of indexes) log(`  ${''.padEnd(width)}    ${indexName}: ${describeIndex(definition)}`);
  }
  const store = await RecordStore.open(db, { path: ['shop'], schema });
  log("RecordStore.open(db, { path: ['shop'], schema }) opened the store in the directory shop.");

  // ----------------------------------------------------------------------------------------------
  heading('2. Writes, checked against the schema');
  await db.transact(async (tx) => {
    await tx.at(store).customers.insertMany(CUSTOMERS);
    await tx.at(store).products.insertMany(PRODUCTS);
  });
  log(`insertMany wrote ${CUSTOMERS.length} customers and ${PRODUCTS.length} products in one transaction.`);
  const invalid = await refusal(() => db.transact((tx) => tx.at(store).customers.insert({ id: 4n, email: 'dan.example.com', name: 'Dan' })));
  log(`A customer with email "dan.example.com" is refused: ${invalid?.code}, field ${String(invalid?.details.field)}, rule ${String(invalid?.details.rule)}`);
  log(`  (${invalid?.message}).`);
  const duplicate = await refusal(() => db.transact((tx) => tx.at(store).customers.insert({ id: 4n, email: 'ada@example.com', name: 'Ada again' })));
  log(`A new customer with Ada's email is refused: ${duplicate?.code} on index ${String(duplicate?.details.index)}, value ${(duplicate?.details.values as unknown[] | undefined)?.map((v) => JSON.stringify(v)).join(', ')}`);
  log(`  (${duplicate?.message}).`);
  const customersAfterRefusals = (await db.transact((tx) => tx.at(store).customers.findMany())).records.length;
  log(`Neither wrote anything: ${customersAfterRefusals} customers are stored.`);

  // ----------------------------------------------------------------------------------------------
  heading('3. An order and its stock change together, or not at all');
  log('placeOrder runs in one transaction: for each item it reads the product and lowers its');
  log('stock with update, then it inserts the order with its total.');
  const firstSkus = ['mug', 'lamp'];
  const firstStockBefore = await stockOf(db, store, firstSkus);
  const first = await db.transact((tx) =>
    placeOrder(tx, store, { id: 1001n, customerId: ADA, createdAt: hoursLater(0), items: [{ sku: 'mug', quantity: 2 }, { sku: 'lamp', quantity: 1 }] }),
  );
  const firstStockAfter = await stockOf(db, store, firstSkus);
  log(
    `Order #1001: Ada buys 2 mugs and 1 lamp for ${money(first.totalCents)}. Stock: ` +
      firstSkus.map((sku) => `${sku} ${firstStockBefore[sku]} -> ${firstStockAfter[sku]}`).join(', ') + '.',
  );
  const placed: bigint[] = [first.id];
  for (const [i, [customerId, items]] of MORE_ORDERS.entries()) {
    const order = await db.transact((tx) => placeOrder(tx, store, { id: 1002n + BigInt(i), customerId, createdAt: hoursLater(i + 1), items }));
    placed.push(order.id);
  }
  await db.transact(async (tx) => {
    await tx.at(store).orders.update({ id: 1001n }, { status: 'shipped' });
    await tx.at(store).orders.update({ id: 1002n }, { status: 'shipped' });
    await tx.at(store).orders.update({ id: 1003n }, { status: 'paid' });
  });
  log(`${MORE_ORDERS.length} more orders placed the same way (#1002 to #${placed.at(-1)}); #1001 and #1002 shipped, #1003 paid.`);
  const failedId = 1002n + BigInt(MORE_ORDERS.length);
  const failedSkus = ['mug', 'lamp'];
  const failedStockBefore = await stockOf(db, store, failedSkus);
  let mugStockInsideTransaction: number | null = null;
  const failedRefusal = await refusal(() =>
    db.transact((tx) =>
      placeOrder(tx, store, { id: failedId, customerId: BOB, createdAt: hoursLater(placed.length), items: [{ sku: 'mug', quantity: 1 }, { sku: 'lamp', quantity: 2 }] }, (sku, stock) => {
        if (sku === 'mug') mugStockInsideTransaction = stock;
      }),
    ),
  );
  const failedStockAfter = await stockOf(db, store, failedSkus);
  const orderStored = (await db.transact((tx) => tx.at(store).orders.get({ id: failedId }))) !== null;
  log(`Order #${failedId}: Bob wants 1 mug and 2 lamps, but ${failedStockBefore.lamp} lamp is left. Inside the transaction the`);
  log(`mug's stock went from ${failedStockBefore.mug} to ${mugStockInsideTransaction}, then the lamp's update was refused:`);
  log(`  ${failedRefusal?.code}: ${failedRefusal?.message}.`);
  log(
    `Nothing committed: ` + failedSkus.map((sku) => `${sku} stock ${failedStockAfter[sku]}`).join(', ') + `, and order #${failedId} ${orderStored ? 'exists' : 'does not exist'}.`,
  );

  // ----------------------------------------------------------------------------------------------
  heading('4. Queries, planned on the indexes');
  const latestQuery = { where: { customerId: ADA }, orderBy: { createdAt: 'desc' as const } };
  const { latest, latestExplain } = await db.transact(async (tx) => ({
    latest: (await tx.at(store).orders.findMany({ ...latestQuery, limit: 3 })).records,
    latestExplain: tx.at(store).orders.explain(latestQuery),
  }));
  log("Ada's 3 latest orders: findMany({ where: { customerId: 1n }, orderBy: { createdAt: 'desc' }, limit: 3 })");
  for (const order of latest) log(`  #${order.id}  ${when(order.createdAt)}  ${order.status.padEnd(7)}  ${money(order.totalCents).padStart(6)}`);
  log(`explain(): index ${latestExplain.index}, reading ${latestExplain.ranges.join(' and ')},`);
  log(`  ${latestExplain.ordered ? 'already in order' : 'not in order'}, ${latestExplain.sortInMemory ? 'sorted in memory' : 'no sort in memory'}, ${latestExplain.fullScan ? 'a full scan' : 'not a full scan'}.`);
  const lowStock = { where: { stock: { lt: 5 } } };
  const noIndex = await refusal(() => db.transact((tx) => tx.at(store).products.findMany(lowStock)));
  log('Products with fewer than 5 in stock: findMany({ where: { stock: { lt: 5 } } }) is refused:');
  log(`  ${noIndex?.code}: ${noIndex?.message}`);
  const { found, fullScanExplain } = await db.transact(async (tx) => ({
    found: (await tx.at(store).products.findMany({ ...lowStock, allowFullScan: true })).records,
    fullScanExplain: tx.at(store).products.explain({ ...lowStock, allowFullScan: true }),
  }));
  log(
    `With allowFullScan: true it reads every product (explain: index ${fullScanExplain.index}, full scan ${fullScanExplain.fullScan}) and finds ` +
      found.map((p) => `${p.sku} (${p.stock})`).join(', ') + '.',
  );
  log('Paging: all orders, 3 per page, each page in its own transaction, continuing from the cursor:');
  const pages: { ids: bigint[]; more: boolean }[] = [];
  let cursor: string | null = null;
  do {
    const after: string | null = cursor;
    const page: FindManyResult<Order> = await db.transact((tx) => tx.at(store).orders.findMany({ limit: 3, cursor: after }));
    pages.push({ ids: page.records.map((o) => o.id), more: page.cursor !== null });
    cursor = page.cursor;
    log(`  page ${pages.length}: ${page.records.map((o) => `#${o.id}`).join(' ')}${cursor === null ? '  (cursor null: the end)' : '  (a cursor came back)'}`);
  } while (cursor !== null);
  let streamed = 0;
  for await (const _order of store.stream(db, 'orders')) streamed++;
  log(`store.stream(db, 'orders') pages the same way by itself, in short transactions: ${streamed} orders.`);

  // ----------------------------------------------------------------------------------------------
  heading('5. Aggregates, read from their indexes');
  const { byStatus, spentByAda, adaOrders } = await db.transact(async (tx) => {
    const counts: Record<string, bigint> = {};
    for (const status of STATUSES) counts[status] = await tx.at(store).orders.count({ where: { status } });
    return {
      byStatus: counts,
      spentByAda: await tx.at(store).orders.sum('totalCents', { where: { customerId: ADA } }),
      adaOrders: (await tx.at(store).orders.findMany({ where: { customerId: ADA } })).records,
    };
  });
  log(`count({ where: { status } }) from countByStatus, one key read per status: ${STATUSES.map((s) => `${s} ${byStatus[s]}`).join(', ')}.`);
  const spentByAdaComputed = adaOrders.reduce((sum, order) => sum + order.totalCents, 0n);
  log(`sum('totalCents', { where: { customerId: 1n } }) from spentByCustomer: Ada spent ${money(spentByAda)} over ${adaOrders.length} orders`);
  log(`  (adding up her orders one by one gives ${money(spentByAdaComputed)}). The failed order #${failedId} counts nowhere.`);

  await db.close();
  const primaryKeys: Record<string, string[]> = {};
  const indexes: Record<string, Record<string, IndexDefinition>> = {};
  for (const [name, type] of Object.entries(schema.types)) {
    primaryKeys[name] = [...type.primaryKey];
    indexes[name] = { ...type.indexes };
  }
  return {
    schema: { primaryKeys, indexes },
    writes: { customersInserted: CUSTOMERS.length, productsInserted: PRODUCTS.length, invalid, duplicate, customersAfterRefusals },
    orders: {
      first: { id: first.id, total: first.totalCents, stockBefore: firstStockBefore, stockAfter: firstStockAfter },
      placed,
      failed: { id: failedId, refusal: failedRefusal, mugStockInsideTransaction, stockBefore: failedStockBefore, stockAfter: failedStockAfter, orderStored },
    },
    queries: {
      latest: latest.map((o) => o.id),
      latestExplain,
      noIndex,
      fullScan: found.map((p) => p.sku),
      fullScanExplain,
      pages,
      streamed,
    },
    aggregates: { byStatus, spentByAda, spentByAdaComputed, adaOrders: adaOrders.length },
  };
}
