// Proves that a benchmark's environment knobs are read as documented: unset or blank gives the
// default, a bad value fails with a BenchSettingError naming the variable, and name lists keep the
// allowed order.
import { afterEach, describe, expect, it } from 'vitest';
import { BenchSettingError, envIntegerList, envNameList, envNumber } from './bench-settings.js';

const VARIABLE = 'STRATA_BENCH_SUPPORT_TEST';

afterEach(() => {
  delete process.env[VARIABLE];
});

describe('envNumber', () => {
  it('gives the fallback when unset or blank, and the value when in range', () => {
    expect(envNumber(VARIABLE, 7, { min: 1 })).toBe(7);
    process.env[VARIABLE] = '  ';
    expect(envNumber(VARIABLE, 7, { min: 1 })).toBe(7);
    process.env[VARIABLE] = '2.5';
    expect(envNumber(VARIABLE, 7, { min: 1, max: 3 })).toBe(2.5);
  });

  it('refuses values out of range or not integers, naming the variable', () => {
    for (const [raw, options] of [
      ['0', { min: 1 }],
      ['4', { min: 1, max: 3 }],
      ['2.5', { min: 1, integer: true }],
      ['abc', { min: 1 }],
    ] as const) {
      process.env[VARIABLE] = raw;
      expect(() => envNumber(VARIABLE, 7, options)).toThrow(BenchSettingError);
      expect(() => envNumber(VARIABLE, 7, options)).toThrow(VARIABLE);
    }
  });
});

describe('envNameList', () => {
  const allowed = ['a', 'b', 'c'] as const;

  it('gives every name when unset, and the chosen ones in the allowed order', () => {
    expect(envNameList(VARIABLE, allowed)).toEqual(['a', 'b', 'c']);
    process.env[VARIABLE] = 'c, a,,a';
    expect(envNameList(VARIABLE, allowed)).toEqual(['a', 'c']);
  });

  it('refuses a name that is not allowed, naming it', () => {
    process.env[VARIABLE] = 'a,d';
    expect(() => envNameList(VARIABLE, allowed)).toThrow(/"d" is not one of them/);
  });
});

describe('envIntegerList', () => {
  it('gives the fallback when unset, and the listed integers in order', () => {
    expect(envIntegerList(VARIABLE, [8, 64], { min: 1 })).toEqual([8, 64]);
    process.env[VARIABLE] = '64, 8';
    expect(envIntegerList(VARIABLE, [8], { min: 1 })).toEqual([64, 8]);
  });

  it('refuses an empty list, a non-integer and a value out of range', () => {
    for (const raw of [',', '8,x', '8,0', '2000']) {
      process.env[VARIABLE] = raw;
      expect(() => envIntegerList(VARIABLE, [8], { min: 1, max: 1024 })).toThrow(BenchSettingError);
    }
  });
});
