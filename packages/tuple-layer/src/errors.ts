/**
 * The tuple layer's error codes: every failure of this package is a {@link TupleLayerError} (a
 * `StrataError`) with one of these codes and numbers (Strata's range 7100-7199).
 */
import { StrataError, type ErrorDefinition, type StrataErrorOptions } from '@strata/core';

const row = (errno: number, description: string): ErrorDefinition => ({ errno, retryable: false, maybeCommitted: false, description });

/** Every error code of the tuple layer. */
export const TUPLE_LAYER_ERROR_CODES = {
  tuple_decode_error: row(7101, 'The bytes are not a valid packed tuple'),
  tuple_encode_error: row(7102, 'The value cannot be packed as a tuple'),
  key_outside_subspace: row(7103, 'The key does not belong to the subspace'),
  directory_already_exists: row(7111, 'The directory already exists'),
  directory_does_not_exist: row(7112, 'The directory does not exist'),
  directory_layer_mismatch: row(7113, 'The directory was created with an incompatible layer'),
  directory_invalid_operation: row(7114, 'The directory operation is not allowed'),
  directory_version_incompatible: row(7115, 'The directory layer stored in the database has an incompatible version'),
} as const satisfies Record<string, ErrorDefinition>;

/** A stable snake_case code from {@link TUPLE_LAYER_ERROR_CODES}. */
export type TupleLayerErrorCode = keyof typeof TUPLE_LAYER_ERROR_CODES;

/**
 * An error of the tuple layer: a `StrataError` whose `code` is one of
 * {@link TUPLE_LAYER_ERROR_CODES}.
 */
export class TupleLayerError extends StrataError {
  constructor(code: TupleLayerErrorCode, message: string, options: Omit<StrataErrorOptions, 'definition'> = {}) {
    super(code, message, { ...options, definition: TUPLE_LAYER_ERROR_CODES[code] });
    this.name = 'TupleLayerError';
  }
}
