/**
 * Helpers shared by the API's tests: byte/string conversions and assertions on StrataError.
 * Test-only; not exported by the package.
 */
import { expect } from 'vitest';
import { ERROR_CODES, StrataError, type ErrorCode } from './errors.js';

/** Bytes of a string, one byte per character (so '\xff' is the byte 0xFF). */
export const b = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'latin1'));

/** The string of bytes, one character per byte; `null` stays `null`. */
export function s(bytes: Uint8Array): string;
export function s(bytes: Uint8Array | null): string | null;
export function s(bytes: Uint8Array | null): string | null {
  return bytes === null ? null : Buffer.from(bytes).toString('latin1');
}

/** Checks that `error` is a StrataError with `code` and the number and flags of the error table. */
export function expectStrataError(error: unknown, code: ErrorCode): StrataError {
  expect(error).toBeInstanceOf(StrataError);
  const strata = error as StrataError;
  expect(strata.code).toBe(code);
  expect(strata.errno).toBe(ERROR_CODES[code].errno);
  expect(strata.retryable).toBe(ERROR_CODES[code].retryable);
  expect(strata.maybeCommitted).toBe(ERROR_CODES[code].maybeCommitted);
  return strata;
}

/** Runs `fn`, expecting it to throw the StrataError `code`. */
export function throwsCode(fn: () => unknown, code: ErrorCode): StrataError {
  let error: unknown;
  try {
    fn();
  } catch (caught) {
    error = caught;
  }
  if (error === undefined) throw new Error(`expected the call to throw ${code}`);
  return expectStrataError(error, code);
}

/** Awaits `promise`, expecting it to reject with the StrataError `code`. */
export async function rejectsCode(promise: Promise<unknown>, code: ErrorCode): Promise<StrataError> {
  let error: unknown;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  if (error === undefined) throw new Error(`expected the promise to reject with ${code}`);
  return expectStrataError(error, code);
}
