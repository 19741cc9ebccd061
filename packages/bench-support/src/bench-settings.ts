/**
 * Benchmark settings read from the environment: numbers within bounds and subsets of named
 * cases or systems, each failing with a message that names the variable.
 */

/**
 * Thrown for an environment variable a benchmark cannot use; the message names the variable.
 *
 * @remarks
 * Benchmarks exit with status 2 for this error (a usage error) and 1 for any other failure.
 */
export class BenchSettingError extends Error {
  override name = 'BenchSettingError';
}

/**
 * Reads a numeric environment variable in `[min, max]`, or `fallback` when it is unset or blank.
 *
 * @throws BenchSettingError when the value is not a number in `[min, max]` (or not an integer when
 * `integer` is set).
 * @example
 * ```ts
 * const seconds = envNumber('BENCH_SECONDS', 3, { min: 0.05, max: 3600 });
 * ```
 */
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

/**
 * Reads a comma-separated subset of `allowed` (all of them when unset), kept in `allowed`'s order.
 *
 * @throws BenchSettingError naming the item that is not one of `allowed`.
 * @example
 * ```ts
 * const systems = envNameList('BENCH_SYSTEMS', ['strata', 'postgres'] as const);
 * ```
 */
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

/**
 * Reads a comma-separated list of integers in `[min, max]` (for example `BENCH_CONCURRENCY=8,64`),
 * or `fallback` when it is unset or blank.
 *
 * @throws BenchSettingError when an item is not an integer in `[min, max]` or the list is empty.
 * @example
 * ```ts
 * const concurrencies = envIntegerList('BENCH_CONCURRENCY', [8, 64], { min: 1, max: 1024 });
 * ```
 */
export function envIntegerList(name: string, fallback: readonly number[], options: { min: number; max?: number }): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const items = raw
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  const values = items.map(Number);
  if (values.length === 0 || values.some((value) => !Number.isInteger(value) || value < options.min || value > max)) {
    throw new BenchSettingError(`${name} must list integers between ${options.min} and ${max} separated by commas, got ${JSON.stringify(raw)}`);
  }
  return values;
}
