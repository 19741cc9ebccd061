/**
 * The jobs layer's error codes: every failure of this package is a {@link JobsError} (a
 * `StrataError`) with one of these codes and numbers (Strata's range 7300-7399).
 */
import { StrataError, type ErrorDefinition, type StrataErrorOptions } from '@strata/core';

const row = (errno: number, description: string): ErrorDefinition => ({ errno, retryable: false, maybeCommitted: false, description });

/** Every error code of the jobs layer. */
export const JOBS_ERROR_CODES = {
  payload_invalid: row(7301, 'The job payload does not match the queue schema'),
  lease_lost: row(7302, 'The worker no longer holds the lease of the job (it expired and was reclaimed, or the job was cancelled)'),
  job_not_found: row(7303, 'No job has this id'),
  invalid_option: row(7304, 'An option of a queue, job or worker is malformed'),
  invalid_state: row(7305, 'The job is not in a state that allows the operation'),
  worker_stopped: row(7306, 'The worker was stopped'),
  cron_invalid: row(7307, 'The cron expression is malformed'),
  job_timed_out: row(7308, 'The attempt ran longer than the job timeout'),
} as const satisfies Record<string, ErrorDefinition>;

/** A stable snake_case code from {@link JOBS_ERROR_CODES}. */
export type JobsErrorCode = keyof typeof JOBS_ERROR_CODES;

/** An error of the jobs layer: a `StrataError` with a code from {@link JOBS_ERROR_CODES}. */
export class JobsError extends StrataError {
  constructor(code: JobsErrorCode, message: string, options: Omit<StrataErrorOptions, 'definition'> = {}) {
    super(code, message, { ...options, definition: JOBS_ERROR_CODES[code] });
    this.name = 'JobsError';
  }
}
