/**
 * Retry backoff: how long a failed attempt waits before the job runs again.
 */
import { JobsError } from './errors.js';

/**
 * How retries are spaced: a fixed delay, or a delay that doubles with each attempt up to a cap,
 * with full jitter (a uniformly random delay between half the computed one and all of it) so
 * failing jobs do not retry in step.
 */
export type Backoff = { type: 'fixed'; delayMs: number } | { type: 'exponential'; delayMs: number; maxDelayMs?: number; jitter?: boolean };

/** The backoff of a queue that names none: exponential from one second, capped at an hour, with jitter. */
export const BACKOFF_DEFAULT: Backoff = { type: 'exponential', delayMs: 1_000, maxDelayMs: 3_600_000, jitter: true };

/**
 * Checks a backoff option.
 * @throws JobsError `invalid_option` naming the field.
 */
export function checkBackoff(backoff: unknown): Backoff {
  const fail = (why: string): never => {
    throw new JobsError('invalid_option', `backoff ${why}`);
  };
  if (typeof backoff !== 'object' || backoff === null) return fail('must be an object');
  const b = backoff as Record<string, unknown>;
  const delay = (name: string, value: unknown): void => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`.${name} must be a non-negative number of milliseconds, got ${String(value)}`);
  };
  if (b['type'] === 'fixed') {
    delay('delayMs', b['delayMs']);
    return { type: 'fixed', delayMs: b['delayMs'] as number };
  }
  if (b['type'] === 'exponential') {
    delay('delayMs', b['delayMs']);
    if (b['maxDelayMs'] !== undefined) delay('maxDelayMs', b['maxDelayMs']);
    if (b['jitter'] !== undefined && typeof b['jitter'] !== 'boolean') fail('.jitter must be a boolean');
    return {
      type: 'exponential',
      delayMs: b['delayMs'] as number,
      ...(b['maxDelayMs'] !== undefined ? { maxDelayMs: b['maxDelayMs'] as number } : {}),
      ...(b['jitter'] !== undefined ? { jitter: b['jitter'] as boolean } : {}),
    };
  }
  return fail(`.type must be "fixed" or "exponential", got ${JSON.stringify(b['type'])}`);
}

/** The delay before the attempt after `attempts` failed ones (`attempts` >= 1); `random` gives [0, 1). */
export function backoffDelayMs(backoff: Backoff, attempts: number, random: () => number): number {
  if (backoff.type === 'fixed') return backoff.delayMs;
  const cap = backoff.maxDelayMs ?? Infinity;
  const delay = Math.min(cap, backoff.delayMs * 2 ** Math.min(attempts - 1, 60));
  return backoff.jitter === false ? delay : Math.round(delay / 2 + (random() * delay) / 2);
}
