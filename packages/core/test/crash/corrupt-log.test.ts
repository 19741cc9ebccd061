// Proves how recovery treats damaged log segments: a damaged frame followed by good data (even
// after a run of zeros) makes open() fail with StrataError `file_corrupt` naming the segment and
// byte offset and leaves every file as it was (nothing acknowledged is discarded), while a torn tail
// (a cut-short last frame, or garbage after the last frame, whether or not zeros follow or precede
// it) is discarded: open succeeds with every complete frame's commits, reports the torn bytes,
// accepts new commits and reopens cleanly. A damaged length field is corruption, not a torn tail,
// and a torn last frame whose written part holds a well-formed newer frame is still a torn tail.
// A segment is its frames followed by zeros (the log allocates space ahead, 4 MiB by default):
// zeros after the last frame are a clean end, given back on open. The test checks the documented
// frame format with its own parser. Damage "at the end" means at the end of the written data
// (inside the allocated space), unless a test says it appends to the file, after the zeros.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../dist/index.js';
import {
  freshDirectory,
  killLiveChildren,
  logFiles,
  removeDirectories,
  seedFromEnvironment,
  startChild,
  text,
  type Child,
  type ChildMessage,
} from './child-harness.js';

const COMMITS = 40;
/** `[length u32][crc32c u32][version u64][header crc32c u32]` before the payload. */
const HEADER_BYTES = 20;
/** Zeros the log writes after the data whenever a write grows a segment file (its documented default). */
const PREALLOCATE_BYTES = 4 * 1024 * 1024;

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), written here independently of the
// engine so that the test also checks the documented frame format.
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c >>> 0;
});
/** One CRC-32C over `parts` one after another. */
function crc32c(...parts: Uint8Array[]): number {
  let crc = 0xffffffff;
  for (const part of parts) for (const byte of part) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);

interface Frame {
  offset: number;
  end: number;
  version: number;
}

const isZero = (bytes: Uint8Array): boolean => bytes.every((byte) => byte === 0);

/**
 * Parses a segment of complete, valid frames:
 * `[length u32][crc32c u32][version u64][header crc32c u32][payload]`, little-endian, where the
 * first checksum covers the version bytes followed by the payload and the header checksum covers
 * the 16 bytes before it — then, usually, zeros to the end of the space allocated ahead. A real
 * header is never all zeros (its length is not zero), so zeros where a header would start (or
 * fewer than a header's worth of them before the end of the file) end the written data, and only
 * zeros may follow.
 */
function parseFrames(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (isZero(bytes.subarray(offset, offset + HEADER_BYTES))) break;
    expect(offset + HEADER_BYTES).toBeLessThanOrEqual(bytes.length);
    expect(crc32c(bytes.subarray(offset, offset + 16)), `header checksum of the frame at byte ${offset}`).toBe(
      bytes.readUInt32LE(offset + 16),
    );
    const length = bytes.readUInt32LE(offset);
    expect(length).toBeGreaterThan(0);
    const end = offset + HEADER_BYTES + length;
    expect(end).toBeLessThanOrEqual(bytes.length);
    const versionBytes = bytes.subarray(offset + 8, offset + 16);
    expect(crc32c(versionBytes, bytes.subarray(offset + HEADER_BYTES, end)), `payload checksum of the frame at byte ${offset}`).toBe(
      bytes.readUInt32LE(offset + 4),
    );
    const version = Number(bytes.readBigUInt64LE(offset + 8));
    if (frames.length > 0) expect(version).toBeGreaterThan(frames[frames.length - 1]!.version);
    frames.push({ offset, end, version });
    offset = end;
  }
  expect(isZero(bytes.subarray(offset)), `only zeros after the written data, which ends at byte ${offset}`).toBe(true);
  return frames;
}

/** Where the written data of a segment of valid frames ends (the zeros allocated ahead start). */
const writtenEnd = (bytes: Buffer): number => parseFrames(bytes).at(-1)?.end ?? 0;

/** `bytes` with `data` written over it at `offset`, growing it if `data` runs past its end (as a positional write does). */
function writeAt(bytes: Buffer, offset: number, data: Uint8Array): Buffer {
  const out = Buffer.alloc(Math.max(bytes.length, offset + data.length));
  bytes.copy(out);
  out.set(data, offset);
  return out;
}

/** The torn bytes open() reports when the good frames end at `from`: all the rest, unless it is only zeros (a clean end). */
const tornAfter = (bytes: Buffer, from: number): number => (isZero(bytes.subarray(from)) ? 0 : bytes.length - from);

/** A frame header with a sound header checksum for a payload of `length` bytes whose checksum is `payloadCrc`. */
function frameHeader(length: number, payloadCrc: number, version: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(length, 0);
  header.writeUInt32LE(payloadCrc, 4);
  header.writeBigUInt64LE(BigInt(version), 8);
  header.writeUInt32LE(crc32c(header.subarray(0, 16)), 16);
  return header;
}

/** A well-formed frame with `version` around `payload` (say, an existing frame's payload). */
function frameWithVersion(payload: Uint8Array, version: number): Buffer {
  const versionBytes = Buffer.alloc(8);
  versionBytes.writeBigUInt64LE(BigInt(version));
  return Buffer.concat([frameHeader(payload.length, crc32c(versionBytes, payload), version), payload]);
}

const seed = seedFromEnvironment();
const random = seededRandom(seed);
let base = '';
/** The acknowledged commits of the base directory, in order: id -> value. */
const acked: [string, string][] = [];

function segments(dir: string): string[] {
  return fs.readdirSync(path.join(dir, 'log')).filter((name) => name.endsWith('.log')).sort();
}

function segmentPath(dir: string, name: string): string {
  return path.join(dir, 'log', name);
}

function copyOf(source: string): string {
  const dir = freshDirectory('strata-corrupt-');
  fs.cpSync(source, dir, { recursive: true });
  return dir;
}

/** Runs `count` sequential commits in a child on `dir`, then kills it so the log keeps them. */
async function writeAndKill(dir: string, prefix: string, count: number): Promise<[string, string][]> {
  const child = startChild('sequential', dir, { prefix, count });
  await child.waitFor('done');
  expect(await child.kill()).toEqual({ code: null, signal: 'SIGKILL' });
  return child.messages.filter((m) => m.type === 'ack').map((m) => [m.key!, m.value!]);
}

/** Opens `dir` in a child: resolves with the child and its `ready` or `open-failed` message. */
async function openIn(dir: string): Promise<{ child: Child; outcome: ChildMessage }> {
  const child = startChild('hold', dir);
  const outcome = await Promise.race([child.waitFor('ready'), child.waitFor('open-failed')]);
  return { child, outcome };
}

/**
 * Expects open() on `dir` to fail with file_corrupt at `segment`/`offset` (and for `reason`, when
 * given), changing no log file.
 */
async function expectCorrupt(dir: string, segment: string, offset: number, reason?: string): Promise<void> {
  const before = logFiles(dir);
  const { child, outcome } = await openIn(dir);
  expect(outcome).toMatchObject({ type: 'open-failed', name: 'StrataError', code: 'file_corrupt', errno: 1522 });
  expect(outcome.message).toContain(segment);
  expect(outcome.message).toContain(`byte ${offset}`);
  expect(outcome.details).toMatchObject({ segment, offset });
  if (reason !== undefined) expect(outcome.details).toMatchObject({ reason });
  expect(await child.exited).toEqual({ code: 1, signal: null });
  expect(logFiles(dir)).toEqual(before);
  // The failed open released the directory: trying again fails the same way, not with a lock error.
  const again = await openIn(dir);
  expect(again.outcome).toMatchObject({ type: 'open-failed', code: 'file_corrupt' });
  await again.child.exited;
  expect(logFiles(dir)).toEqual(before);
}

/** Reads every commit of the sequential workload under `prefix`: id -> value, checking each is whole. */
async function readCommits(child: Child, prefix: string): Promise<Map<string, string>> {
  const rows = (await child.request({ cmd: 'read', prefix: `${prefix}/` })).rows!;
  const commits = new Map<string, string[]>();
  for (const [key, value] of rows) {
    const id = key.slice(0, key.lastIndexOf('/'));
    commits.set(id, [...(commits.get(id) ?? []), text(value)]);
  }
  const whole = new Map<string, string>();
  for (const [id, values] of commits) {
    // Each commit wrote three keys with one value: all three or none.
    expect(values.length, `keys of commit ${id}`).toBe(3);
    expect(new Set(values).size).toBe(1);
    whole.set(id, values[0]!);
  }
  return whole;
}

/**
 * Opens a directory with a torn tail and checks: it opens, reports `tornBytes`, holds exactly
 * `expected`, has cut its only segment back to `keptBytes` (when given: the end of the last good
 * frame), accepts a new commit, and reopens after a clean close with nothing to replay.
 */
async function expectTornTail(dir: string, tornBytes: number, expected: [string, string][], keptBytes?: number): Promise<void> {
  const [segment] = segments(dir);
  const { child, outcome } = await openIn(dir);
  expect(outcome.type, JSON.stringify(outcome)).toBe('ready');
  expect(outcome.recovery!.tornLogBytes).toBe(tornBytes);
  expect(outcome.recovery!.replayedBatches).toBe(expected.length);
  if (keptBytes !== undefined) expect(fs.statSync(segmentPath(dir, segment!)).size).toBe(keptBytes);
  expect(await readCommits(child, 'seq')).toEqual(new Map(expected));
  await child.request({ cmd: 'commit', entries: [['after/torn', 'new commit']] });
  await child.request({ cmd: 'close' });
  expect(await child.exited).toEqual({ code: 0, signal: null });

  const reopened = await openIn(dir);
  expect(reopened.outcome.type, JSON.stringify(reopened.outcome)).toBe('ready');
  expect(reopened.outcome.recovery).toMatchObject({ replayedBatches: 0, tornLogBytes: 0 });
  expect(await readCommits(reopened.child, 'seq')).toEqual(new Map(expected));
  const after = (await reopened.child.request({ cmd: 'read', prefix: 'after/' })).rows!;
  expect(after.map(([key, value]) => [key, text(value)])).toEqual([['after/torn', 'new commit']]);
  await reopened.child.request({ cmd: 'close' });
  expect(await reopened.child.exited).toEqual({ code: 0, signal: null });
}

beforeAll(async () => {
  console.log(`corrupt-log: seed ${seed} (replay with SEED=${seed})`);
  base = freshDirectory('strata-corrupt-base-');
  acked.push(...(await writeAndKill(base, 'seq', COMMITS)));
  expect(acked.length).toBe(COMMITS);
  // The kill left every commit in one segment, one frame per commit (they ran one after another).
  expect(segments(base).length).toBe(1);
  const bytes = fs.readFileSync(segmentPath(base, segments(base)[0]!));
  const frames = parseFrames(bytes);
  expect(frames.length).toBe(COMMITS);
  // The first write grew the file and allocated space ahead; every later frame fit in it.
  expect(bytes.length).toBe(frames[0]!.end + PREALLOCATE_BYTES);
});

afterEach(() => {
  killLiveChildren();
});

afterAll(() => {
  // The base directory and every copy of it are removed only after the last test.
  removeDirectories();
});

describe('a damaged frame followed by good data', () => {
  it('fails open() with file_corrupt naming segment and offset, discards nothing, and recovers everything once repaired', async () => {
    const dir = copyOf(base);
    const [name] = segments(dir);
    const file = segmentPath(dir, name!);
    const original = fs.readFileSync(file);
    const frame = parseFrames(original)[2]!;
    const middle = Math.floor((frame.offset + HEADER_BYTES + frame.end) / 2);
    const damaged = Buffer.from(original);
    damaged[middle] = damaged[middle]! ^ 0x5a;
    fs.writeFileSync(file, damaged);

    await expectCorrupt(dir, name!, frame.offset, 'payload checksum mismatch');
    expect(fs.readFileSync(file).equals(damaged)).toBe(true);

    // Repairing the byte gives back every acknowledged commit; the zeros after them are a clean end,
    // and opening gives that space back.
    fs.writeFileSync(file, original);
    const { child, outcome } = await openIn(dir);
    expect(outcome.type, JSON.stringify(outcome)).toBe('ready');
    expect(outcome.recovery).toMatchObject({ replayedBatches: COMMITS, tornLogBytes: 0 });
    expect(fs.statSync(file).size).toBe(writtenEnd(original));
    expect(await readCommits(child, 'seq')).toEqual(new Map(acked));
    await child.request({ cmd: 'close' });
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('detects a flipped byte anywhere in any frame but the last (seeded positions)', async () => {
    const frames = parseFrames(fs.readFileSync(segmentPath(base, segments(base)[0]!)));
    for (let trial = 0; trial < 5; trial++) {
      const dir = copyOf(base);
      const [name] = segments(dir);
      const file = segmentPath(dir, name!);
      const bytes = fs.readFileSync(file);
      const frame = frames[Math.floor(random() * (frames.length - 1))]!;
      // The first trial damages the length field, the second the header checksum, the rest any byte.
      const within =
        trial === 0 ? Math.floor(random() * 4) : trial === 1 ? 16 + Math.floor(random() * 4) : Math.floor(random() * (frame.end - frame.offset));
      const position = frame.offset + within;
      bytes[position] = bytes[position]! ^ (1 + Math.floor(random() * 255));
      fs.writeFileSync(file, bytes);
      await expectCorrupt(dir, name!, frame.offset, within < HEADER_BYTES ? 'damaged frame header' : 'payload checksum mismatch');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('detects a length field damaged to point past the end of the segment as a damaged header, not a torn frame', async () => {
    const dir = copyOf(base);
    const [name] = segments(dir);
    const file = segmentPath(dir, name!);
    const bytes = fs.readFileSync(file);
    const frames = parseFrames(bytes);
    const frame = frames[Math.floor(frames.length / 2)]!;
    // One flipped bit in the top byte: the frame now claims 16 MiB more payload than the file holds.
    bytes[frame.offset + 3] = bytes[frame.offset + 3]! ^ 0x01;
    expect(frame.offset + HEADER_BYTES + bytes.readUInt32LE(frame.offset)).toBeGreaterThan(bytes.length);
    fs.writeFileSync(file, bytes);
    await expectCorrupt(dir, name!, frame.offset, 'damaged frame header');
  });

  it('treats damage at the end of a segment that a later segment follows as corruption, not a torn tail', async () => {
    const dir = copyOf(base);
    // A second run on the same directory appends to a new segment.
    const more = await writeAndKill(dir, 'more', 5);
    expect(more.length).toBe(5);
    const names = segments(dir);
    expect(names.length).toBe(2);
    const first = segmentPath(dir, names[0]!);
    const original = fs.readFileSync(first);
    const last = parseFrames(original).at(-1)!;

    const flipped = Buffer.from(original);
    const middle = Math.floor((last.offset + HEADER_BYTES + last.end) / 2);
    flipped[middle] = flipped[middle]! ^ 0x01;
    fs.writeFileSync(first, flipped);
    await expectCorrupt(dir, names[0]!, last.offset, 'payload checksum mismatch');

    // Cut short in its header, or in its payload under a sound header: torn on its own, but the
    // later segment holds acknowledged data. The file cut there (the write that grew it torn)...
    fs.writeFileSync(first, original.subarray(0, last.offset + 10));
    await expectCorrupt(dir, names[0]!, last.offset, 'incomplete frame header');
    fs.writeFileSync(first, original.subarray(0, last.offset + HEADER_BYTES + 5));
    await expectCorrupt(dir, names[0]!, last.offset, 'frame extends past the end of the segment');
    // ...or zeros from there on, as in space allocated ahead.
    const end = writtenEnd(original);
    const zeroedFrom = (at: number): Buffer => Buffer.concat([original.subarray(0, at), Buffer.alloc(end - at + 4096)]);
    fs.writeFileSync(first, zeroedFrom(last.offset + 10));
    await expectCorrupt(dir, names[0]!, last.offset, 'damaged frame header');
    fs.writeFileSync(first, zeroedFrom(last.offset + HEADER_BYTES + 5));
    await expectCorrupt(dir, names[0]!, last.offset, 'payload checksum mismatch');

    // Undamaged, with zeros after its frames, the first segment ends cleanly and the later one is read too.
    fs.writeFileSync(first, Buffer.concat([original.subarray(0, end), Buffer.alloc(4096)]));
    const { child, outcome } = await openIn(dir);
    expect(outcome.type, JSON.stringify(outcome)).toBe('ready');
    expect(outcome.recovery!.tornLogBytes).toBe(0);
    // Its zeros were given back (unless the replayed versions, once durable in storage, already let it go).
    if (fs.existsSync(first)) expect(fs.statSync(first).size).toBe(end);
    expect(await readCommits(child, 'seq')).toEqual(new Map(acked));
    expect(await readCommits(child, 'more')).toEqual(new Map(more));
    await child.request({ cmd: 'close' });
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });

  it('treats a frame zeroed from some byte on as corruption when good frames follow it', async () => {
    // Zeros inside the written data are not space allocated ahead: acknowledged frames follow.
    const dir = copyOf(base);
    const [name] = segments(dir);
    const file = segmentPath(dir, name!);
    const bytes = fs.readFileSync(file);
    const frames = parseFrames(bytes);
    const frame = frames[Math.floor(random() * (frames.length - 1))]!;
    const from = frame.offset + Math.floor(random() * (frame.end - frame.offset));
    bytes.fill(0, from, frame.end);
    fs.writeFileSync(file, bytes);
    await expectCorrupt(dir, name!, frame.offset);
  });
});

/**
 * How a test tears the written data: `cut` ends the file there (the write that grew the file was
 * torn); `zeros` keeps the file's length with zeros from there on (a write into space allocated
 * ahead was torn).
 */
const TEARS = ['cut', 'zeros'] as const;
type Tear = (typeof TEARS)[number];

/** `bytes` (a segment of valid frames, then zeros) torn at `at` in the way `how` says. */
function tear(bytes: Buffer, at: number, how: Tear): Buffer {
  if (how === 'cut') return bytes.subarray(0, at);
  const torn = Buffer.from(bytes);
  torn.fill(0, at, writtenEnd(bytes));
  return torn;
}

/**
 * `data` written where the next frame would go (the end of the written data): over the zeros
 * allocated ahead when `how` is `zeros`, onto the file cut back to its data when it is `cut`.
 */
function writeAfterData(bytes: Buffer, data: Uint8Array, how: Tear): Buffer {
  const end = writtenEnd(bytes);
  return writeAt(how === 'cut' ? bytes.subarray(0, end) : bytes, end, data);
}

describe('a torn tail', () => {
  it.each(TEARS)('discards a last frame cut short in its payload (%s)', async (how) => {
    const dir = copyOf(base);
    const file = segmentPath(dir, segments(dir)[0]!);
    const bytes = fs.readFileSync(file);
    const last = parseFrames(bytes).at(-1)!;
    const keep = last.offset + HEADER_BYTES + Math.floor((last.end - last.offset - HEADER_BYTES) / 2);
    const torn = tear(bytes, keep, how);
    fs.writeFileSync(file, torn);
    // Everything after the last good frame goes: what was written of the torn one, and the zeros.
    const tornBytes = torn.length - last.offset;
    if (how === 'cut') expect(tornBytes).toBe(keep - last.offset);
    await expectTornTail(dir, tornBytes, acked.slice(0, -1), last.offset);
  });

  it.each(TEARS)('discards a last frame cut short in its header (%s)', async (how) => {
    const dir = copyOf(base);
    const file = segmentPath(dir, segments(dir)[0]!);
    const bytes = fs.readFileSync(file);
    const last = parseFrames(bytes).at(-1)!;
    const torn = tear(bytes, last.offset + 7, how);
    fs.writeFileSync(file, torn);
    await expectTornTail(dir, how === 'cut' ? 7 : torn.length - last.offset, acked.slice(0, -1), last.offset);
  });

  it.each(TEARS)('discards a partial frame written after the last complete one (%s)', async (how) => {
    const dir = copyOf(base);
    const file = segmentPath(dir, segments(dir)[0]!);
    const bytes = fs.readFileSync(file);
    const end = writtenEnd(bytes);
    const last = parseFrames(bytes).at(-1)!;
    // The sound header of a 1000-byte frame with the next version, but only 100 bytes of its payload.
    const partial = frameWithVersion(Buffer.alloc(1000, 0x61), last.version + 1).subarray(0, HEADER_BYTES + 100);
    const damaged = writeAfterData(bytes, partial, how);
    fs.writeFileSync(file, damaged);
    await expectTornTail(dir, how === 'cut' ? partial.length : damaged.length - end, acked, end);
  });

  it.each(TEARS)('discards a torn last frame whose written part contains a well-formed newer frame (%s)', async (how) => {
    // A crash while writing the last frame must never make the log unopenable, whatever its payload
    // holds: here the bytes of a complete frame with a newer version (say, a stored log record).
    const dir = copyOf(base);
    const file = segmentPath(dir, segments(dir)[0]!);
    const bytes = fs.readFileSync(file);
    const frames = parseFrames(bytes);
    const last = frames.at(-1)!;
    const end = writtenEnd(bytes);
    const embedded = frameWithVersion(bytes.subarray(frames[0]!.offset + HEADER_BYTES, frames[0]!.end), last.version + 1000);
    const payload = Buffer.concat([Buffer.alloc(7, 0x62), embedded, Buffer.alloc(200, 0x63)]);
    const torn = frameWithVersion(payload, last.version + 1).subarray(0, HEADER_BYTES + 7 + embedded.length + 50);
    expect(parseFrames(embedded).map((f) => f.version)).toEqual([last.version + 1000]);
    const damaged = writeAfterData(bytes, torn, how);
    fs.writeFileSync(file, damaged);
    await expectTornTail(dir, how === 'cut' ? torn.length : damaged.length - end, acked, end);
  });
});

describe('garbage after the last frame', () => {
  const randomGarbage = (length: number): Buffer => Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));

  it('is a torn tail when no valid frame follows it (seeded random bytes written over the zeros)', async () => {
    const dir = copyOf(base);
    const file = segmentPath(dir, segments(dir)[0]!);
    const bytes = fs.readFileSync(file);
    const end = writtenEnd(bytes);
    const garbage = randomGarbage(1 + Math.floor(random() * 4096));
    const damaged = writeAt(bytes, end, garbage);
    fs.writeFileSync(file, damaged);
    await expectTornTail(dir, tornAfter(damaged, end), acked, end);
  });

  it('is a torn tail when it is appended after the zeros and no valid frame follows it', async () => {
    const dir = copyOf(base);
    const file = segmentPath(dir, segments(dir)[0]!);
    const bytes = fs.readFileSync(file);
    const end = writtenEnd(bytes);
    // Zeros no longer end the data here: something follows them, so everything after the last frame is torn.
    const garbage = randomGarbage(1 + Math.floor(random() * 4096));
    garbage[0] = 0xff;
    fs.appendFileSync(file, garbage);
    await expectTornTail(dir, bytes.length + garbage.length - end, acked, end);
  });

  it('is a clean end when it is only zeros (space allocated ahead, or a file extended but never written)', async () => {
    const dir = copyOf(base);
    const file = segmentPath(dir, segments(dir)[0]!);
    const end = writtenEnd(fs.readFileSync(file));
    fs.appendFileSync(file, Buffer.alloc(4096));
    await expectTornTail(dir, 0, acked, end);
    // Fewer zeros than a frame header, right after the last frame, end the data too.
    const again = copyOf(base);
    const againFile = segmentPath(again, segments(again)[0]!);
    fs.truncateSync(againFile, end + 7);
    await expectTornTail(again, 0, acked, end);
  });

  it('is corruption when a valid newer frame follows it, with or without zeros between', async () => {
    const cases = [
      { where: 'written over the zeros', zeros: false, garbage: true, reason: 'damaged frame header' },
      { where: 'appended after the zeros', zeros: true, garbage: true, reason: 'unwritten space' },
      { where: 'zeros, then the frame', zeros: true, garbage: false, reason: 'unwritten space' },
    ];
    for (const { where, zeros, garbage, reason } of cases) {
      const dir = copyOf(base);
      const [name] = segments(dir);
      const file = segmentPath(dir, name!);
      const bytes = fs.readFileSync(file);
      const frames = parseFrames(bytes);
      const last = frames.at(-1)!;
      const end = writtenEnd(bytes);
      const payload = bytes.subarray(frames[0]!.offset + HEADER_BYTES, frames[0]!.end);
      const junk = garbage ? randomGarbage(64 + Math.floor(random() * 512)) : Buffer.alloc(0);
      if (garbage) junk[0] = 0xff; // (so that it never starts with a header's worth of zeros)
      const tail = Buffer.concat([junk, frameWithVersion(payload, last.version + 1000)]);
      fs.writeFileSync(file, zeros ? Buffer.concat([bytes, tail]) : writeAt(bytes, end, tail));
      // The damage is where the next frame should have started: the end of the written data.
      await expectCorrupt(dir, name!, end, reason).catch((error: unknown) => {
        throw new Error(`garbage ${where}: ${String(error)}`, { cause: error });
      });
    }
  });
});
