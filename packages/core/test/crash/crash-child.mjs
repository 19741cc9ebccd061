// A child process for the crash tests: it opens a Strata database on a real data directory and
// reports every acknowledged commit to its parent over the IPC channel, so the parent can kill it
// with SIGKILL at any moment and then check that nothing acknowledged was lost.
//
// Usage (always through child_process.fork with an IPC channel):
//   node crash-child.mjs <mode> <dataDir> [options as JSON]
// Modes:
//   bank        100 accounts (created once, in one transaction), then concurrent workers run
//               transfers forever; every transaction also writes a unique marker key
//               `ack/c<cycle>/w<worker>/<seq>` and adds 1 to the `count` key. Some transactions
//               also write a 100-key batch under `batch/c<cycle>/w<worker>/<seq>/`.
//   sequential  `count` commits one after another (one log frame each), then reports `done`
//               and idles until killed.
//   hold        opens the database, reports `ready` with its recovery report, then answers
//               `commit` (replies with the commit version), `read-version`, `read` (every key
//               under a prefix) and `close` requests from the parent,
//               so the parent can inspect a data directory without opening it itself.
// Every mode reports `{ type: 'open-failed', code, errno, message, details }` and exits 1 when
// open() fails, and `{ type: 'fatal', ... }` when a transaction fails unexpectedly.
import { open, prefixRange, seededRandom, utf8 } from '../../dist/index.js';

const [mode, dataDir, optionsJson] = process.argv.slice(2);
const options = JSON.parse(optionsJson ?? '{}');

if (typeof process.send !== 'function') {
  console.error('crash-child.mjs must be started with an IPC channel (child_process.fork)');
  process.exit(2);
}

// Resolves once the message is handed to the channel, so an acknowledgement reaches the parent
// before the worker goes on to its next transaction.
function send(message) {
  return new Promise((resolve, reject) => {
    process.send(message, (error) => (error ? reject(error) : resolve()));
  });
}

// If the parent goes away there is nobody to report to: stop at once.
process.on('disconnect', () => process.exit(3));

function describeError(error) {
  return {
    code: error?.code ?? null,
    errno: error?.errno ?? null,
    name: error?.name ?? null,
    message: String(error?.message ?? error),
    details: error?.details ?? null,
    stack: String(error?.stack ?? ''),
  };
}

async function fatal(error) {
  try {
    await send({ type: 'fatal', ...describeError(error) });
  } finally {
    process.exit(1);
  }
}

function int64(value) {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(BigInt(value));
  return new Uint8Array(bytes.buffer, bytes.byteOffset, 8);
}

function readInt64(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readBigInt64LE(0);
}

async function openDatabase() {
  const openOptions = { path: dataDir };
  if (options.mvccWindowMs !== undefined) openOptions.mvccWindowMs = options.mvccWindowMs;
  try {
    return await open(openOptions);
  } catch (error) {
    await send({ type: 'open-failed', ...describeError(error) });
    process.exit(1);
  }
}

async function runBank(db) {
  const accounts = options.accounts;
  const initialBalance = BigInt(options.initialBalance);
  const workers = options.workers ?? 8;
  const cycle = options.cycle;
  const seed = options.seed >>> 0;
  const accountKey = (i) => utf8(`acct/${String(i).padStart(3, '0')}`);
  const countKey = utf8('count');

  await db.transact(async (tx) => {
    if ((await tx.get(accountKey(0))) !== null) return;
    for (let i = 0; i < accounts; i++) tx.set(accountKey(i), int64(initialBalance));
  });

  const worker = async (w) => {
    const random = seededRandom((seed * 16 + w) >>> 0);
    for (let seq = 0; ; seq++) {
      const roll = random();
      // Mostly read-modify-write transfers, some with an atomic add on the receiving side, and
      // some big transactions so that kills land in the middle of large log writes.
      const kind = roll < 0.5 ? 'transfer' : roll < 0.9 ? 'transfer-add' : 'batch';
      const marker = `ack/c${cycle}/w${w}/${seq}`;
      const value = `${kind}:${cycle}:${w}:${seq}:${Math.floor(random() * 1e9).toString(36)}`;
      const from = Math.floor(random() * accounts);
      const to = (from + 1 + Math.floor(random() * (accounts - 1))) % accounts;
      const wanted = BigInt(1 + Math.floor(random() * 200));
      const fill = 'x'.repeat(150 + Math.floor(random() * 100));
      await db.transact(async (tx) => {
        const fromBalance = readInt64(await tx.get(accountKey(from)));
        const amount = wanted <= fromBalance ? wanted : fromBalance;
        tx.set(accountKey(from), int64(fromBalance - amount));
        if (kind === 'transfer') {
          const toBalance = readInt64(await tx.get(accountKey(to)));
          tx.set(accountKey(to), int64(toBalance + amount));
        } else {
          tx.add(accountKey(to), int64(amount));
        }
        if (kind === 'batch') {
          for (let i = 0; i < 100; i++) {
            tx.set(utf8(`batch/c${cycle}/w${w}/${seq}/${String(i).padStart(3, '0')}`), utf8(`${value}:${i}:${fill}`));
          }
        }
        tx.set(utf8(marker), utf8(value));
        tx.add(countKey, int64(1));
      });
      await send({ type: 'ack', key: marker, value });
    }
  };

  await Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
}

async function runSequential(db) {
  const prefix = options.prefix ?? 'seq';
  for (let i = 0; i < options.count; i++) {
    const id = `${prefix}/${String(i).padStart(5, '0')}`;
    const value = `${id}:${'v'.repeat(20 + (i % 7) * 10)}`;
    // Three keys per commit, so the tests can see that a frame is recovered whole or not at all.
    await db.transact((tx) => {
      tx.set(utf8(`${id}/a`), utf8(value));
      tx.set(utf8(`${id}/b`), utf8(value));
      tx.set(utf8(`${id}/c`), utf8(value));
    });
    await send({ type: 'ack', key: id, value });
  }
  await send({ type: 'done' });
  // Stay alive (without closing, so the log keeps everything) until the parent kills us.
  setInterval(() => {}, 60_000);
}

// Answers `{ id, cmd }` requests one at a time, in order, with `{ type: 'reply', id, ok, ... }`.
function runHold(db) {
  let queue = Promise.resolve();
  const handle = async (request) => {
    if (request.cmd === 'commit') {
      // `entries` is a list of [key, value] strings, all written in one transaction.
      // The parent is the only writer, so this transaction has nothing to conflict with.
      const tx = db.createTransaction();
      for (const [key, value] of request.entries) tx.set(utf8(key), utf8(value));
      await tx.commit();
      return { committedVersion: tx.getCommittedVersion() };
    }
    if (request.cmd === 'read-version') {
      return { readVersion: await db.createTransaction().getReadVersion() };
    }
    if (request.cmd === 'read') {
      const { begin, end } = prefixRange(utf8(request.prefix));
      const rows = await db.transact((tx) => tx.getRangeAll(begin, end));
      return { rows: rows.map(({ key, value }) => [Buffer.from(key).toString('latin1'), value]) };
    }
    if (request.cmd === 'close') {
      await db.close();
      return {};
    }
    throw new Error(`unknown command ${request.cmd}`);
  };
  process.on('message', (request) => {
    queue = queue.then(async () => {
      let reply;
      try {
        reply = { type: 'reply', id: request.id, ok: true, ...(await handle(request)) };
      } catch (error) {
        reply = { type: 'reply', id: request.id, ok: false, error: describeError(error) };
      }
      await send(reply);
      if (request.cmd === 'close' && reply.ok) process.exit(0);
    });
  });
}

const db = await openDatabase();
await send({ type: 'ready', recovery: db.recovery, pid: process.pid });
try {
  if (mode === 'bank') await runBank(db);
  else if (mode === 'sequential') await runSequential(db);
  else if (mode === 'hold') runHold(db);
  else throw new Error(`unknown mode ${mode}`);
} catch (error) {
  await fatal(error);
}
