/**
 * Byte helpers for applications and layers.
 */
import { StrataError } from '../api/errors.js';
import { VERSIONSTAMP_BYTES } from '../api/mutation.js';
export { utf8, printable, copyBytes } from './bytes.js';

/**
 * The first key after every key that starts with `prefix`: the prefix with trailing 0xFF bytes
 * removed and its last byte incremented (FoundationDB's `strinc`).
 * @throws StrataError `invalid_argument` when `prefix` is empty or all 0xFF.
 */
export function strinc(prefix: Uint8Array): Uint8Array {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) throw new StrataError('invalid_argument', 'strinc: the prefix must contain a byte other than 0xFF');
  const out = new Uint8Array(prefix.subarray(0, end));
  out[end - 1]!++;
  return out;
}

/** A key range `[begin, end)`. */
export interface KeyRange {
  /** The first key of the range (inclusive). */
  begin: Uint8Array;
  /** The end of the range (exclusive). */
  end: Uint8Array;
}

/**
 * The range `[begin, end)` of every key that starts with `prefix`.
 * @example
 * ```ts
 * const { begin, end } = prefixRange(utf8('user/'));
 * for await (const { key, value } of tx.getRange(begin, end)) console.log(key, value);
 * ```
 */
export function prefixRange(prefix: Uint8Array): KeyRange {
  return { begin: new Uint8Array(prefix), end: strinc(prefix) };
}

/**
 * Appends the 4-byte little-endian placeholder offset that `setVersionstampedKey` and
 * `setVersionstampedValue` expect, for a 10-byte placeholder at `offset` in `bytes`.
 * @throws StrataError `invalid_argument` when the placeholder does not fit.
 */
export function encodeVersionstampOffset(bytes: Uint8Array, offset: number): Uint8Array {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + VERSIONSTAMP_BYTES > bytes.length) {
    throw new StrataError('invalid_argument', `the 10-byte versionstamp placeholder at offset ${offset} does not fit in ${bytes.length} bytes`);
  }
  const out = new Uint8Array(bytes.length + 4);
  out.set(bytes);
  new DataView(out.buffer).setUint32(bytes.length, offset, true);
  return out;
}
