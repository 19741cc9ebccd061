/**
 * Tuple layer benchmark: `npm run bench -w @strata/tuple` (after `npx tsc -b`), or
 * `node dist/bench/tuple-bench.js` in `packages/tuple-layer`. Use `npm run -s bench -w @strata/tuple`
 * when stdout must hold nothing but the JSON lines; progress goes to stderr.
 *
 * It measures how many typical keys per second `pack` and `unpack` handle, next to msgpackr
 * encoding and decoding the same values in the same process and run. A typical key is
 * `['users', id, uuid]`: a table name, an integer id of six decimal digits and a UUID; msgpackr gets
 * the same three values with the UUID as its 16 bytes, and is configured as `msgpackEncoder` in
 * encoders.ts configures it. msgpackr is a baseline of speed only: its bytes do not sort like the
 * values, which is what tuples are for. Two more pairs compare with the npm package fdb-tuple,
 * which `pack` used before this package had its own encoder: this package's `pack` with fdb-tuple's
 * `pack` of the same key (the UUID as fdb-tuple's `{ type: 'uuid' }` item), and this package's
 * strict `unpack` with fdb-tuple's own (lenient) `unpack` on the same bytes, to show what the
 * strictness costs.
 *
 * Each benchmark runs both sides `BENCH_ROUNDS` times (default 5), alternating, for
 * `BENCH_ROUND_MS` milliseconds each (default 400) after one unmeasured warm-up round per side, and
 * reports the median round of each side. Every round cycles through 1,024 distinct keys, so no
 * side benefits from packing one constant. One JSON object per line on stdout:
 * `{ bench, strata, baseline, unit, ratio, baselineName, strataBytes, baselineBytes, rounds,
 * roundMs, loadAverage1m, node }`, where `ratio` is strata / baseline (above 1: Strata is faster).
 * There is no target ratio. Figures taken on a machine shared with other work move with its load;
 * `loadAverage1m` records it.
 */
import os from 'node:os';
import * as fdbTuple from 'fdb-tuple';
import { Packr } from 'msgpackr';
import { Uuid, pack, unpack, type TupleItem } from '../tuple.js';

/** Distinct keys each round cycles through. */
const KEY_COUNT = 1024;

function envInteger(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  return value;
}

const ROUNDS = envInteger('BENCH_ROUNDS', 5, 1, 100);
const ROUND_MS = envInteger('BENCH_ROUND_MS', 400, 10, 60_000);

/** A deterministic pseudo-random byte source (a linear congruential generator), so every run benchmarks the same keys. */
function bytesFrom(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

const uuids = Array.from({ length: KEY_COUNT }, (_, i) => bytesFrom(i + 1, 16));
const tupleKeys: TupleItem[][] = uuids.map((bytes, i) => ['users', 100_000 + ((i * 7919) % 900_000), new Uuid(bytes)]);
const plainKeys: unknown[][] = uuids.map((bytes, i) => ['users', 100_000 + ((i * 7919) % 900_000), bytes]);
const packr = new Packr({ useRecords: false, moreTypes: true });
const tupleBytes = tupleKeys.map((key) => pack(key));
const tupleBuffers = tupleBytes.map((bytes) => Buffer.from(bytes));
const fdbKeys: fdbTuple.TupleItem[][] = uuids.map((bytes, i) => ['users', 100_000 + ((i * 7919) % 900_000), { type: 'uuid', value: Buffer.from(bytes) }]);
const msgpackBytes = plainKeys.map((key) => new Uint8Array(packr.pack(key)));

// Results are folded into this sink so that the JIT cannot drop work whose result is unused.
let sink = 0;

/** Runs `operation` on key after key for `ms` milliseconds; returns operations per second. */
function measure(operation: (index: number) => number, ms: number): number {
  const start = performance.now();
  const stop = start + ms;
  let operations = 0;
  let now = start;
  // The clock is read once per 256 operations: reading it costs as much as a small operation.
  while (now < stop) {
    for (let i = 0; i < 256; i++) sink = (sink + operation((operations + i) & (KEY_COUNT - 1))) | 0;
    operations += 256;
    now = performance.now();
  }
  return (operations * 1000) / (now - start);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Case {
  bench: string;
  baselineName: string;
  strata: (index: number) => number;
  baseline: (index: number) => number;
  strataBytes: number;
  baselineBytes: number;
}

const average = (sizes: Uint8Array[]): number => sizes.reduce((sum, bytes) => sum + bytes.length, 0) / sizes.length;

const cases: Case[] = [
  {
    bench: 'pack-typical-key',
    baselineName: 'msgpackr pack',
    strata: (i) => pack(tupleKeys[i]!).length,
    baseline: (i) => packr.pack(plainKeys[i]).length,
    strataBytes: average(tupleBytes),
    baselineBytes: average(msgpackBytes),
  },
  {
    bench: 'pack-typical-key-vs-fdb-tuple',
    baselineName: 'fdb-tuple pack',
    strata: (i) => pack(tupleKeys[i]!).length,
    baseline: (i) => fdbTuple.pack(fdbKeys[i]!).length,
    strataBytes: average(tupleBytes),
    baselineBytes: average(tupleBytes),
  },
  {
    bench: 'unpack-typical-key',
    baselineName: 'msgpackr unpack',
    strata: (i) => unpack(tupleBytes[i]!).length,
    baseline: (i) => (packr.unpack(msgpackBytes[i]!) as unknown[]).length,
    strataBytes: average(tupleBytes),
    baselineBytes: average(msgpackBytes),
  },
  {
    bench: 'unpack-typical-key-vs-fdb-tuple',
    baselineName: 'fdb-tuple unpack',
    strata: (i) => unpack(tupleBytes[i]!).length,
    baseline: (i) => fdbTuple.unpack(tupleBuffers[i]!).length,
    strataBytes: average(tupleBytes),
    baselineBytes: average(tupleBytes),
  },
];

const only = process.env.BENCH_ONLY?.split(',').map((name) => name.trim());
for (const benchCase of cases) {
  if (only !== undefined && !only.includes(benchCase.bench)) continue;
  process.stderr.write(`${benchCase.bench}: ${ROUNDS} rounds of ${ROUND_MS} ms per side\n`);
  measure(benchCase.strata, ROUND_MS);
  measure(benchCase.baseline, ROUND_MS);
  const strataRates: number[] = [];
  const baselineRates: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternating sides spreads changes in the machine's load over both.
    strataRates.push(measure(benchCase.strata, ROUND_MS));
    baselineRates.push(measure(benchCase.baseline, ROUND_MS));
  }
  const strata = median(strataRates);
  const baseline = median(baselineRates);
  const line = {
    bench: benchCase.bench,
    strata: Math.round(strata),
    baseline: Math.round(baseline),
    unit: 'ops/s',
    ratio: Number((strata / baseline).toFixed(3)),
    baselineName: benchCase.baselineName,
    strataBytes: benchCase.strataBytes,
    baselineBytes: benchCase.baselineBytes,
    rounds: ROUNDS,
    roundMs: ROUND_MS,
    loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
    node: process.version,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
if (sink === 0x7fffffff) process.stderr.write('\n');
