/**
 * The basics of Strata's key-value core, shown on an embedded database: opening a data directory,
 * writing and reading in transactions, a conflict and its automatic retry, range reads, atomic
 * counters, versionstamped keys, watches, and durability across a close and reopen.
 *
 * Every step prints what happened in plain words through `options.log`, and the function returns
 * a {@link BasicsSummary} so that a test can check the same facts the reader is told.
 */
import fs from 'node:fs';
import path from 'node:path';
import { encodeVersionstampOffset, open, prefixRange, utf8, StrataError, type Database, type RecoveryReport } from '@strata/core';

/** Where to run and where to print. */
export interface BasicsOptions {
  /** The data directory. It should be empty or missing; the example creates what it needs. */
  path: string;
  /** Receives each line of the explanation. */
  log: (line: string) => void;
}

/** The facts the example established, for the test to check. */
export interface BasicsSummary {
  /** The names of the entries in the data directory right after it was first opened. */
  dataDirEntries: string[];
  /** How many user records the first transaction wrote, and how many the second read back. */
  usersWritten: number;
  usersReadBack: number;
  conflict: {
    /** How many times each withdrawal's function ran. */
    attemptsA: number;
    attemptsB: number;
    /** Why B's first attempt failed (expected: `not_committed`). */
    firstErrorOfB: string | null;
    startingBalance: number;
    finalBalance: number;
  };
  range: {
    /** Users returned by a forward scan with a limit, and by a reverse scan with a limit. */
    forward: string[];
    reverse: string[];
  };
  counter: {
    transactions: number;
    /** Function runs across all counter transactions; equal to `transactions` when none retried. */
    attempts: number;
    finalCount: number;
  };
  events: {
    /** Event names in the order their transactions committed. */
    written: string[];
    /** Event names in the order a range read over the log returned them. */
    listed: string[];
    /** The versionstamp of each written event, as hex, in the same order as `written`. */
    versionstamps: string[];
  };
  watch: {
    fired: boolean;
    /** True if the watch resolved before anything changed the key (it must not). */
    firedEarly: boolean;
    /** What happened, in order. */
    order: string[];
  };
  reopen: {
    recovery: RecoveryReport;
    usersAfterReopen: number;
    balanceAfterReopen: number;
    counterAfterReopen: number;
    eventsAfterReopen: string[];
  };
}

const decoder = new TextDecoder();

/** Decodes a UTF-8 value, or says there is none. */
function text(value: Uint8Array | null): string {
  return value === null ? '(none)' : decoder.decode(value);
}

/** Keys are bytes; the example builds them from readable text. */
const key = (name: string): Uint8Array => utf8(name);

/**
 * The counter is stored as an 8-byte little-endian integer, because that is how `tx.add`
 * interprets its operand and the stored value.
 */
function uint64(value: number): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value), true);
  return bytes;
}

function readUint64(value: Uint8Array | null): number {
  if (value === null) return 0;
  return Number(new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(0, true));
}

/** A promise with its resolve function at hand, used to make two transactions take turns. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** A versionstamp as hex: the 8-byte commit version, a space, the 2-byte position in its batch. */
function stampHex(stamp: Uint8Array): string {
  const hex = Buffer.from(stamp).toString('hex');
  return `${hex.slice(0, 16)} ${hex.slice(16)}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const USERS: Array<[string, { name: string; city: string }]> = [
  ['alice', { name: 'Alice', city: 'Lyon' }],
  ['bob', { name: 'Bob', city: 'Oslo' }],
  ['carol', { name: 'Carol', city: 'Porto' }],
  ['dave', { name: 'Dave', city: 'Quito' }],
  ['erin', { name: 'Erin', city: 'Kyoto' }],
];

const BALANCE_KEY = key('account/joint');
const COUNTER_KEY = key('stats/page-views');
const GREETING_KEY = key('config/greeting');
const EVENTS_PREFIX = key('events/');
const USERS_PREFIX = key('user/');

/** Runs the basics walkthrough on a database in `options.path` and reports what happened. */
export async function runBasics(options: BasicsOptions): Promise<BasicsSummary> {
  const { log } = options;
  const where = path.relative(process.cwd(), options.path) || '.';
  const heading = (title: string): void => {
    log('');
    log(`-- ${title}`);
  };

  // ----------------------------------------------------------------------------------------------
  heading('1. Opening a database');
  let db: Database = await open({ path: options.path });
  const dataDirEntries = fs.readdirSync(options.path).sort();
  log(`Opened a database in ${where}/. It is embedded: the engine runs inside this`);
  log('Node.js process, like SQLite, with no server to start. The directory now holds:');
  const explanations: Record<string, string> = {
    'log/': 'the write-ahead log: each commit is flushed to disk here before it is confirmed.',
    'storage/': 'the data itself (LevelDB files); commits move here from the log later.',
    'version-lease': 'the highest version the database may hand out, so versions never repeat.',
  };
  for (const entry of dataDirEntries) {
    const name = fs.statSync(path.join(options.path, entry)).isDirectory() ? `${entry}/` : entry;
    log(`  ${name.padEnd(14)} ${explanations[name] ?? ''}`.trimEnd());
  }

  // ----------------------------------------------------------------------------------------------
  heading('2. Writing and reading in transactions');
  log('Keys and values are bytes; this demo stores UTF-8 text. A transaction groups reads');
  log('and writes: either all of its writes are saved, or none are.');
  const committedAt = await db.transact((tx) => {
    for (const [id, user] of USERS) tx.set(key(`user/${id}`), utf8(JSON.stringify(user)));
    tx.set(BALANCE_KEY, utf8('100'));
    tx.set(GREETING_KEY, utf8('hello'));
    // The function's value is what `transact` returns; the commit version is only known after
    // the commit, so return the transaction and ask it afterwards.
    return tx;
  });
  log(`Transaction 1 wrote ${USERS.length} users, an account and a greeting, and committed at version ${committedAt.getCommittedVersion()}.`);
  log('(A version is a number that grows by about a million per second; every commit gets one.)');
  const readBack = await db.transact(async (tx) => {
    const values: string[] = [];
    for (const [id] of USERS) values.push(text(await tx.get(key(`user/${id}`))));
    return values;
  });
  log(`Transaction 2 read them back: user/alice = ${readBack[0]}`);
  log(`                               user/bob   = ${readBack[1]}`);

  // ----------------------------------------------------------------------------------------------
  heading('3. Two transactions that conflict');
  log('Strata uses optimistic concurrency: nothing is locked. Each transaction reads a snapshot');
  log('and remembers which keys it read. At commit, if another transaction changed one of them');
  log('in the meantime, the commit fails with not_committed and none of its writes are saved.');
  log('db.transact then runs the function again, on fresh data.');
  const startingBalance = Number(text(await db.transact((tx) => tx.get(BALANCE_KEY))));
  let attemptsA = 0;
  let attemptsB = 0;
  let firstErrorOfB: string | null = null;
  const readByB: number[] = [];
  // B opens this gate once it has read the balance, so that A commits only after both have read
  // the same value. That makes the conflict happen on every run instead of by chance.
  const bHasRead = gate();
  const withdrawA = db.transact(async (tx) => {
    attemptsA++;
    const balance = Number(text(await tx.get(BALANCE_KEY)));
    await bHasRead.promise;
    tx.set(BALANCE_KEY, utf8(String(balance - 30)));
  });
  const withdrawB = db.transact(async (tx) => {
    attemptsB++;
    // A failed attempt's versionstamp rejects with the reason the attempt failed, which is how the
    // example learns why db.transact retried.
    tx.getVersionstamp().catch((error: unknown) => {
      if (firstErrorOfB === null && error instanceof StrataError) firstErrorOfB = error.code;
    });
    const balance = Number(text(await tx.get(BALANCE_KEY)));
    readByB.push(balance);
    if (attemptsB === 1) {
      bHasRead.open();
      // The first attempt waits until A has committed, so its own commit comes second and fails.
      await withdrawA;
    }
    tx.set(BALANCE_KEY, utf8(String(balance - 50)));
  });
  await Promise.all([withdrawA, withdrawB]);
  const finalBalance = Number(text(await db.transact((tx) => tx.get(BALANCE_KEY))));
  log(`The account starts at ${startingBalance}. A withdraws 30 and B withdraws 50, at the same time.`);
  log(`A and B both read ${startingBalance}. A commits first: ${startingBalance} - 30 = ${startingBalance - 30}.`);
  log(`B then tries to save ${readByB[0]} - 50 = ${(readByB[0] ?? 0) - 50}, but A changed the balance after B read it.`);
  log(
    `Transaction B conflicted with A (${firstErrorOfB ?? 'no error'}) and was retried: ` +
      `attempt ${attemptsB} read ${readByB[readByB.length - 1]} and succeeded.`,
  );
  log(`Final balance: ${finalBalance} (= ${startingBalance} - 30 - 50). Attempts: A ${attemptsA}, B ${attemptsB}.`);
  log('Without the conflict check, B would have saved 50 and A\'s withdrawal would be lost.');

  // ----------------------------------------------------------------------------------------------
  heading('4. Range reads');
  log('Keys are kept sorted, byte by byte, and a range read returns them in that order.');
  log('prefixRange("user/") is the range of every key that starts with "user/".');
  const users = prefixRange(USERS_PREFIX);
  const userName = (k: Uint8Array): string => text(k).slice('user/'.length);
  const forward = await db.transact((tx) => tx.getRangeAll(users.begin, users.end, { limit: 3 }));
  const reverse = await db.transact((tx) => tx.getRangeAll(users.begin, users.end, { limit: 2, reverse: true }));
  log(`First 3 users (limit 3):         ${forward.map((kv) => userName(kv.key)).join(', ')}`);
  log(`Last 2 users (reverse, limit 2): ${reverse.map((kv) => userName(kv.key)).join(', ')}`);

  // ----------------------------------------------------------------------------------------------
  heading('5. An atomic counter');
  log('tx.add(key, n) asks the database to add n to the stored number when the commit is');
  log('applied, without reading it first. Nothing is read, so concurrent adds never conflict.');
  const counterTransactions = 50;
  let counterAttempts = 0;
  await Promise.all(
    Array.from({ length: counterTransactions }, () =>
      db.transact((tx) => {
        counterAttempts++;
        tx.add(COUNTER_KEY, uint64(1));
      }),
    ),
  );
  const finalCount = readUint64(await db.transact((tx) => tx.get(COUNTER_KEY)));
  const retried = counterAttempts - counterTransactions;
  log(
    `${counterTransactions} transactions each added 1 at the same time, in ${counterAttempts} attempts ` +
      `(${retried === 0 ? 'none was retried' : `${retried} retries`}). Final count: ${finalCount}.`,
  );

  // ----------------------------------------------------------------------------------------------
  heading('6. An event log ordered by commit (versionstamps)');
  log('A versionstamp is 10 bytes the database fills in at commit: the 8-byte commit version,');
  log('then 2 bytes for the transaction\'s place in its commit batch. They sort in commit order.');
  log('Each event\'s key is "events/" + a versionstamp, so the log sorts by commit time.');
  const appendEvent = async (name: string): Promise<Uint8Array> => {
    const result = await db.transact((tx) => {
      // The key holds a 10-byte placeholder after the prefix; encodeVersionstampOffset appends
      // the placeholder's position so the database knows where to write the stamp.
      const template = new Uint8Array(EVENTS_PREFIX.length + 10);
      template.set(EVENTS_PREFIX);
      tx.setVersionstampedKey(encodeVersionstampOffset(template, EVENTS_PREFIX.length), utf8(name));
      // The stamp resolves only after the commit, so it is returned inside an object: returning
      // the bare promise would make transact wait for it before committing, and wait forever.
      return { stamp: tx.getVersionstamp() };
    });
    return result.stamp;
  };
  const written: string[] = [];
  const versionstamps: string[] = [];
  // One after another, so the commit order is the order below, which is not alphabetical.
  for (const name of ['signup', 'payment', 'order-shipped']) {
    const stamp = await appendEvent(name);
    written.push(name);
    versionstamps.push(stampHex(stamp));
    log(`  ${name.padEnd(14)} versionstamp ${stampHex(stamp)}`);
  }
  // Two events started at the same moment are committed together, in one batch: their stamps
  // share the commit version and differ in the last two bytes, which still give them an order.
  const together = ['email-sent', 'review-posted'];
  const stamps = await Promise.all(together.map((name) => appendEvent(name)));
  const byCommitOrder = together
    .map((name, index) => ({ name, stamp: stamps[index]! }))
    .sort((a, b) => Buffer.compare(a.stamp, b.stamp));
  for (const { name, stamp } of byCommitOrder) {
    written.push(name);
    versionstamps.push(stampHex(stamp));
    log(`  ${name.padEnd(14)} versionstamp ${stampHex(stamp)}`);
  }
  const sameBatch = Buffer.compare(stamps[0]!.subarray(0, 8), stamps[1]!.subarray(0, 8)) === 0;
  log(
    sameBatch
      ? 'The last two were written at the same moment: one batch, same version, positions 0 and 1.'
      : 'The last two were written at the same moment but landed in separate batches.',
  );
  const events = prefixRange(EVENTS_PREFIX);
  const listed = (await db.transact((tx) => tx.getRangeAll(events.begin, events.end))).map((kv) => text(kv.value));
  log(`Reading the range "events/" returns them in commit order: ${listed.join(', ')}.`);

  // ----------------------------------------------------------------------------------------------
  heading('7. A watch');
  log('A watch is a promise that resolves when a key\'s value changes, so a program can wait');
  log('for a change instead of asking again and again.');
  const order: string[] = [];
  let fired = false;
  const watcher = await db.transact(async (tx) => {
    const value = text(await tx.get(GREETING_KEY));
    // The watch starts when this transaction commits; it is returned inside an object for the
    // same reason as the versionstamp above.
    return { value, watch: tx.watch(GREETING_KEY) };
  });
  const firedPromise = watcher.watch.changed.then(() => {
    fired = true;
    order.push('the watch fired: the greeting had changed');
  });
  order.push(`A read the greeting ("${watcher.value}"), watched it and committed`);
  await sleep(50);
  const firedEarly = fired;
  order.push(fired ? '50 ms later the watch had already fired, though nothing changed' : '50 ms later the watch had not fired: nothing had changed yet');
  order.push('B set the greeting to "hi there" and sent its commit');
  await db.transact((tx) => tx.set(GREETING_KEY, utf8('hi there')));
  order.push("B's commit was confirmed");
  await firedPromise;
  // The watch firing and B's confirmation both follow B's commit; which of the two reaches this
  // code first is not specified, so the timeline prints them in the order they actually arrived.
  order.forEach((step, index) => log(`  ${index + 1}. ${step}`));

  // ----------------------------------------------------------------------------------------------
  heading('8. Closing and reopening');
  await db.close();
  log('Closed the database: pending commits finished and everything moved into storage/.');
  db = await open({ path: options.path });
  const recovery = db.recovery;
  log('Reopened it. Opening runs recovery: it replays from the log any commit not yet in storage/.');
  const field = (name: string, value: number, meaning: string): void => log(`  ${name.padEnd(16)} ${String(value).padEnd(8)} ${meaning}`);
  field('durableVersion', recovery.durableVersion, 'the newest version already in storage/');
  field('replayedBatches', recovery.replayedBatches, 'commit batches replayed from the log (a clean close leaves none)');
  field('tornLogBytes', recovery.tornLogBytes, 'bytes of a half-written log record (after a crash) thrown away');
  field('recoveredVersion', recovery.recoveredVersion, 'the newest version after recovery');
  const after = await db.transact(async (tx) => ({
    users: (await tx.getRangeAll(users.begin, users.end)).length,
    balance: Number(text(await tx.get(BALANCE_KEY))),
    counter: readUint64(await tx.get(COUNTER_KEY)),
    events: (await tx.getRangeAll(events.begin, events.end)).map((kv) => text(kv.value)),
  }));
  await db.close();
  log(`Still there: ${after.users} users, balance ${after.balance}, counter ${after.counter}, events ${after.events.join(', ')}.`);

  return {
    dataDirEntries,
    usersWritten: USERS.length,
    usersReadBack: readBack.filter((value) => value !== '(none)').length,
    conflict: { attemptsA, attemptsB, firstErrorOfB, startingBalance, finalBalance },
    range: { forward: forward.map((kv) => userName(kv.key)), reverse: reverse.map((kv) => userName(kv.key)) },
    counter: { transactions: counterTransactions, attempts: counterAttempts, finalCount },
    events: { written, listed, versionstamps },
    watch: { fired, firedEarly, order },
    reopen: {
      recovery,
      usersAfterReopen: after.users,
      balanceAfterReopen: after.balance,
      counterAfterReopen: after.counter,
      eventsAfterReopen: after.events,
    },
  };
}
