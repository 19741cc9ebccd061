// Proves that a storage server answers every read inside its window (one key, several at once, a
// range) exactly as a model that keeps the full history of every version would, over a MemoryEngine
// and a real LevelEngine directory, while versions move into the engine underneath concurrent
// reads; that reads outside the window fail with transaction_too_old / future_version; that watches
// fire on real changes only; and that a closed server's LevelEngine directory serves the same data
// to a new server.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StrataError } from '../api/errors.js';
import { MutationType, type Mutation } from '../api/mutation.js';
import { FUTURE_VERSION_WAIT_MS } from '../limits.js';
import { ManualRuntime } from '../runtime/manual-runtime.js';
import { seededRandom } from '../runtime/runtime.js';
import { LevelEngine } from '../storage/level-engine.js';
import { MemoryEngine, type StorageEngine } from '../storage/storage-engine.js';
import { AssertionError } from '../util/assert.js';
import type { KeyString } from '../util/bytes.js';
import { StorageServer, type StorageRangeResult } from './storage-server.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

// ------------------------------------------------------------------------------------------------
// The reference: the full state after every version, and atomic ops written from their definitions.

type State = Map<KeyString, Uint8Array>;

function referenceAtomic(type: number, existing: Uint8Array | null, operand: Uint8Array): Uint8Array | null {
  if (type === MutationType.compareAndClear) {
    if (existing === null) return null;
    return Buffer.from(existing).equals(Buffer.from(operand)) ? null : existing;
  }
  if (existing === null) return operand;
  // Little-endian integers of the operand's length: the stored value is truncated or zero-extended.
  const fitted = Uint8Array.from({ length: operand.length }, (_, i) => (i < existing.length ? existing[i]! : 0));
  const asBigInt = (bytes: Uint8Array): bigint => bytes.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n);
  const fromBigInt = (n: bigint, length: number): Uint8Array =>
    Uint8Array.from({ length }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn));
  switch (type) {
    case MutationType.add:
      return fromBigInt(asBigInt(fitted) + asBigInt(operand), operand.length);
    case MutationType.max:
      return asBigInt(fitted) >= asBigInt(operand) ? fitted : operand;
    case MutationType.bitXor:
      return fitted.map((byte, i) => byte ^ operand[i]!);
    case MutationType.byteMin:
      return Buffer.compare(Buffer.from(existing), Buffer.from(operand)) <= 0 ? existing : operand;
    case MutationType.appendIfFits:
      return existing.length + operand.length > 100_000 ? existing : Uint8Array.from([...existing, ...operand]);
    default:
      throw new Error(`no reference for atomic op ${type}`);
  }
}

class Model {
  readonly versions: number[];
  readonly states: State[];
  constructor(version = 0, state: State = new Map()) {
    this.versions = [version];
    this.states = [state];
  }
  get version(): number {
    return this.versions.at(-1)!;
  }
  apply(version: number, mutations: readonly Mutation[]): void {
    const state = new Map(this.states.at(-1)!);
    for (const m of mutations) {
      if (m.type === MutationType.set) state.set(m.key, m.param as Uint8Array);
      else if (m.type === MutationType.clear) state.delete(m.key);
      else if (m.type === MutationType.clearRange) {
        for (const key of [...state.keys()]) if (key >= m.key && key < (m.param as string)) state.delete(key);
      } else {
        const value = referenceAtomic(m.type, state.get(m.key) ?? null, m.param as Uint8Array);
        if (value === null) state.delete(m.key);
        else state.set(m.key, value);
      }
    }
    this.versions.push(version);
    this.states.push(state);
  }
  at(version: number): State {
    let lo = 0;
    let hi = this.versions.length - 1;
    if (version < this.versions[0]!) throw new Error(`model has no version ${version}`);
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.versions[mid]! <= version) lo = mid;
      else hi = mid - 1;
    }
    return this.states[lo]!;
  }
  get(key: KeyString, version: number): Uint8Array | null {
    return this.at(version).get(key) ?? null;
  }
  range(begin: KeyString, end: KeyString, version: number, reverse: boolean): [KeyString, Uint8Array][] {
    const entries = [...this.at(version).entries()].filter(([key]) => key >= begin && key < end);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (reverse) entries.reverse();
    return entries;
  }
  /** Forgets states no read can reach any more (everything before the one covering `version`). */
  forgetBefore(version: number): void {
    let keep = 0;
    while (keep + 1 < this.versions.length && this.versions[keep + 1]! <= version) keep++;
    this.versions.splice(0, keep);
    this.states.splice(0, keep);
  }
}

// ------------------------------------------------------------------------------------------------
// Helpers

const hex = (value: Uint8Array | null | undefined): string => (value == null ? 'null' : Buffer.from(value).toString('hex'));
const showKey = (key: KeyString): string => JSON.stringify(key);
const renderEntries = (entries: readonly [KeyString, Uint8Array][]): string => entries.map(([k, v]) => `${showKey(k)}=${hex(v)}`).join(' ');
const renderMutation = (m: Mutation): string => {
  const name = Object.entries(MutationType).find(([, code]) => code === m.type)![0];
  const param = m.param === null ? '' : typeof m.param === 'string' ? showKey(m.param) : hex(m.param);
  return `${name}(${showKey(m.key)}${param === '' ? '' : ', ' + param})`;
};

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Waits (bounded) until `condition` holds, letting engine reads and promise chains run. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 10_000 && !condition(); i++) await settle();
  if (!condition()) throw new Error(`never happened: ${what}`);
}

/**
 * Lets every engine read already issued finish: LevelDB answers on its own threads, so a few turns
 * of the event loop plus full engine round trips come after them.
 */
async function quiesce(server: StorageServer): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await settle();
    await server.getRange('', '\xff\xff', server.version, 1_000, false);
  }
}

async function caught(read: () => unknown): Promise<unknown> {
  try {
    await read();
    return null;
  } catch (error) {
    return error;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  // Every cleanup runs (servers close before their directories go), even when one of them fails.
  const errors: unknown[] = [];
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      errors.push(error);
    }
  }
  if (errors.length > 0) throw errors[0];
});

function tempDirectory(): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-storage-test-'));
  cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
  return directory;
}

type EngineKind = 'MemoryEngine' | 'LevelEngine';

async function openEngine(kind: EngineKind, directory?: string): Promise<StorageEngine> {
  return kind === 'MemoryEngine' ? new MemoryEngine() : LevelEngine.open(directory ?? tempDirectory());
}

// ------------------------------------------------------------------------------------------------
// The randomized model test

interface Workload {
  random: () => number;
  keys: KeyString[];
}

function makeWorkload(seed: number): Workload {
  const random = seededRandom(seed);
  // Few, short keys with the extreme bytes, so clears, ranges and atomic ops keep colliding.
  const alphabet = ['\x00', 'a', 'b', 'c', '\xff'];
  const keys: KeyString[] = [];
  for (const a of alphabet) {
    keys.push(a);
    for (const b of alphabet) {
      keys.push(a + b);
      for (const c of ['\x00', 'b', '\xff']) keys.push(a + b + c);
    }
  }
  keys.sort();
  return { random, keys };
}

function randomValue(random: () => number, maxLength = 4): Uint8Array {
  return Uint8Array.from({ length: Math.floor(random() * (maxLength + 1)) }, () => Math.floor(random() * 256));
}

function randomBatch(w: Workload, model: Model): Mutation[] {
  const { random, keys } = w;
  if (random() < 0.1) return [];
  const key = (): KeyString => keys[Math.floor(random() * keys.length)]!;
  const mutations: Mutation[] = [];
  for (let i = 1 + Math.floor(random() * 6); i > 0; i--) {
    const r = random();
    const k = key();
    if (r < 0.35) mutations.push({ type: MutationType.set, key: k, param: randomValue(random) });
    else if (r < 0.45) mutations.push({ type: MutationType.clear, key: k, param: null });
    else if (r < 0.55) {
      let [begin, end] = [key(), key()];
      if (random() < 0.1) begin = '';
      if (random() < 0.1) end = '\xff\xff\xff\xff';
      if (begin > end) [begin, end] = [end, begin];
      if (begin === end) end = begin + '\x00';
      mutations.push({ type: MutationType.clearRange, key: begin, param: end });
    } else if (r < 0.67) mutations.push({ type: MutationType.add, key: k, param: randomValue(random, 3) });
    else if (r < 0.77) mutations.push({ type: MutationType.max, key: k, param: randomValue(random, 3) });
    else if (r < 0.85) mutations.push({ type: MutationType.appendIfFits, key: k, param: randomValue(random, 2) });
    else if (r < 0.93) {
      // Half the time the operand equals the current value, so the clear really happens.
      const current = model.states.at(-1)!.get(k);
      mutations.push({ type: MutationType.compareAndClear, key: k, param: current !== undefined && random() < 0.5 ? current : randomValue(random, 2) });
    } else if (r < 0.97) mutations.push({ type: MutationType.bitXor, key: k, param: randomValue(random, 3) });
    else mutations.push({ type: MutationType.byteMin, key: k, param: randomValue(random, 3) });
  }
  // An add with an empty operand is legal but degenerate; give it one byte.
  return mutations.map((m) => (m.type === MutationType.add && (m.param as Uint8Array).length === 0 ? { ...m, param: new Uint8Array([1]) } : m));
}

interface Read {
  description: string;
  version: number;
  run: () => unknown;
  /** Returns a mismatch description, or null when `result` is right. */
  check: (result: unknown) => string | null;
}

function randomRead(w: Workload, model: Model, server: StorageServer, version: number): Read {
  const { random, keys } = w;
  const pick = random();
  if (pick < 0.15) {
    // Several keys at once (some twice, some never written): each as a get would answer it.
    const many = Array.from({ length: 1 + Math.floor(random() * 12) }, () => (random() < 0.9 ? keys[Math.floor(random() * keys.length)]! : 'zz'));
    const expected = many.map((key) => hex(model.get(key, version))).join(' ');
    return {
      description: `getMany(${many.map(showKey).join(', ')}; ${version})`,
      version,
      run: () => server.getMany(many, version),
      check: (result) => {
        const got = (result as (Uint8Array | null)[]).map(hex).join(' ');
        return got === expected ? null : `expected ${expected}, got ${got}`;
      },
    };
  }
  if (pick < 0.6) {
    const key = random() < 0.9 ? keys[Math.floor(random() * keys.length)]! : 'zz';
    const expected = model.get(key, version);
    return {
      description: `get(${showKey(key)}, ${version})`,
      version,
      run: () => server.get(key, version),
      check: (result) => (hex(result as Uint8Array | null) === hex(expected) ? null : `expected ${hex(expected)}, got ${hex(result as Uint8Array | null)}`),
    };
  }
  let begin = random() < 0.1 ? '' : keys[Math.floor(random() * keys.length)]!;
  let end = random() < 0.1 ? '\xff\xff\xff\xff\xff' : keys[Math.floor(random() * keys.length)]!;
  if (begin > end && random() < 0.9) [begin, end] = [end, begin];
  const limit = random() < 0.3 ? 1000 : 1 + Math.floor(random() * 8);
  const reverse = random() < 0.5;
  const all = begin < end ? model.range(begin, end, version, reverse) : [];
  const expected = all.slice(0, limit);
  return {
    description: `getRange(${showKey(begin)}, ${showKey(end)}, ${version}, limit ${limit}, ${reverse ? 'reverse' : 'forward'})`,
    version,
    run: () => server.getRange(begin, end, version, limit, reverse),
    check: (result) => {
      const { entries, more } = result as StorageRangeResult;
      if (renderEntries(entries) !== renderEntries(expected)) return `expected [${renderEntries(expected)}], got [${renderEntries(entries)}]`;
      // `more` must be set when entries were left out, and clear when fewer than the limit exist.
      if (all.length > limit && !more) return `more is false but ${all.length - limit} entries were left out`;
      if (all.length < limit && more) return 'more is true but every entry was returned';
      return null;
    },
  };
}

/**
 * `sparseReads`: reads follow only about one batch in ten, so many keys are written and move into the
 * engine between two range reads (the ordered index of the window's keys is built lazily, by reads).
 */
async function runModelTest(kind: EngineKind, seed: number, batches: number, options: { sparseReads?: boolean } = {}): Promise<void> {
  const w = makeWorkload(seed);
  const { random } = w;
  const windowVersions = 10 + Math.floor(random() * 20);
  const cacheBytes = [0, 600, 64 << 20][Math.floor(random() * 3)]!;
  const directory = kind === 'LevelEngine' ? tempDirectory() : undefined;
  const runtime = new ManualRuntime();
  const durable: number[] = [];
  let failure: unknown = null;
  const server = new StorageServer({
    runtime,
    engine: await openEngine(kind, directory),
    windowVersions,
    cacheBytes,
    durabilityIntervalMs: 250,
    onDurable: (version) => durable.push(version),
    onFailure: (error) => (failure = error),
  });
  const model = new Model();
  const history: string[] = [];
  const stats = { reads: 0, tooOld: 0, concurrent: 0, flushes: 0 };
  let expectedDurable = 0;
  // The newest version applied (published), and the batches staged above it, not yet applied.
  let version = 0;
  let lastVersion = 0;
  const staged: { version: number; mutations: Mutation[] }[] = [];

  const fail = (message: string): never => {
    throw new Error(
      `${kind} SEED=${seed} window ${windowVersions} cacheBytes ${cacheBytes}: ${message}\n` +
        `durable ${server.durableVersion}, applied ${server.version}; last operations:\n  ${history.slice(-40).join('\n  ')}`,
    );
  };
  const newBatch = (): { version: number; mutations: Mutation[] } => {
    lastVersion += 1 + Math.floor(random() * 3);
    return { version: lastVersion, mutations: randomBatch(w, model) };
  };
  // Applies the next batch; half the time one to three batches are staged ahead of it first, as
  // the log does while their writes are under way (the reads and flushes must not see them).
  const applyBatch = (): void => {
    if (random() < 0.5) {
      for (let n = 1 + Math.floor(random() * 3); n > 0; n--) {
        const batch = newBatch();
        server.stage(batch);
        staged.push(batch);
        history.push(`stage @${batch.version}: ${batch.mutations.map(renderMutation).join(' ') || '(empty)'}`);
      }
    }
    const wasStaged = staged.length > 0;
    const batch = staged.shift() ?? newBatch();
    model.apply(batch.version, batch.mutations);
    server.apply(batch);
    version = batch.version;
    history.push(`apply @${version}${wasStaged ? ' (staged)' : `: ${batch.mutations.map(renderMutation).join(' ') || '(empty)'}`}`);
  };
  const moveDurable = (target: number): void => {
    if (Math.min(target, version) > expectedDurable) {
      expectedDurable = Math.min(target, version);
      stats.flushes++;
    }
  };
  const readableVersion = (): number => server.oldestVersion + Math.floor(random() * (version - server.oldestVersion + 1));
  const verify = async (read: Read): Promise<void> => {
    stats.reads++;
    let result: unknown;
    try {
      result = await read.run();
    } catch (error) {
      fail(`${read.description} threw ${String(error)}`);
    }
    const mismatch = read.check(result);
    if (mismatch !== null) fail(`${read.description}: ${mismatch}`);
  };

  for (let i = 0; i < batches; i++) {
    applyBatch();

    const r = random();
    if (r < 0.12) {
      history.push(`makeDurable(${version - windowVersions})`);
      moveDurable(version - windowVersions);
      await server.makeDurable(version - windowVersions);
    } else if (r < 0.16) {
      const target = expectedDurable + 1 + Math.floor(random() * (version - expectedDurable));
      history.push(`makeDurable(${target})`);
      moveDurable(target);
      await server.makeDurable(target);
    } else if (r < 0.19) {
      // The server's own durability timer: it moves what fell out of the window.
      history.push(`durability timer (makeDurable(${version - windowVersions}))`);
      moveDurable(version - windowVersions);
      runtime.advance(250);
      await server.makeDurable(-1); // waits for the timer's flushes and sync
      await settle(); // and for the timer to be set again
    }
    if (server.durableVersion !== expectedDurable) fail(`durable version ${server.durableVersion}, expected ${expectedDurable}`);
    if (server.oldestVersion !== Math.max(expectedDurable, version - windowVersions)) fail(`oldest version ${server.oldestVersion}`);
    model.forgetBefore(server.oldestVersion);

    if (options.sparseReads !== true || random() < 0.1) {
      for (let j = 0; j < 4; j++) await verify(randomRead(w, model, server, readableVersion()));
    }

    if (server.oldestVersion > 0 && random() < 0.15) {
      const tooOld = Math.max(0, server.oldestVersion - 1 - Math.floor(random() * 3));
      stats.tooOld++;
      for (const read of [
        () => server.get(w.keys[0]!, tooOld),
        () => server.getMany([w.keys[0]!, w.keys[1]!], tooOld),
        () => server.getRange('', '\xff', tooOld, 10, random() < 0.5),
      ]) {
        const error = await caught(read);
        if (!(error instanceof StrataError) || error.code !== 'transaction_too_old') fail(`read at ${tooOld} < oldest ${server.oldestVersion} gave ${String(error)}`);
      }
    }

    if (random() < 0.08) {
      // Reads started before a flush, and others started while it runs, with batches applied in between.
      stats.concurrent++;
      type Outcome = { status: 'fulfilled'; value: unknown } | { status: 'rejected'; reason: unknown };
      const started: { read: Read; before: boolean; promise: Promise<Outcome> }[] = [];
      const start = (count: number, before: boolean): void => {
        for (let j = 0; j < count; j++) {
          const read = randomRead(w, model, server, readableVersion());
          // Settled into a value at once, so a rejection is never unhandled while the flush is awaited.
          const promise = (async () => read.run())().then(
            (value) => ({ status: 'fulfilled' as const, value }),
            (reason: unknown) => ({ status: 'rejected' as const, reason }),
          );
          started.push({ read, before, promise });
        }
      };
      start(2 + Math.floor(random() * 4), true);
      for (let j = Math.floor(random() * 3); j > 0; j--) applyBatch();
      const choice = random();
      const target = choice < 0.4 ? version - windowVersions : choice < 0.7 ? version : expectedDurable + Math.floor(random() * (version - expectedDurable + 1));
      history.push(`concurrent makeDurable(${target}) with ${started.length} reads in flight`);
      moveDurable(target);
      const flush = server.makeDurable(target);
      start(2 + Math.floor(random() * 4), false);
      for (let j = Math.floor(random() * 3); j > 0; j--) applyBatch();
      await flush;
      const outcomes = await Promise.all(started.map((s) => s.promise));
      for (const [j, outcome] of outcomes.entries()) {
        const { read, before } = started[j]!;
        stats.reads++;
        if (outcome.status === 'fulfilled') {
          const mismatch = read.check(outcome.value);
          if (mismatch !== null) fail(`concurrent ${read.description} (started ${before ? 'before' : 'during'} the flush): ${mismatch}`);
        } else {
          // Only transaction_too_old, and only for a read whose version left the readable window while
          // it ran: through batches applied meanwhile (the window slides), or, for a read that had not
          // reached the engine yet, through the flush. The flush alone must not fail a read started before it.
          const error = outcome.reason;
          const oldest = before ? server.version - windowVersions : server.oldestVersion;
          const tolerated = error instanceof StrataError && error.code === 'transaction_too_old' && read.version < oldest;
          if (!tolerated) fail(`concurrent ${read.description} (started ${before ? 'before' : 'during'} the flush) threw ${String(error)}`);
        }
      }
    }
    if (failure !== null) fail(`server failed: ${String(failure)}`);
  }

  expect(durable).toEqual([...durable].sort((a, b) => a - b));
  expect(new Set(durable).size).toBe(durable.length);
  expect(durable.at(-1) ?? 0).toBe(server.durableVersion);
  console.log(`${kind} SEED=${seed}: ${batches} batches, window ${windowVersions}, cacheBytes ${cacheBytes}, ${JSON.stringify(stats)}`);
  // The run is only meaningful if versions really moved into the engine under the reads.
  expect(stats.flushes).toBeGreaterThan(batches / 20);
  expect(stats.concurrent).toBeGreaterThan(0);

  if (kind === 'LevelEngine') {
    // close() moves every applied version to the engine; a new server over the directory serves it.
    await server.close();
    const reopened = new StorageServer({ runtime, engine: await LevelEngine.open(directory!), windowVersions });
    cleanups.push(() => reopened.close());
    expect(reopened.durableVersion).toBe(version);
    expect(reopened.version).toBe(version);
    expect(reopened.oldestVersion).toBe(version);
    const all = await reopened.getRange('', '\xff\xff\xff\xff\xff', version, 10_000, false);
    expect(renderEntries(all.entries)).toBe(renderEntries(model.range('', '\xff\xff\xff\xff\xff', version, false)));
    for (const key of w.keys) expect(hex(await reopened.get(key, version)), showKey(key)).toBe(hex(model.get(key, version)));
    await expect(caught(() => reopened.get('a', version - 1))).resolves.toMatchObject({ code: 'transaction_too_old' });
    // Versions continue above the durable version.
    reopened.apply({ version: version + 1, mutations: [{ type: MutationType.add, key: 'a', param: new Uint8Array([1, 0]) }] });
    const expectedA = referenceAtomic(MutationType.add, model.get('a', version), new Uint8Array([1, 0]));
    expect(hex(await reopened.get('a', version + 1))).toBe(hex(expectedA));
  } else {
    await server.close();
  }
}

describe('StorageServer against a full-history model (randomized)', () => {
  it('MemoryEngine', async () => {
    console.log(`storage-server MemoryEngine SEED=${SEED}`);
    await runModelTest('MemoryEngine', SEED, 3000);
  });

  it('MemoryEngine with reads after few batches', async () => {
    console.log(`storage-server MemoryEngine sparse reads SEED=${SEED}`);
    await runModelTest('MemoryEngine', SEED + 3, 3000, { sparseReads: true });
  });

  it('LevelEngine in a temp directory, then reopened', async () => {
    console.log(`storage-server LevelEngine SEED=${SEED}`);
    await runModelTest('LevelEngine', SEED + 1, 1200);
  });
});

// ------------------------------------------------------------------------------------------------

describe.each(['MemoryEngine', 'LevelEngine'] as const)('StorageServer on %s', (kind) => {
  async function newServer(windowVersions = 1_000): Promise<{ server: StorageServer; runtime: ManualRuntime }> {
    const runtime = new ManualRuntime();
    const server = new StorageServer({ runtime, engine: await openEngine(kind), windowVersions });
    cleanups.push(() => server.close());
    return { server, runtime };
  }
  const set = (key: KeyString, ...bytes: number[]): Mutation => ({ type: MutationType.set, key, param: new Uint8Array(bytes) });

  it('reads started before makeDurable and finishing after it see their own version', async () => {
    console.log(`storage-server concurrent SEED=${SEED}`);
    const random = seededRandom(SEED + 2);
    const { server } = await newServer(1_000_000);
    const model = new Model();
    const KEYS = 5_000;
    const key = (i: number): KeyString => `k${String(i).padStart(5, '0')}`;
    // Many durable keys: a full range read takes several engine cursor batches (1,024 rows each), so
    // it keeps reading its engine snapshot after the flush has committed, while the window entries it
    // still needs wait for it to finish before they are pruned.
    let version = 10;
    const base: Mutation[] = Array.from({ length: KEYS }, (_, i) => set(key(i), i & 0xff, i >> 8));
    model.apply(version, base);
    server.apply({ version, mutations: base });
    await server.makeDurable(version);
    const change = (rich: boolean): Mutation[] => {
      const out: Mutation[] = [];
      for (let j = 0; j < 300; j++) {
        const k = key(Math.floor(random() * (KEYS + 100)));
        const r = random();
        if (r < 0.6 || !rich) out.push(r < 0.3 ? { type: MutationType.clear, key: k, param: null } : set(k, Math.floor(random() * 256)));
        else if (r < 0.9) out.push({ type: MutationType.add, key: k, param: new Uint8Array([1, 0, 0]) });
        else {
          // A range clear, then a set inside it in the same batch.
          const end = key(Math.floor(random() * (KEYS + 100)));
          if (k < end) out.push({ type: MutationType.clearRange, key: k, param: end }, set(k, 0xee));
        }
      }
      return out;
    };
    const applyChange = (rich: boolean): void => {
      const mutations = change(rich);
      model.apply(++version, mutations);
      server.apply({ version, mutations });
    };
    const check = async (what: string, promise: Promise<string>, expected: string): Promise<void> => {
      expect(await promise, `${what} (SEED=${SEED})`).toBe(expected);
    };
    for (let round = 0; round < 6; round++) {
      // Even rounds hold only sets and clears, so the flush computes its writes without awaiting
      // the engine and commits while the range reads below are still running.
      const rich = round % 2 === 1;
      const first = version + 1;
      for (let j = 0; j < 5; j++) applyChange(rich);
      const reads: Promise<void>[] = [];
      for (const v of [first - 1, first, first + 2, version]) {
        for (const reverse of [false, true]) {
          const expected = renderEntries(model.range('', '\xff', v, reverse));
          reads.push(check(`getRange at ${v} ${reverse ? 'reverse' : 'forward'}`, server.getRange('', '\xff', v, 10_000, reverse).then((r) => renderEntries(r.entries)), expected));
        }
        for (let j = 0; j < 20; j++) {
          const k = key(Math.floor(random() * (KEYS + 100)));
          reads.push(check(`get(${k}) at ${v}`, Promise.resolve(server.get(k, v)).then(hex), hex(model.get(k, v))));
        }
      }
      // Everything, including the versions those reads use, moves into the engine now.
      const flush = server.makeDurable(version);
      const flushedTo = version;
      for (let j = 0; j < 3; j++) applyChange(rich);
      await flush;
      // Reads at the new durable version and above while older reads may still hold their snapshot.
      for (const v of [flushedTo, version]) {
        for (let j = 0; j < 20; j++) {
          const k = key(Math.floor(random() * (KEYS + 100)));
          reads.push(check(`get(${k}) at ${v} after the flush`, Promise.resolve(server.get(k, v)).then(hex), hex(model.get(k, v))));
          const b = key(Math.floor(random() * KEYS));
          const expected = renderEntries(model.range(b, '\xff', v, false).slice(0, 5));
          reads.push(check(`getRange(${b}) at ${v} after the flush`, server.getRange(b, '\xff', v, 5, false).then((r) => renderEntries(r.entries)), expected));
        }
      }
      await Promise.all(reads);
      await server.makeDurable(version);
      const after = await server.getRange('', '\xff', version, 10_000, false);
      expect(renderEntries(after.entries)).toBe(renderEntries(model.range('', '\xff', version, false)));
    }
  });

  it('a read above the applied version waits for it, and fails with future_version after the wait', async () => {
    const { server, runtime } = await newServer();
    server.apply({ version: 10, mutations: [set('a', 1)] });
    let answered: unknown = 'pending';
    const waiting = Promise.resolve(server.get('a', 12)).then((v) => (answered = hex(v)));
    const waitingRange = server.getRange('', '\xff', 12, 10, false);
    const waitingMany = Promise.resolve(server.getMany(['a', 'b'], 12));
    runtime.advance(FUTURE_VERSION_WAIT_MS - 1);
    await settle();
    expect(answered).toBe('pending');
    server.apply({ version: 11, mutations: [set('a', 2)] });
    await settle();
    expect(answered).toBe('pending');
    server.apply({ version: 13, mutations: [set('a', 3)] });
    await waiting;
    expect(answered).toBe('02');
    expect(renderEntries((await waitingRange).entries)).toBe(renderEntries([['a', new Uint8Array([2])]]));
    expect((await waitingMany).map(hex)).toEqual(['02', 'null']);

    const late = caught(() => server.get('a', 20));
    const lateRange = caught(() => server.getRange('', '\xff', 20, 10, true));
    const lateMany = caught(() => server.getMany(['a'], 20));
    runtime.advance(FUTURE_VERSION_WAIT_MS);
    for (const error of [await late, await lateRange, await lateMany]) {
      expect(error).toBeInstanceOf(StrataError);
      expect(error).toMatchObject({ code: 'future_version', retryable: true });
    }
    // The server is unharmed: the version arrives later and reads work.
    server.apply({ version: 20, mutations: [set('a', 4)] });
    expect(hex(await server.get('a', 20))).toBe('04');
  });

  it('indexes the window\'s keys only for range reads, and keeps no key that left the window', async () => {
    const { server } = await newServer(10);
    // Keys written and moved into the engine with no range read in between never enter the index.
    for (let v = 1; v <= 2_000; v++) server.apply({ version: v, mutations: [set(`k${v}`, v & 0xff)] });
    expect(server.indexedKeyCount).toBe(0);
    await server.makeDurable(1_990);
    const entries = (await server.getRange('k', 'l', 2_000, 10_000, false)).entries;
    expect(entries.length).toBe(2_000);
    // Only the keys still in the window (versions 1,991 to 2,000) are indexed.
    expect(server.indexedKeyCount).toBe(10);
    for (let v = 2_001; v <= 2_100; v++) server.apply({ version: v, mutations: [set(`k${v}`, 1), set(`k${v - 2_000}`, 2)] });
    await server.makeDurable(2_100);
    expect((await server.getRange('k', 'l', 2_100, 10_000, true)).entries.length).toBe(2_100);
    expect(server.indexedKeyCount).toBe(0);
  });

  it('keeps the pending keys bounded as written keys leave the window unindexed, and range reads still see every key', async () => {
    const { server } = await newServer(30);
    const model = new Model();
    const key = (prefix: string, version: number): KeyString => `${prefix}/${String(version).padStart(6, '0')}`;
    let version = 0;
    let checked = 0;
    let remade = 0;
    for (let round = 0; round < 150; round++) {
      const pendingBefore = server.pendingKeyCount;
      for (let i = 0; i < 10; i++) {
        version++;
        const mutations = [set(key('a', version), 1), set(key('b', version), 2)];
        model.apply(version, mutations);
        server.apply({ version, mutations });
      }
      // Pending keys are made again from the window's keys once they outgrow them (2 x 60 + 1,024).
      expect(server.pendingKeyCount).toBeLessThanOrEqual(2 * 60 + 1_025);
      if (server.pendingKeyCount < pendingBefore + 20) {
        // Just made again, with b-keys of earlier rounds still in the window: they must still be pending.
        remade++;
        expect(renderEntries((await server.getRange('', '\xff', version, 100_000, false)).entries)).toBe(renderEntries(model.range('', '\xff', version, false)));
      }
      // The window keeps the last two to three rounds' keys (at most 60).
      await server.makeDurable(version - 25);
      // Only the a-keys are range-read (and indexed) between remakes; the b-keys stay pending.
      if (round % 7 === 3) {
        expect(renderEntries((await server.getRange('a', 'b', version, 100_000, false)).entries)).toBe(renderEntries(model.range('a', 'b', version, false)));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(remade).toBeGreaterThan(0);
  });

  it('remakes the pending keys a step per batch while batches and range reads go on, and range reads see every key', async () => {
    console.log(`storage-server pending remake SEED=${SEED}`);
    const random = seededRandom(SEED + 9);
    const WINDOW = 100;
    const PER_VERSION = 100;
    const { server } = await newServer(WINDOW);
    // Key i lies in group i % GROUPS (its first four bytes, which group pending keys): a range read
    // inside one group indexes only that group's keys, so the others stay pending. Within a group
    // the keys are in the order of i.
    const GROUPS = 40;
    const groupKey = (g: number, i: number): KeyString => `g${String(g).padStart(2, '0')}/${String(i).padStart(7, '0')}`;
    const key = (i: number): KeyString => groupKey(i % GROUPS, i);
    // Every key's writes, oldest first.
    const writes: { version: number; value: Uint8Array }[][] = [];
    // The entries of group g's keys i in [from, to) at `version`.
    const expected = (g: number, from: number, to: number, version: number): string => {
      const out: [KeyString, Uint8Array][] = [];
      for (let i = from; i < Math.min(to, writes.length); i++) {
        if (i % GROUPS !== g) continue;
        let value: Uint8Array | undefined;
        for (const write of writes[i]!) if (write.version <= version) value = write.value;
        if (value !== undefined) out.push([key(i), value]);
      }
      return renderEntries(out);
    };
    let remakingBatches = 0;
    let longestRemake = 0;
    let remakes = 0;
    let checked = 0;
    for (let version = 1; version <= 1_500; version++) {
      const mutations: Mutation[] = [];
      const value = (): Uint8Array => new Uint8Array([version & 0xff, version >> 8, mutations.length & 0xff]);
      for (let j = 0; j < PER_VERSION; j++) {
        const write = { version, value: value() };
        mutations.push({ type: MutationType.set, key: key(writes.length), param: write.value });
        writes.push([write]);
      }
      // Rewrites: keys still in the window (their chains grow) and keys that left it (a new chain).
      for (let j = 0; j < 5; j++) {
        const i = Math.floor(random() * writes.length);
        const write = { version, value: value() };
        mutations.push({ type: MutationType.set, key: key(i), param: write.value });
        writes[i]!.push(write);
      }
      server.apply({ version, mutations });
      if (server.remakingPendingKeys) {
        remakingBatches++;
        longestRemake = Math.max(longestRemake, remakingBatches);
      } else if (remakingBatches > 0) {
        remakes++;
        remakingBatches = 0;
      }
      // The window holds at most WINDOW + 10 versions' keys (its rewrites included): the pending
      // keys stay within three times that, plus the slack and one walk step.
      expect(server.pendingKeyCount).toBeLessThanOrEqual(3 * (WINDOW + 10) * (PER_VERSION + 5) + 2 * 1_024 + 2 * (PER_VERSION + 5));
      if (version % 10 === 0) await server.makeDurable(version - WINDOW);
      // Range reads inside one group, of its newest keys (only in the window) or older ones, at the
      // newest version or an older one in the window: mostly of four groups, now and then of any;
      // while a remake is under way, always one of the newest keys (some written since it began).
      const remaking = server.remakingPendingKeys;
      if (remaking || random() < 0.2) {
        const g = random() < 0.9 ? Math.floor(random() * 4) : Math.floor(random() * GROUPS);
        const from = Math.max(0, writes.length - Math.floor(random() * (remaking ? 2_000 : 30_000)));
        const to = from + 1 + Math.floor(random() * 3_000);
        const at = version - Math.floor(random() * Math.min(version - server.oldestVersion, 40));
        const reverse = random() < 0.5;
        const got = (await server.getRange(groupKey(g, from), groupKey(g, to), at, 1_000_000, reverse)).entries;
        expect(renderEntries(reverse ? got.reverse() : got)).toBe(expected(g, from, to, at));
        checked++;
      }
    }
    expect(remakes).toBeGreaterThan(1);
    // A remake spans many batches: it is never one walk over the whole window.
    expect(longestRemake).toBeGreaterThan(5);
    expect(checked).toBeGreaterThan(200);
  });

  it('a range read takes each key with its current chain: after the key left the window and came back, and after keys were indexed while it waited', async () => {
    console.log(`storage-server range walk SEED=${SEED}`);
    const random = seededRandom(SEED + 5);
    const { server } = await newServer(5);
    const model = new Model();
    let version = 10;
    const apply = (mutations: Mutation[]): void => {
      version++;
      model.apply(version, mutations);
      server.apply({ version, mutations });
    };
    const range = async (v: number, reverse: boolean, limit = 100_000): Promise<void> => {
      const expected = renderEntries(model.range('', '\xff', v, reverse).slice(0, limit));
      expect(renderEntries((await server.getRange('', '\xff', v, limit, reverse)).entries), `range at ${v} ${reverse ? 'reverse' : 'forward'} limit ${limit} (SEED=${SEED})`).toBe(expected);
    };
    // A key indexed, moved into the engine (its chain dropped), then written again: the index must
    // lead to the new chain, not the dropped one.
    apply([set('a', 1), set('b', 1), set('c', 1)]);
    await range(version, false);
    await server.makeDurable(version);
    apply([set('b', 2)]);
    await range(version, false);
    await range(version, true);
    apply([{ type: MutationType.clear, key: 'b', param: null }, { type: MutationType.add, key: 'c', param: new Uint8Array([1]) }]);
    await range(version, false);
    await range(version - 1, true);
    // Many durable keys, so a full range read takes several engine batches (1,024 rows each) and
    // awaits between them. While the reads wait, new keys land between the ones they walk and
    // another range read indexes them; the waiting reads must go on from where they were.
    const key = (i: number): KeyString => `k${String(i).padStart(5, '0')}`;
    apply(Array.from({ length: 3_000 }, (_, i) => set(key(i * 2), i & 0xff)));
    await server.makeDurable(version);
    for (let round = 0; round < 4; round++) {
      // Window entries under the reads, some of which the reads must see.
      apply(Array.from({ length: 200 }, () => set(key(Math.floor(random() * 6_000)), round)));
      const at = version;
      const reads = [range(at, false), range(at, true), range(at, false, 1 + Math.floor(random() * 4_000)), range(at, true, 1 + Math.floor(random() * 4_000))];
      for (let j = 0; j < 3; j++) {
        apply(Array.from({ length: 100 }, () => (random() < 0.8 ? set(key(Math.floor(random() * 6_000)), 0xee) : { type: MutationType.clear, key: key(Math.floor(random() * 6_000)), param: null })));
        reads.push(range(version, random() < 0.5, 50));
      }
      await Promise.all(reads);
    }
    // Writes between a read's batches that only touch keys already indexed change no key set: the
    // read keeps its iterator while the chains it walks grow, and must skip their newer entries.
    const indexed = [...new Set(Array.from({ length: 100 }, () => key(Math.floor(random() * 6_000))))];
    apply(indexed.map((k) => set(k, 1)));
    await range(version, false);
    const at = version;
    const reads = [range(at, false), range(at, true), range(at, false, 2_500), range(at, true, 2_500)];
    for (let j = 0; j < 6; j++) {
      await new Promise((resolve) => setImmediate(resolve));
      apply(indexed.map((k, i) => (i % 7 === j ? { type: MutationType.add, key: k, param: new Uint8Array([1]) } : set(k, 0x40 + j))));
    }
    await Promise.all(reads);
  });

  it('a range read indexes only the window keys its range may hold; other keys wait for a range read over them', async () => {
    const { server } = await newServer(1_000);
    // Two "subspaces" with different first bytes: a queue's ready entries and its job records.
    for (let v = 1; v <= 100; v++) server.apply({ version: v, mutations: [set(`rdy/${String(v).padStart(3, '0')}`, 1), set(`job/${String(v).padStart(3, '0')}`, v)] });
    expect((await server.getRange('rdy/', 'rdy0', 100, 10, false)).entries.length).toBe(10);
    expect(server.indexedKeyCount).toBe(100);
    // The job records were never indexed, yet a later range read over them sees every one, in order.
    const jobs = (await server.getRange('job/', 'job0', 100, 1_000, true)).entries;
    expect(jobs.map(([key]) => key)).toEqual(Array.from({ length: 100 }, (_, i) => `job/${String(100 - i).padStart(3, '0')}`));
    expect(server.indexedKeyCount).toBe(200);
    // A range over both takes what is left of both.
    server.apply({ version: 101, mutations: [set('job/101', 1), set('rdy/101', 1), set('zzz', 1)] });
    expect((await server.getRange('', '\xff', 101, 1_000, false)).entries.length).toBe(203);
    expect(server.indexedKeyCount).toBe(203);
  });

  it('flushes and prunes keys written in several batches, twice in one batch, and again after leaving the window (randomized)', async () => {
    console.log(`storage-server prune chains SEED=${SEED}`);
    const random = seededRandom(SEED + 7);
    const { server } = await newServer(3);
    const model = new Model();
    const keys = ['a', 'b', 'c', 'd'];
    let version = 0;
    for (let step = 0; step < 400; step++) {
      // Few keys, each written by many batches and sometimes twice in one: their chains are shared
      // by every batch that wrote them, until a prune drops them.
      const mutations: Mutation[] = [];
      for (let i = Math.floor(random() * 4); i > 0; i--) {
        const key = keys[Math.floor(random() * keys.length)]!;
        const r = random();
        mutations.push(
          r < 0.5
            ? set(key, Math.floor(random() * 256))
            : r < 0.7
              ? { type: MutationType.clear, key, param: null }
              : { type: MutationType.add, key, param: new Uint8Array([1, 0]) },
        );
      }
      version++;
      model.apply(version, mutations);
      server.apply({ version, mutations });
      if (random() < 0.3) await server.makeDurable(version - Math.floor(random() * 4));
      const at = Math.max(server.oldestVersion, version - Math.floor(random() * 3));
      for (const key of keys) expect(hex(await server.get(key, at)), `get(${key}) at ${at} (SEED=${SEED})`).toBe(hex(model.get(key, at)));
      if (random() < 0.3) {
        const expected = renderEntries(model.range('', '\xff', at, false));
        expect(renderEntries((await server.getRange('', '\xff', at, 100, false)).entries), `range at ${at} (SEED=${SEED})`).toBe(expected);
      }
    }
    await server.makeDurable(version);
    for (const key of keys) expect(hex(await server.get(key, version))).toBe(hex(model.get(key, version)));
  });

  it('reads below the oldest readable version fail with transaction_too_old', async () => {
    const { server } = await newServer(10);
    for (let v = 1; v <= 30; v++) server.apply({ version: v, mutations: [set('a', v)] });
    expect(server.oldestVersion).toBe(20);
    expect(hex(await server.get('a', 20))).toBe('14');
    await expect(caught(() => server.get('a', 19))).resolves.toMatchObject({ code: 'transaction_too_old', retryable: true });
    await server.makeDurable(25);
    expect(server.oldestVersion).toBe(25);
    expect(hex(await server.get('a', 25))).toBe('19');
    await expect(caught(() => server.get('a', 24))).resolves.toMatchObject({ code: 'transaction_too_old' });
    await expect(caught(() => server.getRange('a', 'b', 24, 1, false))).resolves.toMatchObject({ code: 'transaction_too_old' });
    // makeDurable never passes the applied version.
    await server.makeDurable(1_000);
    expect(server.durableVersion).toBe(30);
  });

  it('asserts that batches are applied in increasing version order', async () => {
    const { server } = await newServer();
    server.apply({ version: 5, mutations: [] });
    expect(() => server.apply({ version: 5, mutations: [] })).toThrow(AssertionError);
    expect(() => server.apply({ version: 4, mutations: [set('a', 1)] })).toThrow(AssertionError);
    expect(server.version).toBe(5);
  });

  it('a watch fires when the value changes, not when it is set to the same value', async () => {
    const { server } = await newServer();
    const failures: unknown[] = [];
    server.apply({ version: 1, mutations: [set('k', 1), set('other', 1)] });
    let fired = 0;
    server.watch('k', 1, () => fired++, (e) => failures.push(e));
    await quiesce(server);
    expect(server.watchCount).toBe(1);
    server.apply({ version: 2, mutations: [set('k', 1)] });
    server.apply({ version: 3, mutations: [set('other', 2), set('k\x00', 2)] });
    server.apply({ version: 4, mutations: [{ type: MutationType.clearRange, key: 'k\x00', param: 'z' }] });
    server.apply({ version: 5, mutations: [{ type: MutationType.max, key: 'k', param: new Uint8Array([0]) }] });
    await quiesce(server);
    expect(fired).toBe(0);
    server.apply({ version: 6, mutations: [set('k', 2)] });
    await until(() => fired === 1, 'the watch fires');
    expect(server.watchCount).toBe(0);
    server.apply({ version: 7, mutations: [set('k', 3)] });
    await quiesce(server);
    expect(fired).toBe(1);
    expect(failures).toEqual([]);
  });

  it('a watch fires on a clearRange covering the key, and on an atomic op over a durable value', async () => {
    const { server } = await newServer(5);
    const failures: unknown[] = [];
    server.apply({ version: 1, mutations: [set('k', 1), set('m', 7)] });
    await server.makeDurable(1);
    const fired = { k: 0, m: 0, missing: 0 };
    for (const key of ['k', 'm', 'missing'] as const) server.watch(key, 1, () => fired[key]++, (e) => failures.push(e));
    await quiesce(server);
    // No change: a clear of a missing key, a compareAndClear that does not match, a range clear elsewhere.
    server.apply({ version: 2, mutations: [{ type: MutationType.clear, key: 'missing', param: null }] });
    server.apply({ version: 3, mutations: [{ type: MutationType.compareAndClear, key: 'm', param: new Uint8Array([8]) }] });
    server.apply({ version: 4, mutations: [{ type: MutationType.clearRange, key: 'n', param: 'z' }] });
    await quiesce(server);
    expect(fired).toEqual({ k: 0, m: 0, missing: 0 });
    server.apply({ version: 5, mutations: [{ type: MutationType.clearRange, key: 'a', param: 'l' }] });
    server.apply({ version: 6, mutations: [{ type: MutationType.add, key: 'm', param: new Uint8Array([1]) }] });
    await until(() => fired.k === 1 && fired.m === 1, 'the watches on k and m fire');
    await quiesce(server);
    expect(fired).toEqual({ k: 1, m: 1, missing: 0 });
    server.apply({ version: 7, mutations: [set('missing')] });
    await until(() => fired.missing === 1, 'the watch on a missing key fires when it is set to an empty value');
    expect(failures).toEqual([]);
  });

  it('atomic ops read right at every version, over an engine value the cache lacks, learns, or a range clear replaced', async () => {
    const { server } = await newServer(1_000);
    const one = new Uint8Array([1, 0]);
    const add = (key: KeyString): Mutation => ({ type: MutationType.add, key, param: one });
    // 'c' becomes durable, so its adds start over an engine value no read has brought into the cache.
    server.apply({ version: 1, mutations: [set('c', 10, 0), set('d', 20, 0)] });
    await server.makeDurable(1);
    const expected = new Map<number, [number, number]>();
    let [c, d] = [10, 20];
    let version = 1;
    const step = (mutations: Mutation[], next: [number, number]): void => {
      server.apply({ version: ++version, mutations });
      [c, d] = next;
      expected.set(version, [c, d]);
    };
    for (let i = 0; i < 3; i++) step([add('c'), add('c'), add('d')], [c + 2, d + 1]);
    // A read of the durable 'd' at the durable version fills the cache: later adds know their base.
    expect([...(await server.get('d', 1))!]).toEqual([20, 0]);
    for (let i = 0; i < 3; i++) step([add('c'), add('d'), add('d')], [c + 1, d + 2]);
    // A range clear, then adds over nothing; a set, then adds over it, in one batch.
    step([{ type: MutationType.clearRange, key: 'a', param: 'd' }, add('c'), set('d', 5, 0), add('d')], [1, 6]);
    step([add('c'), add('d')], [2, 7]);
    for (const [at, [cAt, dAt]] of expected) {
      expect([...(await server.get('c', at))!], `c at ${at}`).toEqual([cAt, 0]);
      expect([...(await server.get('d', at))!], `d at ${at}`).toEqual([dAt, 0]);
    }
    // The same after every version has moved into the engine.
    await server.makeDurable(version);
    expect([...(await server.get('c', version))!]).toEqual([c, 0]);
    expect([...(await server.get('d', version))!]).toEqual([d, 0]);
  });

  it('a watch set at an older version fires at once if the key changed since; a cancelled one never fires', async () => {
    const { server } = await newServer();
    const failures: unknown[] = [];
    server.apply({ version: 1, mutations: [set('k', 1)] });
    server.apply({ version: 2, mutations: [set('k', 2)] });
    let fired = 0;
    server.watch('k', 1, () => fired++, (e) => failures.push(e));
    await until(() => fired === 1, 'the watch on an already changed key fires');
    let cancelledFired = 0;
    const cancel = server.watch('k', 2, () => cancelledFired++, (e) => failures.push(e));
    await quiesce(server);
    cancel();
    expect(server.watchCount).toBe(0);
    server.apply({ version: 3, mutations: [set('k', 3)] });
    await quiesce(server);
    expect(cancelledFired).toBe(0);
    expect(failures).toEqual([]);
  });

  it('close fails the watches still waiting with database_closed', async () => {
    const runtime = new ManualRuntime();
    const server = new StorageServer({ runtime, engine: await openEngine(kind), windowVersions: 100 });
    server.apply({ version: 1, mutations: [set('k', 1)] });
    const failures: unknown[] = [];
    server.watch('k', 1, () => failures.push('fired'), (e) => failures.push(e));
    await quiesce(server);
    expect(failures).toEqual([]);
    await server.close();
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ code: 'database_closed' });
  });
});

describe('StorageServer durability', () => {
  it('syncs the engine once for all the flushes of a makeDurable, and reports versions durable only after that sync', async () => {
    const events: string[] = [];
    let releaseSync: () => void = () => {};
    let syncError: Error | null = null;
    const inner = new MemoryEngine();
    const engine: StorageEngine = {
      get durableVersion() {
        return inner.durableVersion;
      },
      get: (key) => inner.get(key),
      cursor: (begin, end, reverse) => inner.cursor(begin, end, reverse),
      commit: async (entries, version) => {
        events.push(`commit ${version}`);
        await inner.commit(entries, version);
      },
      sync: async () => {
        events.push('sync');
        await new Promise<void>((resolve) => (releaseSync = resolve));
        events.push('synced');
        if (syncError !== null) throw syncError;
      },
      close: () => inner.close(),
    };
    const server = new StorageServer({ runtime: new ManualRuntime(), engine, windowVersions: 10, onDurable: (version) => events.push(`durable ${version}`) });
    const set = (key: KeyString): Mutation => ({ type: MutationType.set, key, param: new Uint8Array([1]) });
    // Three batches of 1,000 keys take two bounded flushes (1,024 keys each at most, whole batches).
    for (let v = 1; v <= 3; v++) server.apply({ version: v, mutations: Array.from({ length: 1_000 }, (_, i) => set(`k${v}-${i}`)) });
    const first = server.makeDurable(3);
    await until(() => events.includes('sync'), 'the sync starts');
    expect(events).toEqual(['commit 2', 'commit 3', 'sync']);
    // Readable from the engine already, but not yet reported durable: the log keeps the versions.
    expect(server.durableVersion).toBe(3);
    releaseSync();
    await first;
    expect(events.splice(0)).toEqual(['commit 2', 'commit 3', 'sync', 'synced', 'durable 3']);

    // Only empty batches since: reported without a sync.
    server.apply({ version: 5, mutations: [] });
    await server.makeDurable(5);
    expect(events.splice(0)).toEqual(['durable 5']);

    // A call that finds a sync under way returns only after it.
    server.apply({ version: 6, mutations: [set('x')] });
    const third = server.makeDurable(6);
    await until(() => events.includes('sync'), 'the sync starts');
    let fourthDone = false;
    const fourth = server.makeDurable(6).then(() => (fourthDone = true));
    await settle();
    expect(fourthDone).toBe(false);
    releaseSync();
    await Promise.all([third, fourth]);
    expect(events.splice(0)).toEqual(['commit 6', 'sync', 'synced', 'durable 6']);

    // A sync that fails reports nothing, and the next call syncs again.
    server.apply({ version: 7, mutations: [set('y')] });
    const failing = server.makeDurable(7);
    await until(() => events.includes('sync'), 'the sync starts');
    syncError = new Error('disk gone');
    releaseSync();
    await expect(failing).rejects.toThrow('disk gone');
    expect(events.splice(0)).toEqual(['commit 7', 'sync', 'synced']);
    syncError = null;
    const retried = server.makeDurable(7);
    await until(() => events.includes('sync'), 'the sync starts again');
    releaseSync();
    await retried;
    expect(events.splice(0)).toEqual(['sync', 'synced', 'durable 7']);
    await server.close();
    expect(events).toEqual([]);
  });

  it('a flush while a range read holds durable batches in the window writes only the versions above them', async () => {
    // A range read still walking its engine snapshot keeps the batches it may need in the window
    // after a flush made them durable. The next flush must start above them: counting their keys
    // against its bound stopped it at a version already durable, and makeDurable never ended.
    let gate: Promise<void> | null = null;
    let open: () => void = () => {};
    const commits: number[] = [];
    const inner = new MemoryEngine();
    const engine: StorageEngine = {
      get durableVersion() {
        return inner.durableVersion;
      },
      get: (key) => inner.get(key),
      cursor: (begin, end, reverse) => {
        const cursor = inner.cursor(begin, end, reverse);
        let calls = 0;
        return {
          next: async (count) => {
            if (calls++ > 0 && gate !== null) await gate;
            return cursor.next(count);
          },
          close: () => cursor.close(),
        };
      },
      commit: async (entries, version) => {
        commits.push(version);
        // Without the fix the flushes repeat forever, without a turn of the event loop between them.
        if (commits.length > 10) throw new Error(`flushes repeat: ${commits.join(', ')}`);
        await inner.commit(entries, version);
      },
      sync: async () => {},
      close: () => inner.close(),
    };
    const server = new StorageServer({ runtime: new ManualRuntime(), engine, windowVersions: 1, cacheBytes: 0 });
    const set = (key: KeyString): Mutation => ({ type: MutationType.set, key, param: new Uint8Array([1]) });
    const keys = (prefix: string, count: number): Mutation[] => Array.from({ length: count }, (_, i) => set(`${prefix}${String(i).padStart(4, '0')}`));
    // Enough durable rows that a full read takes a second engine batch, which the gate holds.
    server.apply({ version: 1, mutations: keys('a', 2_000) });
    await server.makeDurable(1);
    gate = new Promise((resolve) => (open = resolve));
    const read = server.getRange('a', 'b', 1, 10_000, false);
    await new Promise((resolve) => setImmediate(resolve));
    server.apply({ version: 2, mutations: keys('m', 1_100) });
    await server.makeDurable(2);
    server.apply({ version: 3, mutations: keys('x', 5) });
    await server.makeDurable(3);
    expect(commits).toEqual([1, 2, 3]);
    expect(server.durableVersion).toBe(3);
    open();
    expect((await read).entries).toHaveLength(2_000);
    expect([...((await server.get('x0004', 3)) ?? [])]).toEqual([1]);
    await server.close();
  });
});

describe('StorageServer after an engine failure', () => {
  it('fails reads with the failure, and a new watch fails through its callback without staying registered', async () => {
    const runtime = new ManualRuntime();
    const engine = new MemoryEngine();
    engine.commit = async () => {
      throw new Error('EIO: simulated engine failure');
    };
    const failures: unknown[] = [];
    const server = new StorageServer({ runtime, engine, windowVersions: 1, durabilityIntervalMs: 250, onFailure: (e) => failures.push(e) });
    server.apply({ version: 5, mutations: [{ type: MutationType.set, key: 'k', param: new Uint8Array([1]) }] });
    server.apply({ version: 10, mutations: [] });
    runtime.advance(250); // the durability timer's flush (to version 9) hits the failing engine
    await until(() => failures.length === 1, 'the server reports its failure');
    expect(failures[0]).toMatchObject({ code: 'io_error' });
    await expect(caught(() => server.get('k', 5))).resolves.toMatchObject({ code: 'io_error' });

    let outcome: unknown = 'nothing';
    // The watch API reports errors through `fail`; a synchronous throw would leave the watch counted.
    const register = (): unknown => server.watch('k', 5, () => (outcome = 'fired'), (e) => (outcome = e));
    expect(register).not.toThrow();
    await until(() => outcome !== 'nothing', 'the watch is answered');
    expect(outcome).toMatchObject({ code: 'io_error' });
    expect(server.watchCount).toBe(0);
  });
});
