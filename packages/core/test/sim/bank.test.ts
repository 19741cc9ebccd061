// Proves that concurrent transfers through db.transact keep the bank's invariants: the sum of the
// balances never changes and no balance goes negative, as seen by concurrent read-only
// transactions during the run and at the end, and each account ends with exactly its initial
// balance plus the transfers that committed; with get/set transfers, with atomic-add credits, on a
// data directory across a reopen; and that a resolver ignoring read conflicts breaks these checks.
// Replay with SEED=<n>: the seed fixes balances, transfers and retry jitter; client interleaving may
// still vary, because commits wait on real I/O callbacks.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Database, type Transaction, nodeRuntime, open, prefixRange, seededRandom, utf8 } from '../../src/index.js';
import { Resolver, type Resolution, type ResolveTransaction } from '../../src/internal.js';

const SEED = process.env.SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SEED);
console.log(`bank: SEED=${SEED}`);

const ACCOUNTS = 100;
const CLIENTS = 50;
const TRANSFERS_PER_CLIENT = 100;
const BALANCE_INITIAL_MAX = 1000;
const AMOUNT_MAX = 300;
const PREFIX = utf8('bank/');
const ACCOUNT_RANGE = prefixRange(PREFIX);

/** How a transfer credits the destination: read it and `set`, or a blind atomic `add`. */
type CreditStyle = 'set' | 'add' | 'mixed';

const accountKey = (index: number): Uint8Array => utf8(`bank/${String(index).padStart(3, '0')}`);

function encodeBalance(balance: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(balance), true);
  return out;
}

/** Balances are 8-byte little-endian; read as signed so a negative balance shows as one. */
function decodeBalance(bytes: Uint8Array | null): number {
  if (bytes === null) throw new Error('an account has no balance');
  expect(bytes.length).toBe(8);
  return Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0, true));
}

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function createAccounts(db: Database, random: () => number): Promise<number[]> {
  const balances = Array.from({ length: ACCOUNTS }, () => Math.floor(random() * BALANCE_INITIAL_MAX));
  await db.transact((tx) => {
    balances.forEach((balance, i) => tx.set(accountKey(i), encodeBalance(balance)));
  });
  return balances;
}

/** Every balance, in one read-only transaction: with one range read, or with one get per account. */
async function readBalances(db: Database, useRange: boolean): Promise<number[]> {
  return db.transact(async (tx: Transaction) => {
    if (useRange) {
      const pairs = await tx.getRangeAll(ACCOUNT_RANGE.begin, ACCOUNT_RANGE.end);
      expect(pairs.length).toBe(ACCOUNTS);
      return pairs.map((pair) => decodeBalance(pair.value));
    }
    return Promise.all(Array.from({ length: ACCOUNTS }, async (_, i) => decodeBalance(await tx.get(accountKey(i)))));
  });
}

function expectInvariants(balances: number[], total: number, when: string): void {
  const negative = balances.findIndex((balance) => balance < 0);
  expect(negative, `${when}: account ${negative} is negative (${balances[negative]})`).toBe(-1);
  expect(
    balances.reduce((sum, balance) => sum + balance, 0),
    `${when}: sum of balances`,
  ).toBe(total);
}

interface BankRun {
  initial: number[];
  /** Initial balances plus every committed transfer. */
  expected: number[];
  total: number;
  transfers: number;
  checksDuringRun: number;
}

/**
 * Runs CLIENTS concurrent clients doing random transfers while a reader checks the invariants.
 * Returns what the balances must be; the caller compares.
 */
async function runBank(db: Database, seed: number, style: CreditStyle, checkDuringRun = true): Promise<BankRun> {
  const random = seededRandom(seed);
  const initial = await createAccounts(db, random);
  const total = initial.reduce((sum, balance) => sum + balance, 0);
  const expected = [...initial];
  let transfers = 0;
  let done = false;

  const client = async (index: number): Promise<void> => {
    const own = seededRandom((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    for (let t = 0; t < TRANSFERS_PER_CLIENT; t++) {
      const from = Math.floor(own() * ACCOUNTS);
      const to = (from + 1 + Math.floor(own() * (ACCOUNTS - 1))) % ACCOUNTS;
      const amount = 1 + Math.floor(own() * AMOUNT_MAX);
      const credit = style === 'mixed' ? (own() < 0.5 ? 'set' : 'add') : style;
      const pause = own() < 0.5;
      const moved = await db.transact(
        async (tx) => {
          const source = decodeBalance(await tx.get(accountKey(from)));
          if (pause) await yieldTurn();
          if (source < amount) return false;
          tx.set(accountKey(from), encodeBalance(source - amount));
          if (credit === 'add') {
            tx.add(accountKey(to), encodeBalance(amount));
          } else {
            const destination = decodeBalance(await tx.get(accountKey(to)));
            tx.set(accountKey(to), encodeBalance(destination + amount));
          }
          return true;
        },
        { maxRetryDelayMs: 20 },
      );
      if (moved) {
        expected[from]! -= amount;
        expected[to]! += amount;
        transfers++;
      }
    }
  };

  let checksDuringRun = 0;
  const reader = async (): Promise<void> => {
    while (!done) {
      expectInvariants(await readBalances(db, checksDuringRun % 2 === 0), total, `reader check ${checksDuringRun}`);
      checksDuringRun++;
      await yieldTurn();
    }
  };

  const clients = Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i))).finally(() => (done = true));
  await Promise.all([clients, checkDuringRun ? reader() : Promise.resolve()]);
  return { initial, expected, total, transfers, checksDuringRun };
}

async function expectFinal(db: Database, run: BankRun, when: string): Promise<void> {
  for (const useRange of [true, false]) {
    const balances = await readBalances(db, useRange);
    expectInvariants(balances, run.total, when);
    expect(balances, `${when}: each balance is its initial one plus the committed transfers`).toEqual(run.expected);
  }
}

describe('bank transfers', () => {
  it('keep the total with get/set transfers (in memory)', async () => {
    const seed = SEED;
    const db = await open({ runtime: { ...nodeRuntime, random: seededRandom(seed) } });
    try {
      const run = await runBank(db, seed, 'set');
      await expectFinal(db, run, 'at the end');
      expect(run.checksDuringRun).toBeGreaterThan(0);
      expect(run.transfers).toBeGreaterThan(CLIENTS * TRANSFERS_PER_CLIENT * 0.5);
      console.log(`bank (set): ${run.transfers} transfers, ${run.checksDuringRun} checks during the run`);
    } finally {
      await db.close();
    }
  });

  it('keep the total with atomic-add credits (in memory)', async () => {
    const seed = (SEED + 1) >>> 0;
    const db = await open({ runtime: { ...nodeRuntime, random: seededRandom(seed) } });
    try {
      const run = await runBank(db, seed, 'add');
      await expectFinal(db, run, 'at the end');
      expect(run.checksDuringRun).toBeGreaterThan(0);
      console.log(`bank (add): ${run.transfers} transfers, ${run.checksDuringRun} checks during the run`);
    } finally {
      await db.close();
    }
  });

  it('keep the total on a data directory with a short MVCC window, and after reopening it', async () => {
    const seed = (SEED + 2) >>> 0;
    const directory = await mkdtemp(path.join(os.tmpdir(), 'strata-bank-'));
    try {
      // A short MVCC window makes the storage server move versions into the classic-level engine
      // during the run, so reads combine the in-memory window with the durable engine.
      const db = await open({ path: directory, mvccWindowMs: 100, runtime: { ...nodeRuntime, random: seededRandom(seed) } });
      let run: BankRun;
      try {
        run = await runBank(db, seed, 'mixed');
        await expectFinal(db, run, 'at the end');
        expect(run.checksDuringRun).toBeGreaterThan(0);
        console.log(`bank (data directory): ${run.transfers} transfers, ${run.checksDuringRun} checks during the run`);
      } finally {
        await db.close();
      }
      const reopened = await open({ path: directory });
      try {
        await expectFinal(reopened, run, 'after reopening');
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('detects lost updates when the resolver ignores read conflicts', async () => {
    // A resolver that checks nothing: every transaction commits, so concurrent transfers overwrite
    // each other's balances. The same checks must then fail.
    class NoReadConflicts extends Resolver {
      override resolve(version: number, transactions: readonly ResolveTransaction[]): Resolution[] {
        return super.resolve(
          version,
          transactions.map((transaction) => ({ ...transaction, readRanges: [], readPoints: [] })),
        );
      }
    }
    const seed = (SEED + 3) >>> 0;
    const db = await open({
      runtime: { ...nodeRuntime, random: seededRandom(seed) },
      testing: { createResolver: (options) => new NoReadConflicts(options) },
    });
    try {
      const run = await runBank(db, seed, 'set', false);
      const balances = await readBalances(db, true);
      expect(balances).not.toEqual(run.expected);
      expect(balances.reduce((sum, balance) => sum + balance, 0)).not.toBe(run.total);
    } finally {
      await db.close();
    }
  });
});
