// Proves the log server's invariants on a real directory (NodeLogDisk, with its default preallocation
// and with none) and in memory (MemoryLogDisk): batches are acknowledged in version order and only
// once durable, waiting batches share one write (group commit), recovery returns every acknowledged
// batch, a torn tail is discarded and the log is writable again, damage followed by good frames (in
// the segment, even after a run of zeros, or in a later segment) refuses to open without touching
// the file, and popThrough and segment rotation keep exactly the segments that hold versions still
// needed. A segment's frames may be followed by zeros (space allocated ahead and never written):
// that is a clean end, given back on open, and a torn frame followed by zeros is still a torn tail.
// NodeLogDisk extends a segment by `preallocateBytes` of zeros ahead of its data: with a write that
// crosses the allocated end, and in the background once less than half of an extension is left.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StrataError } from '../api/errors.js';
import { MutationType, type Mutation, type MutationTypeCode } from '../api/mutation.js';
import { seededRandom } from '../runtime/runtime.js';
import { FRAME_HEADER_BYTES, UNWRITTEN_SPACE, encodeFrame, encodeMutations, scanSegment } from '../storage/log-frame.js';
import { MemoryLogDisk, NodeLogDisk, type AppendFile, type LogDisk } from '../storage/log-disk.js';
import { LogWritePolicy } from '../storage/log-write-policy.js';
import { LOG_PREALLOCATE_BYTES } from '../limits.js';
import { AssertionError } from '../util/assert.js';
import { toKeyString, type KeyString } from '../util/bytes.js';
import { LogServer, type LogRecovery, type LoggedBatch } from './log-server.js';

// Segments rotate at 64 MiB in production; a small limit makes rotation and popThrough cheap to test.
const SEGMENT_BYTES_MAX = 8192;
vi.mock('../limits.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../limits.js')>()),
  LOG_SEGMENT_BYTES_MAX: 8192,
}));

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

// ------------------------------------------------------------------------------------------------
// Disks

interface TestDisk {
  /** Zeros the disk writes ahead of the data when a write grows a segment (0: append-only files). */
  preallocateBytes: number;
  /** The disk as a freshly started process would see it. */
  reopen(): LogDisk;
  names(): Promise<string[]>;
  readFile(name: string): Promise<Uint8Array>;
  writeFile(name: string, bytes: Uint8Array): Promise<void>;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

/**
 * A real directory; `preallocateBytes` and `policy` as NodeLogDisk takes them (its defaults when
 * undefined; each reopened disk gets the policy `policy()` makes).
 */
function nodeDisk(preallocateBytes?: number, policy?: () => LogWritePolicy): TestDisk {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-log-test-'));
  cleanups.push(() => fs.rmSync(directory, { recursive: true, force: true }));
  return {
    preallocateBytes: preallocateBytes ?? LOG_PREALLOCATE_BYTES,
    reopen: () => new NodeLogDisk(directory, preallocateBytes, policy?.()),
    names: async () => fs.readdirSync(directory).sort(),
    readFile: async (name) => new Uint8Array(fs.readFileSync(path.join(directory, name))),
    writeFile: async (name, bytes) => fs.writeFileSync(path.join(directory, name), bytes),
  };
}

function memoryDisk(): TestDisk {
  const disk = new MemoryLogDisk();
  return {
    preallocateBytes: 0,
    reopen: () => disk,
    names: async () => (await disk.list()).sort(),
    readFile: async (name) => new Uint8Array(await disk.read(name)),
    async writeFile(name, bytes) {
      await disk.remove(name);
      const file = await disk.create(name);
      await file.appendDurable(bytes);
    },
  };
}

/** Wraps a disk to count durable writes and, when `gated`, hold each one until the test releases it. */
class InstrumentedDisk implements LogDisk {
  appendCalls = 0;
  appendedBytes: number[] = [];
  readonly held: (() => void)[] = [];
  failWrites = false;
  constructor(
    readonly inner: LogDisk,
    readonly gated = false,
  ) {}
  list(): Promise<string[]> {
    return this.inner.list();
  }
  read(name: string): Promise<Uint8Array> {
    return this.inner.read(name);
  }
  truncate(name: string, size: number): Promise<void> {
    return this.inner.truncate(name, size);
  }
  remove(name: string): Promise<void> {
    return this.inner.remove(name);
  }
  async create(name: string): Promise<AppendFile> {
    const file = await this.inner.create(name);
    const outer = this;
    return {
      get size() {
        return file.size;
      },
      async appendDurable(data) {
        outer.appendCalls++;
        if (outer.gated) await new Promise<void>((resolve) => outer.held.push(resolve));
        if (outer.failWrites) throw new Error('EIO: simulated write failure');
        await file.appendDurable(data);
        outer.appendedBytes.push(data.length);
      },
      close: () => file.close(),
    };
  }
}

/** Lets pending I/O callbacks and promise chains run (no clock involved). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Settles until `condition` holds; real writes (megabytes of preallocated zeros, synchronously) may take a while. */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!condition() && Date.now() < deadline) await settle();
  if (!condition()) throw new Error(`never happened: ${what}`);
}

// ------------------------------------------------------------------------------------------------
// Batches

const ALL_TYPES = Object.values(MutationType) as MutationTypeCode[];

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

function randomMutations(random: () => number, count: number, valueBytes = 8): Mutation[] {
  const mutations: Mutation[] = [];
  for (let i = 0; i < count; i++) {
    const type = ALL_TYPES[Math.floor(random() * ALL_TYPES.length)]!;
    const key: KeyString = toKeyString(randomBytes(random, 1 + Math.floor(random() * 6)));
    if (type === MutationType.clear) mutations.push({ type, key, param: null });
    else if (type === MutationType.clearRange) mutations.push({ type, key, param: key + '\xff' });
    else mutations.push({ type, key, param: randomBytes(random, Math.floor(random() * valueBytes)) });
  }
  return mutations;
}

/** Batches with increasing versions after `after`, each with at least one mutation. */
function randomBatches(random: () => number, after: number, count: number, valueBytes = 8): LoggedBatch[] {
  const batches: LoggedBatch[] = [];
  let version = after;
  for (let i = 0; i < count; i++) {
    version += 1 + Math.floor(random() * 1000);
    batches.push({ version, mutations: randomMutations(random, 1 + Math.floor(random() * 4), valueBytes) });
  }
  return batches;
}

/** A comparable rendering of batches. */
function render(batches: readonly LoggedBatch[]): string[] {
  return batches.map((batch) =>
    JSON.stringify([
      batch.version,
      batch.mutations.map((m) => [
        m.type,
        Buffer.from(m.key, 'latin1').toString('hex'),
        m.param === null ? null : typeof m.param === 'string' ? 'end:' + Buffer.from(m.param, 'latin1').toString('hex') : Buffer.from(m.param).toString('hex'),
      ]),
    ]),
  );
}

const frameBytes = (batch: LoggedBatch): number => encodeFrame(batch.version, encodeMutations(batch.mutations)).length;

async function pushAll(log: LogServer, batches: readonly LoggedBatch[]): Promise<void> {
  for (const batch of batches) await log.push(batch);
}

// ------------------------------------------------------------------------------------------------
// Segment files: frames, then (when the disk preallocates) zeros up to the allocated end

/** Writes `more` through the recovered log, reopens, and checks every batch is there and nothing is torn. */
async function writeOnAndReopen(testDisk: TestDisk, recovery: LogRecovery, before: readonly LoggedBatch[], more: readonly LoggedBatch[]): Promise<void> {
  await pushAll(recovery.log, more);
  await recovery.log.close();
  const reopened = await LogServer.open(testDisk.reopen());
  expect(reopened.tornBytes).toBe(0);
  expect(render(reopened.batches)).toEqual(render([...before, ...more]));
  await reopened.log.close();
}

const isZero = (bytes: Uint8Array): boolean => bytes.every((byte) => byte === 0);

/** Expects a file to hold exactly `expected` (compared as buffers: files run to megabytes of zeros). */
function expectBytes(actual: Uint8Array, expected: Uint8Array, context = ''): void {
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(expected);
  if (!same) {
    let at = 0;
    while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
    expect.fail(`${context} file of ${actual.length} bytes differs from the expected ${expected.length} bytes at byte ${at}`);
  }
}

/**
 * Where the frames of an undamaged segment end: walks the length fields (not the engine's scanner)
 * until the end of the file or a header of zeros, and checks that only zeros follow.
 */
function dataEnd(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  while (offset < bytes.length && !isZero(bytes.subarray(offset, offset + FRAME_HEADER_BYTES))) {
    offset += FRAME_HEADER_BYTES + view.getUint32(offset, true);
  }
  expect(offset).toBeLessThanOrEqual(bytes.length);
  expect(isZero(bytes.subarray(offset)), 'only zeros after the last frame').toBe(true);
  return offset;
}

/**
 * Reads a segment written by the log and checks its zero tail is no longer than the disk allocates
 * ahead (an extension made with a write, and one made in the background).
 */
async function readSegment(testDisk: TestDisk, name: string): Promise<{ bytes: Uint8Array; end: number }> {
  const bytes = await testDisk.readFile(name);
  const end = dataEnd(bytes);
  expect(bytes.length - end).toBeLessThanOrEqual(2 * testDisk.preallocateBytes);
  return { bytes, end };
}

/**
 * How a test tears the written data at a byte: `truncate` cuts the file there (a crash while a write
 * was growing the file); `zero` clears the written bytes from there to the end of the data and keeps
 * the file's length (a crash while writing into space allocated ahead).
 */
type Tear = 'truncate' | 'zero';
const TEARS: readonly Tear[] = ['truncate', 'zero'];

function tear(bytes: Uint8Array, end: number, at: number, how: Tear): Uint8Array {
  if (how === 'truncate') return bytes.slice(0, at);
  const torn = bytes.slice();
  torn.fill(0, at, end);
  return torn;
}

/**
 * A random byte of `[from, to)` to tear the data at, no later than the last byte there that is not
 * zero: a frame can end in zeros, and zeros written over those would leave it whole.
 */
function tearPoint(random: () => number, bytes: Uint8Array, from: number, to: number): number {
  let last = to - 1;
  while (last >= from && bytes[last] === 0) last--;
  expect(last, `a byte that is not zero in [${from}, ${to})`).toBeGreaterThanOrEqual(from);
  return from + Math.floor(random() * (last - from + 1));
}

/**
 * The torn bytes open() reports when the good frames end at `from`: everything after them, unless
 * all of it is zeros (space never written, a clean end; a frame torn after bytes that happen to be
 * zeros cannot be told apart from that).
 */
const expectedTorn = (bytes: Uint8Array, from: number): number => (isZero(bytes.subarray(from)) ? 0 : bytes.length - from);

async function expectCorrupt(disk: LogDisk, segment: string, offset: number): Promise<void> {
  const error = await LogServer.open(disk).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StrataError);
  expect((error as StrataError).code).toBe('file_corrupt');
  expect((error as StrataError).details).toMatchObject({ segment, offset });
  expect((error as StrataError).message).toContain(segment);
}

// ------------------------------------------------------------------------------------------------

/** A policy that blocks every other write whatever the loop and disk do. */
class AlternatingPolicy extends LogWritePolicy {
  #writes = 0;

  override shouldBlock(): boolean {
    return this.#writes++ % 2 === 1;
  }
}

describe.each([
  ['NodeLogDisk (preallocating)', () => nodeDisk()],
  ['NodeLogDisk without preallocation', () => nodeDisk(0)],
  ["NodeLogDisk writing every other write on the event loop's thread", () => nodeDisk(undefined, () => new AlternatingPolicy())],
  ['MemoryLogDisk', memoryDisk],
])('LogServer on %s', (_name, makeDisk) => {
  it('acknowledges each batch only after its write is durable, in version order', async () => {
    console.log(`log-server ack SEED=${SEED}`);
    const random = seededRandom(SEED);
    const disk = new InstrumentedDisk(makeDisk().reopen(), true);
    const { log } = await LogServer.open(disk);
    const heard: number[] = [];
    // Each batch reaches the writing listener as it is pushed, long before it is durable.
    const writing: number[] = [];
    log.subscribe(
      (batch) => heard.push(batch.version),
      (batch) => writing.push(batch.version),
    );
    const batches = randomBatches(random, 0, 10);
    const acknowledged: number[] = [];
    const pushes = batches.map((batch) => log.push(batch).then(() => acknowledged.push(batch.version)));
    expect(writing).toEqual(batches.map((batch) => batch.version));

    await until(() => disk.held.length === 1, 'the first write is issued');
    await settle();
    expect(acknowledged).toEqual([]);
    expect(heard).toEqual([]);
    disk.held.shift()!();
    // The first batch was alone in the first write; the other nine wait together for the second.
    await until(() => disk.held.length === 1 && acknowledged.length === 1, 'the first batch is acknowledged');
    expect(acknowledged).toEqual([batches[0]!.version]);
    expect(heard).toEqual([batches[0]!.version]);
    disk.held.shift()!();
    await Promise.all(pushes);
    expect(acknowledged).toEqual(batches.map((b) => b.version));
    expect(heard).toEqual(batches.map((b) => b.version));
    expect(log.lastVersion).toBe(batches.at(-1)!.version);
    await log.close();
  });

  it('writes many concurrent batches with few durable writes (group commit)', async () => {
    console.log(`log-server group SEED=${SEED}`);
    const random = seededRandom(SEED + 1);
    const testDisk = makeDisk();
    const disk = new InstrumentedDisk(testDisk.reopen());
    const { log } = await LogServer.open(disk);
    const batches = randomBatches(random, 0, 200);
    await Promise.all(batches.map((batch) => log.push(batch)));
    // One write for the batch that found the log idle, one for the 199 that queued behind it.
    expect(disk.appendCalls).toBeLessThanOrEqual(2);
    expect(disk.appendCalls).toBeLessThan(batches.length);
    await log.close();
    const recovery = await LogServer.open(testDisk.reopen());
    expect(render(recovery.batches)).toEqual(render(batches));
    await recovery.log.close();
  });

  it('lets the clients a write acknowledged join the next write (group commit of a closed loop)', async () => {
    // Each write takes a millisecond. Commits reach the log as a commit proxy sends them: those of
    // one event-loop turn as one batch. Two groups of clients start out of step, the second while
    // the first's write is on the disk; a log that wrote the waiting group the moment a write ended
    // would keep them apart (two writes a round), this one merges them.
    const disk = new InstrumentedDisk(makeDisk().reopen());
    const slow: LogDisk = {
      list: () => disk.list(),
      read: (name) => disk.read(name),
      truncate: (name, size) => disk.truncate(name, size),
      remove: (name) => disk.remove(name),
      async create(name) {
        const file = await disk.create(name);
        return {
          get size() {
            return file.size;
          },
          appendDurable: async (data) => {
            await new Promise((resolve) => setTimeout(resolve, 1));
            await file.appendDurable(data);
          },
          close: () => file.close(),
        };
      },
    };
    const { log } = await LogServer.open(slow);
    let version = 0;
    let queued: (() => void)[] = [];
    const commit = (): Promise<void> =>
      new Promise<void>((resolve) => {
        if (queued.length === 0) {
          setImmediate(() => {
            const waiting = queued;
            queued = [];
            void log.push({ version: ++version, mutations: [{ type: MutationType.set, key: 'k', param: new Uint8Array([version & 0xff]) }] }).then(() => {
              for (const done of waiting) done();
            });
          });
        }
        queued.push(resolve);
      });
    const rounds = 20;
    const client = async (): Promise<void> => {
      for (let round = 0; round < rounds; round++) await commit();
    };
    const first = Array.from({ length: 4 }, client);
    await until(() => disk.appendCalls === 1, 'the first write started');
    const second = Array.from({ length: 4 }, client);
    await Promise.all([...first, ...second]);
    // The second group's first commit needs a write of its own; every later one joins the first's.
    expect(disk.appendCalls).toBeLessThanOrEqual(rounds + 2);
    await log.close();
  });

  it('empty batches advance the version, reach listeners and write nothing', async () => {
    const testDisk = makeDisk();
    const disk = new InstrumentedDisk(testDisk.reopen());
    const { log } = await LogServer.open(disk);
    const heard: number[] = [];
    log.subscribe((batch) => heard.push(batch.version));
    await log.push({ version: 5, mutations: [] });
    await Promise.all([log.push({ version: 6, mutations: [] }), log.push({ version: 9, mutations: [] })]);
    expect(heard).toEqual([5, 6, 9]);
    expect(log.lastVersion).toBe(9);
    expect(disk.appendCalls).toBe(0);
    expect(await testDisk.names()).toEqual([]);
    expect(() => log.push({ version: 9, mutations: [] })).toThrow(AssertionError);

    const real: LoggedBatch = { version: 12, mutations: [{ type: MutationType.set, key: 'k', param: new Uint8Array([1]) }] };
    await Promise.all([log.push({ version: 10, mutations: [] }), log.push(real), log.push({ version: 13, mutations: [] })]);
    await log.close();
    const recovery = await LogServer.open(testDisk.reopen());
    expect(render(recovery.batches)).toEqual(render([real]));
    expect(recovery.log.lastVersion).toBe(12);
    await recovery.log.close();
  });

  it('refuses batches out of version order', async () => {
    const { log } = await LogServer.open(makeDisk().reopen());
    await log.push({ version: 10, mutations: [{ type: MutationType.clear, key: 'a', param: null }] });
    expect(() => log.push({ version: 10, mutations: [] })).toThrow(AssertionError);
    expect(() => log.push({ version: 3, mutations: [] })).toThrow(AssertionError);
    await log.close();
  });

  it('reopening returns every batch of every session, and versions continue', async () => {
    console.log(`log-server reopen SEED=${SEED}`);
    const random = seededRandom(SEED + 2);
    const testDisk = makeDisk();
    const all: LoggedBatch[] = [];
    for (let session = 0; session < 5; session++) {
      const recovery = await LogServer.open(testDisk.reopen());
      expect(recovery.tornBytes).toBe(0);
      expect(render(recovery.batches)).toEqual(render(all));
      expect(recovery.log.lastVersion).toBe(all.at(-1)?.version ?? 0);
      const batches = randomBatches(random, recovery.log.lastVersion, 1 + Math.floor(random() * 20));
      if (random() < 0.5) await pushAll(recovery.log, batches);
      else await Promise.all(batches.map((batch) => recovery.log.push(batch)));
      all.push(...batches);
      await recovery.log.close();
    }
    const final = await LogServer.open(testDisk.reopen());
    expect(render(final.batches)).toEqual(render(all));
    await final.log.close();
  });

  it('close waits for batches still being written', async () => {
    const random = seededRandom(SEED + 3);
    const testDisk = makeDisk();
    const { log } = await LogServer.open(testDisk.reopen());
    const batches = randomBatches(random, 0, 20);
    const pushes = batches.map((batch) => log.push(batch));
    await log.close();
    await Promise.all(pushes);
    const recovery = await LogServer.open(testDisk.reopen());
    expect(render(recovery.batches)).toEqual(render(batches));
    await recovery.log.close();
  });

  it('discards a torn last frame, reports its bytes, and is writable again', async () => {
    console.log(`log-server torn SEED=${SEED}`);
    const random = seededRandom(SEED + 4);
    for (let trial = 0; trial < 12; trial++) {
      const how = TEARS[trial % 2]!;
      const testDisk = makeDisk();
      let { log } = await LogServer.open(testDisk.reopen());
      const batches = randomBatches(random, 0, 1 + Math.floor(random() * 6), 40);
      const split = Math.floor(random() * batches.length);
      await pushAll(log, batches.slice(0, split));
      if (random() < 0.5) {
        // A second session puts the remaining batches in a second segment.
        await log.close();
        ({ log } = await LogServer.open(testDisk.reopen()));
      }
      await pushAll(log, batches.slice(split));
      await log.close();

      const names = await testDisk.names();
      const last = names.at(-1)!;
      const { bytes, end } = await readSegment(testDisk, last);
      const lastFrameStart = end - frameBytes(batches.at(-1)!);
      const cut = tearPoint(random, bytes, lastFrameStart + 1, end);
      const torn = tear(bytes, end, cut, how);
      await testDisk.writeFile(last, torn);

      const recovery = await LogServer.open(testDisk.reopen());
      const context = `SEED=${SEED} trial ${trial}: ${how} at ${cut} of ${end} (file ${bytes.length}), last frame at ${lastFrameStart}`;
      expect(recovery.tornBytes, context).toBe(expectedTorn(torn, lastFrameStart));
      if (how === 'truncate' && torn.length - lastFrameStart >= FRAME_HEADER_BYTES) expect(recovery.tornBytes, context).toBe(cut - lastFrameStart);
      expect(render(recovery.batches), context).toEqual(render(batches.slice(0, -1)));
      if (lastFrameStart > 0) expect((await testDisk.readFile(last)).length, context).toBe(lastFrameStart);
      else expect(await testDisk.names(), context).not.toContain(last);

      // The torn batch was never acknowledged, so its version may be used again.
      const again = randomBatches(random, batches.at(-1)!.version - 1, 2);
      await pushAll(recovery.log, again);
      await recovery.log.close();
      const reopened = await LogServer.open(testDisk.reopen());
      expect(reopened.tornBytes, context).toBe(0);
      expect(render(reopened.batches), context).toEqual(render([...batches.slice(0, -1), ...again]));
      await reopened.log.close();
    }
  });

  it('discards a partial garbage frame written after the last good frame, or appended after the zeros', async () => {
    const random = seededRandom(SEED + 5);
    for (let trial = 0; trial < 10; trial++) {
      const testDisk = makeDisk();
      const { log } = await LogServer.open(testDisk.reopen());
      const batches = randomBatches(random, 0, 1 + Math.floor(random() * 5));
      await pushAll(log, batches);
      await log.close();
      const [name] = await testDisk.names();
      const { bytes, end } = await readSegment(testDisk, name!);
      const garbage = randomBytes(random, 1 + Math.floor(random() * (FRAME_HEADER_BYTES + 40)));
      // Even trials write the garbage where the next frame would go (into any space allocated
      // ahead); odd ones append it to the file, after the zeros. Neither is followed by a frame.
      const damaged = trial % 2 === 0 ? Buffer.concat([bytes.subarray(0, end), garbage, bytes.subarray(end + garbage.length)]) : Buffer.concat([bytes, garbage]);
      await testDisk.writeFile(name!, damaged);

      const recovery = await LogServer.open(testDisk.reopen());
      const context = `SEED=${SEED} trial ${trial}: ${garbage.length} bytes of garbage, data ends at ${end} of ${bytes.length}`;
      expect(recovery.tornBytes, context).toBe(expectedTorn(damaged, end));
      if (!isZero(garbage)) expect(recovery.tornBytes, context).toBe(damaged.length - end);
      expect(render(recovery.batches)).toEqual(render(batches));
      expectBytes(await testDisk.readFile(name!), bytes.subarray(0, end));
      const more = randomBatches(random, batches.at(-1)!.version, 3);
      await pushAll(recovery.log, more);
      await recovery.log.close();
      const reopened = await LogServer.open(testDisk.reopen());
      expect(render(reopened.batches)).toEqual(render([...batches, ...more]));
      await reopened.log.close();
    }
  });

  it('discards every frame of a group write cut short, keeping all earlier writes', async () => {
    console.log(`log-server torn group SEED=${SEED}`);
    const random = seededRandom(SEED + 11);
    for (let trial = 0; trial < 8; trial++) {
      const how = TEARS[trial % 2]!;
      const testDisk = makeDisk();
      const disk = new InstrumentedDisk(testDisk.reopen());
      const { log } = await LogServer.open(disk);
      const early = randomBatches(random, 0, 1 + Math.floor(random() * 3));
      await pushAll(log, early);
      // The first concurrent push finds the log idle and is written alone; the rest form one group.
      const group = randomBatches(random, early.at(-1)!.version, 4 + Math.floor(random() * 6), 30);
      await Promise.all(group.map((batch) => log.push(batch)));
      await log.close();
      const groupBytes = disk.appendedBytes.at(-1)!;
      const grouped = group.slice(1);
      expect(groupBytes).toBe(grouped.reduce((sum, batch) => sum + frameBytes(batch), 0));

      const [name] = await testDisk.names();
      const { bytes, end: written } = await readSegment(testDisk, name!);
      const groupStart = written - groupBytes;
      const cut = tearPoint(random, bytes, groupStart + 1, written);
      const torn = tear(bytes, written, cut, how);
      await testDisk.writeFile(name!, torn);
      // Frames of the group still whole after the tear survive (one that ended in zeros may be
      // whole past the cut); the first torn one and later go.
      let kept = 0;
      let end = groupStart;
      for (; kept < grouped.length; kept++) {
        const next = end + frameBytes(grouped[kept]!);
        if (next > torn.length || Buffer.compare(torn.subarray(end, next), bytes.subarray(end, next)) !== 0) break;
        end = next;
      }
      const recovery = await LogServer.open(testDisk.reopen());
      const context = `SEED=${SEED} trial ${trial}: ${how} at ${cut}`;
      expect(render(recovery.batches), context).toEqual(render([...early, group[0]!, ...grouped.slice(0, kept)]));
      expect(recovery.tornBytes, context).toBe(expectedTorn(torn, end));
      if (how === 'truncate') expect(recovery.tornBytes, context).toBe(cut - end);
      expect((await testDisk.readFile(name!)).length, context).toBe(end);
      await recovery.log.close();
    }
  });

  it('ignores files that are not segments', async () => {
    const random = seededRandom(SEED + 12);
    const testDisk = makeDisk();
    const { log } = await LogServer.open(testDisk.reopen());
    const batches = randomBatches(random, 0, 3);
    await pushAll(log, batches);
    await log.close();
    await testDisk.writeFile('version-lease', new Uint8Array([1, 2, 3]));
    const recovery = await LogServer.open(testDisk.reopen());
    expect(render(recovery.batches)).toEqual(render(batches));
    expect(await testDisk.names()).toContain('version-lease');
    await recovery.log.popThrough(Number.MAX_SAFE_INTEGER);
    expect(await testDisk.names()).toContain('version-lease');
    await recovery.log.close();
  });

  it('removes an empty segment left by a crash right after it was created', async () => {
    const random = seededRandom(SEED + 6);
    const testDisk = makeDisk();
    const { log } = await LogServer.open(testDisk.reopen());
    const batches = randomBatches(random, 0, 3);
    await pushAll(log, batches);
    await log.close();
    const empty = String(batches.at(-1)!.version + 1).padStart(20, '0') + '.log';
    await testDisk.writeFile(empty, new Uint8Array(0));
    const recovery = await LogServer.open(testDisk.reopen());
    expect(recovery.tornBytes).toBe(0);
    expect(render(recovery.batches)).toEqual(render(batches));
    expect(await testDisk.names()).not.toContain(empty);
    await recovery.log.close();
  });

  it('refuses to open, without modifying the file, when a damaged frame is followed by good ones', async () => {
    console.log(`log-server corrupt SEED=${SEED}`);
    const random = seededRandom(SEED + 7);
    for (let trial = 0; trial < 12; trial++) {
      const testDisk = makeDisk();
      const { log } = await LogServer.open(testDisk.reopen());
      const batches = randomBatches(random, 0, 2 + Math.floor(random() * 5), 30);
      await pushAll(log, batches);
      await log.close();
      const [name] = await testDisk.names();
      const { bytes, end } = await readSegment(testDisk, name!);
      const starts: number[] = [];
      let offset = 0;
      for (const batch of batches) {
        starts.push(offset);
        offset += frameBytes(batch);
      }
      expect(offset).toBe(end);
      const victim = Math.floor(random() * (batches.length - 1));
      const at = starts[victim]! + Math.floor(random() * (starts[victim + 1]! - starts[victim]!));
      const damaged = bytes.slice();
      damaged[at]! ^= 1 << Math.floor(random() * 8);
      await testDisk.writeFile(name!, damaged);

      await expectCorrupt(testDisk.reopen(), name!, starts[victim]!);
      expectBytes(await testDisk.readFile(name!), damaged, `SEED=${SEED} trial ${trial} byte ${at}`);
      expect(await testDisk.names()).toEqual([name]);
    }
  });

  it.each(TEARS)('refuses to open when a damaged earlier segment is followed by a segment with data (%s)', async (how) => {
    const random = seededRandom(SEED + 8);
    const testDisk = makeDisk();
    let { log } = await LogServer.open(testDisk.reopen());
    const first = randomBatches(random, 0, 3);
    await pushAll(log, first);
    await log.close();
    ({ log } = await LogServer.open(testDisk.reopen()));
    await pushAll(log, randomBatches(random, first.at(-1)!.version, 2));
    await log.close();
    const names = await testDisk.names();
    expect(names.length).toBe(2);
    // Tear the last frame of the first segment: it looks torn on its own, but data follows it.
    // (The second open gave back the first segment's zeros: add some, so a zero tear is followed by them.)
    const { bytes, end } = await readSegment(testDisk, names[0]!);
    const lastStart = end - frameBytes(first.at(-1)!);
    const torn = tear(Buffer.concat([bytes, new Uint8Array(100)]), end, lastStart + 5, how);
    await testDisk.writeFile(names[0]!, torn);
    await expectCorrupt(testDisk.reopen(), names[0]!, lastStart);
    expectBytes(await testDisk.readFile(names[0]!), torn);
    expect(await testDisk.names()).toEqual(names);
  });

  it('a segment whose frames are followed only by zeros ends cleanly: tornBytes 0, the zeros given back', async () => {
    const random = seededRandom(SEED + 13);
    for (let trial = 0; trial < 4; trial++) {
      const testDisk = makeDisk();
      const { log } = await LogServer.open(testDisk.reopen());
      const batches = randomBatches(random, 0, 1 + Math.floor(random() * 8), 40);
      await pushAll(log, batches);
      await log.close();
      const [name] = await testDisk.names();
      const { bytes, end } = await readSegment(testDisk, name!);
      if (testDisk.preallocateBytes > 0) {
        // The disk left the zeros itself.
        expect(bytes.length).toBeGreaterThan(end);
      } else {
        // Zeros as a file extended but never written would hold; now and then fewer than a header.
        await testDisk.writeFile(name!, Buffer.concat([bytes, new Uint8Array(1 + Math.floor(random() * 2 * FRAME_HEADER_BYTES))]));
      }
      const recovery = await LogServer.open(testDisk.reopen());
      expect(recovery.tornBytes).toBe(0);
      expect(render(recovery.batches)).toEqual(render(batches));
      expectBytes(await testDisk.readFile(name!), bytes.subarray(0, end));
      await writeOnAndReopen(testDisk, recovery, batches, randomBatches(random, batches.at(-1)!.version, 3));
    }
  });

  it('segments whose frames are followed by zeros, with later segments holding data, open with every batch', async () => {
    const random = seededRandom(SEED + 14);
    const testDisk = makeDisk();
    const { log } = await LogServer.open(testDisk.reopen());
    // ~1 KiB batches in one session: several segments, each left as the disk wrote it (no open in between).
    const batches = randomBatches(random, 0, 30, 1);
    for (const batch of batches) (batch.mutations as Mutation[]).push({ type: MutationType.set, key: 'pad', param: randomBytes(random, 1000) });
    await pushAll(log, batches);
    await log.close();
    const names = await testDisk.names();
    expect(names.length).toBeGreaterThan(2);
    const ends = new Map<string, number>();
    for (const name of names) {
      const { bytes, end } = await readSegment(testDisk, name);
      ends.set(name, end);
      if (testDisk.preallocateBytes > 0) expect(bytes.length).toBeGreaterThan(end);
      else await testDisk.writeFile(name, Buffer.concat([bytes, new Uint8Array(1 + Math.floor(random() * 300))]));
    }
    const recovery = await LogServer.open(testDisk.reopen());
    expect(recovery.tornBytes).toBe(0);
    expect(render(recovery.batches)).toEqual(render(batches));
    expect(await testDisk.names()).toEqual(names);
    for (const name of names) expect((await testDisk.readFile(name)).length).toBe(ends.get(name));
    await recovery.log.close();
  });

  it('a torn last frame followed by zeros is a torn tail', async () => {
    const random = seededRandom(SEED + 15);
    for (let trial = 0; trial < 8; trial++) {
      const testDisk = makeDisk();
      const { log } = await LogServer.open(testDisk.reopen());
      const batches = randomBatches(random, 0, 2 + Math.floor(random() * 4), 40);
      await pushAll(log, batches);
      await log.close();
      const [name] = await testDisk.names();
      const { bytes, end } = await readSegment(testDisk, name!);
      const lastFrameStart = end - frameBytes(batches.at(-1)!);
      // Even trials tear the last frame inside its header, odd ones inside its payload (its header whole).
      const cut =
        trial % 2 === 0
          ? tearPoint(random, bytes, lastFrameStart + 1, lastFrameStart + FRAME_HEADER_BYTES)
          : tearPoint(random, bytes, lastFrameStart + FRAME_HEADER_BYTES, end);
      // What was written of it, then zeros: to the allocated end, and more if the disk allocated none.
      const zerosAfter = bytes.length - cut + (testDisk.preallocateBytes > 0 ? 0 : 1 + Math.floor(random() * 300));
      const torn = Buffer.concat([bytes.subarray(0, cut), new Uint8Array(zerosAfter)]);
      await testDisk.writeFile(name!, torn);

      const recovery = await LogServer.open(testDisk.reopen());
      const context = `SEED=${SEED} trial ${trial}: cut at ${cut}, last frame at ${lastFrameStart}, file ${torn.length}`;
      expect(render(recovery.batches), context).toEqual(render(batches.slice(0, -1)));
      expect(recovery.tornBytes, context).toBe(expectedTorn(torn, lastFrameStart));
      if (trial % 2 === 1) expect(recovery.tornBytes, context).toBe(torn.length - lastFrameStart);
      expect((await testDisk.readFile(name!)).length, context).toBe(lastFrameStart);
      await recovery.log.close();
    }
  });

  it('refuses to open when damage is followed by zeros and then a good frame', async () => {
    const random = seededRandom(SEED + 16);
    const kinds = ['flipped byte, then zeros', 'frame zeroed from a byte on', 'zeros between two good frames'] as const;
    for (let trial = 0; trial < 9; trial++) {
      const kind = kinds[trial % kinds.length]!;
      const testDisk = makeDisk();
      const { log } = await LogServer.open(testDisk.reopen());
      const batches = randomBatches(random, 0, 3 + Math.floor(random() * 4), 30);
      await pushAll(log, batches);
      await log.close();
      const [name] = await testDisk.names();
      const { bytes } = await readSegment(testDisk, name!);
      const starts: number[] = [];
      let offset = 0;
      for (const batch of batches) {
        starts.push(offset);
        offset += frameBytes(batch);
      }
      const victim = Math.floor(random() * (batches.length - 1));
      const start = starts[victim]!;
      const next = starts[victim + 1]!;
      const zeros = new Uint8Array(1 + Math.floor(random() * 300));
      let damaged: Uint8Array;
      let at: number;
      if (kind === 'flipped byte, then zeros') {
        // The victim damaged, then zeros, then the later frames (and any space allocated ahead).
        const frame = bytes.slice(start, next);
        frame[Math.floor(random() * frame.length)]! ^= 1 << Math.floor(random() * 8);
        damaged = Buffer.concat([bytes.subarray(0, start), frame, zeros, bytes.subarray(next)]);
        at = start;
      } else if (kind === 'frame zeroed from a byte on') {
        // Every later frame where it was written: the victim reads like a torn frame, but good ones follow.
        damaged = bytes.slice();
        damaged.fill(0, start + Math.floor(random() * (next - start)), next);
        at = start;
      } else {
        // No frame damaged at all: zeros where a frame should start, and a good frame after them.
        damaged = Buffer.concat([bytes.subarray(0, next), zeros, bytes.subarray(next)]);
        at = next;
      }
      await testDisk.writeFile(name!, damaged);

      await expectCorrupt(testDisk.reopen(), name!, at);
      expectBytes(await testDisk.readFile(name!), damaged, `SEED=${SEED} trial ${trial}: ${kind}`);
      expect(await testDisk.names()).toEqual([name]);
    }
  });

  it.each(TEARS)('a torn frame whose value happens to contain a well-formed newer frame is still a torn tail (%s)', async (how) => {
    // A crash while writing the last frame must never make the log unopenable, whatever user
    // values hold: here a value carries the bytes of a frame (say, a stored copy of a log record).
    const testDisk = makeDisk();
    const { log } = await LogServer.open(testDisk.reopen());
    await log.push({ version: 10, mutations: [{ type: MutationType.set, key: 'a', param: new Uint8Array([1]) }] });
    const embedded = encodeFrame(1_000, encodeMutations([{ type: MutationType.set, key: 'x', param: new Uint8Array([2]) }]));
    const padding = new Uint8Array(64).fill(0xa5);
    const last: LoggedBatch = { version: 20, mutations: [{ type: MutationType.set, key: 'blob', param: Buffer.concat([embedded, padding]) }] };
    await log.push(last);
    await log.close();
    const [name] = await testDisk.names();
    const { bytes, end } = await readSegment(testDisk, name!);
    const lastFrameStart = end - frameBytes(last);
    // Tear the last frame after the embedded frame but before its own end.
    const torn = tear(bytes, end, end - 10, how);
    await testDisk.writeFile(name!, torn);
    const recovery = await LogServer.open(testDisk.reopen());
    expect(recovery.batches.map((b) => b.version)).toEqual([10]);
    expect(recovery.tornBytes).toBe(torn.length - lastFrameStart);
    if (how === 'truncate') expect(recovery.tornBytes).toBe(frameBytes(last) - 10);
    expect((await testDisk.readFile(name!)).length).toBe(lastFrameStart);
    await recovery.log.close();
  });

  it('rotates segments near the size limit, naming each after its first version', async () => {
    console.log(`log-server rotation SEED=${SEED}`);
    const random = seededRandom(SEED + 9);
    const testDisk = makeDisk();
    const { log } = await LogServer.open(testDisk.reopen());
    const batches: LoggedBatch[] = [];
    let version = 0;
    for (let i = 0; i < 40; i++) {
      version += 1 + Math.floor(random() * 100);
      // Mostly ~1 KiB batches; now and then one larger than the whole segment limit.
      const valueBytes = random() < 0.1 ? SEGMENT_BYTES_MAX + 100 : 200 + Math.floor(random() * 1500);
      batches.push({ version, mutations: [{ type: MutationType.set, key: `k${i}`, param: randomBytes(random, valueBytes) }] });
    }
    await pushAll(log, batches);
    await log.close();

    const names = await testDisk.names();
    expect(names.length).toBeGreaterThan(3);
    const segments = await Promise.all(
      names.map(async (name) => {
        const { bytes, end } = await readSegment(testDisk, name);
        return { name, end, scan: scanSegment(bytes, 0) };
      }),
    );
    for (const [i, { name, end, scan }] of segments.entries()) {
      // Every frame reads back; only zeros (space allocated ahead) may follow them.
      expect(scan.validBytes).toBe(end);
      if (scan.stop !== null) expect(scan.stop).toMatchObject({ offset: end, reason: UNWRITTEN_SPACE, searchFrom: null });
      expect(name).toBe(String(scan.frames[0]!.version).padStart(20, '0') + '.log');
      // A segment only exceeds the limit when one write alone is larger than it.
      if (scan.validBytes > SEGMENT_BYTES_MAX) expect(scan.frames.length).toBe(1);
      // Rotation happened only because the next frame did not fit.
      const next = segments[i + 1];
      if (next !== undefined) expect(scan.validBytes + next.scan.frames[0]!.payload.length + FRAME_HEADER_BYTES).toBeGreaterThan(SEGMENT_BYTES_MAX);
    }
    const recovery = await LogServer.open(testDisk.reopen());
    expect(recovery.tornBytes).toBe(0);
    expect(render(recovery.batches)).toEqual(render(batches));
    // Opening gave back the space allocated ahead of each segment's data.
    for (const { name, end } of segments) expect((await testDisk.readFile(name)).length).toBe(end);
    await recovery.log.close();
  });

  it('popThrough deletes only segments entirely at or below the version, never the current one', async () => {
    console.log(`log-server pop SEED=${SEED}`);
    const random = seededRandom(SEED + 10);
    for (let trial = 0; trial < 4; trial++) {
      const testDisk = makeDisk();
      const { log } = await LogServer.open(testDisk.reopen());
      const batches = randomBatches(random, 0, 30, 1);
      for (const batch of batches) (batch.mutations as Mutation[]).push({ type: MutationType.set, key: 'pad', param: randomBytes(random, 1200) });
      await pushAll(log, batches);
      const before = await testDisk.names();
      expect(before.length).toBeGreaterThan(3);
      const lastVersionOf = new Map<string, number>();
      for (const name of before) lastVersionOf.set(name, scanSegment(await testDisk.readFile(name), 0).frames.at(-1)!.version);

      const cutVersions = [0, batches[Math.floor(random() * batches.length)]!.version, batches[Math.floor(random() * batches.length)]!.version + 1];
      cutVersions.sort((a, b) => a - b);
      for (const cutVersion of cutVersions) {
        await log.popThrough(cutVersion);
        const expected = before.filter((name, i) => i === before.length - 1 || lastVersionOf.get(name)! > cutVersion);
        expect(await testDisk.names(), `SEED=${SEED} popThrough(${cutVersion})`).toEqual(expected);
      }
      // Everything durable elsewhere: only the segment being appended to remains, and it keeps working.
      await log.popThrough(Number.MAX_SAFE_INTEGER);
      expect(await testDisk.names()).toEqual([before.at(-1)]);
      const more = randomBatches(random, batches.at(-1)!.version, 2);
      await pushAll(log, more);
      await log.close();

      const recovery = await LogServer.open(testDisk.reopen());
      const firstKept = scanSegment(await testDisk.readFile(before.at(-1)!), 0).frames[0]!.version;
      expect(render(recovery.batches)).toEqual(render([...batches, ...more].filter((b) => b.version >= firstKept)));
      await recovery.log.close();
    }
  });

  it('a batch the writing listener cannot take never reaches the durable listener: it and later batches fail with internal_error', async () => {
    const { log } = await LogServer.open(makeDisk().reopen());
    const heard: number[] = [];
    log.subscribe(
      (batch) => heard.push(batch.version),
      (batch) => {
        if (batch.version === 2) throw new Error('no room for batch 2');
      },
    );
    const set = (version: number): LoggedBatch => ({ version, mutations: [{ type: MutationType.set, key: 'k', param: new Uint8Array([version]) }] });
    await log.push(set(1));
    const failed = log.push(set(2));
    await expect(failed).rejects.toMatchObject({ code: 'internal_error' });
    await expect(failed).rejects.toThrow(/could not be staged: Error: no room for batch 2/);
    await expect(log.push(set(3))).rejects.toMatchObject({ code: 'internal_error' });
    expect(heard).toEqual([1]);
    await log.close();
  });

  it('fails every batch with io_error once a durable write fails', async () => {
    const disk = new InstrumentedDisk(makeDisk().reopen());
    const { log } = await LogServer.open(disk);
    await log.push({ version: 1, mutations: [{ type: MutationType.set, key: 'a', param: new Uint8Array([1]) }] });
    disk.failWrites = true;
    const failed = log.push({ version: 2, mutations: [{ type: MutationType.set, key: 'b', param: new Uint8Array([1]) }] });
    await expect(failed).rejects.toMatchObject({ code: 'io_error' });
    disk.failWrites = false;
    await expect(log.push({ version: 3, mutations: [] })).rejects.toMatchObject({ code: 'io_error' });
    await log.close();
  });
});

/**
 * The segment files NodeLogDisk should leave after these durable writes (their sizes, in order), as
 * [data bytes, file bytes] per segment: a write that crosses the allocated end also writes
 * `preallocateBytes` of zeros after its data; a segment rotates when a write would take it past the limit.
 */
/** The data bytes of each segment after `writes` (their sizes, in order). */
function expectedDataEnds(writes: readonly number[]): number[] {
  const files: number[] = [];
  for (const bytes of writes) {
    if (files.length === 0 || (files.at(-1)! > 0 && files.at(-1)! + bytes > SEGMENT_BYTES_MAX)) files.push(0);
    files[files.length - 1]! += bytes;
  }
  return files;
}

describe('NodeLogDisk preallocation', () => {
  it.each([
    [256, false],
    [0, false],
    [256, true],
    [0, true],
  ])(
    'with preallocateBytes %i (every other write blocking: %s), a write past the allocated end allocates again; every batch reopens and the zeros are given back',
    async (preallocateBytes, blocking) => {
      console.log(`log-server preallocation SEED=${SEED}`);
      const random = seededRandom(SEED + 17);
      const policy = blocking ? new AlternatingPolicy() : new LogWritePolicy();
      const testDisk = nodeDisk(preallocateBytes, () => policy);
      const disk = new InstrumentedDisk(testDisk.reopen());
      const { log } = await LogServer.open(disk);
      const batches: LoggedBatch[] = [];
      // Each file's lengths seen: it grows by extensions (with a write, or in the background).
      const lengths = new Map<string, Set<number>>();
      const check = async (): Promise<number[]> => {
        const ends = expectedDataEnds(disk.appendedBytes);
        const names = await testDisk.names();
        const actual: number[] = [];
        for (const name of names) {
          const bytes = await testDisk.readFile(name);
          const end = dataEnd(bytes);
          actual.push(end);
          const seen = lengths.get(name) ?? new Set<number>();
          lengths.set(name, seen.add(bytes.length));
          // Zeros ahead: at most an extension made with a write and one made in the background.
          expect(bytes.length - end, `SEED=${SEED} zeros after the data of ${name}`).toBeLessThanOrEqual(2 * preallocateBytes);
          if (preallocateBytes === 0) expect(bytes.length).toBe(end);
        }
        expect(actual, `SEED=${SEED} writes ${JSON.stringify(disk.appendedBytes)}`).toEqual(ends);
        return ends;
      };
      let version = 0;
      for (let i = 0; i < 60; i++) {
        version += 1 + Math.floor(random() * 10);
        // Mostly small frames, several to an allocation; now and then one larger than a whole allocation.
        const valueBytes = random() < 0.15 ? 256 + Math.floor(random() * 300) : Math.floor(random() * 60);
        const batch: LoggedBatch = { version, mutations: [{ type: MutationType.set, key: `k${i}`, param: randomBytes(random, valueBytes) }] };
        batches.push(batch);
        if (i % 10 < 7) {
          await log.push(batch);
          await check();
        } else {
          // Some batches go concurrently: group writes cross the allocated end too.
          const group = [batch];
          for (let j = 0; j < 4; j++) {
            version += 1;
            group.push({ version, mutations: [{ type: MutationType.set, key: `k${i}.${j}`, param: randomBytes(random, Math.floor(random() * 100)) }] });
          }
          batches.push(...group.slice(1));
          await Promise.all(group.map((b) => log.push(b)));
          await check();
        }
      }
      await log.close();
      const files = await check();
      // Several allocation rounds (more than one per segment) happened.
      const grown = [...lengths.values()].reduce((sum, seen) => sum + seen.size, 0);
      if (preallocateBytes > 0) expect(grown).toBeGreaterThan(files.length + 3);

      const recovery = await LogServer.open(testDisk.reopen());
      expect(recovery.tornBytes).toBe(0);
      expect(render(recovery.batches)).toEqual(render(batches));
      const names = await testDisk.names();
      for (const [i, name] of names.entries()) expect((await testDisk.readFile(name)).length).toBe(files[i]!);

      // A new session writes on (into a new segment) and everything still reopens.
      await writeOnAndReopen(testDisk, recovery, batches, randomBatches(random, batches.at(-1)!.version, 20, 300));
      if (blocking) expect(policy.stats.blockingWrites).toBeGreaterThan(10);
    },
  );

  it('by default, a segment holds its data and then LOG_PREALLOCATE_BYTES of zeros, given back when it is opened', async () => {
    const random = seededRandom(SEED + 18);
    const testDisk = nodeDisk();
    const disk = new InstrumentedDisk(testDisk.reopen());
    const { log } = await LogServer.open(disk);
    const batches = randomBatches(random, 0, 10, 40);
    await pushAll(log, batches);
    await log.close();
    const [name] = await testDisk.names();
    const bytes = await testDisk.readFile(name!);
    const end = dataEnd(bytes);
    expect(end).toBe(batches.reduce((sum, batch) => sum + frameBytes(batch), 0));
    // Only the first write grew the file; the others went into the space it allocated.
    expect(bytes.length).toBe(disk.appendedBytes[0]! + LOG_PREALLOCATE_BYTES);

    const recovery = await LogServer.open(testDisk.reopen());
    expect(recovery.tornBytes).toBe(0);
    expect(render(recovery.batches)).toEqual(render(batches));
    expectBytes(await testDisk.readFile(name!), bytes.subarray(0, end));
    await recovery.log.close();
  });
});

describe('a refused open', () => {
  it('changes no file, not even the zeros of an earlier segment it already read', async () => {
    const testDisk = nodeDisk();
    const set = (version: number, key: string): LoggedBatch => ({ version, mutations: [{ type: MutationType.set, key, param: new Uint8Array([1]) }] });
    const first = await LogServer.open(testDisk.reopen());
    await pushAll(first.log, [set(1, 'a1'), set(2, 'a2'), set(3, 'a3')]);
    await first.log.close();
    const [earlier] = await testDisk.names();
    const earlierBytes = await testDisk.readFile(earlier!);
    // Reopening trims the zeros off the earlier segment; put them back, as a segment left behind
    // by rotation keeps them.
    const second = await LogServer.open(testDisk.reopen());
    await pushAll(second.log, [set(4, 'b4'), set(5, 'b5'), set(6, 'b6')]);
    await second.log.close();
    await testDisk.writeFile(earlier!, earlierBytes);
    const later = (await testDisk.names())[1]!;
    const laterBytes = await testDisk.readFile(later);
    laterBytes[FRAME_HEADER_BYTES + 2]! ^= 0xff; // damage the first frame's payload; good frames follow
    await testDisk.writeFile(later, laterBytes);

    await expect(LogServer.open(testDisk.reopen())).rejects.toMatchObject({ code: 'file_corrupt' });
    expectBytes(await testDisk.readFile(earlier!), earlierBytes, 'the earlier segment');
    expectBytes(await testDisk.readFile(later), laterBytes, 'the damaged segment');
  });
});
