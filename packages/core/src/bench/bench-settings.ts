/**
 * The core benchmark's settings, read from environment variables (listed in `core-bench.ts`).
 */
import os from 'node:os';
import { BenchSettingError, envIntegerList, envNameList, envNumber } from '@strata/bench-support';
import { envChoice } from './bench-harness.js';

/** The benchmarks `BENCH_ONLY` can select. */
export const BENCHMARKS = ['writes', 'bulk', 'reads', 'scans'] as const;
/** One of {@link BENCHMARKS}. */
export type BenchmarkName = (typeof BENCHMARKS)[number];
/** How the read benchmarks reach the steady state (see `core-bench.ts`). */
export const READ_STATES = ['reopen', 'wait'] as const;
/** One of {@link READ_STATES}. */
export type ReadState = (typeof READ_STATES)[number];
/** How the scan benchmark warms both sides before measuring (see `core-bench.ts`). */
export const SCAN_WARMUPS = ['chunks', 'full'] as const;
/** One of {@link SCAN_WARMUPS}. */
export type ScanWarmup = (typeof SCAN_WARMUPS)[number];

/** Everything a benchmark run can be told through the environment. */
export interface BenchSettings {
  only: BenchmarkName[];
  seconds: number;
  warmupSeconds: number;
  clients: number[];
  bulkKeys: number;
  bulkTransactionKeys: number;
  bulkConcurrency: number;
  readKeys: number;
  readOps: number;
  readsPerTransaction: number;
  readers: number;
  scanOps: number;
  scanKeys: number;
  readState: ReadState;
  scanWarmup: ScanWarmup;
  rounds: number;
  seed: number;
  isolate: boolean;
  directory: string;
  quick: boolean;
}

/**
 * Reads the settings from the environment.
 * @throws BenchSettingError naming the variable when one is malformed or out of range.
 */
export function readBenchSettings(): BenchSettings {
  const quick = process.env['QUICK'] === '1';
  const settings: BenchSettings = {
    // Kept in the documented order whatever order BENCH_ONLY lists them in.
    only: envNameList('BENCH_ONLY', BENCHMARKS),
    seconds: envNumber('BENCH_SECONDS', quick ? 0.5 : 3, { min: 0.05, max: 3600 }),
    warmupSeconds: envNumber('BENCH_WARMUP_SECONDS', quick ? 0.1 : 0.5, { min: 0, max: 600 }),
    clients: envIntegerList('BENCH_CLIENTS', [1, 16, 128], { min: 1 }),
    bulkKeys: envNumber('BENCH_BULK_KEYS', quick ? 20_000 : 200_000, { min: 1, max: 10_000_000, integer: true }),
    bulkTransactionKeys: envNumber('BENCH_BULK_TRANSACTION_KEYS', 1_000, { min: 1, max: 50_000, integer: true }),
    bulkConcurrency: envNumber('BENCH_BULK_CONCURRENCY', 1, { min: 1, max: 1_000, integer: true }),
    readKeys: envNumber('BENCH_READ_KEYS', quick ? 2_000 : 10_000, { min: 1, max: 10_000_000, integer: true }),
    readOps: envNumber('BENCH_READ_OPS', quick ? 10_000 : 100_000, { min: 1, max: 100_000_000, integer: true }),
    readsPerTransaction: envNumber('BENCH_READS_PER_TRANSACTION', 10, { min: 1, max: 100_000, integer: true }),
    readers: envNumber('BENCH_READERS', 4, { min: 1, max: 1_000, integer: true }),
    scanOps: envNumber('BENCH_SCAN_OPS', quick ? 500 : 5_000, { min: 1, max: 10_000_000, integer: true }),
    scanKeys: envNumber('BENCH_SCAN_KEYS', 100, { min: 1, max: 100_000, integer: true }),
    readState: envChoice('BENCH_READ_STATE', READ_STATES, 'reopen'),
    scanWarmup: envChoice('BENCH_SCAN_WARMUP', SCAN_WARMUPS, 'chunks'),
    rounds: envNumber('BENCH_ROUNDS', 1, { min: 1, max: 100, integer: true }),
    seed: envNumber('BENCH_SEED', Math.floor(Math.random() * 0x7fffffff), { min: 0, max: 0x7fffffff, integer: true }),
    isolate: envChoice('BENCH_ISOLATE', ['0', '1'] as const, '1') === '1',
    directory: process.env['BENCH_DIR'] ?? os.tmpdir(),
    quick,
  };
  if (settings.scanKeys > settings.readKeys) {
    throw new BenchSettingError(`BENCH_SCAN_KEYS (${settings.scanKeys}) must not exceed BENCH_READ_KEYS (${settings.readKeys}): every scan must find a full range`);
  }
  return settings;
}
