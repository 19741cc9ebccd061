/**
 * The error table of the core: every code, its FoundationDB number and its retry flags.
 * @packageDocumentation
 */

/** One row of the error table. */
export interface ErrorDefinition {
  /** FoundationDB's number for the same error, or a Strata number (7000 and up) where FoundationDB has none. */
  readonly errno: number;
  /** A retry of the whole transaction may succeed. */
  readonly retryable: boolean;
  /** The transaction may have committed although the call failed. */
  readonly maybeCommitted: boolean;
  /** What the error means, in one sentence. */
  readonly description: string;
}

const row = (errno: number, description: string, retryable = false, maybeCommitted = false): ErrorDefinition => ({
  errno,
  retryable,
  maybeCommitted,
  description,
});

const TABLE = {
  operation_failed: row(1000, 'Operation failed'),
  timed_out: row(1004, 'Operation timed out'),
  connection_failed: row(1026, 'Network connection failed'),
  transaction_too_old: row(1007, 'Transaction is too old to perform reads or be committed', true),
  future_version: row(1009, 'Request for future version', true),
  not_committed: row(1020, 'Transaction not committed due to conflict with another transaction', true),
  commit_unknown_result: row(1021, 'Transaction may or may not have committed', true, true),
  transaction_cancelled: row(1025, 'Operation aborted because the transaction was cancelled'),
  transaction_timed_out: row(1031, 'Operation aborted because the transaction timed out'),
  too_many_watches: row(1032, 'Too many watches currently set'),
  accessed_unreadable: row(1036, 'Read or wrote an unreadable key'),
  operation_cancelled: row(1101, 'Asynchronous operation cancelled'),
  process_behind: row(1037, 'Storage process does not have recent mutations', true),
  server_overloaded: row(1211, 'Server is under too much load and cannot respond', true),
  io_error: row(1510, 'Disk i/o operation failed'),
  file_corrupt: row(1522, 'A structurally corrupt data file was detected'),
  lock_file_failure: row(1529, 'Unable to lock the file'),
  client_invalid_operation: row(2000, 'Invalid API call'),
  key_outside_legal_range: row(2004, 'Key outside legal range'),
  inverted_range: row(2005, 'Range begin key larger than end key'),
  invalid_option_value: row(2006, 'Option set with an invalid value'),
  invalid_option: row(2007, 'Option not valid in this context'),
  used_during_commit: row(2017, 'Operation issued while a commit was outstanding'),
  invalid_mutation_type: row(2018, 'Unrecognized atomic mutation type'),
  no_commit_version: row(2021, 'Transaction is read-only and therefore does not have a commit version'),
  transaction_too_large: row(2101, 'Transaction exceeds byte limit'),
  key_too_large: row(2102, 'Key length exceeds limit'),
  value_too_large: row(2103, 'Value length exceeds limit'),
  internal_error: row(4100, 'An internal error occurred'),
  invalid_argument: row(7001, 'An argument has the wrong type or an impossible value'),
  database_closed: row(7002, 'The database is closed'),
} as const satisfies Record<string, ErrorDefinition>;

/** A stable, snake_case error code from {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof TABLE;

/**
 * Every error code the core raises, with its number and flags.
 *
 * @remarks
 * Codes and numbers below 7000 are FoundationDB's. Retry logic reads the flags here, never message text.
 */
export const ERROR_CODES: Readonly<Record<ErrorCode, ErrorDefinition>> = TABLE;

/** Options of {@link StrataError}'s constructor. */
export interface StrataErrorOptions {
  /** Structured facts about the failure (the limit, the offending size, the file, ...). */
  details?: Record<string, unknown>;
  /** The underlying error, if any. */
  cause?: unknown;
  /**
   * The definition of a code that is not in {@link ERROR_CODES}: layers define their own codes
   * (with numbers from their own range) and pass the definition here, usually from a subclass.
   */
  definition?: ErrorDefinition;
}

/**
 * The one error class of the core.
 *
 * @remarks
 * `code` is stable and snake_case; `errno` is FoundationDB's number where FoundationDB has the same
 * error. `retryable` says a retry of the whole transaction may succeed; `maybeCommitted` says the
 * transaction may have committed although the call failed (`commit_unknown_result`).
 *
 * @example
 * ```ts
 * import { StrataError } from '@strata/core';
 * try {
 *   await db.transact((tx) => tx.set(new Uint8Array(20_000), new Uint8Array()));
 * } catch (error) {
 *   if (error instanceof StrataError && error.code === 'key_too_large') console.log(error.errno); // 2102
 * }
 * ```
 */
export class StrataError extends Error {
  /** Stable snake_case code: one of {@link ERROR_CODES}, or a layer's own. */
  readonly code: string;
  /** FoundationDB's error number, or a Strata number (7000 and up). */
  readonly errno: number;
  /** A retry of the whole transaction may succeed. */
  readonly retryable: boolean;
  /** The transaction may have committed although the call failed. */
  readonly maybeCommitted: boolean;
  /** Structured facts about the failure. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message?: string, options?: StrataErrorOptions);
  constructor(code: string, message: string, options: StrataErrorOptions & { definition: ErrorDefinition });
  constructor(code: string, message?: string, options: StrataErrorOptions = {}) {
    const definition = options.definition ?? (ERROR_CODES as Record<string, ErrorDefinition | undefined>)[code];
    if (definition === undefined) throw new TypeError(`StrataError: unknown error code ${JSON.stringify(code)} without a definition`);
    super(message ?? definition.description, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StrataError';
    this.code = code;
    this.errno = definition.errno;
    this.retryable = definition.retryable;
    this.maybeCommitted = definition.maybeCommitted;
    this.details = options.details ?? {};
  }
}

/** True when `error` is a {@link StrataError}, optionally with the given code. */
export function isStrataError(error: unknown, code?: string): error is StrataError {
  return error instanceof StrataError && (code === undefined || error.code === code);
}
