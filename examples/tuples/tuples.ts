/**
 * The tuple layer (`@strata/tuple`), shown on an embedded database: tuple keys whose bytes sort
 * the way the tuples do, a typed subspace, the directory layer, and versionstamped tuple keys for
 * an event log in commit order.
 *
 * Every step prints what happened in plain words through `options.log`, and the function returns
 * a {@link TuplesSummary} so that a test can check the same facts the reader is told.
 */
import { open, prefixRange, utf8, type Database } from '@strata/core';
import { DirectoryLayer, Subspace, Versionstamp, msgpackEncoder, pack, packWithVersionstamp, range, unpack, type Tuple, type TupleItem } from '@strata/tuple';

/** Where to run and where to print. */
export interface TuplesOptions {
  /** The data directory. It should be empty or missing; the example creates what it needs. */
  path: string;
  /** Receives each line of the explanation. */
  log: (line: string) => void;
}

/** The facts the example established, for the test to check. */
export interface TuplesSummary {
  tuples: {
    /** The tuples in the order they were written, as printed. */
    written: string[];
    /** The tuples in the order a range read returned them, as printed. */
    listed: string[];
    /** The packed key of each listed tuple, as hex, in the same order as `listed`. */
    hex: string[];
    /** True if every listed key unpacked to the tuple that was packed. */
    roundTrip: boolean;
  };
  subspace: {
    /** What `tx.at(orders).get([10, 2])` returned. */
    line: OrderLine | null;
    /** The keys `tx.at(orders).getRangeAll([1])` returned, as printed. */
    orderOneKeys: string[];
    /** How many of the written lines a text prefix "orders/1" would have matched. */
    textPrefixMatches: number;
  };
  directories: {
    /** `list(['shop'])` after creating the two directories. */
    listed: string[];
    /** Each directory's prefix, as hex. */
    ordersPrefix: string;
    customersPrefix: string;
    /** `list(['shop'])` after the move. */
    listedAfterMove: string[];
    /** True if the moved directory kept its prefix. */
    movePrefixUnchanged: boolean;
    /** Orders readable through the moved directory. */
    ordersAfterMove: number;
    /** Keys under the customers prefix before and after the remove. */
    customerKeysBefore: number;
    customerKeysAfter: number;
    /** `list(['shop'])` after the remove. */
    listedAfterRemove: string[];
    customersExistAfterRemove: boolean;
  };
  events: {
    /** Event names in the order their transactions committed (and, within one, by user version). */
    written: string[];
    /** Event names in the order a range read over the log returned them. */
    listed: string[];
    /** Each listed event's key as printed: versionstamp hex and user version. */
    stamps: string[];
    /** True if every stamp read back equals the one its transaction's `getVersionstamp()` gave. */
    stampsMatchCommits: boolean;
  };
}

/** One line of an order, stored as a MessagePack value. */
export interface OrderLine {
  item: string;
  quantity: number;
  cents: number;
}

/** Bytes as hex, one pair per byte: `02 6f 72`. */
function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').replace(/(..)(?!$)/g, '$1 ');
}

/** A tuple as it would be written in code: `['order', 10]`. */
function show(tuple: Tuple): string {
  const item = (value: TupleItem): string => {
    if (typeof value === 'string') return `'${value}'`;
    if (value instanceof Versionstamp) return `Versionstamp(${value.transactionVersion === null ? 'incomplete' : hex(value.transactionVersion)}, ${value.userVersion})`;
    if (value instanceof Uint8Array) return `bytes(${hex(value)})`;
    if (Array.isArray(value)) return show(value as Tuple);
    return String(value);
  };
  return `[${tuple.map(item).join(', ')}]`;
}

const bytesEqual = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** A versionstamp as hex: the 8-byte commit version, a space, the 2-byte position in its batch. */
function stampHex(stamp: Uint8Array): string {
  const text = Buffer.from(stamp).toString('hex');
  return `${text.slice(0, 16)} ${text.slice(16)}`;
}

/** Written in this order on purpose: it is neither the numeric nor the alphabetical order. */
const ORDER_KEYS: Tuple[] = [
  ['order', 300],
  ['order', 10, 'line', 1],
  ['order', -1],
  ['order', 10],
  ['order', 2],
];

const LINES: Array<[[number, number], OrderLine]> = [
  [[1, 1], { item: 'pen', quantity: 3, cents: 150 }],
  [[1, 2], { item: 'notebook', quantity: 1, cents: 400 }],
  [[2, 1], { item: 'stapler', quantity: 1, cents: 900 }],
  [[10, 1], { item: 'lamp', quantity: 1, cents: 2500 }],
  [[10, 2], { item: 'mug', quantity: 2, cents: 1200 }],
];

/** Runs the tuple layer walkthrough on a database in `options.path` and reports what happened. */
export async function runTuples(options: TuplesOptions): Promise<TuplesSummary> {
  const { log } = options;
  const heading = (title: string): void => {
    log('');
    log(`-- ${title}`);
  };
  const db: Database = await open({ path: options.path });

  // ----------------------------------------------------------------------------------------------
  heading('1. Tuple keys sort like the tuples');
  log('pack(tuple) turns a list of values into key bytes; unpack(bytes) turns them back. Each item');
  log('starts with a type code: 02 = text (ended by 00), 13 = a one-byte negative integer, 15 = a');
  log('one-byte positive integer, 16 = a two-byte one. Five keys, written in a jumbled order, read');
  log('back with a range read over range([\'order\']) and unpacked:');
  await db.transact((tx) => {
    for (const tuple of ORDER_KEYS) tx.set(pack(tuple), new Uint8Array());
  });
  const orderRows = await db.transact((tx) => {
    const { begin, end } = range(['order']);
    return tx.getRangeAll(begin, end);
  });
  const listedTuples = orderRows.map((row) => unpack(row.key));
  const listedShown = listedTuples.map(show);
  const width = Math.max(...listedShown.map((text) => text.length));
  listedShown.forEach((text, index) => log(`  ${text.padEnd(width)}  ${hex(orderRows[index]!.key)}`));
  log('-1 comes first (13 < 15), then 2, 10 and 300, where text would put "10" before "2". A');
  log('longer tuple comes right after the tuple it extends, so an order\'s lines follow the order.');

  // ----------------------------------------------------------------------------------------------
  heading('2. A typed subspace');
  log('A subspace is a key prefix with encoders: here the prefix pack([\'orders\']), tuple keys');
  log('[order, line], and MessagePack values, so tx.at(orders) reads and writes objects.');
  const orders = new Subspace(['orders']).withValueEncoder(msgpackEncoder<OrderLine>());
  await db.transact((tx) => {
    for (const [key, line] of LINES) tx.at(orders).set(key, line);
  });
  const { mug, orderOne } = await db.transact(async (tx) => ({
    mug: await tx.at(orders).get([10, 2]),
    orderOne: await tx.at(orders).getRangeAll([1]),
  }));
  log(`Wrote ${LINES.length} order lines, for orders 1, 2 and 10. get([10, 2]) = ${JSON.stringify(mug)}`);
  log('getRangeAll([1]) reads every key that extends [1]: all lines of order 1.');
  for (const { key, value } of orderOne) log(`  ${show(key)}  ${value.quantity} x ${value.item}`);
  const textPrefixMatches = LINES.filter(([[order, line]]) => `orders/${order}/${line}`.startsWith('orders/1')).length;
  log(`With text keys such as "orders/10/1", the prefix "orders/1" would match ${textPrefixMatches} lines, order 10's too.`);

  // ----------------------------------------------------------------------------------------------
  heading('3. Directories: short prefixes for long names');
  log('The directory layer gives each path of names a short prefix from its allocator and keeps');
  log('the mapping in the database, so keys carry the short prefix instead of the names.');
  const directories = new DirectoryLayer();
  const shopOrders = await directories.createOrOpen(db, ['shop', 'orders']);
  const customers = await directories.createOrOpen(db, ['shop', 'customers']);
  const listed = await directories.list(db, ['shop']);
  log(`createOrOpen(['shop', 'orders']) and createOrOpen(['shop', 'customers']) gave:`);
  // The allocator hands out small integers; a prefix is one of them packed as a tuple.
  const allocated = (prefix: Uint8Array): string => `prefix ${hex(prefix)}  = pack([${String(unpack(prefix)[0])}])`;
  log(`  shop/orders     ${allocated(shopOrders.prefix)}`);
  log(`  shop/customers  ${allocated(customers.prefix)}`);
  await db.transact((tx) => {
    for (const id of [1, 2, 10]) tx.at(shopOrders).set([id], utf8('placed'));
    tx.at(customers).set(['ada'], utf8('Lyon'));
    tx.at(customers).set(['bob'], utf8('Oslo'));
  });
  log(`list(['shop']) = ${show(listed)}. A directory is a subspace: order 10's key is ${hex(shopOrders.pack([10]))}.`);
  const archived = await directories.move(db, ['shop', 'orders'], ['shop', 'archived-orders']);
  const listedAfterMove = await directories.list(db, ['shop']);
  const ordersAfterMove = (await db.transact((tx) => tx.at(archived).getRangeAll())).length;
  const movePrefixUnchanged = bytesEqual(archived.prefix, shopOrders.prefix);
  log(`move(['shop', 'orders'], ['shop', 'archived-orders']): list = ${show(listedAfterMove)}.`);
  log(
    `Only the name changed: the prefix is ${movePrefixUnchanged ? 'still' : 'now'} ${hex(archived.prefix)}, so its ` +
      `${ordersAfterMove} orders did not have to be copied.`,
  );
  const countCustomerKeys = async (): Promise<number> => {
    const { begin, end } = prefixRange(customers.prefix);
    return (await db.transact((tx) => tx.getRangeAll(begin, end))).length;
  };
  const customerKeysBefore = await countCustomerKeys();
  await directories.remove(db, ['shop', 'customers']);
  const customerKeysAfter = await countCustomerKeys();
  const listedAfterRemove = await directories.list(db, ['shop']);
  const customersExistAfterRemove = await directories.exists(db, ['shop', 'customers']);
  log(`remove(['shop', 'customers']) deleted the directory and everything in it: the keys under`);
  log(`its prefix ${hex(customers.prefix)} went from ${customerKeysBefore} to ${customerKeysAfter}. list = ${show(listedAfterRemove)}.`);

  // ----------------------------------------------------------------------------------------------
  heading('4. An event log in commit order (versionstamped tuple keys)');
  log('Each event\'s key is the tuple [Versionstamp.incomplete(n)] in the directory shop/events,');
  log('packed with packWithVersionstamp and written with tx.setVersionstampedKey. The database fills');
  log('in the versionstamp at commit; n, the user version, orders the keys of one transaction.');
  const events = (await directories.createOrOpen(db, ['shop', 'events'])).withValueEncoder(msgpackEncoder<string>());
  const written: string[] = [];
  const commitStamps: Uint8Array[] = [];
  // One transaction per entry, one after another; the second writes two events at once.
  for (const names of [['cart-created'], ['item-added', 'checkout'], ['payment']]) {
    const { stamp } = await db.transact((tx) => {
      names.forEach((name, userVersion) => {
        tx.setVersionstampedKey(packWithVersionstamp([Versionstamp.incomplete(userVersion)], events.prefix), events.valueEncoder.pack(name));
      });
      // Returned inside an object: a bare promise would make transact wait for it before committing.
      return { stamp: tx.getVersionstamp() };
    });
    const committed = await stamp;
    written.push(...names);
    commitStamps.push(...names.map(() => committed));
  }
  const entries = await db.transact((tx) => tx.at(events).getRangeAll());
  const listedEvents = entries.map((entry) => entry.value);
  const stamps: string[] = [];
  let stampsMatchCommits = entries.length === commitStamps.length;
  entries.forEach(({ key, value }, index) => {
    const item = key[0];
    if (!(item instanceof Versionstamp) || item.transactionVersion === null) {
      stampsMatchCommits = false;
      return;
    }
    if (!bytesEqual(item.transactionVersion, commitStamps[index]!)) stampsMatchCommits = false;
    const stamp = `${stampHex(item.transactionVersion)} user ${item.userVersion}`;
    stamps.push(stamp);
    log(`  ${value.padEnd(13)} versionstamp ${stamp}`);
  });
  log('item-added and checkout were written by one transaction: one versionstamp, user versions 0, 1.');
  log('The range read returns the events in commit order, each key unpacked to a complete versionstamp.');

  await db.close();
  return {
    tuples: {
      written: ORDER_KEYS.map(show),
      listed: listedShown,
      hex: orderRows.map((row) => hex(row.key)),
      roundTrip: orderRows.every((row, index) => bytesEqual(pack(listedTuples[index]!), row.key)),
    },
    subspace: { line: mug, orderOneKeys: orderOne.map((entry) => show(entry.key)), textPrefixMatches },
    directories: {
      listed,
      ordersPrefix: hex(shopOrders.prefix),
      customersPrefix: hex(customers.prefix),
      listedAfterMove,
      movePrefixUnchanged,
      ordersAfterMove,
      customerKeysBefore,
      customerKeysAfter,
      listedAfterRemove,
      customersExistAfterRemove,
    },
    events: { written, listed: listedEvents, stamps, stampsMatchCommits },
  };
}
