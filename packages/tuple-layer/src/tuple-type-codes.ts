/**
 * The type codes of FoundationDB's tuple encoding (design/tuple.md in the FoundationDB
 * repository), shared by the encoder and the decoder.
 */

export const NULL = 0x00;
export const BYTES = 0x01;
export const STRING = 0x02;
export const NESTED = 0x05;
export const NEGATIVE_ARBITRARY_INTEGER = 0x0b;
export const INTEGER_ZERO = 0x14;
export const POSITIVE_ARBITRARY_INTEGER = 0x1d;
export const FLOAT = 0x20;
export const DOUBLE = 0x21;
export const FALSE = 0x26;
export const TRUE = 0x27;
export const UUID = 0x30;
export const VERSIONSTAMP = 0x33;
/** Follows a 0x00 byte inside bytes, strings and nested tuples, so it is not read as a terminator. */
export const ESCAPE = 0xff;
