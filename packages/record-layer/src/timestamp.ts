/**
 * Timestamps with microsecond precision (JavaScript's Date keeps milliseconds; PostgreSQL keeps
 * microseconds).
 */
import { z } from 'zod';
import { RecordLayerError } from './errors.js';

// Marks Timestamps for `instanceof`. Symbol.for gives every copy of this package in a process the
// same symbol: two installed versions share msgpackr's registry of extension types, so records
// decode to the Timestamp of whichever copy registered last, and each copy must accept the other's.
const BRAND = Symbol.for('@strata/records.Timestamp');

/**
 * An instant as whole microseconds since 1970-01-01T00:00:00Z.
 * @example
 * ```ts
 * const t = Timestamp.parse('2024-05-01T12:00:00.123456Z');
 * t.micros; // 1714564800123456n
 * ```
 */
export class Timestamp {
  /**
   * Whether `value` is a Timestamp of this or of any other copy of `@strata/records` loaded in the
   * process (two installed versions, say), so records that one copy decodes pass the other's checks.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
  }
  /** Microseconds since the Unix epoch. */
  readonly micros: bigint;
  constructor(micros: bigint) {
    if (typeof micros !== 'bigint') throw new RecordLayerError('record_invalid', 'a Timestamp holds microseconds as a bigint');
    this.micros = micros;
  }
  /** The instant of a Date (its milliseconds, with zero microseconds). */
  static fromDate(date: Date): Timestamp {
    const ms = date.getTime();
    if (Number.isNaN(ms)) throw new RecordLayerError('record_invalid', 'cannot make a Timestamp from an invalid Date');
    return new Timestamp(BigInt(ms) * 1000n);
  }
  /** Now, from the system clock. */
  static now(): Timestamp {
    return Timestamp.fromDate(new Date());
  }
  /**
   * Parses an ISO 8601 instant with up to six fractional digits and a `Z` or `±hh:mm` offset.
   * @throws RecordLayerError `record_invalid` for any other text.
   */
  static parse(text: string): Timestamp {
    const match = /^((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2}))(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
    if (match === null) throw new RecordLayerError('record_invalid', `not an ISO 8601 instant with at most microseconds: ${JSON.stringify(text)}`);
    const [year, month, day, hour, minute, second] = match.slice(2, 8).map(Number) as [number, number, number, number, number, number];
    // Date.parse rolls impossible dates over (February 30 becomes March 1): check the fields first.
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
      throw new RecordLayerError('record_invalid', `not a valid instant: ${JSON.stringify(text)}`);
    }
    const seconds = Date.parse(`${match[1]}${match[9]}`);
    if (Number.isNaN(seconds)) throw new RecordLayerError('record_invalid', `not a valid instant: ${JSON.stringify(text)}`);
    const fraction = BigInt((match[8] ?? '').padEnd(6, '0'));
    return new Timestamp(BigInt(seconds) * 1000n + fraction);
  }
  /** The Date of this instant (microseconds below a millisecond are dropped). */
  toDate(): Date {
    return new Date(Number(this.micros / 1000n - (this.micros % 1000n < 0n ? 1n : 0n)));
  }
  /** ISO 8601 in UTC with six fractional digits. */
  toISOString(): string {
    const micros = ((this.micros % 1_000_000n) + 1_000_000n) % 1_000_000n;
    const seconds = (this.micros - micros) / 1_000_000n;
    const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
    return `${base}.${micros.toString().padStart(6, '0')}Z`;
  }
  /** The same as {@link Timestamp.toISOString}. */
  toJSON(): string {
    return this.toISOString();
  }
}

Object.defineProperty(Timestamp.prototype, BRAND, { value: true });

/** The zod schema of a {@link Timestamp} field. */
export const timestamp = (): z.ZodType<Timestamp> => z.instanceof(Timestamp);
