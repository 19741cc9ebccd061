// Proves that PendingKeys hands a range read every pending key inside its range, whatever the
// keys' lengths and first bytes (and with more groups than it keeps apart), hands each added key out
// exactly once, and keeps the keys of groups outside the range for later.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../runtime/runtime.js';
import type { KeyString } from './bytes.js';
import { PENDING_KEYS_GROUPS_MAX } from '../limits.js';
import { PendingKeys } from './pending-keys.js';

const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

describe('PendingKeys', () => {
  it('a range takes only the groups that may lie in it', () => {
    const pending = new PendingKeys();
    for (const key of ['\x15\x1d\x14\x02a', '\x15\x1d\x14\x02b', '\x15\x1d\x15\x01q', '\x15\x1d\x15\x04q', 'ab']) pending.add(key);
    expect(pending.take('\x15\x1d\x15\x01', '\x15\x1d\x15\x02').sort()).toEqual(['\x15\x1d\x15\x01q']);
    expect(pending.size).toBe(4);
    // A short key is its own group; a range ending at a group's prefix does not take it.
    expect(pending.take('a', 'ab')).toEqual([]);
    expect(pending.take('a', 'ab\x00')).toEqual(['ab']);
    expect(pending.takeAll().sort()).toEqual(['\x15\x1d\x14\x02a', '\x15\x1d\x14\x02b', '\x15\x1d\x15\x04q']);
    expect(pending.size).toBe(0);
  });

  it('gives a range every pending key inside it, and each key once, against a plain list (randomized)', () => {
    console.log(`pending-keys SEED=${SEED}`);
    const random = seededRandom(SEED);
    // Few distinct bytes, so prefixes collide, ranges start and end inside groups, and keys are
    // prefixes of one another; sometimes many distinct first bytes, past the group limit.
    const alphabet = ['\x00', '\x01', 'a', 'b', '\xfe', '\xff'];
    const randomKey = (wide: boolean): KeyString => {
      let key = '';
      for (let i = Math.floor(random() * 7); i > 0; i--) {
        key += wide && random() < 0.8 ? String.fromCharCode(Math.floor(random() * 256)) : alphabet[Math.floor(random() * alphabet.length)]!;
      }
      return key;
    };
    let taken = 0;
    let left = 0;
    let overLimit = 0;
    for (let run = 0; run < 200; run++) {
      const pending = new PendingKeys();
      const model: KeyString[] = [];
      const wide = random() < 0.3;
      for (let step = 0; step < 200; step++) {
        if (random() < (wide ? 0.97 : 0.7)) {
          const key = randomKey(wide);
          pending.add(key);
          model.push(key);
          continue;
        }
        let begin = randomKey(wide);
        let end = randomKey(wide);
        if (begin > end) [begin, end] = [end, begin];
        if (new Set(model.map((key) => key.slice(0, 4))).size > PENDING_KEYS_GROUPS_MAX) overLimit++;
        const got = pending.take(begin, end);
        // Every key handed out was pending; those inside the range must all be handed out.
        for (const key of got) {
          const index = model.indexOf(key);
          expect(index, `SEED=${SEED}: ${JSON.stringify(key)} was not pending`).toBeGreaterThanOrEqual(0);
          model.splice(index, 1);
        }
        for (const key of model) expect(key >= begin && key < end, `SEED=${SEED}: ${JSON.stringify(key)} in [${JSON.stringify(begin)}, ${JSON.stringify(end)}) was kept`).toBe(false);
        expect(pending.size).toBe(model.length);
        taken += got.length;
      }
      left += model.length;
      expect(pending.takeAll().sort()).toEqual([...model].sort());
    }
    console.log(`pending-keys: ${taken} keys taken by ranges, ${left} left for takeAll, ${overLimit} takes past the group limit`);
    expect(taken).toBeGreaterThan(1000);
    expect(overLimit).toBeGreaterThan(10);
    expect(left).toBeGreaterThan(1000);
  });

  it('compact keeps each wanted key once', () => {
    const pending = new PendingKeys();
    for (const key of ['abcdx', 'abcdx', 'abcdy', 'zz', 'zz', 'q']) pending.add(key);
    pending.compact((key) => key !== 'q');
    expect(pending.size).toBe(3);
    expect(pending.takeAll().sort()).toEqual(['abcdx', 'abcdy', 'zz']);
  });
});
