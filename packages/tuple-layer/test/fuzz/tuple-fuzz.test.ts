// Proves that unpack is total and exact on arbitrary bytes: for random inputs and for truncated,
// bit-flipped, extended and shortened packed tuples, it either returns items that pack back to the
// identical bytes, or throws a TupleLayerError 'tuple_decode_error' whose offset lies inside the
// input; never another error, a hang, or a value that packs to different bytes.
import { seededRandom } from '@strata/core';
import { describe, expect, it } from 'vitest';
import { TupleLayerError } from '../../src/errors.js';
import { Double, Float32, Uuid, Versionstamp, pack, packedItemOffsets, unpack, type TupleItem } from '../../src/tuple.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
const INPUTS = 200_000;

type Random = () => number;
const pick = <T>(random: Random, choices: readonly T[]): T => choices[Math.floor(random() * choices.length)]!;
const below = (random: Random, n: number): number => Math.floor(random() * n);

// Type codes, the escape pair, and bytes that start or break UTF-8 sequences: random bytes drawn
// from these reach far more of the decoder than uniform bytes, which mostly hit unknown codes.
const INTERESTING_BYTES = [
  0x00, 0x00, 0xff, 0xff, 0x01, 0x02, 0x05, 0x05, 0x0b, 0x0c, 0x13, 0x14, 0x15, 0x16, 0x1c, 0x1d, 0x20, 0x21, 0x26, 0x27, 0x30, 0x33,
  0x61, 0x80, 0xbb, 0xbf, 0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xfe,
];
const randomByte = (random: Random): number => (random() < 0.6 ? pick(random, INTERESTING_BYTES) : below(random, 256));

function validItem(random: Random, depth: number): TupleItem {
  switch (below(random, 11)) {
    case 0:
      return null;
    case 1:
      return Uint8Array.from({ length: below(random, 5) }, () => randomByte(random));
    case 2:
      return pick(random, ['', 'a', 'users', '\u0000x', '\u00e9t\u00e9', '\u{1f600}']);
    case 3:
      return depth < 3 ? validTuple(random, depth + 1) : [];
    case 4:
      return pick(random, [0, 1, -1, 255, -256, 123456, -(2 ** 40), Number.MAX_SAFE_INTEGER, 2n ** 64n, -(2n ** 64n), 2n ** 200n, -(2n ** 80n) + 3n]);
    case 5:
      return pick(random, [0.5, -2.25, Number.NaN, Number.NEGATIVE_INFINITY, new Double(-0), new Double(7)]);
    case 6:
      return pick(random, [new Float32(1.5), new Float32(-0), new Float32(Number.NaN)]);
    case 7:
      return random() < 0.5;
    case 8:
      return new Uuid(Uint8Array.from({ length: 16 }, () => randomByte(random)));
    case 9:
      return new Versionstamp(Uint8Array.from({ length: 10 }, () => randomByte(random)), below(random, 65536));
    default:
      return below(random, 100_000) - 50_000;
  }
}

function validTuple(random: Random, depth: number): TupleItem[] {
  return Array.from({ length: below(random, 4) }, () => validItem(random, depth));
}

function mutate(random: Random, input: Uint8Array, donor: Uint8Array): Uint8Array {
  const bytes = Array.from(input);
  const at = (extra: number): number => below(random, bytes.length + extra);
  switch (below(random, 6)) {
    case 0:
      bytes.length = at(0);
      break;
    case 1:
      if (bytes.length > 0) {
        const i = at(0);
        bytes[i] = bytes[i]! ^ (1 << below(random, 8));
      }
      break;
    case 2:
      bytes.splice(at(1), 0, randomByte(random));
      break;
    case 3:
      if (bytes.length > 0) bytes.splice(at(0), 1 + below(random, 3));
      break;
    case 4:
      if (bytes.length > 0) bytes[at(0)] = randomByte(random);
      break;
    default: {
      // Splice in a piece of another packed tuple: mostly well-formed items in odd places.
      const start = below(random, donor.length + 1);
      const piece = Array.from(donor.subarray(start, start + below(random, 16)));
      bytes.splice(at(1), 0, ...piece);
    }
  }
  return Uint8Array.from(bytes);
}

function outcome(input: Uint8Array): 'decoded' | 'rejected' | string {
  let items: TupleItem[];
  try {
    items = unpack(input);
  } catch (error) {
    if (!(error instanceof TupleLayerError) || error.code !== 'tuple_decode_error') return `threw something other than a tuple_decode_error: ${String(error)}`;
    const offset = error.details.offset;
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset >= input.length) return `error offset ${String(offset)} outside the input: ${error.message}`;
    if (!error.message.includes(`at byte offset ${offset}:`)) return `message does not name offset ${offset}: ${error.message}`;
    return 'rejected';
  }
  let repacked: Uint8Array;
  try {
    repacked = pack(items);
  } catch (error) {
    return `decoded, but the items do not pack again: ${String(error)}`;
  }
  return Buffer.compare(repacked, input) === 0 ? 'decoded' : `decoded, but packs again to ${Buffer.from(repacked).toString('hex')}`;
}

// packedItemOffsets on the same input: the items' boundaries when it decodes; otherwise either
// boundaries (it does not check content) or a clean tuple_decode_error inside the input.
function offsetsOutcome(input: Uint8Array, decodes: boolean): string {
  let offsets: number[];
  try {
    offsets = packedItemOffsets(input);
  } catch (error) {
    if (decodes) return `threw for bytes that decode: ${String(error)}`;
    if (!(error instanceof TupleLayerError) || error.code !== 'tuple_decode_error') return `threw ${String(error)}`;
    const offset = error.details?.offset;
    return typeof offset === 'number' && offset >= 0 && offset < input.length ? 'ok' : `threw with offset ${String(offset)}`;
  }
  if (offsets.some((offset, i) => offset < 0 || offset >= input.length || (i > 0 && offset <= offsets[i - 1]!))) return `gave offsets out of order: ${offsets.join(',')}`;
  if (!decodes) return 'ok';
  const items = unpack(input);
  const expected = items.map((_, i) => pack(items.slice(0, i)).length);
  return JSON.stringify(offsets) === JSON.stringify(expected) ? 'ok' : `gave ${offsets.join(',')}, not ${expected.join(',')}`;
}

describe('tuple decoder fuzz', () => {
  it(`unpacks or rejects cleanly ${INPUTS} random and mutated inputs`, () => {
    console.log(`tuple-fuzz.test.ts: SEED=${SEED} (replay with SEED=${SEED})`);
    const random = seededRandom(SEED);
    const corpus = Array.from({ length: 500 }, () => pack(validTuple(random, 0)));
    const counts = { decoded: 0, rejected: 0, mutatedDecoded: 0 };
    const rejections = new Map<string, number>();
    for (let n = 0; n < INPUTS; n++) {
      let input: Uint8Array;
      const mutated = random() < 0.7;
      if (mutated) {
        input = pick(random, corpus);
        const rounds = 1 + below(random, 3);
        for (let round = 0; round < rounds; round++) input = mutate(random, input, pick(random, corpus));
      } else {
        input = Uint8Array.from({ length: below(random, 40) }, () => randomByte(random));
      }
      const result = outcome(input);
      const offsets = offsetsOutcome(input, result === 'decoded');
      if (offsets !== 'ok') expect.fail(`SEED=${SEED} input ${n} (${Buffer.from(input).toString('hex')}): packedItemOffsets ${offsets}`);
      if (result === 'decoded') {
        counts.decoded++;
        if (mutated) counts.mutatedDecoded++;
      } else if (result === 'rejected') {
        counts.rejected++;
        // Tally the kinds of problem found, to show the run reached each of them.
        try {
          unpack(input);
        } catch (error) {
          const problem = (error as Error).message.slice((error as Error).message.indexOf(': ') + 2);
          const kind = problem.split(/[:,(]/)[0]!.replace(/ 0x[0-9a-f]{2}/, '').replace(/[0-9]+/g, 'N').trim();
          rejections.set(kind, (rejections.get(kind) ?? 0) + 1);
        }
      } else {
        expect.fail(`SEED=${SEED} input ${n} (${Buffer.from(input).toString('hex')}): ${result}`);
      }
    }
    console.log(`tuple-fuzz.test.ts: ${counts.decoded} decoded (${counts.mutatedDecoded} of them mutated), ${counts.rejected} rejected`);
    console.log(`tuple-fuzz.test.ts: rejections by kind: ${JSON.stringify(Object.fromEntries([...rejections].sort((a, b) => b[1] - a[1])))}`);
    // Both outcomes must be common, or the run proved little about one of them.
    expect(counts.decoded).toBeGreaterThan(INPUTS / 20);
    expect(counts.mutatedDecoded).toBeGreaterThan(INPUTS / 50);
    expect(counts.rejected).toBeGreaterThan(INPUTS / 4);
  });
});
