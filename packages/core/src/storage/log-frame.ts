/**
 * Log frames and segment scanning.
 *
 * @remarks
 * A frame is `[length u32][crc32c u32][version u64][header crc32c u32][payload]`, little-endian:
 * `length` counts the payload, the first checksum covers version and payload, and the header
 * checksum covers the 16 bytes before it. A payload is a commit batch's mutations in msgpack, as
 * `[type, key, param]` triples with keys as raw bytes: written by hand (byte for byte what msgpackr
 * writes) and read with msgpackr.
 *
 * Scanning stops at the first frame that is incomplete, fails a checksum or does not advance the
 * version. Whether that is a torn tail (the last write, cut short by a crash: safe to discard) or
 * corruption (acknowledged data damaged: never discarded) depends on what follows. The header
 * checksum is what makes that decidable: a frame with a sound header that runs past the end of
 * the file was cut short, so nothing can follow it, even if its payload happens to contain bytes
 * that look like a frame; only after a damaged header must the rest of the file be searched.
 * Zeros where a header would start are space the log allocated ahead and never wrote (a real
 * header is never all zeros): with nothing but zeros after them, the segment simply ends there.
 */
import { Packr } from 'msgpackr';
import { MutationType, type Mutation, type MutationTypeCode } from '../api/mutation.js';
import { assert } from '../util/assert.js';
import { toKeyString, type KeyString } from '../util/bytes.js';
import { crc32c } from './crc32c.js';

/** Bytes before a frame's payload. */
export const FRAME_HEADER_BYTES = 20;

const packr = new Packr({ useRecords: false, moreTypes: false });

// Payloads are written by hand, byte for byte what msgpackr writes for the same rows (the tests
// check that), and read back with msgpackr. Writing them directly into the frame saves converting
// every key to a byte array, msgpackr's generic walk, and copying the payload into the frame.
const MSGPACK_NIL = 0xc0;
const MSGPACK_ROW = 0x93; // a fixarray of three
const FIXINT_MAX = 0x7f;

function binHeaderBytes(length: number): number {
  return length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

function arrayHeaderBytes(length: number): number {
  return length < 16 ? 1 : length < 0x10000 ? 3 : 5;
}

function paramBytes(param: Mutation['param']): number {
  if (param === null) return 1;
  return binHeaderBytes(param.length) + param.length;
}

function mutationsBytes(mutations: readonly Mutation[]): number {
  let bytes = arrayHeaderBytes(mutations.length);
  for (let i = 0; i < mutations.length; i++) {
    const m = mutations[i]!;
    bytes += 2 + binHeaderBytes(m.key.length) + m.key.length + paramBytes(m.param);
  }
  return bytes;
}

function writeBinHeader(out: Uint8Array, offset: number, length: number): number {
  if (length < 0x100) {
    out[offset] = 0xc4;
    out[offset + 1] = length;
    return offset + 2;
  }
  if (length < 0x10000) {
    out[offset] = 0xc5;
    out[offset + 1] = length >>> 8;
    out[offset + 2] = length & 0xff;
    return offset + 3;
  }
  out[offset] = 0xc6;
  out[offset + 1] = length >>> 24;
  out[offset + 2] = (length >>> 16) & 0xff;
  out[offset + 3] = (length >>> 8) & 0xff;
  out[offset + 4] = length & 0xff;
  return offset + 5;
}

function writeKeyString(out: Uint8Array, offset: number, key: KeyString): number {
  offset = writeBinHeader(out, offset, key.length);
  for (let i = 0; i < key.length; i++) out[offset + i] = key.charCodeAt(i);
  return offset + key.length;
}

// Writes the payload of `mutations` at `offset` (which `mutationsBytes` sized) and returns its end.
function writeMutations(out: Uint8Array, offset: number, mutations: readonly Mutation[]): number {
  const count = mutations.length;
  if (count < 16) out[offset++] = 0x90 | count;
  else if (count < 0x10000) {
    out[offset] = 0xdc;
    out[offset + 1] = count >>> 8;
    out[offset + 2] = count & 0xff;
    offset += 3;
  } else {
    out[offset] = 0xdd;
    out[offset + 1] = count >>> 24;
    out[offset + 2] = (count >>> 16) & 0xff;
    out[offset + 3] = (count >>> 8) & 0xff;
    out[offset + 4] = count & 0xff;
    offset += 5;
  }
  for (let i = 0; i < count; i++) {
    const m = mutations[i]!;
    assert(Number.isInteger(m.type) && m.type >= 0 && m.type <= FIXINT_MAX, `mutation type ${m.type} is not a small integer`);
    out[offset] = MSGPACK_ROW;
    out[offset + 1] = m.type;
    offset = writeKeyString(out, offset + 2, m.key);
    const param = m.param;
    if (param === null) out[offset++] = MSGPACK_NIL;
    else if (typeof param === 'string') offset = writeKeyString(out, offset, param);
    else {
      offset = writeBinHeader(out, offset, param.length);
      out.set(param, offset);
      offset += param.length;
    }
  }
  return offset;
}

/** Encodes a batch's mutations as a frame payload. */
export function encodeMutations(mutations: readonly Mutation[]): Uint8Array {
  const payload = new Uint8Array(mutationsBytes(mutations));
  const end = writeMutations(payload, 0, mutations);
  assert(end === payload.length, 'the payload fills exactly the bytes counted for it');
  return payload;
}

/** Decodes a frame payload back to mutations. */
export function decodeMutations(payload: Uint8Array): Mutation[] {
  const rows = packr.unpack(payload) as [number, Uint8Array, Uint8Array | null][];
  return rows.map(([type, key, param]) => ({
    type: type as MutationTypeCode,
    key: toKeyString(key),
    param: type === MutationType.clearRange ? toKeyString(param!) : param,
  }));
}

/** Builds one frame. */
export function encodeFrame(version: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  frame.set(payload, FRAME_HEADER_BYTES);
  return sealFrame(frame, version);
}

/** Builds the frame of a batch's mutations: the same bytes as `encodeFrame(version, encodeMutations(mutations))`. */
export function encodeMutationsFrame(version: number, mutations: readonly Mutation[]): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + mutationsBytes(mutations));
  const end = writeMutations(frame, FRAME_HEADER_BYTES, mutations);
  assert(end === frame.length, 'the payload fills exactly the bytes counted for it');
  return sealFrame(frame, version);
}

// Fills in the header of a frame whose payload is in place.
function sealFrame(frame: Uint8Array, version: number): Uint8Array {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const payload = frame.subarray(FRAME_HEADER_BYTES);
  view.setUint32(0, payload.length, true);
  view.setBigUint64(8, BigInt(version), true);
  view.setUint32(4, crc32c(payload, crc32c(frame.subarray(8, 16))), true);
  view.setUint32(16, crc32c(frame.subarray(0, 16)), true);
  return frame;
}

/** A frame read back from a segment. */
export interface ScannedFrame {
  version: number;
  payload: Uint8Array;
  /** Byte offset of the frame in its segment. */
  offset: number;
}

/** Where and why scanning stopped before the end of a segment. */
export interface ScanStop {
  offset: number;
  reason: string;
  /**
   * Where a later frame could start if the bad frame is damage rather than a torn tail, or `null`
   * when nothing can follow it (it runs to the end of the segment).
   */
  searchFrom: number | null;
}

/** The result of scanning one segment. */
export interface SegmentScan {
  frames: ScannedFrame[];
  /** Bytes from the start of the segment up to the end of the last good frame. */
  validBytes: number;
  /** Why scanning stopped before the end of the segment, or `null` if it read every byte. */
  stop: ScanStop | null;
}

/** The reason scanning gives for zeros where a frame header would start: space allocated ahead, never written. */
export const UNWRITTEN_SPACE = 'unwritten space';

/** Index of the first non-zero byte at or after `from`, or -1. */
function firstNonZero(bytes: Uint8Array, from: number): number {
  for (let i = from; i < bytes.length; i++) if (bytes[i] !== 0) return i;
  return -1;
}

function frameAt(bytes: Uint8Array, view: DataView, offset: number, afterVersion: number): ScannedFrame | Omit<ScanStop, 'offset'> {
  const nonZero = firstNonZero(bytes, offset);
  if (nonZero < 0) return { reason: UNWRITTEN_SPACE, searchFrom: null };
  if (nonZero >= offset + FRAME_HEADER_BYTES) {
    // A real header is never all zeros (its checksum is not zero), so a frame could only start
    // where the zeros end: no earlier than 19 bytes before the next non-zero byte.
    return { reason: UNWRITTEN_SPACE, searchFrom: nonZero - FRAME_HEADER_BYTES + 1 };
  }
  if (bytes.length - offset < FRAME_HEADER_BYTES) return { reason: 'incomplete frame header', searchFrom: null };
  if (crc32c(bytes.subarray(offset, offset + 16)) !== view.getUint32(offset + 16, true)) {
    return { reason: 'damaged frame header', searchFrom: offset + 1 };
  }
  const length = view.getUint32(offset, true);
  const end = offset + FRAME_HEADER_BYTES + length;
  if (end > bytes.length) return { reason: 'frame extends past the end of the segment', searchFrom: null };
  const payload = bytes.subarray(offset + FRAME_HEADER_BYTES, end);
  if (crc32c(payload, crc32c(bytes.subarray(offset + 8, offset + 16))) !== view.getUint32(offset + 4, true)) {
    return { reason: 'payload checksum mismatch', searchFrom: end };
  }
  const version = Number(view.getBigUint64(offset + 8, true));
  if (length === 0 || !Number.isSafeInteger(version) || version <= afterVersion) {
    return { reason: 'version does not advance', searchFrom: end };
  }
  return { version, offset, payload };
}

/** Reads frames from a segment until the end or the first bad frame. */
export function scanSegment(bytes: Uint8Array, afterVersion: number): SegmentScan {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const frames: ScannedFrame[] = [];
  let offset = 0;
  let lastVersion = afterVersion;
  while (offset < bytes.length) {
    const frame = frameAt(bytes, view, offset, lastVersion);
    if (!('payload' in frame)) return { frames, validBytes: offset, stop: { offset, ...frame } };
    frames.push(frame);
    lastVersion = frame.version;
    offset += FRAME_HEADER_BYTES + frame.payload.length;
  }
  return { frames, validBytes: offset, stop: null };
}

/**
 * True when a well-formed frame with a version above `afterVersion` starts at or after `from`.
 * A bad frame followed by a good one is damage, not a torn tail.
 */
export function hasFrameAfter(bytes: Uint8Array, from: number, afterVersion: number): boolean {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let offset = from; offset + FRAME_HEADER_BYTES <= bytes.length; offset++) {
    const found = frameAt(bytes, view, offset, afterVersion);
    if ('payload' in found) return true;
    // Skip a run of zeros in one step instead of trying every offset inside it.
    if (found.reason === UNWRITTEN_SPACE) {
      if (found.searchFrom === null) return false;
      offset = Math.max(offset, found.searchFrom - 1);
    }
  }
  return false;
}
