/**
 * Encoders: how a subspace turns typed keys and values into bytes and back.
 */
import { Packr } from 'msgpackr';
import { pack, unpack, type Tuple, type TupleItem } from './tuple.js';

/** Turns values of type `T` into bytes and back. */
export interface Encoder<T> {
  pack(value: T): Uint8Array;
  unpack(bytes: Uint8Array): T;
}

/** Tuples as keys or values (the default key encoder of a subspace). */
export const tupleEncoder: Encoder<TupleItem[]> = {
  pack: (value: Tuple) => pack(value),
  unpack: (bytes) => unpack(bytes),
};

/** Raw bytes, unchanged (the default value encoder of a subspace). */
export const bytesEncoder: Encoder<Uint8Array> = {
  pack: (value) => value,
  unpack: (bytes) => bytes,
};

const packr = new Packr({ useRecords: false, moreTypes: true });

/**
 * Any value msgpackr can encode (objects, arrays, strings, numbers, bigints, dates, bytes, ...),
 * typed as `T` by the caller.
 * @example `new Subspace(['users']).withValueEncoder(msgpackEncoder<User>())`
 */
export function msgpackEncoder<T>(): Encoder<T> {
  return {
    pack: (value) => packr.pack(value),
    unpack: (bytes) => packr.unpack(bytes) as T,
  };
}
