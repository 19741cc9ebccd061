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
    // Keys up to eleven bytes, so groups split by their first eight bytes (small split limits in
    // half of the runs) and keys end before, at and after the eighth byte.
    const randomKey = (wide: boolean): KeyString => {
      let key = '';
      for (let i = Math.floor(random() * 12); i > 0; i--) {
        key += wide && random() < 0.8 ? String.fromCharCode(Math.floor(random() * 256)) : alphabet[Math.floor(random() * alphabet.length)]!;
      }
      return key;
    };
    let taken = 0;
    let left = 0;
    let overLimit = 0;
    let subgroups = 0;
    for (let run = 0; run < 200; run++) {
      const split = random() < 0.5;
      const pending = split ? new PendingKeys({ splitKeysMin: 1 + Math.floor(random() * 8), subgroupsMax: 1 + Math.floor(random() * 8) }) : new PendingKeys();
      const model: KeyString[] = [];
      const wide = random() < 0.3;
      for (let step = 0; step < 200; step++) {
        if (random() < (wide ? 0.97 : 0.7)) {
          // Half the keys share their first four to eight bytes with a pending key, as a layer's do.
          const key = model.length > 0 && random() < 0.5 ? model[Math.floor(random() * model.length)]!.slice(0, 4 + Math.floor(random() * 5)) + randomKey(wide).slice(0, 4) : randomKey(wide);
          pending.add(key);
          model.push(key);
          continue;
        }
        let begin = randomKey(wide);
        let end = randomKey(wide);
        if (model.length > 0 && random() < 0.5) {
          // A range inside a pending key's first four to seven bytes, as a layer's reads are.
          const base = model[Math.floor(random() * model.length)]!.slice(0, 4 + Math.floor(random() * 4));
          [begin, end] = [base + randomKey(wide).slice(0, 3), base + randomKey(wide).slice(0, 3)];
        }
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
        subgroups += pending.subgroupCount;
      }
      left += model.length;
      expect(pending.takeAll().sort()).toEqual([...model].sort());
    }
    console.log(`pending-keys: ${taken} keys taken by ranges, ${left} left for takeAll, ${overLimit} takes past the group limit, ${subgroups} subgroups seen after takes`);
    expect(taken).toBeGreaterThan(1000);
    expect(subgroups).toBeGreaterThan(100);
    expect(overLimit).toBeGreaterThan(10);
    expect(left).toBeGreaterThan(1000);
  });

  it('splits a large group when a range lies inside it, and then takes only the subgroups in the range', () => {
    const pending = new PendingKeys({ splitKeysMin: 4, subgroupsMax: 3 });
    // Two queues' ready entries under one four-byte prefix (subspace, then the code 1).
    const ready = (queue: string, n: number): KeyString => `\x15\x3c\x15\x01\x02${queue}\x00${String(n).padStart(4, '0')}`;
    for (let n = 0; n < 5; n++) pending.add(ready('aaaa', n));
    for (let n = 0; n < 5; n++) pending.add(ready('bbbb', n));
    pending.add('\x15\x3c\x15\x01'); // shorter than eight bytes: stays in the group itself
    const inside = (queue: string): [KeyString, KeyString] => [`\x15\x3c\x15\x01\x02${queue}\x00`, `\x15\x3c\x15\x01\x02${queue}\x00\xff`];
    expect(pending.take(...inside('bbbb')).sort()).toEqual(['\x15\x3c\x15\x01', ...[0, 1, 2, 3, 4].map((n) => ready('bbbb', n))]);
    expect(pending.subgroupCount).toBe(1);
    expect(pending.size).toBe(5);
    // Keys added later go to their subgroup, a new one while there is room, else the group itself.
    pending.add(ready('bbbb', 9));
    pending.add(ready('cccc', 1));
    pending.add(ready('dddd', 1));
    pending.add(ready('eeee', 1));
    expect(pending.subgroupCount).toBe(3);
    // The group's own keys go with any range inside it; of the subgroups, only the range's.
    expect(pending.take(...inside('bbbb'))).toEqual([ready('dddd', 1), ready('eeee', 1), ready('bbbb', 9)]);
    expect(pending.size).toBe(6);
    pending.compact((key) => !key.includes('cccc'));
    expect([pending.size, pending.subgroupCount]).toEqual([5, 1]);
    expect(pending.take(...inside('aaaa')).sort()).toEqual([0, 1, 2, 3, 4].map((n) => ready('aaaa', n)));
    expect(pending.size).toBe(0);
    expect(pending.takeAll()).toEqual([]);
  });

  it('keeps a group whole when its keys are too varied for subgroups', () => {
    const pending = new PendingKeys({ splitKeysMin: 4, subgroupsMax: 2 });
    const keys = ['wxyzAAAA1', 'wxyzBBBB1', 'wxyzCCCC1', 'wxyzDDDD1'];
    for (const key of keys) pending.add(key);
    expect(pending.take('wxyzAAAA', 'wxyzAAAB').sort()).toEqual(keys);
    expect(pending.subgroupCount).toBe(0);
  });

  it('compact keeps each wanted key once', () => {
    const pending = new PendingKeys();
    for (const key of ['abcdx', 'abcdx', 'abcdy', 'zz', 'zz', 'q']) pending.add(key);
    pending.compact((key) => key !== 'q');
    expect(pending.size).toBe(3);
    expect(pending.takeAll().sort()).toEqual(['abcdx', 'abcdy', 'zz']);
  });
});
