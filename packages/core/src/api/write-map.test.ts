// Proves the write map's contract against a plain model: every written key's entry (a value, a
// clear, pending atomic ops, or unreadable) is found by key and in key order from any position,
// forward and backward, however writes, range clears and ordered lookups interleave (the ordered
// index of keys is built lazily, only when an ordered lookup or a range clear needs it).
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../runtime/runtime.js';
import type { KeyString } from '../util/bytes.js';
import { MutationType, applyAtomicOp } from './mutation.js';
import { WriteMap, type WriteEntry } from './write-map.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

/** The model: entries in a plain map, cleared ranges as a list; ordered lookups sort every time. */
class ModelWriteMap {
  readonly entries = new Map<KeyString, WriteEntry>();
  readonly clears: [KeyString, KeyString][] = [];
  isCleared(key: KeyString): boolean {
    return this.clears.some(([begin, end]) => begin <= key && key < end);
  }
  sortedKeys(): KeyString[] {
    return [...this.entries.keys()].sort();
  }
  firstAtOrAfter(key: KeyString): [KeyString, WriteEntry] | undefined {
    const found = this.sortedKeys().find((k) => k >= key);
    return found === undefined ? undefined : [found, this.entries.get(found)!];
  }
  lastBefore(key: KeyString): [KeyString, WriteEntry] | undefined {
    const found = this.sortedKeys()
      .reverse()
      .find((k) => k < key);
    return found === undefined ? undefined : [found, this.entries.get(found)!];
  }
}

describe('WriteMap', () => {
  it('finds every entry by key and in key order as writes, clears and lookups interleave (randomized)', () => {
    console.log(`write-map SEED=${SEED}`);
    const random = seededRandom(SEED);
    const alphabet = ['\x00', 'a', 'b', 'c', '\xff'];
    const randomKey = (): KeyString => {
      let key = '';
      for (let i = Math.floor(random() * 4); i > 0; i--) key += alphabet[Math.floor(random() * alphabet.length)];
      return key;
    };
    let lookups = 0;
    for (let round = 0; round < 200; round++) {
      const map = new WriteMap();
      const model = new ModelWriteMap();
      for (let step = 0; step < 60; step++) {
        const choice = random();
        const key = randomKey();
        const where = `SEED=${SEED} round ${round} step ${step}`;
        if (choice < 0.3) {
          const value = new Uint8Array([Math.floor(random() * 256)]);
          map.set(key, value);
          model.entries.set(key, { kind: 'value', value });
        } else if (choice < 0.4) {
          map.clear(key);
          model.entries.set(key, { kind: 'value', value: null });
        } else if (choice < 0.55) {
          const operand = new Uint8Array([1 + Math.floor(random() * 3)]);
          map.atomic(key, MutationType.add, operand);
          const existing = model.entries.get(key);
          if (existing === undefined) {
            model.entries.set(
              key,
              model.isCleared(key) ? { kind: 'value', value: applyAtomicOp(MutationType.add, null, operand) } : { kind: 'ops', ops: [{ type: MutationType.add, operand }] },
            );
          } else if (existing.kind === 'value') {
            model.entries.set(key, { kind: 'value', value: applyAtomicOp(MutationType.add, existing.value, operand) });
          } else if (existing.kind === 'ops') {
            model.entries.set(key, { kind: 'ops', ops: [...existing.ops, { type: MutationType.add, operand }] });
          }
        } else if (choice < 0.6) {
          map.setUnreadable(key);
          model.entries.set(key, { kind: 'unreadable' });
        } else if (choice < 0.67) {
          let end = randomKey();
          const begin = key < end ? key : end;
          end = key < end ? end : key + '\x00';
          map.clearRange(begin, end);
          for (const k of [...model.entries.keys()]) if (k >= begin && k < end) model.entries.delete(k);
          model.clears.push([begin, end]);
        } else {
          lookups++;
          const probe = randomKey();
          expect(map.get(probe), `${where}: get ${JSON.stringify(probe)}`).toEqual(model.entries.get(probe));
          expect(map.isCleared(probe), `${where}: isCleared ${JSON.stringify(probe)}`).toBe(model.isCleared(probe));
          if (random() < 0.5) expect(map.firstAtOrAfter(probe), `${where}: firstAtOrAfter ${JSON.stringify(probe)}`).toEqual(model.firstAtOrAfter(probe));
          else expect(map.lastBefore(probe), `${where}: lastBefore ${JSON.stringify(probe)}`).toEqual(model.lastBefore(probe));
        }
        expect(map.entryCount, where).toBe(model.entries.size);
      }
      // A full walk in both directions returns every entry once, in order.
      const forward: KeyString[] = [];
      for (let pair = map.firstAtOrAfter(''); pair !== undefined; pair = map.firstAtOrAfter(pair[0] + '\x00')) forward.push(pair[0]);
      expect(forward).toEqual(model.sortedKeys());
      const backward: KeyString[] = [];
      for (let pair = map.lastBefore('\xff\xff\xff\xff\xff'); pair !== undefined; pair = map.lastBefore(pair[0])) backward.push(pair[0]);
      expect(backward).toEqual(model.sortedKeys().reverse());
    }
    expect(lookups).toBeGreaterThan(1000);
  });
});
