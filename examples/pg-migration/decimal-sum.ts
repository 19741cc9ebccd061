/**
 * Exact sums of decimal texts, the way PostgreSQL sums `numeric`: {@link DecimalSum} and
 * {@link sumDecimals}.
 *
 * The record layer keeps a `numeric` column as its decimal text (`"2.99"`), because no JavaScript
 * number holds every numeric exactly. Adding such values as floats would drift (0.1 + 0.2 is not
 * 0.3), so the Strata desk adds them here, as integers of the smallest unit.
 *
 * Invariants:
 * 1. The result is the exact sum, printed with the largest scale (digits after the point) among
 *    the terms, as PostgreSQL prints `sum(numeric)`: `1.5` plus `2.25` is `"3.75"`, `1.10` plus
 *    `2.90` is `"4.00"`.
 * 2. Only plain decimal texts are accepted; `NaN`, infinities, exponents and empty text are refused.
 */

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?$/;

/** A decimal as an integer count of units of 10^-scale. */
interface Scaled {
  units: bigint;
  scale: number;
}

function parse(text: string): Scaled {
  const match = typeof text === 'string' ? DECIMAL.exec(text) : null;
  if (match === null) throw new Error(`sumDecimals: ${JSON.stringify(text)} is not a decimal text such as "2.99"`);
  const fraction = match[3] ?? '';
  const units = BigInt(match[2]! + fraction);
  return { units: match[1] === '-' ? -units : units, scale: fraction.length };
}

/**
 * The exact sum of decimal texts (see the invariants above); `"0"` for no terms.
 *
 * @throws Error naming a term that is not a plain decimal text.
 * @example
 * ```ts
 * sumDecimals(['0.99', '4.99', '2.99']); // '8.97'
 * ```
 */
export function sumDecimals(terms: Iterable<string>): string {
  let sum: Scaled = { units: 0n, scale: 0 };
  for (const term of terms) sum = add(sum, parse(term));
  return format(sum);
}

/**
 * A running exact sum, for adding terms as they stream past without keeping them.
 *
 * @example
 * ```ts
 * const total = new DecimalSum();
 * total.add('2.99');
 * total.add('0.01');
 * total.toString(); // '3.00'
 * ```
 */
export class DecimalSum {
  #sum: Scaled = { units: 0n, scale: 0 };
  /** Terms added so far. */
  count = 0;

  /**
   * Adds one term.
   * @throws Error when `term` is not a plain decimal text (the sum is unchanged).
   */
  add(term: string): void {
    this.#sum = add(this.#sum, parse(term));
    this.count++;
  }

  /** Adds another running sum to this one. */
  addSum(other: DecimalSum): void {
    this.#sum = add(this.#sum, other.#sum);
    this.count += other.count;
  }

  /** Compares with another sum by value: negative, zero or positive. */
  compare(other: DecimalSum): number {
    const scale = Math.max(this.#sum.scale, other.#sum.scale);
    const a = rescale(this.#sum, scale);
    const b = rescale(other.#sum, scale);
    return a < b ? -1 : a > b ? 1 : 0;
  }

  /** The sum as PostgreSQL prints it. */
  toString(): string {
    return format(this.#sum);
  }
}

function rescale(value: Scaled, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

function add(a: Scaled, b: Scaled): Scaled {
  const scale = Math.max(a.scale, b.scale);
  return { units: rescale(a, scale) + rescale(b, scale), scale };
}

function format({ units, scale }: Scaled): string {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const fraction = digits.slice(digits.length - scale);
  return `${negative ? '-' : ''}${whole}${scale > 0 ? `.${fraction}` : ''}`;
}
