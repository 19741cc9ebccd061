// Proves the core's documented limits and argument checks: keys up to 10,000 bytes, values up to
// 100,000 bytes and transactions up to 10,000,000 bytes are accepted and one byte more is refused
// with FoundationDB's error; wrong argument types and bad options get invalid_argument or
// invalid_option_value naming the argument; a refused operation commits nothing and leaves the
// database working; and every error carries the number and flags of the ERROR_CODES table.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_SIZE_MAX, TRANSACTION_SIZE_MAX, VALUE_SIZE_MAX } from '../limits.js';
import { encodeVersionstampOffset } from '../util/public-bytes.js';
import { open, type Database } from './database.js';
import { ERROR_CODES, StrataError, isStrataError, type ErrorCode } from './errors.js';
import { KeySelector } from './key-selector.js';
import type { Transaction } from './transaction.js';
import { b, rejectsCode, s, throwsCode } from './test-support.js';

/** A key of `length` bytes that starts with `prefix`. */
const keyOf = (length: number, prefix = 'k'): Uint8Array => {
  const key = new Uint8Array(length).fill(0x61);
  key.set(b(prefix).subarray(0, length));
  return key;
};




let db: Database;

beforeEach(async () => {
  db = await open();
});

afterEach(async () => {
  await db.close();
});

/** Checks that the database still commits and reads, and holds exactly `expected`. */
async function expectWorkingWith(expected: [string, string][]): Promise<void> {
  await db.transact((tx) => tx.set(b('probe'), b('ok')));
  const rows = await db.transact((tx) => tx.getRangeAll(b(''), b('\xff')));
  expect(rows.map((row) => [s(row.key), s(row.value)]).filter(([key]) => key !== 'probe')).toEqual(expected);
  await db.transact((tx) => tx.clear(b('probe')));
}

// ---------------------------------------------------------------------------------------------

describe('key size', () => {
  it('accepts a 10,000-byte key and refuses 10,001 bytes with key_too_large (2102)', async () => {
    expect(KEY_SIZE_MAX).toBe(10_000);
    const largest = keyOf(KEY_SIZE_MAX);
    await db.transact((tx) => tx.set(largest, b('v')));
    expect(s(await db.transact((tx) => tx.get(largest)))).toBe('v');

    const tooLarge = keyOf(KEY_SIZE_MAX + 1);
    const tx = db.createTransaction();
    const error = throwsCode(() => tx.set(tooLarge, b('v')), 'key_too_large');
    expect(error.errno).toBe(2102);
    expect(error.details).toMatchObject({ bytes: KEY_SIZE_MAX + 1, limit: KEY_SIZE_MAX });
    expect(error.message).toContain('10000');
    throwsCode(() => tx.clear(tooLarge), 'key_too_large');
    throwsCode(() => tx.add(tooLarge, new Uint8Array([1])), 'key_too_large');
    throwsCode(() => tx.watch(tooLarge), 'key_too_large');
    await rejectsCode(tx.get(tooLarge), 'key_too_large');
    throwsCode(() => tx.setVersionstampedValue(tooLarge, encodeVersionstampOffset(new Uint8Array(10), 0)), 'key_too_large');
    throwsCode(() => tx.setVersionstampedKey(encodeVersionstampOffset(keyOf(KEY_SIZE_MAX + 1), 0), b('v')), 'key_too_large');
    // A versionstamped key of 10,000 bytes once the offset is dropped is fine.
    tx.setVersionstampedKey(encodeVersionstampOffset(keyOf(KEY_SIZE_MAX, 'stamp'), 5), b('v'));
    await tx.commit();
    expect(await db.transact((reader) => reader.getRangeAll(b('stamp'), b('stamp\xff')))).toHaveLength(1);
  });

  it('range ends may be one byte longer than a key (the key after the largest key), not more', async () => {
    const tx = db.createTransaction();
    expect(await tx.getRangeAll(keyOf(KEY_SIZE_MAX + 1), b('z'))).toEqual([]);
    tx.clearRange(keyOf(KEY_SIZE_MAX), keyOf(KEY_SIZE_MAX + 1));
    throwsCode(() => tx.getRange(b(''), keyOf(KEY_SIZE_MAX + 2)), 'key_too_large');
    throwsCode(() => tx.clearRange(b(''), keyOf(KEY_SIZE_MAX + 2)), 'key_too_large');
  });
});

describe('value size', () => {
  it('accepts a 100,000-byte value and refuses 100,001 bytes with value_too_large (2103)', async () => {
    expect(VALUE_SIZE_MAX).toBe(100_000);
    await db.transact((tx) => tx.set(b('big'), new Uint8Array(VALUE_SIZE_MAX).fill(7)));
    expect((await db.transact((tx) => tx.get(b('big'))))!.length).toBe(VALUE_SIZE_MAX);

    const tx = db.createTransaction();
    const error = throwsCode(() => tx.set(b('bigger'), new Uint8Array(VALUE_SIZE_MAX + 1)), 'value_too_large');
    expect(error.errno).toBe(2103);
    expect(error.details).toMatchObject({ bytes: VALUE_SIZE_MAX + 1, limit: VALUE_SIZE_MAX });
    throwsCode(() => tx.appendIfFits(b('big'), new Uint8Array(VALUE_SIZE_MAX + 1)), 'value_too_large');
    throwsCode(() => tx.setVersionstampedKey(encodeVersionstampOffset(new Uint8Array(10), 0), new Uint8Array(VALUE_SIZE_MAX + 1)), 'value_too_large');
    // The versionstamped value's limit applies once the 4 offset bytes are dropped.
    throwsCode(
      () => tx.setVersionstampedValue(b('stamped'), encodeVersionstampOffset(new Uint8Array(VALUE_SIZE_MAX + 1), 0)),
      'value_too_large',
    );
    tx.setVersionstampedValue(b('stamped'), encodeVersionstampOffset(new Uint8Array(VALUE_SIZE_MAX), 0));
    await tx.commit();
    expect((await db.transact((reader) => reader.get(b('stamped'))))!.length).toBe(VALUE_SIZE_MAX);
    expect(await db.transact((reader) => reader.get(b('bigger')))).toBeNull();
  });
});

describe('transaction size', () => {
  it('refuses the write that takes a transaction past 10,000,000 bytes, and commits nothing of it', async () => {
    expect(TRANSACTION_SIZE_MAX).toBe(10_000_000);
    let accepted = 0;
    const error = await rejectsCode(
      db.transact((tx) => {
        for (let i = 0; i < 101; i++) {
          tx.set(b(`big/${String(i).padStart(3, '0')}`), new Uint8Array(VALUE_SIZE_MAX));
          accepted++;
        }
      }),
      'transaction_too_large',
    );
    expect(error.errno).toBe(2101);
    // About 100,000 bytes per write: the 100th one crosses the limit.
    expect(accepted).toBe(99);
    expect(error.details).toMatchObject({ limit: TRANSACTION_SIZE_MAX });
    await expectWorkingWith([]);
  });

  it('a refused write leaves the transaction’s own view unchanged', async () => {
    const tx = db.createTransaction();
    for (let i = 0; i < 99; i++) tx.set(b(`big/${i}`), new Uint8Array(VALUE_SIZE_MAX));
    throwsCode(() => tx.set(b('last'), new Uint8Array(VALUE_SIZE_MAX)), 'transaction_too_large');
    expect(await tx.get(b('last'))).toBeNull();
    tx.cancel();
    await expectWorkingWith([]);
  });

  it('counts read conflict ranges: a commit over the limit is refused', async () => {
    const tx = db.createTransaction();
    // Each read of a 10,000-byte key adds a read conflict range of about 20,000 bytes.
    for (let i = 0; i < 500; i++) await tx.get(keyOf(KEY_SIZE_MAX, `r${i}/`));
    tx.set(b('small'), b('v'));
    const error = await rejectsCode(tx.commit(), 'transaction_too_large');
    expect(error.errno).toBe(2101);
    await expectWorkingWith([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('argument checks', () => {
  const bad = (value: unknown): Uint8Array => value as Uint8Array;

  it('refuses keys and values that are not Uint8Array with invalid_argument naming the argument', async () => {
    const tx = db.createTransaction();
    const cases: [() => unknown, string][] = [
      [() => tx.set(bad('a'), b('v')), 'set key'],
      [() => tx.set(b('a'), bad(5)), 'set value'],
      [() => tx.set(b('a'), bad(null)), 'set value'],
      [() => tx.set(bad(undefined), bad(undefined)), 'set key'],
      [() => (tx.set as (...args: unknown[]) => void)(), 'set key'],
      [() => tx.clear(bad([1, 2])), 'clear key'],
      [() => tx.clearRange(b('a'), bad('z')), 'clearRange end'],
      [() => tx.getRange(bad('a'), b('z')), 'getRange begin'],
      [() => tx.add(b('a'), bad([1])), 'add value'],
      [() => tx.watch(bad('a')), 'watch key'],
      [() => tx.addReadConflictRange(bad(1), b('z')), 'addReadConflictRange begin'],
      [() => tx.addWriteConflictRange(b('a'), bad({})), 'addWriteConflictRange end'],
      [() => tx.setVersionstampedKey(bad('k'), b('v')), 'setVersionstampedKey key'],
    ];
    for (const [call, argument] of cases) {
      const error = throwsCode(call, 'invalid_argument');
      expect(error.message).toContain(argument);
    }
    const getError = await rejectsCode(tx.get(bad(null)), 'invalid_argument');
    expect(getError.message).toContain('get key');
  });

  it('refuses a bad range limit with an error naming the limit', () => {
    const tx = db.createTransaction();
    for (const limit of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
      let error: unknown;
      try {
        tx.getRange(b('a'), b('z'), { limit });
      } catch (caught) {
        error = caught;
      }
      expect(isStrataError(error, 'invalid_argument') || isStrataError(error, 'invalid_option_value'), `limit ${String(limit)}`).toBe(true);
      expect((error as StrataError).message).toContain('limit');
    }
  });

  it('refuses bad transact options with invalid_option_value naming the option', async () => {
    for (const [options, name] of [
      [{ retryLimit: -1 }, 'retryLimit'],
      [{ retryLimit: Number.NaN }, 'retryLimit'],
      [{ maxRetryDelayMs: 'soon' as unknown as number }, 'maxRetryDelayMs'],
      [{ timeoutMs: -5 }, 'timeoutMs'],
    ] as const) {
      let ran = false;
      const error = await rejectsCode(
        db.transact((tx) => {
          ran = true;
          tx.set(b('a'), b('1'));
        }, options),
        'invalid_option_value',
      );
      expect(error.message).toContain(name);
      expect(ran).toBe(false);
    }
    await rejectsCode(db.transact(42 as unknown as () => void), 'invalid_argument');
    await expectWorkingWith([]);
  });

  it('refuses a bad transaction timeout option', () => {
    const error = throwsCode(() => db.createTransaction({ timeoutMs: 'soon' as unknown as number }), 'invalid_option_value');
    expect(error.message).toContain('timeoutMs');
    throwsCode(() => db.createTransaction({ timeoutMs: -1 }), 'invalid_option_value');
  });

  it('refuses bad open options', async () => {
    await rejectsCode(open({ path: '' }), 'invalid_argument');
    await rejectsCode(open({ path: 7 as unknown as string }), 'invalid_argument');
    await rejectsCode(open({ mvccWindowMs: 0 }), 'invalid_argument');
    await rejectsCode(open({ mvccWindowMs: Number.NaN }), 'invalid_argument');
  });

  it('refuses a selector argument that is not a KeySelector', async () => {
    const tx = db.createTransaction();
    await rejectsCode(tx.getKey(bad('a') as unknown as KeySelector), 'invalid_argument');
  });
});

describe('a refused operation', () => {
  it('inside transact commits nothing of that transaction and leaves the database working', async () => {
    await db.transact((tx) => tx.set(b('kept'), b('1')));
    const refusals: [ErrorCode, (tx: Transaction) => unknown][] = [
      ['key_too_large', (tx) => tx.set(keyOf(KEY_SIZE_MAX + 1), b('v'))],
      ['value_too_large', (tx) => tx.set(b('x'), new Uint8Array(VALUE_SIZE_MAX + 1))],
      ['invalid_argument', (tx) => tx.set(b('x') as unknown as Uint8Array, 'v' as unknown as Uint8Array)],
      ['key_outside_legal_range', (tx) => tx.set(b('\xffsystem'), b('v'))],
      ['inverted_range', (tx) => tx.clearRange(b('z'), b('a'))],
      ['invalid_mutation_type', (tx) => tx.atomicOp('nope' as 'add', b('x'), b('v'))],
    ];
    for (const [code, refuse] of refusals) {
      await rejectsCode(
        db.transact(async (tx) => {
          tx.set(b('lost'), b('x'));
          tx.clear(b('kept'));
          await refuse(tx);
        }),
        code,
      );
    }
    await expectWorkingWith([['kept', '1']]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('the error table', () => {
  it('gives every StrataError the code, errno and flags of its row', () => {
    for (const [code, row] of Object.entries(ERROR_CODES) as [ErrorCode, (typeof ERROR_CODES)[ErrorCode]][]) {
      const cause = new Error('underlying');
      const error = new StrataError(code, undefined, { cause, details: { field: 1 } });
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('StrataError');
      expect(error.code).toBe(code);
      expect(error.errno).toBe(row.errno);
      expect(error.retryable).toBe(row.retryable);
      expect(error.maybeCommitted).toBe(row.maybeCommitted);
      expect(error.message).toBe(row.description);
      expect(error.cause).toBe(cause);
      expect(error.details).toEqual({ field: 1 });
      expect(isStrataError(error)).toBe(true);
      expect(isStrataError(error, code)).toBe(true);
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    }
    expect(isStrataError(new Error('x'))).toBe(false);
  });

  it('uses FoundationDB’s numbers and retry flags where FoundationDB has the error', () => {
    const foundationdb: Partial<Record<ErrorCode, number>> = {
      transaction_too_old: 1007,
      future_version: 1009,
      not_committed: 1020,
      commit_unknown_result: 1021,
      transaction_cancelled: 1025,
      transaction_timed_out: 1031,
      accessed_unreadable: 1036,
      operation_cancelled: 1101,
      key_outside_legal_range: 2004,
      inverted_range: 2005,
      invalid_option_value: 2006,
      used_during_commit: 2017,
      invalid_mutation_type: 2018,
      no_commit_version: 2021,
      transaction_too_large: 2101,
      key_too_large: 2102,
      value_too_large: 2103,
    };
    for (const [code, errno] of Object.entries(foundationdb)) expect(ERROR_CODES[code as ErrorCode].errno, code).toBe(errno);
    const retryable = Object.entries(ERROR_CODES)
      .filter(([, row]) => row.retryable)
      .map(([code]) => code);
    expect(retryable).toEqual(expect.arrayContaining(['transaction_too_old', 'future_version', 'not_committed', 'commit_unknown_result']));
    for (const code of ['transaction_timed_out', 'transaction_too_large', 'key_too_large', 'value_too_large', 'invalid_argument', 'used_during_commit']) {
      expect(ERROR_CODES[code as ErrorCode].retryable, code).toBe(false);
    }
    const maybeCommitted = Object.entries(ERROR_CODES)
      .filter(([, row]) => row.maybeCommitted)
      .map(([code]) => code);
    expect(maybeCommitted).toEqual(['commit_unknown_result']);
    const numbers = Object.values(ERROR_CODES).map((row) => row.errno);
    expect(new Set(numbers).size).toBe(numbers.length);
  });
});
