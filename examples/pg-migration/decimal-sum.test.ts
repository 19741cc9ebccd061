/**
 * Checks that the Strata desk's sums of `numeric` texts are exact and printed as PostgreSQL prints
 * `sum(numeric)`: the largest scale of the terms, no float rounding, and bad terms refused.
 */
import { describe, expect, it } from 'vitest';
import { DecimalSum, sumDecimals } from './decimal-sum.js';

describe('sumDecimals', () => {
  it('adds exactly, at the largest scale of the terms', () => {
    expect(sumDecimals(['0.1', '0.2'])).toBe('0.3');
    expect(sumDecimals(['1.10', '2.90'])).toBe('4.00');
    expect(sumDecimals(['1.5', '2.25'])).toBe('3.75');
    expect(sumDecimals(['2.99', '-3.00'])).toBe('-0.01');
    expect(sumDecimals(['7', '0.001'])).toBe('7.001');
    expect(sumDecimals([])).toBe('0');
    // Ten thousand payments of 0.99 as floats would print 9899.999999999...
    expect(sumDecimals(Array.from({ length: 10_000 }, () => '0.99'))).toBe('9900.00');
  });

  it('refuses what is not a plain decimal text', () => {
    for (const bad of ['NaN', 'Infinity', '1e3', '', '.5', '1.', ' 1']) expect(() => sumDecimals([bad])).toThrow(/not a decimal text/);
  });
});

describe('DecimalSum', () => {
  it('keeps a running sum and count, adds sums, and compares by value', () => {
    const a = new DecimalSum();
    a.add('2.99');
    a.add('0.01');
    const b = new DecimalSum();
    b.add('3');
    expect(a.toString()).toBe('3.00');
    expect(a.compare(b)).toBe(0);
    b.add('0.001');
    expect(a.compare(b)).toBe(-1);
    a.addSum(b);
    expect([a.toString(), a.count]).toEqual(['6.001', 4]);
    expect(() => a.add('x')).toThrow();
    expect([a.toString(), a.count]).toEqual(['6.001', 4]);
  });
});
