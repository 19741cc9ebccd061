/**
 * The 8-byte little-endian two's-complement integers that count and sum indexes keep, written by
 * the core's atomic add.
 */

/** `value` (wrapped to 64 bits) as an atomic add's operand. */
export function int64(value: bigint): Uint8Array {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigInt64(0, BigInt.asIntN(64, value), true);
  return bytes;
}

/**
 * Reads an integer written by atomic adds (missing: 0). A shorter stored value is zero-extended
 * and a longer one truncated, as the atomic add itself treats them.
 */
export function readInt64(bytes: Uint8Array | null): bigint {
  if (bytes === null) return 0n;
  const padded = new Uint8Array(8);
  padded.set(bytes.subarray(0, 8));
  return new DataView(padded.buffer).getBigInt64(0, true);
}
