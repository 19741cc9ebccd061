/**
 * The measurements of the core benchmark: one side (Strata or raw classic-level) of one case,
 * carried out by {@link runJob}, normally in a process of its own. What each case measures and
 * why is described in `core-bench.ts`.
 */
import { ClassicLevel } from 'classic-level';
import { limits, open, type Database } from '../index.js';
import {
  VALUE_BYTES,
  ValuePool,
  clientKey,
  compareBytes,
  makeRandom,
  randomKeys,
  runClosedLoop,
  runCounted,
  sleep,
  withScratchDirectory,
  type RunResult,
} from './bench-harness.js';
import type { BenchSettings } from './bench-settings.js';

type Level = ClassicLevel<Uint8Array, Uint8Array>;

/** Which database a job measures. */
export type Side = 'strata' | 'baseline';

/** One side of one case. */
export type BenchJob =
  | { kind: 'writes'; side: Side; clients: number }
  /** `sync` only matters for the baseline: Strata's commits are always durable. */
  | { kind: 'bulk'; side: Side; sync: boolean }
  | { kind: 'reads'; side: Side; reads: boolean; scans: boolean };

/** One side's result in one round. */
export interface Measurement {
  /** Operations (or keys) per second. */
  perSecond: number;
  elapsedMs: number;
  /** Process CPU microseconds (all threads) per operation (or key). */
  cpuUsPerOp: number;
}

/** A bulk load's result. */
export interface BulkMeasurement extends Measurement {
  /** Strata only: the load plus `db.close()`, which moves every version into classic-level. */
  includingClose?: Measurement;
}

/** What one side measured in one read session (a database loaded once, then read). */
export interface ReadSession {
  readsSequential?: Measurement;
  readsConcurrent?: Measurement;
  scans?: Measurement;
}

// Each benchmark's keys start with their own byte, so none starts with 0xFF (Strata's system
// keyspace) and a key can never be mistaken for another benchmark's.
const WRITE_TAG = 0x01;
const BULK_TAG = 0x02;
const READ_TAG = 0x03;

/** Keys per transaction (Strata) or batch (classic-level) when loading data for the read cases. */
const LOAD_BATCH_KEYS = 1_000;

const WINDOW_MS = (limits.MVCC_WINDOW_VERSIONS / limits.VERSIONS_PER_SECOND) * 1000;

/**
 * Whether a Strata write run lasts long enough for versions to leave the in-memory window for
 * classic-level during it.
 */
export function writeRunIncludesStorageFlushes(settings: BenchSettings): boolean {
  return (settings.seconds + settings.warmupSeconds) * 1000 > WINDOW_MS + limits.STORAGE_DURABILITY_INTERVAL_MS;
}

/**
 * Carries out one job in this process. Keys and values are derived from `settings.seed` alone,
 * so every process of a run uses the same data.
 */
export async function runJob(job: BenchJob, settings: BenchSettings): Promise<Measurement | BulkMeasurement | ReadSession> {
  // Separate generators per purpose keep each data set independent of which others were made.
  const values = new ValuePool(makeRandom(settings.seed));
  switch (job.kind) {
    case 'writes':
      return job.side === 'strata' ? strataWrites(settings, values, job.clients) : levelWrites(settings, values, job.clients);
    case 'bulk': {
      const keys = randomKeys(settings.bulkKeys, BULK_TAG, makeRandom(settings.seed + 1));
      return job.side === 'strata' ? strataBulk(settings, keys, values) : levelBulk(settings, keys, values, job.sync);
    }
    case 'reads': {
      const data = makeReadData(settings, values, makeRandom(settings.seed + 2));
      return readSession(settings, data, job.side, { reads: job.reads, scans: job.scans });
    }
  }
}

function measurement(operations: number, elapsedMs: number, cpuMs: number): Measurement {
  return {
    perSecond: elapsedMs > 0 ? (operations * 1000) / elapsedMs : 0,
    elapsedMs,
    cpuUsPerOp: operations > 0 ? (cpuMs * 1000) / operations : 0,
  };
}

function fromRun(run: RunResult, operations = run.operations): Measurement {
  return measurement(operations, run.elapsedMs, run.cpuMs);
}

function openLevel(directory: string): Promise<Level> {
  const level: Level = new ClassicLevel<Uint8Array, Uint8Array>(directory, { keyEncoding: 'view', valueEncoding: 'view' });
  return level.open().then(() => level);
}

/** Throws unless `value` is a stored benchmark value (the measured loops check at least this much). */
function checkValue(value: Uint8Array | null | undefined, what: string): Uint8Array {
  if (value === null || value === undefined || value.length !== VALUE_BYTES) {
    throw new Error(`benchmark read returned ${value === null || value === undefined ? 'nothing' : `${value.length} bytes`} for ${what}; the data is wrong`);
  }
  return value;
}

/** Throws unless `actual` holds exactly the bytes of `expected`. */
function checkSameBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (compareBytes(actual, expected) !== 0) throw new Error(`benchmark read returned the wrong bytes for ${what}`);
}

/** The first key after `key` in bytewise order: `key` followed by a zero byte. */
function keyAfter(key: Uint8Array): Uint8Array {
  const next = new Uint8Array(key.length + 1);
  next.set(key);
  return next;
}

// ---------------------------------------------------------------------------------------------
// writes

async function strataWrites(settings: BenchSettings, values: ValuePool, clients: number): Promise<Measurement> {
  return withScratchDirectory('writes-strata', settings.directory, async (directory) => {
    const db = await open({ path: directory });
    try {
      const run = await runClosedLoop({
        clients,
        durationMs: settings.seconds * 1000,
        warmupMs: settings.warmupSeconds * 1000,
        operation: (client, sequence) => db.transact((tx) => tx.set(clientKey(WRITE_TAG, client, sequence), values.value(sequence))),
      });
      return fromRun(run);
    } finally {
      await db.close();
    }
  });
}

async function levelWrites(settings: BenchSettings, values: ValuePool, clients: number): Promise<Measurement> {
  return withScratchDirectory('writes-level', settings.directory, async (directory) => {
    const level = await openLevel(directory);
    try {
      const run = await runClosedLoop({
        clients,
        durationMs: settings.seconds * 1000,
        warmupMs: settings.warmupSeconds * 1000,
        operation: (client, sequence) => level.put(clientKey(WRITE_TAG, client, sequence), values.value(sequence), { sync: true }),
      });
      return fromRun(run);
    } finally {
      await level.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// bulk

function bulkTransactionCount(settings: BenchSettings): number {
  return Math.ceil(settings.bulkKeys / settings.bulkTransactionKeys);
}

async function strataBulk(settings: BenchSettings, keys: readonly Uint8Array[], values: ValuePool): Promise<BulkMeasurement> {
  return withScratchDirectory('bulk-strata', settings.directory, async (directory) => {
    const db = await open({ path: directory });
    let closed = false;
    try {
      const size = settings.bulkTransactionKeys;
      const run = await runCounted({
        total: bulkTransactionCount(settings),
        clients: settings.bulkConcurrency,
        operation: (t) =>
          db.transact((tx) => {
            const end = Math.min((t + 1) * size, keys.length);
            for (let i = t * size; i < end; i++) tx.set(keys[i]!, values.value(i));
          }),
      });
      await verifyStrataSample(db, keys, values);
      const closeStart = performance.now();
      closed = true;
      await db.close();
      const closeMs = performance.now() - closeStart;
      // The close's CPU is not measured separately; only the rate including it is reported.
      return { ...fromRun(run, keys.length), includingClose: measurement(keys.length, run.elapsedMs + closeMs, run.cpuMs) };
    } finally {
      if (!closed) await db.close();
    }
  });
}

// A wrong load would make the figure meaningless, so a sample of keys is read back (outside the
// measured time) before the database closes.
async function verifyStrataSample(db: Database, keys: readonly Uint8Array[], values: ValuePool): Promise<void> {
  const step = Math.max(1, Math.floor(keys.length / 100));
  await db.transact(async (tx) => {
    for (let i = 0; i < keys.length; i += step) checkSameBytes(checkValue(await tx.get(keys[i]!), `bulk key ${i}`), values.value(i), `bulk key ${i}`);
  });
}

async function levelBulk(settings: BenchSettings, keys: readonly Uint8Array[], values: ValuePool, sync: boolean): Promise<BulkMeasurement> {
  return withScratchDirectory(`bulk-level-${sync ? 'sync' : 'nosync'}`, settings.directory, async (directory) => {
    const level = await openLevel(directory);
    try {
      const size = settings.bulkTransactionKeys;
      const run = await runCounted({
        total: bulkTransactionCount(settings),
        clients: settings.bulkConcurrency,
        operation: (t) => {
          const end = Math.min((t + 1) * size, keys.length);
          const operations: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
          for (let i = t * size; i < end; i++) operations.push({ type: 'put', key: keys[i]!, value: values.value(i) });
          return level.batch(operations, { sync });
        },
      });
      const step = Math.max(1, Math.floor(keys.length / 100));
      for (let i = 0; i < keys.length; i += step) checkSameBytes(checkValue(await level.get(keys[i]!), `bulk key ${i}`), values.value(i), `bulk key ${i}`);
      return fromRun(run, keys.length);
    } finally {
      await level.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// reads and scans

/** Keys, values and the random choices of the read benchmarks, the same for both sides. */
interface ReadData {
  keys: Uint8Array[];
  values: ValuePool;
  /** The keys in ascending order, for choosing scan start keys. */
  sorted: Uint8Array[];
  /** For each measured get, the index of the key it reads. */
  getIndices: Uint32Array;
  /** For each measured scan, the index in `sorted` of its start key. */
  scanStarts: Uint32Array;
  /** The end of the benchmark's key range (exclusive). */
  rangeEnd: Uint8Array;
}

function makeReadData(settings: BenchSettings, values: ValuePool, random: () => number): ReadData {
  const keys = randomKeys(settings.readKeys, READ_TAG, random);
  const sorted = [...keys].sort(compareBytes);
  const getIndices = new Uint32Array(settings.readOps);
  for (let i = 0; i < getIndices.length; i++) getIndices[i] = Math.floor(random() * keys.length);
  // Starts are drawn so that at least `scanKeys` keys follow each one: every scan is full length.
  const scanStarts = new Uint32Array(settings.scanOps);
  const startChoices = keys.length - settings.scanKeys + 1;
  for (let i = 0; i < scanStarts.length; i++) scanStarts[i] = Math.floor(random() * startChoices);
  return { keys, values, sorted, getIndices, scanStarts, rangeEnd: new Uint8Array([READ_TAG + 1]) };
}

/** How one side reads: the operations a read session times, and how it loads and settles. */
interface ReadSide {
  load(): Promise<void>;
  settle(): Promise<void>;
  /** Reads every key once, checking its value. */
  warmGets(): Promise<void>;
  /** Reads the whole key range in one go, returning the keys in order. */
  scanAll(): Promise<Uint8Array[]>;
  /** Reads the keys of `getIndices[from, to)`, each awaited before the next. */
  readGroup(from: number, to: number): Promise<void>;
  /** Reads up to `count` keys from `begin` on: the measured scan operation. */
  scan(begin: Uint8Array, count: number): Promise<Uint8Array[]>;
  close(): Promise<void>;
}

async function readSession(settings: BenchSettings, data: ReadData, which: Side, wanted: { reads: boolean; scans: boolean }): Promise<ReadSession> {
  return withScratchDirectory(`reads-${which === 'strata' ? 'strata' : 'level'}`, settings.directory, async (directory) => {
    const side = which === 'strata' ? strataReadSide(settings, data, directory) : levelReadSide(settings, data, directory);
    try {
      return await runReadSession(settings, data, side, wanted);
    } finally {
      await side.close();
    }
  });
}

async function runReadSession(settings: BenchSettings, data: ReadData, side: ReadSide, wanted: { reads: boolean; scans: boolean }): Promise<ReadSession> {
  await side.load();
  await side.settle();
  await side.warmGets();
  await warmScans(settings, data, side);
  const session: ReadSession = {};
  const perGroup = settings.readsPerTransaction;
  const groups = Math.ceil(settings.readOps / perGroup);
  const readWith = async (clients: number): Promise<Measurement> => {
    const run = await runCounted({
      total: groups,
      clients,
      operation: (g) => side.readGroup(g * perGroup, Math.min((g + 1) * perGroup, settings.readOps)),
    });
    return fromRun(run, settings.readOps);
  };
  if (wanted.reads) {
    session.readsSequential = await readWith(1);
    if (settings.readers > 1) session.readsConcurrent = await readWith(settings.readers);
  }
  if (wanted.scans) {
    const run = await runCounted({
      total: settings.scanOps,
      clients: 1,
      operation: async (i) => {
        const keys = await side.scan(data.sorted[data.scanStarts[i]!]!, settings.scanKeys);
        if (keys.length !== settings.scanKeys) throw new Error(`a scan returned ${keys.length} keys, expected ${settings.scanKeys}`);
      },
    });
    session.scans = fromRun(run, settings.scanOps * settings.scanKeys);
  }
  return session;
}

/**
 * Reads the whole key range once and checks it holds exactly the loaded keys in order.
 *
 * @remarks
 * With `chunks` (the default) the range is walked with the measured operation itself, scans of
 * `scanKeys` keys each starting after the last key of the one before. With `full` it is read by
 * one range read; in Strata that single large read makes every later small scan in the process
 * markedly slower (V8 starts allocating the range-read path's objects straight into the old
 * generation after seeing thousands of them survive), so `full` is there to reproduce that
 * effect, not to measure the steady state.
 */
async function warmScans(settings: BenchSettings, data: ReadData, side: ReadSide): Promise<void> {
  let found: Uint8Array[];
  if (settings.scanWarmup === 'full') found = await side.scanAll();
  else {
    found = [];
    let begin = data.sorted[0]!;
    // Bounded by the key count: each pass either adds `scanKeys` keys or ends the walk.
    for (;;) {
      const keys = await side.scan(begin, settings.scanKeys);
      found.push(...keys);
      if (keys.length < settings.scanKeys) break;
      begin = keyAfter(keys[keys.length - 1]!);
    }
  }
  if (found.length !== data.sorted.length) throw new Error(`a full scan found ${found.length} keys, expected ${data.sorted.length}`);
  for (let i = 0; i < found.length; i++) checkSameBytes(found[i]!, data.sorted[i]!, `scan position ${i}`);
}

function strataReadSide(settings: BenchSettings, data: ReadData, directory: string): ReadSide {
  let db: Database | null = null;
  const database = (): Database => {
    if (db === null) throw new Error('the Strata benchmark database is not open');
    return db;
  };
  return {
    async load() {
      db = await open({ path: directory });
      for (let from = 0; from < data.keys.length; from += LOAD_BATCH_KEYS) {
        const to = Math.min(from + LOAD_BATCH_KEYS, data.keys.length);
        await database().transact((tx) => {
          for (let i = from; i < to; i++) tx.set(data.keys[i]!, data.values.value(i));
        });
      }
    },
    async settle() {
      if (settings.readState === 'reopen') {
        await database().close();
        db = await open({ path: directory });
      } else {
        // Versions leave the window once older than it, at the next durability interval; two
        // intervals of slack make sure the last load transaction has moved too.
        await sleep(WINDOW_MS + 2 * limits.STORAGE_DURABILITY_INTERVAL_MS + 100);
      }
    },
    async warmGets() {
      const db = database();
      for (let from = 0; from < data.keys.length; from += LOAD_BATCH_KEYS) {
        const to = Math.min(from + LOAD_BATCH_KEYS, data.keys.length);
        await db.transact(async (tx) => {
          for (let i = from; i < to; i++) checkSameBytes(checkValue(await tx.get(data.keys[i]!), `key ${i}`), data.values.value(i), `key ${i}`);
        });
      }
    },
    async scanAll() {
      const rows = await database().transact((tx) => tx.getRangeAll(data.sorted[0]!, data.rangeEnd));
      return rows.map((row) => row.key);
    },
    readGroup(from, to) {
      return database().transact(async (tx) => {
        for (let i = from; i < to; i++) checkValue(await tx.get(data.keys[data.getIndices[i]!]!), 'a measured get');
      });
    },
    async scan(begin, count) {
      const rows = await database().transact((tx) => tx.getRangeAll(begin, data.rangeEnd, { limit: count }));
      return rows.map((row) => row.key);
    },
    async close() {
      if (db !== null) await db.close();
      db = null;
    },
  };
}

function levelReadSide(settings: BenchSettings, data: ReadData, directory: string): ReadSide {
  let level: Level | null = null;
  const database = (): Level => {
    if (level === null) throw new Error('the classic-level benchmark database is not open');
    return level;
  };
  return {
    async load() {
      level = await openLevel(directory);
      for (let from = 0; from < data.keys.length; from += LOAD_BATCH_KEYS) {
        const to = Math.min(from + LOAD_BATCH_KEYS, data.keys.length);
        const operations: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
        for (let i = from; i < to; i++) operations.push({ type: 'put', key: data.keys[i]!, value: data.values.value(i) });
        await database().batch(operations, { sync: true });
      }
    },
    async settle() {
      // LevelDB has no in-memory window to wait out; reopening turns its log into a table file,
      // the counterpart of Strata's reopen.
      if (settings.readState === 'reopen') {
        await database().close();
        level = await openLevel(directory);
      }
    },
    async warmGets() {
      const level = database();
      for (let i = 0; i < data.keys.length; i++) checkSameBytes(checkValue(await level.get(data.keys[i]!), `key ${i}`), data.values.value(i), `key ${i}`);
    },
    async scanAll() {
      const entries = await database().iterator({ gte: data.sorted[0]!, lt: data.rangeEnd }).all();
      return entries.map((entry) => entry[0]);
    },
    async readGroup(from, to) {
      const level = database();
      for (let i = from; i < to; i++) checkValue(await level.get(data.keys[data.getIndices[i]!]!), 'a measured get');
    },
    async scan(begin, count) {
      const iterator = database().iterator({ gte: begin, limit: count });
      try {
        const keys: Uint8Array[] = [];
        // nextv may return fewer entries than asked for (it caps the bytes per call), so it is
        // called until the scan is complete; each call returns at least one entry or ends it.
        while (keys.length < count) {
          const entries = await iterator.nextv(count - keys.length);
          if (entries.length === 0) break;
          for (const entry of entries) keys.push(entry[0]);
        }
        return keys;
      } finally {
        await iterator.close();
      }
    },
    async close() {
      if (level !== null) await level.close();
      level = null;
    },
  };
}
