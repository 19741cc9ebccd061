/**
 * Shared machinery of the records benchmark (`records-bench.ts`): settings from the environment,
 * scratch directories removed even on failure, the orders the three systems all store, closed-loop
 * clients, and the JSON line each case prints.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { seededRandom } from '@strata/core';

// ---------------------------------------------------------------------------------------------
// Settings

/** Thrown for an environment variable the benchmark cannot use; the message names the variable. */
export class BenchSettingError extends Error {
  override name = 'BenchSettingError';
}

/** Reads a numeric environment variable in `[min, max]`. */
export function envNumber(name: string, fallback: number, options: { min: number; max?: number; integer?: boolean }): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isFinite(value) || value < options.min || value > max || (options.integer === true && !Number.isInteger(value))) {
    throw new BenchSettingError(`${name} must be ${options.integer === true ? 'an integer' : 'a number'} between ${options.min} and ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Reads a comma-separated subset of `allowed` (all of them when unset), kept in `allowed`'s order. */
export function envNameList<T extends string>(name: string, allowed: readonly T[]): T[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...allowed];
  const chosen = new Set<string>();
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    if (!(allowed as readonly string[]).includes(item)) throw new BenchSettingError(`${name} may list ${allowed.join(', ')}; ${JSON.stringify(item)} is not one of them`);
    chosen.add(item);
  }
  return allowed.filter((item) => chosen.has(item));
}

// ---------------------------------------------------------------------------------------------
// Cleanup: scratch directories and child servers go away on success, failure, exit and Ctrl-C

const scratchDirectories = new Set<string>();
const exitCallbacks = new Set<() => void>();
let exitHandlersInstalled = false;

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const callback of exitCallbacks) {
      try {
        callback();
      } catch {
        // Best effort: the process is exiting.
      }
    }
    for (const directory of scratchDirectories) fs.rmSync(directory, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: stopping servers, removing scratch directories and exiting\n`);
      process.exit(130);
    });
  }
}

/** Registers a synchronous callback run at process exit (for example killing a server); returns its remover. */
export function onExit(callback: () => void): () => void {
  installExitHandlers();
  exitCallbacks.add(callback);
  return () => exitCallbacks.delete(callback);
}

/** Creates a fresh directory under the OS temporary directory, removed at exit if still there. */
export async function makeScratchDirectory(label: string): Promise<string> {
  installExitHandlers();
  const directory = await fs.promises.mkdtemp(path.join(os.tmpdir(), `strata-records-bench-${label}-`));
  scratchDirectories.add(directory);
  return directory;
}

/** Removes a directory made by {@link makeScratchDirectory}. */
export async function removeScratchDirectory(directory: string): Promise<void> {
  await fs.promises.rm(directory, { recursive: true, force: true });
  scratchDirectories.delete(directory);
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for the server to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

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

// ---------------------------------------------------------------------------------------------
// Running clients

/** Operations completed in a measured interval, the interval's length and the process's CPU in it. */
export interface RunResult {
  operations: number;
  elapsedMs: number;
  /** CPU (user + system, all threads) this Node process used: excludes PostgreSQL's server processes. */
  cpuMs: number;
}

/**
 * Runs `clients` concurrent closed-loop clients (each awaits one operation, then starts the next)
 * for `warmupMs` unmeasured, then `durationMs` measured; an operation counts when it completes
 * inside the measured interval. Returns once every client's last operation finished.
 */
export async function runClosedLoop(options: { clients: number; durationMs: number; warmupMs: number; operation: (client: number) => Promise<unknown> }): Promise<RunResult> {
  const { clients, durationMs, warmupMs, operation } = options;
  const measureFrom = performance.now() + warmupMs;
  const stopAt = measureFrom + durationMs;
  let operations = 0;
  let cpuStart = process.cpuUsage();
  let cpuMs: number | null = null;
  const startTimer = setTimeout(() => (cpuStart = process.cpuUsage()), warmupMs);
  const stopTimer = setTimeout(() => (cpuMs = cpuMsSince(cpuStart)), warmupMs + durationMs);
  const client = async (index: number): Promise<void> => {
    while (performance.now() < stopAt) {
      await operation(index);
      const now = performance.now();
      if (now >= measureFrom && now <= stopAt) operations++;
    }
  };
  try {
    await Promise.all(Array.from({ length: clients }, (_, index) => client(index)));
  } finally {
    clearTimeout(startTimer);
    clearTimeout(stopTimer);
  }
  return { operations, elapsedMs: durationMs, cpuMs: cpuMs ?? cpuMsSince(cpuStart) };
}

/** Times `body` (wall clock and this process's CPU). */
export async function timed(operations: number, body: () => Promise<void>): Promise<RunResult> {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await body();
  return { operations, elapsedMs: performance.now() - start, cpuMs: cpuMsSince(cpuStart) };
}

function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/** Operations per second of a run. */
export function rate(result: RunResult): number {
  return result.elapsedMs > 0 ? (result.operations * 1000) / result.elapsedMs : 0;
}

// ---------------------------------------------------------------------------------------------
// Output

/** Rounds a rate for printing. */
export function roundRate(value: number): number {
  return Math.round(value);
}

/** Rounds a ratio to three decimals. */
export function roundRatio(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Prints one result as a JSON line on stdout. */
export function emit(line: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** Writes a progress message to stderr. */
export function info(message: string): void {
  process.stderr.write(`[records-bench] ${message}\n`);
}

/** `"<n> cpus"`. */
export function machine(): string {
  return `${os.cpus().length} cpus`;
}

/** The one-minute load average. */
export function loadAverage(): number {
  return Math.round(os.loadavg()[0]! * 100) / 100;
}
