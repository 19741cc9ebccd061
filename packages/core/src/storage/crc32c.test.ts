// Proves that crc32c computes CRC-32C (Castagnoli) exactly: published check values, a bitwise
// reference for every length from 0 to 64 and every alignment, and incremental equal to one-shot.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../runtime/runtime.js';
import { crc32c } from './crc32c.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

/** The textbook bit-at-a-time CRC-32C: reflected polynomial 0x82F63B78, init and final xor ~0. */
function referenceCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

describe('crc32c', () => {
  it('matches the published CRC-32C check values', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    // RFC 3720 (iSCSI) appendix B.4 test vectors.
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('the reference implementation itself matches the check values', () => {
    // Guards the oracle: a wrong reference would make the comparisons below meaningless.
    expect(referenceCrc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(referenceCrc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });

  it('equals the bitwise reference for every length 0..64 at every alignment', () => {
    console.log(`crc32c SEED=${SEED}`);
    const random = seededRandom(SEED);
    for (let length = 0; length <= 64; length++) {
      for (let trial = 0; trial < 4; trial++) {
        const backing = randomBytes(random, length + 8);
        for (let shift = 0; shift < 8; shift++) {
          // A subarray at an odd offset checks that the 8-byte fast path does not assume alignment.
          const data = backing.subarray(shift, shift + length);
          expect(crc32c(data), `length ${length} shift ${shift}`).toBe(referenceCrc32c(data));
        }
      }
    }
  });

  it('incremental computation over any split equals the one-shot checksum', () => {
    console.log(`crc32c incremental SEED=${SEED}`);
    const random = seededRandom(SEED + 1);
    for (let trial = 0; trial < 200; trial++) {
      const data = randomBytes(random, Math.floor(random() * 200));
      const whole = crc32c(data);
      const cuts = [0, data.length];
      for (let i = Math.floor(random() * 4); i > 0; i--) cuts.push(Math.floor(random() * (data.length + 1)));
      cuts.sort((a, b) => a - b);
      let crc = 0;
      for (let i = 0; i + 1 < cuts.length; i++) crc = crc32c(data.subarray(cuts[i], cuts[i + 1]), crc);
      expect(crc, `cuts ${cuts.join(',')}`).toBe(whole);
    }
  });

  it('detects every single-bit flip of a 64-byte message', () => {
    const data = randomBytes(seededRandom(SEED + 2), 64);
    const whole = crc32c(data);
    for (let bit = 0; bit < 64 * 8; bit++) {
      const copy = data.slice();
      copy[bit >> 3]! ^= 1 << (bit & 7);
      expect(crc32c(copy)).not.toBe(whole);
    }
  });
});
