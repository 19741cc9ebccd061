// Proves that applyAtomicOp gives every atomic op FoundationDB's documented semantics: little-endian
// arithmetic and comparison at the operand's length, lexicographic byteMax/byteMin, appendIfFits
// at the value limit, compareAndClear, and "a missing value stores the operand".
import { describe, expect, it } from 'vitest';
import { VALUE_SIZE_MAX } from '../limits.js';
import { MutationType, VERSIONSTAMP_BYTES, applyAtomicOp, makeVersionstamp, readVersionstampOffset, substituteVersionstamp } from './mutation.js';

const bytes = (...values: number[]): Uint8Array => new Uint8Array(values);
const list = (value: Uint8Array | null): number[] | null => (value === null ? null : [...value]);
const apply = (type: number, existing: Uint8Array | null, operand: Uint8Array): number[] | null => list(applyAtomicOp(type, existing, operand));

/** Little-endian bytes of `n` in `width` bytes. */
function le(n: bigint, width: number): Uint8Array {
  const out = new Uint8Array(width);
  for (let i = 0; i < width; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

describe('add', () => {
  it('adds little-endian integers with carry across bytes', () => {
    expect(apply(MutationType.add, le(0xffn, 2), le(1n, 2))).toEqual([0x00, 0x01]);
    expect(apply(MutationType.add, le(0x01ffffn, 4), le(0x01n, 4))).toEqual([0x00, 0x00, 0x02, 0x00]);
    expect(apply(MutationType.add, le(123_456_789n, 8), le(987_654_321n, 8))).toEqual([...le(1_111_111_110n, 8)]);
  });

  it('wraps around at the operand width, dropping the final carry', () => {
    expect(apply(MutationType.add, bytes(0xff, 0xff), bytes(0x01, 0x00))).toEqual([0x00, 0x00]);
    expect(apply(MutationType.add, bytes(0xff), bytes(0x02))).toEqual([0x01]);
    // Adding all-ones is subtracting one.
    expect(apply(MutationType.add, le(10n, 4), le(0xffffffffn, 4))).toEqual([...le(9n, 4)]);
  });

  it('zero-extends a stored value shorter than the operand', () => {
    expect(apply(MutationType.add, bytes(0xff), bytes(0x01, 0x00, 0x00))).toEqual([0x00, 0x01, 0x00]);
  });

  it('truncates a stored value longer than the operand (the result has the operand length)', () => {
    expect(apply(MutationType.add, bytes(0x05, 0x07, 0x09), bytes(0x01))).toEqual([0x06]);
    expect(apply(MutationType.add, bytes(0xff, 0x07), bytes(0x01))).toEqual([0x00]);
  });

  it('stores the operand when the value is missing', () => {
    expect(apply(MutationType.add, null, bytes(7, 0, 0, 0))).toEqual([7, 0, 0, 0]);
  });

  it('treats an empty stored value as zero', () => {
    expect(apply(MutationType.add, bytes(), bytes(3, 1))).toEqual([3, 1]);
  });
});

describe('bitAnd, bitOr, bitXor', () => {
  it('combine byte by byte at the operand length', () => {
    expect(apply(MutationType.bitAnd, bytes(0b1100, 0xff), bytes(0b1010, 0x0f))).toEqual([0b1000, 0x0f]);
    expect(apply(MutationType.bitOr, bytes(0b1100, 0x00), bytes(0b1010, 0x0f))).toEqual([0b1110, 0x0f]);
    expect(apply(MutationType.bitXor, bytes(0b1100, 0xff), bytes(0b1010, 0x0f))).toEqual([0b0110, 0xf0]);
  });

  it('zero-extend a shorter stored value and truncate a longer one', () => {
    expect(apply(MutationType.bitAnd, bytes(0xff), bytes(0xff, 0xff))).toEqual([0xff, 0x00]);
    expect(apply(MutationType.bitOr, bytes(0x01), bytes(0x10, 0x20))).toEqual([0x11, 0x20]);
    expect(apply(MutationType.bitXor, bytes(0x0f, 0xaa, 0xbb), bytes(0xff))).toEqual([0xf0]);
  });

  it('store the operand when the value is missing', () => {
    expect(apply(MutationType.bitAnd, null, bytes(0x0f))).toEqual([0x0f]);
    expect(apply(MutationType.bitOr, null, bytes(0x0f))).toEqual([0x0f]);
    expect(apply(MutationType.bitXor, null, bytes(0x0f))).toEqual([0x0f]);
  });
});

describe('max and min', () => {
  it('compare as little-endian unsigned integers, the high byte last', () => {
    // 0x0100 (256) against 0x00ff (255): bytewise the second looks larger, numerically it is not.
    expect(apply(MutationType.max, bytes(0x00, 0x01), bytes(0xff, 0x00))).toEqual([0x00, 0x01]);
    expect(apply(MutationType.min, bytes(0x00, 0x01), bytes(0xff, 0x00))).toEqual([0xff, 0x00]);
    expect(apply(MutationType.max, bytes(0xff, 0x00), bytes(0x00, 0x01))).toEqual([0x00, 0x01]);
    expect(apply(MutationType.min, bytes(0xff, 0x00), bytes(0x00, 0x01))).toEqual([0xff, 0x00]);
  });

  it('zero-extend a shorter stored value to the operand length', () => {
    expect(apply(MutationType.max, bytes(0x09), bytes(0x05, 0x00))).toEqual([0x09, 0x00]);
    expect(apply(MutationType.min, bytes(0x09), bytes(0x05, 0x00))).toEqual([0x05, 0x00]);
    expect(apply(MutationType.min, bytes(0x09), bytes(0x05, 0x01))).toEqual([0x09, 0x00]);
    expect(apply(MutationType.max, bytes(0x09), bytes(0x05, 0x01))).toEqual([0x05, 0x01]);
  });

  it('truncate a longer stored value: its bytes beyond the operand length do not count', () => {
    // Stored 0x0901 (2305) against operand 0x05: only the low byte 0x09 is compared.
    expect(apply(MutationType.max, bytes(0x01, 0x09), bytes(0x05))).toEqual([0x05]);
    expect(apply(MutationType.max, bytes(0x07, 0x09), bytes(0x05))).toEqual([0x07]);
    expect(apply(MutationType.min, bytes(0x01, 0x09), bytes(0x05))).toEqual([0x01]);
    expect(apply(MutationType.min, bytes(0x07, 0x09), bytes(0x05))).toEqual([0x05]);
  });

  it('return a value of the operand length when equal', () => {
    expect(apply(MutationType.max, bytes(4, 0), bytes(4, 0))).toEqual([4, 0]);
    expect(apply(MutationType.min, bytes(4), bytes(4, 0, 0))).toEqual([4, 0, 0]);
  });

  it('store the operand when the value is missing', () => {
    expect(apply(MutationType.max, null, bytes(0, 0))).toEqual([0, 0]);
    expect(apply(MutationType.min, null, bytes(9, 9))).toEqual([9, 9]);
  });
});

describe('byteMax and byteMin', () => {
  it('compare bytes lexicographically, whatever the lengths', () => {
    expect(apply(MutationType.byteMax, bytes(0x01, 0xff, 0xff), bytes(0x02))).toEqual([0x02]);
    expect(apply(MutationType.byteMin, bytes(0x01, 0xff, 0xff), bytes(0x02))).toEqual([0x01, 0xff, 0xff]);
    // A prefix sorts before the longer value.
    expect(apply(MutationType.byteMax, bytes(0x61), bytes(0x61, 0x00))).toEqual([0x61, 0x00]);
    expect(apply(MutationType.byteMin, bytes(0x61), bytes(0x61, 0x00))).toEqual([0x61]);
    expect(apply(MutationType.byteMax, bytes(0x62), bytes(0x61, 0xff))).toEqual([0x62]);
    expect(apply(MutationType.byteMin, bytes(0x62), bytes(0x61, 0xff))).toEqual([0x61, 0xff]);
  });

  it('store the operand when the value is missing', () => {
    expect(apply(MutationType.byteMax, null, bytes(0x00))).toEqual([0x00]);
    expect(apply(MutationType.byteMin, null, bytes(0xff))).toEqual([0xff]);
  });
});

describe('appendIfFits', () => {
  it('appends the operand', () => {
    expect(apply(MutationType.appendIfFits, bytes(1, 2), bytes(3))).toEqual([1, 2, 3]);
    expect(apply(MutationType.appendIfFits, null, bytes(3))).toEqual([3]);
  });

  it('appends when the result is exactly the value limit and keeps the value when one byte more', () => {
    const existing = new Uint8Array(VALUE_SIZE_MAX - 10).fill(7);
    const fits = applyAtomicOp(MutationType.appendIfFits, existing, new Uint8Array(10).fill(8));
    expect(fits!.length).toBe(VALUE_SIZE_MAX);
    expect(fits![VALUE_SIZE_MAX - 11]).toBe(7);
    expect(fits![VALUE_SIZE_MAX - 1]).toBe(8);
    const tooLong = applyAtomicOp(MutationType.appendIfFits, existing, new Uint8Array(11).fill(8));
    expect(tooLong!.length).toBe(VALUE_SIZE_MAX - 10);
    expect(tooLong!.every((b) => b === 7)).toBe(true);
  });
});

describe('compareAndClear', () => {
  it('clears a value equal to the operand', () => {
    expect(apply(MutationType.compareAndClear, bytes(1, 2, 3), bytes(1, 2, 3))).toBeNull();
  });

  it('keeps a value that differs, including one the operand is a prefix of', () => {
    expect(apply(MutationType.compareAndClear, bytes(1, 2, 3), bytes(1, 2, 4))).toEqual([1, 2, 3]);
    expect(apply(MutationType.compareAndClear, bytes(1, 2, 3), bytes(1, 2))).toEqual([1, 2, 3]);
    expect(apply(MutationType.compareAndClear, bytes(1, 2), bytes(1, 2, 0))).toEqual([1, 2]);
  });

  it('leaves a missing value missing', () => {
    expect(apply(MutationType.compareAndClear, null, bytes(1))).toBeNull();
  });
});

it('refuses a non-atomic mutation type loudly', () => {
  expect(() => applyAtomicOp(MutationType.set, bytes(1), bytes(2))).toThrow();
});

describe('versionstamps', () => {
  it('are the 8-byte big-endian commit version then the 2-byte big-endian batch order', () => {
    const stamp = makeVersionstamp(0x0102030405, 0x0a0b);
    expect(stamp.length).toBe(VERSIONSTAMP_BYTES);
    expect([...stamp]).toEqual([0, 0, 0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x0a, 0x0b]);
  });

  it('replace the placeholder at the little-endian offset and drop the 4 offset bytes', () => {
    const template = bytes(0xaa, ...new Array<number>(10).fill(0), 0xbb, 1, 0, 0, 0);
    expect(readVersionstampOffset(template)).toBe(1);
    const stamped = substituteVersionstamp(template, makeVersionstamp(7, 2));
    expect([...stamped]).toEqual([0xaa, 0, 0, 0, 0, 0, 0, 0, 7, 0, 2, 0xbb]);
  });

  it('refuse an offset whose placeholder does not fit', () => {
    expect(readVersionstampOffset(bytes(...new Array<number>(10).fill(0), 1, 0, 0, 0))).toBe(-1);
    expect(readVersionstampOffset(bytes(...new Array<number>(10).fill(0), 0, 0, 0, 0))).toBe(0);
    expect(readVersionstampOffset(bytes(1, 2, 3))).toBe(-1);
  });
});
