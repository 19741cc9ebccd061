// Proves that the latency percentiles benchmarks print use the nearest-rank method: the smallest
// sample with at least p% of the samples at or below it.
import { describe, expect, it } from 'vitest';
import { percentile } from './output.js';

describe('percentile', () => {
  it('is the nearest rank of the sorted samples', () => {
    const samples = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(samples, 50)).toBe(50);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 100)).toBe(100);
    expect(percentile(samples, 0)).toBe(1);
    expect(percentile([5, 9], 50)).toBe(5);
    expect(percentile([5, 9], 51)).toBe(9);
  });

  it('is null without samples', () => {
    expect(percentile([], 50)).toBeNull();
  });
});
