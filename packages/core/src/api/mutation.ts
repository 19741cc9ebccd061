/**
 * Mutations: what a transaction sends to the commit path, and the semantics of atomic ops.
 *
 * @remarks
 * Atomic ops follow FoundationDB (API version 510 and later): an op on a missing value stores the
 * operand (`add`, `bitAnd`, `bitOr`, `bitXor`, `max`, `min`, `byteMax`, `byteMin`, `appendIfFits`),
 * except `compareAndClear`, which leaves a missing value missing.
 */
import { VALUE_SIZE_MAX } from '../limits.js';
import { allocBytes, type KeyString } from '../util/bytes.js';
import { assert } from '../util/assert.js';

/** Numeric mutation types, stable on disk (the write-ahead log stores them). */
export const MutationType = {
  set: 0,
  clear: 1,
  clearRange: 2,
  add: 3,
  bitAnd: 4,
  bitOr: 5,
  bitXor: 6,
  max: 7,
  min: 8,
  byteMax: 9,
  byteMin: 10,
  appendIfFits: 11,
  compareAndClear: 12,
  setVersionstampedKey: 13,
  setVersionstampedValue: 14,
} as const;

/** One of the {@link MutationType} values. */
export type MutationTypeCode = (typeof MutationType)[keyof typeof MutationType];

/** The names of the atomic ops that apply an operand to the stored value. */
export type AtomicOpName =
  | 'add'
  | 'bitAnd'
  | 'bitOr'
  | 'bitXor'
  | 'max'
  | 'min'
  | 'byteMax'
  | 'byteMin'
  | 'appendIfFits'
  | 'compareAndClear';

/**
 * One mutation. `key` is the engine key; `param` is the value (set), the operand (atomic ops), the
 * end key as a binary string (clearRange) or `null` (clear).
 */
export interface Mutation {
  readonly type: MutationTypeCode;
  readonly key: KeyString;
  readonly param: Uint8Array | KeyString | null;
}

/** True for the types whose result depends on the stored value. */
export function isValueAtomicOp(type: number): boolean {
  return type >= MutationType.add && type <= MutationType.compareAndClear;
}

/** Little-endian unsigned comparison of `a` (extended or truncated to `b`'s length) with `b`. */
function compareLittleEndian(a: Uint8Array, b: Uint8Array): number {
  for (let i = b.length - 1; i >= 0; i--) {
    const x = i < a.length ? a[i]! : 0;
    const y = b[i]!;
    if (x !== y) return x - y;
  }
  return 0;
}

/** `existing` zero-extended or truncated to `length` bytes. */
function fitted(existing: Uint8Array, length: number): Uint8Array {
  const out = allocBytes(length);
  if (existing.length >= length) out.set(existing.subarray(0, length));
  else {
    out.set(existing);
    out.fill(0, existing.length);
  }
  return out;
}

/**
 * Applies an atomic op to a stored value.
 * @param type - an atomic op type ({@link isValueAtomicOp}).
 * @param existing - the stored value, or `null` when the key is missing.
 * @param operand - the op's operand.
 * @returns the new value, or `null` when the key ends up missing. A new array is a view on a
 * shared slab (see `allocBytes`): the window keeps one per op, and a view costs the collector
 * less than an array with a buffer of its own.
 */
export function applyAtomicOp(type: number, existing: Uint8Array | null, operand: Uint8Array): Uint8Array | null {
  if (existing === null) return type === MutationType.compareAndClear ? null : operand;
  switch (type) {
    case MutationType.add: {
      const out = allocBytes(operand.length);
      let carry = 0;
      for (let i = 0; i < operand.length; i++) {
        const sum = (i < existing.length ? existing[i]! : 0) + operand[i]! + carry;
        out[i] = sum & 0xff;
        carry = sum >> 8;
      }
      return out;
    }
    case MutationType.bitAnd:
    case MutationType.bitOr:
    case MutationType.bitXor: {
      const out = fitted(existing, operand.length);
      for (let i = 0; i < operand.length; i++) {
        if (type === MutationType.bitAnd) out[i]! &= operand[i]!;
        else if (type === MutationType.bitOr) out[i]! |= operand[i]!;
        else out[i]! ^= operand[i]!;
      }
      return out;
    }
    case MutationType.max:
      return compareLittleEndian(existing, operand) >= 0 ? fitted(existing, operand.length) : operand;
    case MutationType.min:
      return compareLittleEndian(existing, operand) <= 0 ? fitted(existing, operand.length) : operand;
    case MutationType.byteMax:
      return Buffer.compare(existing, operand) >= 0 ? existing : operand;
    case MutationType.byteMin:
      return Buffer.compare(existing, operand) <= 0 ? existing : operand;
    case MutationType.appendIfFits: {
      if (existing.length + operand.length > VALUE_SIZE_MAX) return existing;
      const out = allocBytes(existing.length + operand.length);
      out.set(existing);
      out.set(operand, existing.length);
      return out;
    }
    case MutationType.compareAndClear:
      return existing.length === operand.length && Buffer.compare(existing, operand) === 0 ? null : existing;
    default:
      assert(false, `applyAtomicOp called with non-atomic mutation type ${type}`);
  }
}

/** Length of a versionstamp: 8-byte big-endian commit version plus 2-byte big-endian batch order. */
export const VERSIONSTAMP_BYTES = 10;

/** Builds the 10-byte versionstamp of a transaction committed at `version` as number `order` of its batch. */
export function makeVersionstamp(version: number, order: number): Uint8Array {
  const stamp = new Uint8Array(VERSIONSTAMP_BYTES);
  const view = new DataView(stamp.buffer);
  view.setBigUint64(0, BigInt(version));
  view.setUint16(8, order);
  return stamp;
}

/**
 * Substitutes a versionstamp into a versionstamped key or value: the last four bytes are a
 * little-endian offset of the 10-byte placeholder; they are dropped and the placeholder replaced.
 */
export function substituteVersionstamp(bytes: Uint8Array, stamp: Uint8Array): Uint8Array {
  const offset = readVersionstampOffset(bytes);
  assert(offset >= 0, 'versionstamp offset validated when the mutation was added');
  const out = new Uint8Array(bytes.subarray(0, bytes.length - 4));
  out.set(stamp, offset);
  return out;
}

/**
 * Reads and checks the placeholder offset at the end of a versionstamped key or value.
 * @returns the offset, or -1 when it does not leave room for the 10-byte placeholder.
 */
export function readVersionstampOffset(bytes: Uint8Array): number {
  if (bytes.length < 4 + VERSIONSTAMP_BYTES) return -1;
  const n = bytes.length;
  const offset = (bytes[n - 4]! | (bytes[n - 3]! << 8) | (bytes[n - 2]! << 16) | (bytes[n - 1]! << 24)) >>> 0;
  return offset + VERSIONSTAMP_BYTES <= n - 4 ? offset : -1;
}
