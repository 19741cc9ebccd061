// Proves that log frames and their payloads round-trip exactly, that frames are laid out as
// `[length u32][crc32c u32][version u64][header crc32c u32][payload]`, that scanSegment keeps every
// frame before the first incomplete, damaged or non-advancing one and stops there with the reason
// and the offset a search for later frames starts from (none when the frame is cut short), and that
// hasFrameAfter from that offset tells a torn tail (nothing good after the stop) from corruption
// (a good frame after it), even when a torn frame's payload holds the bytes of a well-formed frame.
import { describe, expect, it } from 'vitest';
import { MutationType, type Mutation, type MutationTypeCode } from '../api/mutation.js';
import { seededRandom } from '../runtime/runtime.js';
import { toKeyString, type KeyString } from '../util/bytes.js';
import { crc32c } from './crc32c.js';
import { Packr } from 'msgpackr';
import { FRAME_HEADER_BYTES, decodeMutations, encodeFrame, encodeMutations, encodeMutationsFrame, hasFrameAfter, scanSegment } from './log-frame.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

const hex = (bytes: Uint8Array | null): string | null => (bytes === null ? null : Buffer.from(bytes).toString('hex'));

/** A comparable rendering of a mutation: type, key bytes, and param as hex or key string. */
function render(m: Mutation): [number, string, string | null] {
  const key = Buffer.from(m.key, 'latin1').toString('hex');
  if (m.type === MutationType.clearRange) {
    expect(typeof m.param).toBe('string');
    return [m.type, key, 'end:' + Buffer.from(m.param as string, 'latin1').toString('hex')];
  }
  if (m.param === null) return [m.type, key, null];
  expect(m.param).toBeInstanceOf(Uint8Array);
  return [m.type, key, hex(m.param as Uint8Array)];
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

const randomKey = (random: () => number): KeyString => toKeyString(randomBytes(random, Math.floor(random() * 12)));

function mutationOf(type: MutationTypeCode, random: () => number): Mutation {
  const key = randomKey(random);
  if (type === MutationType.clear) return { type, key, param: null };
  if (type === MutationType.clearRange) return { type, key, param: key + '\xff' + randomKey(random) };
  return { type, key, param: randomBytes(random, Math.floor(random() * 20)) };
}

/** A segment built from frames at `versions`, with each frame's start offset. */
function segment(random: () => number, versions: number[]): { bytes: Uint8Array; offsets: number[]; payloads: Uint8Array[] } {
  const frames = versions.map((version) => {
    const count = 1 + Math.floor(random() * 3);
    const mutations = Array.from({ length: count }, () => mutationOf(MutationType.set, random));
    return encodeFrame(version, encodeMutations(mutations));
  });
  const offsets: number[] = [];
  let offset = 0;
  for (const frame of frames) {
    offsets.push(offset);
    offset += frame.length;
  }
  // A plain Uint8Array: Buffer's slice() shares memory, which would leak damage between trials.
  return { bytes: new Uint8Array(Buffer.concat(frames)), offsets, payloads: frames.map((frame) => frame.subarray(FRAME_HEADER_BYTES)) };
}

function increasingVersions(random: () => number, count: number): number[] {
  const versions: number[] = [];
  let version = Math.floor(random() * 1000);
  for (let i = 0; i < count; i++) versions.push((version += 1 + Math.floor(random() * 1_000_000)));
  return versions;
}

describe('mutation payloads', () => {
  it('round-trip every mutation type, with binary keys and empty values', () => {
    console.log(`log-frame payload SEED=${SEED}`);
    const random = seededRandom(SEED);
    const mutations: Mutation[] = [];
    for (const type of Object.values(MutationType)) {
      for (let i = 0; i < 5; i++) mutations.push(mutationOf(type, random));
    }
    // Edge cases: the empty key, a key of every byte, an empty value, a 100,000-byte value (bin32).
    mutations.push({ type: MutationType.set, key: '', param: new Uint8Array(0) });
    mutations.push({ type: MutationType.set, key: toKeyString(Uint8Array.from({ length: 256 }, (_, i) => i)), param: new Uint8Array([0]) });
    mutations.push({ type: MutationType.set, key: '\xff\xff', param: randomBytes(random, 100_000) });
    mutations.push({ type: MutationType.clearRange, key: '', param: '\xff' });
    mutations.push({ type: MutationType.clearRange, key: '\x00', param: '\x00\x00' });

    const decoded = decodeMutations(encodeMutations(mutations));
    expect(decoded.map(render)).toEqual(mutations.map(render));
  });

  it('round-trip an empty mutation list', () => {
    expect(decodeMutations(encodeMutations([]))).toEqual([]);
  });
});

describe('the payload writer', () => {
  // Payloads are written by hand but read by msgpackr: the bytes must be exactly what msgpackr
  // itself writes for the same rows, so logs written before and after stay readable both ways.
  const packr = new Packr({ useRecords: false, moreTypes: false });
  const reference = (mutations: readonly Mutation[]): Uint8Array =>
    packr.pack(
      mutations.map((m) => [
        m.type,
        Buffer.from(m.key, 'latin1'),
        m.param === null ? null : typeof m.param === 'string' ? Buffer.from(m.param, 'latin1') : m.param,
      ]),
    );

  it('writes the bytes msgpackr writes, across every size class of lists, keys and values (randomized)', () => {
    console.log(`log-frame writer SEED=${SEED}`);
    const random = seededRandom(SEED + 7);
    const types = Object.values(MutationType);
    // Lengths around each msgpack size boundary: fixarray 15/16, bin8 255/256, bin16 65535/65536.
    const lengths = [0, 1, 15, 16, 17, 255, 256, 257, 65_535, 65_536, 100_000];
    for (let trial = 0; trial < 60; trial++) {
      const count = trial < 11 ? [0, 1, 15, 16, 17, 255, 256, 65_535, 65_536, 70_000, 3][trial]! : Math.floor(random() * 40);
      const mutations: Mutation[] = [];
      for (let i = 0; i < count; i++) {
        const type = types[Math.floor(random() * types.length)]!;
        if (count > 1000) {
          mutations.push({ type: MutationType.clear, key: 'k', param: null });
          continue;
        }
        const keyLength = random() < 0.2 ? Math.min(10_000, lengths[Math.floor(random() * 8)]!) : Math.floor(random() * 30);
        const key = toKeyString(randomBytes(random, keyLength));
        if (type === MutationType.clear) mutations.push({ type, key, param: null });
        else if (type === MutationType.clearRange) mutations.push({ type, key, param: key + '\x00' + toKeyString(randomBytes(random, Math.floor(random() * 300))) });
        else {
          const valueLength = random() < 0.1 ? lengths[Math.floor(random() * lengths.length)]! : Math.floor(random() * 120);
          mutations.push({ type, key, param: randomBytes(random, valueLength) });
        }
      }
      const payload = encodeMutations(mutations);
      expect(hex(payload), `SEED=${SEED} trial ${trial}: ${count} mutations`).toBe(hex(reference(mutations)));
      const version = 1 + Math.floor(random() * 2 ** 50);
      expect(hex(encodeMutationsFrame(version, mutations))).toBe(hex(encodeFrame(version, payload)));
      expect(decodeMutations(payload).map(render)).toEqual(mutations.map(render));
    }
  });
});

describe('frames', () => {
  it('encode then scan returns every version, payload and offset', () => {
    console.log(`log-frame scan SEED=${SEED}`);
    const random = seededRandom(SEED + 1);
    const versions = increasingVersions(random, 50);
    const { bytes, offsets, payloads } = segment(random, versions);
    const scan = scanSegment(bytes, 0);
    expect(scan.stop).toBeNull();
    expect(scan.validBytes).toBe(bytes.length);
    expect(scan.frames.map((f) => f.version)).toEqual(versions);
    expect(scan.frames.map((f) => f.offset)).toEqual(offsets);
    expect(scan.frames.map((f) => hex(f.payload))).toEqual(payloads.map(hex));
  });

  it('lays out the header as [length u32][crc32c u32][version u64][header crc32c u32] little-endian', () => {
    expect(FRAME_HEADER_BYTES).toBe(20);
    const payload = new Uint8Array([1, 2, 3]);
    const frame = encodeFrame(0x0102030405, payload);
    const view = new DataView(frame.buffer, frame.byteOffset);
    expect(frame.length).toBe(FRAME_HEADER_BYTES + 3);
    expect(view.getUint32(0, true)).toBe(3);
    expect(hex(frame.subarray(8, 16))).toBe('0504030201000000');
    expect(hex(frame.subarray(FRAME_HEADER_BYTES))).toBe('010203');
    // The first checksum is one CRC over the 8 version bytes followed by the payload (not the
    // length, not the header checksum) ...
    const versionThenPayload = new Uint8Array([...frame.subarray(8, 16), ...payload]);
    expect(view.getUint32(4, true)).toBe(crc32c(versionThenPayload));
    expect(view.getUint32(4, true)).toBe(crc32c(payload, crc32c(frame.subarray(8, 16))));
    // ... and the header checksum covers the 16 bytes before it: length, first checksum, version.
    expect(view.getUint32(16, true)).toBe(crc32c(frame.subarray(0, 16)));
  });

  it('an empty segment scans clean', () => {
    expect(scanSegment(new Uint8Array(0), 0)).toEqual({ frames: [], validBytes: 0, stop: null });
  });

  it('stops at a truncated header, keeping every earlier frame', () => {
    const random = seededRandom(SEED + 2);
    const versions = increasingVersions(random, 6);
    const { bytes, offsets } = segment(random, versions);
    for (let k = 0; k < versions.length; k++) {
      for (let cut = 1; cut < FRAME_HEADER_BYTES; cut++) {
        const scan = scanSegment(bytes.subarray(0, offsets[k]! + cut), 0);
        expect(scan.frames.map((f) => f.version)).toEqual(versions.slice(0, k));
        expect(scan.validBytes).toBe(offsets[k]);
        // Nothing can follow a header cut short: a torn tail.
        expect(scan.stop).toEqual({ offset: offsets[k], reason: 'incomplete frame header', searchFrom: null });
      }
    }
  });

  it('stops at a truncated payload, keeping every earlier frame', () => {
    const random = seededRandom(SEED + 3);
    const versions = increasingVersions(random, 6);
    const { bytes, offsets } = segment(random, versions);
    const ends = [...offsets.slice(1), bytes.length];
    for (let k = 0; k < versions.length; k++) {
      for (let cut = offsets[k]! + FRAME_HEADER_BYTES; cut < ends[k]!; cut++) {
        const scan = scanSegment(bytes.subarray(0, cut), 0);
        expect(scan.frames.map((f) => f.version)).toEqual(versions.slice(0, k));
        expect(scan.validBytes).toBe(offsets[k]);
        // The header is sound, so the frame really was cut short: nothing can follow it.
        expect(scan.stop).toEqual({ offset: offsets[k], reason: 'frame extends past the end of the segment', searchFrom: null });
      }
    }
  });

  it('stops at a frame with any one byte flipped: a damaged header or a payload checksum mismatch', () => {
    const random = seededRandom(SEED + 4);
    const versions = increasingVersions(random, 5);
    const { bytes, offsets } = segment(random, versions);
    const ends = [...offsets.slice(1), bytes.length];
    for (let k = 0; k < versions.length; k++) {
      for (let at = offsets[k]!; at < ends[k]!; at++) {
        const damaged = bytes.slice();
        damaged[at]! ^= 1 + Math.floor(random() * 255);
        const scan = scanSegment(damaged, 0);
        const context = `SEED=${SEED} frame ${k} byte ${at} offsets ${offsets}`;
        expect(scan.frames.map((f) => f.version), context).toEqual(versions.slice(0, k));
        expect(scan.validBytes, context).toBe(offsets[k]);
        // Any byte of the header, the length field included, fails the header checksum, and the
        // search for later frames starts at the next byte (the length cannot be trusted). Any byte
        // of the payload fails the payload checksum; the header is sound, so the search starts at
        // the frame's end.
        const expected =
          at < offsets[k]! + FRAME_HEADER_BYTES
            ? { offset: offsets[k], reason: 'damaged frame header', searchFrom: offsets[k]! + 1 }
            : { offset: offsets[k], reason: 'payload checksum mismatch', searchFrom: ends[k] };
        expect(scan.stop, context).toEqual(expected);
      }
    }
  });

  it('detects a damaged length field as a damaged header, not as a frame cut short', () => {
    const random = seededRandom(SEED + 10);
    const versions = increasingVersions(random, 4);
    const { bytes, offsets } = segment(random, versions);
    const ends = [...offsets.slice(1), bytes.length];
    for (let k = 0; k < versions.length; k++) {
      const length = ends[k]! - offsets[k]! - FRAME_HEADER_BYTES;
      // Longer than the rest of the segment, a little longer, a little shorter, zero.
      for (const wrong of [0xffffffff, length + (bytes.length - ends[k]!) + 1, length + 1, length - 1, 0]) {
        const damaged = bytes.slice();
        new DataView(damaged.buffer).setUint32(offsets[k]!, wrong, true);
        const scan = scanSegment(damaged, 0);
        expect(scan.frames.map((f) => f.version)).toEqual(versions.slice(0, k));
        expect(scan.stop, `frame ${k} length ${wrong}`).toEqual({ offset: offsets[k], reason: 'damaged frame header', searchFrom: offsets[k]! + 1 });
        // So damage to a frame's length is corruption whenever a good frame follows it.
        expect(hasFrameAfter(damaged, scan.stop!.searchFrom!, versions[k - 1] ?? 0)).toBe(k < versions.length - 1);
      }
    }
  });

  it('detects a changed version under a recomputed header checksum as a payload checksum mismatch', () => {
    const random = seededRandom(SEED + 11);
    const versions = increasingVersions(random, 3);
    const { bytes, offsets } = segment(random, versions);
    const damaged = bytes.slice();
    const view = new DataView(damaged.buffer);
    view.setBigUint64(offsets[1]! + 8, BigInt(versions[1]! + 1), true);
    view.setUint32(offsets[1]! + 16, crc32c(damaged.subarray(offsets[1]!, offsets[1]! + 16)), true);
    // The first checksum covers the version, so the frame fails it although its header is sound.
    expect(scanSegment(damaged, 0).stop).toEqual({ offset: offsets[1], reason: 'payload checksum mismatch', searchFrom: offsets[2] });
  });

  it('stops at a frame whose version does not advance, searching on from its end', () => {
    const random = seededRandom(SEED + 5);
    for (const versions of [
      [5, 7, 7, 9],
      [5, 7, 6, 9],
    ]) {
      const { bytes, offsets } = segment(random, versions);
      const scan = scanSegment(bytes, 0);
      expect(scan.frames.map((f) => f.version)).toEqual([5, 7]);
      expect(scan.validBytes).toBe(offsets[2]);
      expect(scan.stop).toEqual({ offset: offsets[2], reason: 'version does not advance', searchFrom: offsets[3] });
    }
    // The first frame must be above the version the caller has already seen (earlier segments).
    const { bytes, offsets } = segment(random, [10, 11]);
    expect(scanSegment(bytes, 10).stop).toEqual({ offset: 0, reason: 'version does not advance', searchFrom: offsets[1] });
    expect(scanSegment(bytes, 9).frames.map((f) => f.version)).toEqual([10, 11]);
  });

  it('stops at a frame whose version is not a safe integer', () => {
    const frame = encodeFrame(2 ** 60, new Uint8Array([0x90]));
    expect(scanSegment(frame, 0).stop).toEqual({ offset: 0, reason: 'version does not advance', searchFrom: frame.length });
  });

  it('stops at a zero-length frame', () => {
    const random = seededRandom(SEED + 6);
    const { bytes } = segment(random, [1]);
    const withEmpty = new Uint8Array(Buffer.concat([bytes, encodeFrame(2, new Uint8Array(0))]));
    expect(scanSegment(withEmpty, 0).stop).toEqual({
      offset: bytes.length,
      reason: 'version does not advance',
      searchFrom: bytes.length + FRAME_HEADER_BYTES,
    });
  });
});

describe('hasFrameAfter', () => {
  it('finds a good frame after a damaged one (corruption)', () => {
    const random = seededRandom(SEED + 7);
    const versions = increasingVersions(random, 4);
    const { bytes, offsets } = segment(random, versions);
    for (let at = offsets[1]!; at < offsets[2]!; at++) {
      const damaged = bytes.slice();
      damaged[at]! ^= 0x40;
      const scan = scanSegment(damaged, 0);
      expect(scan.stop?.offset).toBe(offsets[1]);
      // Where recovery searches from: the next byte after a damaged header, the frame's end after a
      // damaged payload. Either way the good frame after it is found.
      expect(scan.stop?.searchFrom, `byte ${at}`).toBe(at < offsets[1]! + FRAME_HEADER_BYTES ? offsets[1]! + 1 : offsets[2]);
      expect(hasFrameAfter(damaged, scan.stop!.searchFrom!, versions[0]!), `byte ${at}`).toBe(true);
    }
  });

  it('finds nothing after a torn last frame or after trailing garbage', () => {
    const random = seededRandom(SEED + 8);
    const versions = increasingVersions(random, 4);
    const { bytes, offsets } = segment(random, versions);
    for (let cut = offsets[3]! + 1; cut < bytes.length; cut++) {
      const torn = bytes.subarray(0, cut);
      // A torn last frame leaves nothing to search ...
      expect(scanSegment(torn, 0).stop, `cut ${cut}`).toMatchObject({ offset: offsets[3], searchFrom: null });
      // ... and a search from its first byte would find nothing either.
      expect(hasFrameAfter(torn, offsets[3]!, versions[2]!), `cut ${cut}`).toBe(false);
    }
    for (let trial = 0; trial < 50; trial++) {
      const tail = randomBytes(random, 1 + Math.floor(random() * 64));
      const garbage = new Uint8Array(Buffer.concat([bytes, tail]));
      const scan = scanSegment(garbage, 0);
      expect(scan.frames.length).toBe(4);
      expect(scan.validBytes).toBe(bytes.length);
      // Too short for a header, or a header that fails its checksum (searched from the next byte).
      expect(scan.stop).toEqual(
        tail.length < FRAME_HEADER_BYTES
          ? { offset: bytes.length, reason: 'incomplete frame header', searchFrom: null }
          : { offset: bytes.length, reason: 'damaged frame header', searchFrom: bytes.length + 1 },
      );
      expect(hasFrameAfter(garbage, scan.stop!.offset, versions[3]!)).toBe(false);
    }
  });

  it('a torn frame whose payload contains a well-formed newer frame is a torn tail', () => {
    const random = seededRandom(SEED + 12);
    const versions = increasingVersions(random, 3);
    const { bytes } = segment(random, versions);
    const last = versions.at(-1)!;
    const inner = encodeFrame(last + 2, encodeMutations([mutationOf(MutationType.set, random)]));
    const outer = encodeFrame(last + 1, new Uint8Array(Buffer.concat([randomBytes(random, 5), inner, randomBytes(random, 30)])));
    const innerEnd = bytes.length + FRAME_HEADER_BYTES + 5 + inner.length;
    const full = new Uint8Array(Buffer.concat([bytes, outer]));
    for (let cut = innerEnd; cut < full.length; cut++) {
      const torn = full.subarray(0, cut);
      const scan = scanSegment(torn, 0);
      expect(scan.frames.map((f) => f.version)).toEqual(versions);
      // The outer header is sound, so the frame was cut short: nothing inside it is searched.
      expect(scan.stop, `cut ${cut}`).toEqual({ offset: bytes.length, reason: 'frame extends past the end of the segment', searchFrom: null });
      // Searching inside the torn payload would find the embedded frame and misjudge it as corruption.
      expect(hasFrameAfter(torn, bytes.length + 1, last)).toBe(true);
    }
    // Complete, the outer frame is read as one frame; the embedded one is only payload.
    expect(scanSegment(full, 0).frames.map((f) => f.version)).toEqual([...versions, last + 1]);
  });

  it('searches inside a frame only when its header is damaged', () => {
    const random = seededRandom(SEED + 13);
    const { bytes } = segment(random, [100]);
    const inner = encodeFrame(300, encodeMutations([mutationOf(MutationType.set, random)]));
    const outer = encodeFrame(200, new Uint8Array(Buffer.concat([randomBytes(random, 3), inner, randomBytes(random, 3)])));
    const start = bytes.length;

    // A damaged payload under a sound header: the length is trusted and the search starts at the
    // frame's end, so the embedded frame is not mistaken for a later one.
    const payloadDamaged = new Uint8Array(Buffer.concat([bytes, outer]));
    payloadDamaged[start + FRAME_HEADER_BYTES + 1]! ^= 0xff;
    const payloadScan = scanSegment(payloadDamaged, 0);
    expect(payloadScan.stop).toEqual({ offset: start, reason: 'payload checksum mismatch', searchFrom: payloadDamaged.length });
    expect(hasFrameAfter(payloadDamaged, payloadScan.stop!.searchFrom!, 100)).toBe(false);

    // A damaged header: the length cannot be trusted, so every later byte is searched and the
    // embedded frame counts as good data after the damage.
    const headerDamaged = new Uint8Array(Buffer.concat([bytes, outer]));
    headerDamaged[start + 9]! ^= 0xff;
    const headerScan = scanSegment(headerDamaged, 0);
    expect(headerScan.stop).toEqual({ offset: start, reason: 'damaged frame header', searchFrom: start + 1 });
    expect(hasFrameAfter(headerDamaged, headerScan.stop!.searchFrom!, 100)).toBe(true);
  });

  it('finds a good frame at an unaligned offset, but only one whose version is above afterVersion', () => {
    const random = seededRandom(SEED + 9);
    const { bytes: first } = segment(random, [100]);
    const { bytes: later } = segment(random, [200]);
    const data = new Uint8Array(Buffer.concat([first, randomBytes(random, 7), later]));
    expect(hasFrameAfter(data, first.length, 100)).toBe(true);
    expect(hasFrameAfter(data, first.length, 199)).toBe(true);
    expect(hasFrameAfter(data, first.length, 200)).toBe(false);
  });
});
