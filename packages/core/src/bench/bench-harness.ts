/**
 * Machinery of the core benchmark (`core-bench.ts`) that is particular to it: a choice setting,
 * scratch directories under `BENCH_DIR`, key and value generation, closed-loop runs that number
 * each client's operations, fixed-count runs, the shape of its JSON line, and one process per
 * measurement. What every benchmark shares (settings, rounding, output, the machine's
 * description) comes from `@strata/bench-support`.
 *
 * @remarks
 * Nothing here measures Strata itself; it only makes sure both sides of every comparison (Strata
 * and raw classic-level) get the same keys, the same values, the same number of clients and the
 * same clock.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchSettingError } from '@strata/bench-support';
import { seededRandom } from '../index.js';

/** Size of every benchmark key, in bytes. */
export const KEY_BYTES = 16;
/** Size of every benchmark value, in bytes. */
export const VALUE_BYTES = 100;

// ---------------------------------------------------------------------------------------------
// Settings from the environment (numbers and lists come from `@strata/bench-support`)

/**
 * Reads an environment variable that must be one of `allowed`.
 * @throws BenchSettingError when it is something else.
 */
export function envChoice<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = raw.trim();
  if (!(allowed as readonly string[]).includes(value)) throw new BenchSettingError(`${name} must be one of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`);
  return value as T;
}

// ---------------------------------------------------------------------------------------------
// Scratch directories

const scratchDirectories = new Set<string>();
const childProcesses = new Set<ChildProcess>();
let exitHandlersInstalled = false;

// An interrupted run (Ctrl-C, a crash) must not leave database directories or measuring child
// processes behind, so at exit every scratch directory still registered is removed and every
// child still running is told to stop (it then removes its own directories the same way).
function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const child of childProcesses) child.kill('SIGTERM');
    for (const directory of scratchDirectories) fs.rmSync(directory, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\n${signal}: removing scratch directories and exiting\n`);
      process.exit(130);
    });
  }
}

/** Creates a fresh, empty directory under `parent` (by default the OS temporary directory). */
export async function makeScratchDirectory(label: string, parent: string = os.tmpdir()): Promise<string> {
  installExitHandlers();
  const directory = await fs.promises.mkdtemp(path.join(parent, `strata-bench-${label}-`));
  scratchDirectories.add(directory);
  return directory;
}

/** Removes a directory made by {@link makeScratchDirectory}. */
export async function removeScratchDirectory(directory: string): Promise<void> {
  await fs.promises.rm(directory, { recursive: true, force: true });
  scratchDirectories.delete(directory);
}

/** Runs `body` with a fresh scratch directory and removes the directory afterwards, also on failure. */
export async function withScratchDirectory<T>(label: string, parent: string, body: (directory: string) => Promise<T>): Promise<T> {
  const directory = await makeScratchDirectory(label, parent);
  try {
    return await body(directory);
  } finally {
    await removeScratchDirectory(directory);
  }
}

// ---------------------------------------------------------------------------------------------
// Keys and values

/**
 * The key a write-benchmark client writes for its `sequence`-th operation: distinct for every
 * (client, sequence) pair, so clients never write the same key and Strata transactions never
 * conflict.
 */
export function clientKey(tag: number, client: number, sequence: number): Uint8Array {
  const key = new Uint8Array(KEY_BYTES);
  const view = new DataView(key.buffer);
  key[0] = tag;
  view.setUint16(1, client);
  view.setBigUint64(3, BigInt(sequence));
  // The remaining five bytes stay zero: the key only has to be 16 bytes long and distinct.
  return key;
}

/**
 * `count` random 16-byte keys that all start with `tag`. With 15 random bytes per key, two equal
 * keys are not a practical concern.
 */
export function randomKeys(count: number, tag: number, random: () => number): Uint8Array[] {
  const keys: Uint8Array[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const key = new Uint8Array(KEY_BYTES);
    key[0] = tag;
    for (let j = 1; j < KEY_BYTES; j++) key[j] = Math.floor(random() * 256);
    keys[i] = key;
  }
  return keys;
}

/** Bytewise comparison, the order both Strata and classic-level keep keys in. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

/**
 * Random-looking 100-byte values taken from a pool of random bytes at pseudo-random offsets.
 *
 * @remarks
 * LevelDB compresses its blocks with Snappy, so identical or patterned values would make both
 * sides look faster than real data allows; distinct random values keep the comparison honest
 * without allocating a fresh buffer per write.
 */
export class ValuePool {
  readonly #pool: Uint8Array;
  readonly #offsets: Uint32Array;

  constructor(random: () => number, poolBytes = 1 << 20, slots = 1 << 14) {
    this.#pool = new Uint8Array(poolBytes);
    for (let i = 0; i < poolBytes; i++) this.#pool[i] = Math.floor(random() * 256);
    this.#offsets = new Uint32Array(slots);
    for (let i = 0; i < slots; i++) this.#offsets[i] = Math.floor(random() * (poolBytes - VALUE_BYTES));
  }

  /** The value for index `i`; the same index always gives the same bytes. */
  value(i: number): Uint8Array {
    const offset = this.#offsets[i % this.#offsets.length]!;
    return this.#pool.subarray(offset, offset + VALUE_BYTES);
  }
}

/** A seeded generator of random numbers in [0, 1); the same seed gives the same sequence. */
export function makeRandom(seed: number): () => number {
  return seededRandom(seed);
}

// ---------------------------------------------------------------------------------------------
// Running clients

/** What a timed run measured. */
export interface RunResult {
  /** Operations completed inside the measured interval. */
  operations: number;
  /** Length of the measured interval in milliseconds. */
  elapsedMs: number;
  /**
   * CPU time the whole process used during the measured interval (user plus system, every
   * thread, so LevelDB's work on libuv's thread pool counts too), in milliseconds.
   */
  cpuMs: number;
}

/** Milliseconds of CPU the process used since `start` (a `process.cpuUsage()` reading). */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000;
}

/**
 * Runs `clients` concurrent closed-loop clients: each awaits one operation, then starts the next.
 *
 * @remarks
 * Clients run for `warmupMs` unmeasured (so the JIT and the files are warm), then for `durationMs`
 * measured. An operation counts when it completes inside the measured interval, and the rate is
 * divided by the interval's length: operations straddling either edge are a bias of at most one
 * per client, the same on both sides of a comparison. Clients stop starting operations at the end
 * of the interval and the run returns once every client's last operation finished, so nothing is
 * left running against a database that is about to close.
 */
export async function runClosedLoop(options: {
  clients: number;
  durationMs: number;
  warmupMs: number;
  operation: (client: number, sequence: number) => Promise<unknown>;
}): Promise<RunResult> {
  const { clients, durationMs, warmupMs, operation } = options;
  const measureFrom = performance.now() + warmupMs;
  const stopAt = measureFrom + durationMs;
  let operations = 0;
  // CPU is read by timers at the edges of the measured interval. On a loaded machine wall-clock
  // rates move with the neighbours' work; CPU per operation is the steadier figure.
  let cpuStart = process.cpuUsage();
  let cpuMs: number | null = null;
  const startTimer = setTimeout(() => (cpuStart = process.cpuUsage()), warmupMs);
  const stopTimer = setTimeout(() => (cpuMs = cpuMsSince(cpuStart)), warmupMs + durationMs);
  const client = async (index: number): Promise<void> => {
    // Bounded by the clock: the loop ends once `stopAt` has passed.
    for (let sequence = 0; performance.now() < stopAt; sequence++) {
      await operation(index, sequence);
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
  // The clients can finish in the same turn the interval ends, before the stop timer ran.
  return { operations, elapsedMs: durationMs, cpuMs: cpuMs ?? cpuMsSince(cpuStart) };
}

/**
 * Runs `total` operations spread over `clients` concurrent closed-loop clients that take the next
 * operation index from a shared counter, and measures the time until the last one completes.
 */
export async function runCounted(options: { total: number; clients: number; operation: (index: number) => Promise<unknown> }): Promise<RunResult> {
  const { total, clients, operation } = options;
  let next = 0;
  const client = async (): Promise<void> => {
    // Bounded by `total`: every iteration takes one index from the shared counter.
    while (next < total) await operation(next++);
  };
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  await Promise.all(Array.from({ length: Math.min(clients, total) }, () => client()));
  return { operations: total, elapsedMs: performance.now() - start, cpuMs: cpuMsSince(cpuStart) };
}

/** The median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

// ---------------------------------------------------------------------------------------------
// Output

/**
 * One benchmark result: a Strata figure next to its classic-level baseline from the same run.
 * `emit` from `@strata/bench-support` prints any object; the lines are built as this type so that
 * every line carries the same fields.
 */
export interface BenchLine {
  bench: string;
  clients?: number;
  /** Strata's figure in `unit`. */
  strata: number;
  /** The baseline's figure in `unit`. */
  baseline: number;
  unit: string;
  /** `strata / baseline`. */
  ratio: number;
  /** The ratio the requirement asks for, or `null` when the case is reported without a target. */
  target: number | null;
  /** Whether `ratio >= target`, or `null` without a target. */
  met: boolean | null;
  /** Length of the Strata measurement in milliseconds (the baseline's is `baselineDurationMs`). */
  durationMs: number;
  machine: string;
  [extra: string]: unknown;
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Running one measurement in its own process

const JOB_VARIABLE = 'STRATA_BENCH_JOB';
const RESULT_PREFIX = 'STRATA_BENCH_RESULT ';

/** The job this process was started to run (see {@link runInChildProcess}), or `null` in the parent. */
export function currentJob(): unknown {
  const raw = process.env[JOB_VARIABLE];
  return raw === undefined ? null : (JSON.parse(raw) as unknown);
}

/** Hands a child's result back to the parent: one marked JSON line on stdout. */
export function reportJobResult(result: unknown): void {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
}

/**
 * Runs `script` in a fresh Node process to carry out `job`, and returns the result the child
 * reported with {@link reportJobResult}.
 *
 * @remarks
 * A fresh process per measurement keeps one measurement from changing the next: V8 tunes its
 * JIT and garbage collector to what a process did before (for example, it starts allocating
 * objects of a call site directly in the old generation after seeing many of them survive), and
 * both sides share classic-level's JavaScript. The child gets the parent's V8 flags, so
 * `node --cpu-prof dist/bench/core-bench.js` writes one profile per measurement. Its stderr is
 * passed through for progress messages.
 * @throws Error when the child fails or reports nothing.
 */
export function runInChildProcess<T>(script: string, job: unknown, env: Record<string, string>): Promise<T> {
  installExitHandlers();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script], {
      env: { ...process.env, ...env, [JOB_VARIABLE]: JSON.stringify(job) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    childProcesses.add(child);
    let output = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      childProcesses.delete(child);
      const line = output.split('\n').find((text) => text.startsWith(RESULT_PREFIX));
      if (code !== 0 || line === undefined) {
        reject(new Error(`benchmark child for ${JSON.stringify(job)} ended with ${signal ?? `exit code ${code}`} and ${line === undefined ? 'no result' : 'a result'}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as T);
    });
  });
}
