/**
 * What the records benchmark (`records-bench.ts`) generates: the orders all three systems store,
 * the same sequence for the same seed. Its progress logger is here too. The generic machinery
 * (settings, scratch directories, closed-loop runs, output, PostgreSQL) is `@strata/bench-support`.
 */
import { createLog } from '@strata/bench-support';
import { seededRandom } from '@strata/core';

/** Writes a progress message to stderr, as `[records-bench] <message>`. */
export const info = createLog('records-bench');

// ---------------------------------------------------------------------------------------------
// Orders

/** The statuses an order can have (a zod enum in Strata, TEXT in SQL). */
export const STATUSES = ['pending', 'paid', 'shipped', 'delivered', 'cancelled'] as const;
/** One of {@link STATUSES}. */
export type Status = (typeof STATUSES)[number];

/** An order as the benchmark generates it; each system stores these same values. */
export interface Order {
  id: bigint;
  customerId: bigint;
  status: Status;
  /** In cents. */
  total: bigint;
  /** Microseconds since the Unix epoch. */
  createdAtMicros: bigint;
  /** 80 ASCII bytes. */
  note: string;
}

/** Bytes of every order's note. */
export const NOTE_BYTES = 80;
/** 2024-01-01T00:00:00Z in microseconds: order `id` was created `id` milliseconds after it. */
const EPOCH_MICROS = 1_704_067_200_000_000n;

/** A deterministic generator of random numbers in [0, 1): the core's seeded generator. */
export const makeRandom = seededRandom;

/** Makes orders: the same sequence for the same seed, so every system stores the same data. */
export class OrderFactory {
  readonly #random: () => number;
  readonly #notes: string[];
  constructor(
    seed: number,
    /** Customers are numbered 1..customers. */
    readonly customers: number,
  ) {
    this.#random = makeRandom(seed);
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ';
    this.#notes = Array.from({ length: 1024 }, () => {
      let note = '';
      for (let i = 0; i < NOTE_BYTES; i++) note += alphabet[Math.floor(this.#random() * alphabet.length)];
      return note;
    });
  }
  /** The order with this id (its other fields drawn from the generator). */
  order(id: number): Order {
    const r = this.#random;
    return {
      id: BigInt(id),
      customerId: BigInt(1 + Math.floor(r() * this.customers)),
      status: STATUSES[Math.floor(r() * STATUSES.length)]!,
      total: BigInt(100 + Math.floor(r() * 100_000)),
      createdAtMicros: EPOCH_MICROS + BigInt(id) * 1000n,
      note: this.#notes[id % this.#notes.length]!,
    };
  }
  /** A random customer id. */
  customer(): bigint {
    return BigInt(1 + Math.floor(this.#random() * this.customers));
  }
}
