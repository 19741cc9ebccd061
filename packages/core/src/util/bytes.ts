/**
 * Byte helpers and the engine's internal key representation.
 *
 * @remarks
 * Inside the engine a key is a "binary string": one UTF-16 code unit per byte, each below 256.
 * JavaScript compares such strings code unit by code unit, which is exactly bytewise order, and
 * they hash in a `Map`, so ordered and point lookups need no custom comparator. Keys are converted
 * once at the public API and back when they leave it.
 */

/** A key inside the engine: one char per byte (see module remarks). */
export type KeyString = string;

const latin1Slice = Buffer.prototype.latin1Slice as (this: Uint8Array, start: number, end: number) => string;

/** Converts bytes to the engine's key representation. */
export function toKeyString(bytes: Uint8Array): KeyString {
  return latin1Slice.call(bytes, 0, bytes.length);
}

/**
 * Converts an engine key back to bytes: a fresh, unpooled array the caller owns (a pooled
 * `Buffer` would keep a whole pool chunk alive for as long as the caller holds the key).
 */
export function fromKeyString(key: KeyString): Uint8Array {
  const length = key.length;
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = key.charCodeAt(i);
  return bytes;
}

/** The first key after `key` in bytewise order: `key` followed by a zero byte. */
export function keyAfter(key: KeyString): KeyString {
  return key + '\x00';
}

/** The index of the first key in `sorted` (in bytewise order) at or after `key`; `sorted.length` when none is. */
export function lowerBound(sorted: readonly KeyString[], key: KeyString): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! < key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The bytes a conflict point `key` counts towards the transaction size: those of its range [key, keyAfter(key)). */
export function pointBytes(key: KeyString): number {
  return 2 * key.length + 1;
}

/** The smallest key greater than every key that starts with `prefix` (FoundationDB's strinc). */
export function strincKey(prefix: KeyString): KeyString | null {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0xff) end--;
  if (end === 0) return null;
  return prefix.slice(0, end - 1) + String.fromCharCode(prefix.charCodeAt(end - 1) + 1);
}

/** Bytewise comparison of two byte arrays: negative, zero or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/** True when both arrays hold the same bytes. */
export function equalBytes(a: Uint8Array | null | undefined, b: Uint8Array | null | undefined): boolean {
  if (a == null || b == null) return a == b;
  if (a.length !== b.length) return false;
  return Buffer.compare(a, b) === 0;
}

// Small copies are cut from shared slabs: a typed array over 64 bytes with a buffer of its own costs
// an allocation outside the JavaScript heap (about 0.7 µs on Node 20, ten times a view on a slab).
// Like Node's Buffer pool, a copy kept keeps its slab alive: slabs are as small as that pool's, and
// copies over a kilobyte (where the allocation matters less) get a buffer of their own.
const SLAB_BYTES = 8 * 1024;
const SLAB_COPY_MAX = 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;
/** The one empty array the engine hands out wherever an empty value is wanted (no byte in it to own). */
export const NO_BYTES = new Uint8Array(0);

/**
 * A copy of `bytes` in a new plain `Uint8Array` (`Buffer.prototype.slice` does not copy, so
 * `.slice()` is not a copy for callers who pass Node Buffers); every empty copy is one shared
 * empty array. A small copy is a view on a shared
 * slab: its `buffer` holds other copies too, so use `byteOffset` and `length` with it. Layers use
 * it for the keys and values they make by the thousand (a copy of 65 bytes to 1 KiB costs about a
 * fifth of `Uint8Array.prototype.slice`'s).
 *
 * @example
 * ```ts
 * const key = copyBytes(scratch.subarray(0, length)); // scratch can be reused at once
 * ```
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  // No byte of an empty array can be written, so every empty copy can be the same one (index
  // entries, whose values are empty, are most of what a layer writes).
  if (bytes.length === 0) return NO_BYTES;
  const copy = allocBytes(bytes.length);
  copy.set(bytes);
  return copy;
}

/** A new plain `Uint8Array` of `length` bytes to fill (of unspecified content); small ones are views on a shared slab, as in {@link copyBytes}. */
export function allocBytes(length: number): Uint8Array<ArrayBuffer> {
  if (length > SLAB_COPY_MAX) return new Uint8Array(length);
  if (slabUsed + length > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const bytes = new Uint8Array(slab, slabUsed, length);
  slabUsed += length;
  return bytes;
}

/** Encodes a string as UTF-8 bytes. */
export function utf8(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}

/** Renders bytes the way FoundationDB's tools print keys: printable ASCII as is, other bytes as `\xNN`. */
export function printable(bytes: Uint8Array | KeyString): string {
  let out = '';
  const length = bytes.length;
  for (let i = 0; i < length; i++) {
    const code = typeof bytes === 'string' ? bytes.charCodeAt(i) : bytes[i]!;
    if (code >= 0x20 && code < 0x7f && code !== 0x5c) out += String.fromCharCode(code);
    else out += '\\x' + code.toString(16).padStart(2, '0');
  }
  return out;
}
