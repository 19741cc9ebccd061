// Proves that Timestamp keeps instants to the microsecond: ISO 8601 text parses and prints back
// unchanged (with offsets, before 1970, at random instants), Dates convert both ways with the
// floor taken below a millisecond, and malformed or impossible text is refused with record_invalid.
// Replay the randomized round trip with SEED=<n>.
import { seededRandom } from '@strata/core';
import { describe, expect, it } from 'vitest';
import { RecordLayerError } from './errors.js';
import { Timestamp, timestamp } from './timestamp.js';

const SEED = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
console.log(`timestamp: SEED=${SEED}`);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RecordLayerError);
    return (error as RecordLayerError).code;
  }
  return undefined;
}

describe('Timestamp.parse and toISOString', () => {
  it('keeps all six fractional digits', () => {
    const t = Timestamp.parse('2024-05-01T12:00:00.123456Z');
    expect(t.micros).toBe(1714564800123456n);
    expect(t.toISOString()).toBe('2024-05-01T12:00:00.123456Z');
    expect(Timestamp.parse(t.toISOString()).micros).toBe(t.micros);
  });

  it('pads shorter fractions on the right and prints six digits', () => {
    expect(Timestamp.parse('2024-05-01T12:00:00.5Z').micros).toBe(1714564800500000n);
    expect(Timestamp.parse('2024-05-01T12:00:00.000001Z').micros).toBe(1714564800000001n);
    expect(Timestamp.parse('2024-05-01T12:00:00Z').toISOString()).toBe('2024-05-01T12:00:00.000000Z');
    expect(Timestamp.parse('2024-05-01T12:00:00.12Z').toISOString()).toBe('2024-05-01T12:00:00.120000Z');
  });

  it('applies a ±hh:mm offset and prints UTC', () => {
    const plus = Timestamp.parse('2024-05-01T14:00:00.000007+02:00');
    const minus = Timestamp.parse('2024-05-01T07:30:00.000007-04:30');
    expect(plus.micros).toBe(Timestamp.parse('2024-05-01T12:00:00.000007Z').micros);
    expect(minus.micros).toBe(plus.micros);
    expect(plus.toISOString()).toBe('2024-05-01T12:00:00.000007Z');
  });

  it('handles instants before 1970 (negative microseconds)', () => {
    expect(Timestamp.parse('1969-12-31T23:59:59.999999Z').micros).toBe(-1n);
    expect(new Timestamp(-1n).toISOString()).toBe('1969-12-31T23:59:59.999999Z');
    expect(new Timestamp(-1_000_000n).toISOString()).toBe('1969-12-31T23:59:59.000000Z');
    expect(new Timestamp(-1_000_001n).toISOString()).toBe('1969-12-31T23:59:58.999999Z');
    const old = '1900-02-28T23:59:59.000001Z';
    expect(Timestamp.parse(old).toISOString()).toBe(old);
    expect(Timestamp.parse(old).micros).toBe(BigInt(Date.parse('1900-02-28T23:59:59Z')) * 1000n + 1n);
    expect(Timestamp.parse('1970-01-01T00:00:00Z').micros).toBe(0n);
  });

  it('round-trips random instants between years 1000 and 9000 exactly', () => {
    const random = seededRandom(SEED);
    const span = 8000n * 365n * 86_400_000_000n;
    const start = BigInt(Date.parse('1000-01-01T00:00:00Z')) * 1000n;
    for (let i = 0; i < 2000; i++) {
      const micros = start + (BigInt(Math.floor(random() * 2 ** 30)) * span) / 2n ** 30n + BigInt(Math.floor(random() * 1_000_000));
      const text = new Timestamp(micros).toISOString();
      expect(text, `SEED=${SEED}`).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);
      expect(Timestamp.parse(text).micros, `SEED=${SEED} ${text}`).toBe(micros);
      // The whole-millisecond part agrees with Date's own printing.
      expect(text.slice(0, 23)).toBe(new Timestamp(micros).toDate().toISOString().slice(0, 23));
    }
  });

  it('toJSON is toISOString', () => {
    const t = Timestamp.parse('2001-09-09T01:46:40.000123Z');
    expect(t.toJSON()).toBe(t.toISOString());
    expect(JSON.stringify({ t })).toBe('{"t":"2001-09-09T01:46:40.000123Z"}');
  });

  it('refuses text that is not an ISO 8601 instant with at most microseconds', () => {
    for (const text of [
      '',
      '2024-05-01',
      '2024-05-01T12:00:00',
      '2024-05-01 12:00:00Z',
      '2024-05-01T12:00:00.1234567Z',
      '2024-05-01T12:00:00.Z',
      '2024-05-01T12:00:00z',
      '2024-05-01T12:00Z',
      ' 2024-05-01T12:00:00Z',
      '2024-05-01T12:00:00+0200',
      '2024-13-01T00:00:00Z',
      'yesterday',
    ]) {
      expect(codeOf(() => Timestamp.parse(text)), text).toBe('record_invalid');
    }
  });

  it('refuses calendar dates that do not exist instead of rolling them over', () => {
    // V8's Date.parse turns 2024-02-30 into 2024-03-01; a timestamp column must not.
    expect(codeOf(() => Timestamp.parse('2024-02-30T00:00:00Z'))).toBe('record_invalid');
    expect(codeOf(() => Timestamp.parse('2023-02-29T00:00:00Z'))).toBe('record_invalid');
    expect(codeOf(() => Timestamp.parse('2024-04-31T00:00:00Z'))).toBe('record_invalid');
  });
});

describe('Timestamp and Date', () => {
  it('fromDate keeps the milliseconds with zero microseconds', () => {
    expect(Timestamp.fromDate(new Date(1714564800123)).micros).toBe(1714564800123000n);
    expect(Timestamp.fromDate(new Date(-1)).micros).toBe(-1000n);
    expect(Timestamp.fromDate(new Date(0)).toISOString()).toBe('1970-01-01T00:00:00.000000Z');
  });

  it('toDate drops microseconds below a millisecond, rounding towards the past', () => {
    expect(new Timestamp(1999n).toDate().getTime()).toBe(1);
    expect(new Timestamp(1000n).toDate().getTime()).toBe(1);
    expect(new Timestamp(-1n).toDate().getTime()).toBe(-1);
    expect(new Timestamp(-1000n).toDate().getTime()).toBe(-1);
    expect(new Timestamp(-1001n).toDate().getTime()).toBe(-2);
    const date = new Date('1950-06-15T08:09:10.011Z');
    expect(Timestamp.fromDate(date).toDate().getTime()).toBe(date.getTime());
  });

  it('refuses an invalid Date and a micros value that is not a bigint', () => {
    expect(codeOf(() => Timestamp.fromDate(new Date(Number.NaN)))).toBe('record_invalid');
    expect(codeOf(() => new Timestamp(5 as unknown as bigint))).toBe('record_invalid');
  });

  it('now() is a whole millisecond of the system clock', () => {
    const before = Date.now();
    const now = Timestamp.now();
    const after = Date.now();
    expect(now.micros % 1000n).toBe(0n);
    expect(now.micros >= BigInt(before) * 1000n && now.micros <= BigInt(after) * 1000n).toBe(true);
  });

  it('timestamp() accepts Timestamps only', () => {
    expect(timestamp().safeParse(new Timestamp(1n)).success).toBe(true);
    expect(timestamp().safeParse(new Date()).success).toBe(false);
    expect(timestamp().safeParse('2024-05-01T12:00:00Z').success).toBe(false);
    expect(timestamp().safeParse(1n).success).toBe(false);
  });
});

describe('Timestamp of another copy of the package', () => {
  // A class as a second copy of this module defines it: its own prototype, with the shared brand.
  class OtherCopyTimestamp {
    constructor(readonly micros: bigint) {}
  }
  Object.defineProperty(OtherCopyTimestamp.prototype, Symbol.for('@strata/records.Timestamp'), { value: true });

  it('is a Timestamp to instanceof and to timestamp(); look-alikes without the brand are not', () => {
    const other = new OtherCopyTimestamp(5n);
    expect(other instanceof Timestamp).toBe(true);
    expect(timestamp().safeParse(other).success).toBe(true);
    for (const value of [{ micros: 5n }, Object.create(null), null, undefined, 5n, 'Timestamp', new Date()]) {
      expect(value instanceof Timestamp).toBe(false);
      expect(timestamp().safeParse(value).success).toBe(false);
    }
    // The brand lives on the prototype, not on each instance.
    expect(Object.getOwnPropertySymbols(new Timestamp(1n))).toEqual([]);
  });
});
