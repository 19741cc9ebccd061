/**
 * The record layer's error codes: every failure of this package is a {@link RecordLayerError}
 * (a `StrataError`) with one of these codes and numbers (Strata's range 7200-7299).
 */
import { StrataError, type ErrorDefinition, type StrataErrorOptions } from '@strata/core';

const row = (errno: number, description: string): ErrorDefinition => ({ errno, retryable: false, maybeCommitted: false, description });

/** Every error code of the record layer. */
export const RECORD_LAYER_ERROR_CODES = {
  record_invalid: row(7201, 'The record does not match its record type'),
  unknown_field: row(7202, 'The field is not part of the record type'),
  unique_violation: row(7203, 'Another record already has this value in a unique index'),
  record_exists: row(7204, 'A record with this primary key already exists'),
  record_not_found: row(7205, 'No record has this primary key'),
  unknown_record_type: row(7206, 'The record type is not part of the schema'),
  no_index_for_query: row(7207, 'No index serves the query'),
  schema_incompatible: row(7208, 'The schema cannot change this way while records are stored'),
  invalid_query: row(7209, 'The query is malformed'),
  invalid_schema: row(7210, 'The schema definition is malformed'),
  foreign_key_violation: row(7211, 'The write would leave a reference without the record it names'),
  pg_schema_not_found: row(7212, 'The PostgreSQL database has no schema of this name'),
  schema_changed: row(7213, "The store's schema changed since this store object was opened; open the store again"),
} as const satisfies Record<string, ErrorDefinition>;

/** A stable snake_case code from {@link RECORD_LAYER_ERROR_CODES}. */
export type RecordLayerErrorCode = keyof typeof RECORD_LAYER_ERROR_CODES;

/** An error of the record layer: a `StrataError` with a code from {@link RECORD_LAYER_ERROR_CODES}. */
export class RecordLayerError extends StrataError {
  constructor(code: RecordLayerErrorCode, message: string, options: Omit<StrataErrorOptions, 'definition'> = {}) {
    super(code, message, { ...options, definition: RECORD_LAYER_ERROR_CODES[code] });
    this.name = 'RecordLayerError';
  }
}
