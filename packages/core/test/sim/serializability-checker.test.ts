// Proves the list-append checker accepts serial histories and catches each anomaly it claims to:
// lost update (G-single), write skew (G2), G0 and G1c cycles, aborted and intermediate reads,
// non-prefix reads, garbage and duplicate elements, internal inconsistency and stale reads.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/index.js';
import { checkListAppend, describeAnomalies, type HistoryTransaction, type ListAppendOp } from './serializability-checker.js';

const append = (key: string, value: number): ListAppendOp => ({ type: 'append', key, value });
const read = (key: string, value: number[]): ListAppendOp => ({ type: 'read', key, value });
const committed = (id: number, ...ops: ListAppendOp[]): HistoryTransaction => ({ id, status: 'committed', ops });
const aborted = (id: number, ...ops: ListAppendOp[]): HistoryTransaction => ({ id, status: 'aborted', ops });

function kinds(history: HistoryTransaction[], options?: Parameters<typeof checkListAppend>[1]): string[] {
  return checkListAppend(history, options).anomalies.map((anomaly) => anomaly.kind);
}

/** A history produced by really running random transactions one after another (some abort). */
function serialHistory(seed: number, count: number, keyCount: number): HistoryTransaction[] {
  const random = seededRandom(seed);
  const state = new Map<string, number[]>();
  const history: HistoryTransaction[] = [];
  let nextValue = 1;
  for (let id = 0; id < count; id++) {
    const view = new Map<string, number[]>();
    const listOf = (key: string): number[] => {
      let list = view.get(key);
      if (list === undefined) view.set(key, (list = [...(state.get(key) ?? [])]));
      return list;
    };
    const ops: ListAppendOp[] = [];
    const opCount = 1 + Math.floor(random() * 4);
    for (let i = 0; i < opCount; i++) {
      const key = `k${Math.floor(random() * keyCount)}`;
      if (random() < 0.5) {
        const value = nextValue++;
        listOf(key).push(value);
        ops.push(append(key, value));
      } else {
        ops.push(read(key, [...listOf(key)]));
      }
    }
    const abort = random() < 0.1;
    if (!abort) for (const [key, list] of view) state.set(key, list);
    history.push({ id, status: abort ? 'aborted' : 'committed', ops, start: 2 * id, end: 2 * id + 1 });
  }
  return history;
}

describe('checkListAppend', () => {
  it('accepts a serial history and infers each key version order', () => {
    const result = checkListAppend([
      committed(1, append('x', 1), read('y', [])),
      committed(2, read('x', [1]), append('x', 2), read('x', [1, 2]), append('y', 3)),
      committed(3, read('x', [1, 2]), read('y', [3]), append('y', 4)),
      aborted(4, read('x', [1]), append('x', 99)),
    ]);
    expect(result.valid, describeAnomalies(result)).toBe(true);
    expect(result.versionOrders.get('x')).toEqual([1, 2]);
    // 4 is committed but never observed: it can only come after every observed element.
    expect(result.versionOrders.get('y')).toEqual([3, 4]);
  });

  it('catches a lost update as G-single (one ww and one rw edge)', () => {
    const result = checkListAppend([
      committed(1, read('x', []), append('x', 1)),
      committed(2, read('x', []), append('x', 2)),
      committed(3, read('x', [1, 2])),
    ]);
    expect(result.anomalies.map((anomaly) => anomaly.kind)).toEqual(['G-single']);
    const cycle = result.anomalies[0]!;
    expect('cycle' in cycle && cycle.cycle.map((step) => step.type).sort()).toEqual(['rw', 'ww']);
  });

  it('catches write skew as G2 (two rw edges)', () => {
    const result = checkListAppend([
      committed(1, read('x', []), read('y', []), append('x', 1)),
      committed(2, read('x', []), read('y', []), append('y', 2)),
      committed(3, read('x', [1]), read('y', [2])),
    ]);
    expect(result.anomalies.map((anomaly) => anomaly.kind)).toEqual(['G2']);
    const cycle = result.anomalies[0]!;
    expect('cycle' in cycle && cycle.cycle.map((step) => `${step.from}-${step.type}(${step.key})->${step.to}`).sort()).toEqual(['1-rw(y)->2', '2-rw(x)->1']);
  });

  it('catches G1c: each transaction observed the other one write', () => {
    expect(kinds([committed(1, append('x', 1), read('y', [2])), committed(2, append('y', 2), read('x', [1]))])).toEqual(['G1c']);
  });

  it('catches G0: two transactions whose appends are ordered differently on two keys', () => {
    expect(
      kinds([
        committed(1, append('x', 1), append('y', 2)),
        committed(2, append('x', 3), append('y', 4)),
        committed(3, read('x', [1, 3]), read('y', [4, 2])),
      ]),
    ).toEqual(['G0']);
  });

  it('catches a read of an aborted transaction append (G1a)', () => {
    expect(kinds([aborted(1, append('x', 1)), committed(2, read('x', [1]))])).toEqual(['aborted-read']);
  });

  it('accepts a read of an append whose commit result is unknown', () => {
    const result = checkListAppend([{ id: 1, status: 'unknown', ops: [append('x', 1)] }, committed(2, read('x', [1]))]);
    expect(result.valid, describeAnomalies(result)).toBe(true);
  });

  it('catches a list that is not a prefix of the version order', () => {
    expect(kinds([committed(1, append('x', 1)), committed(2, append('x', 2)), committed(3, read('x', [1, 2])), committed(4, read('x', [2]))])).toEqual([
      'incompatible-order',
    ]);
  });

  it('catches garbage, duplicate elements and intermediate reads (G1b)', () => {
    expect(kinds([committed(1, read('x', [7]))])).toEqual(['garbage-read']);
    expect(kinds([committed(1, append('x', 1)), committed(2, read('x', [1, 1]))])).toContain('duplicate-element');
    // Reading between another transaction's two appends also closes a wr/rw cycle with it.
    expect(kinds([committed(1, append('x', 1), append('x', 2)), committed(2, read('x', [1]))])).toEqual(['intermediate-read', 'G-single']);
  });

  it('catches a transaction that does not see its own append, or sees two states of a key', () => {
    expect(kinds([committed(1, append('x', 1), read('x', []))])).toContain('internal');
    expect(kinds([committed(1, append('x', 1)), committed(2, read('x', []), read('x', [1]))])).toContain('internal');
  });

  it('catches a stale read only with realtime edges (serializable, not strictly serializable)', () => {
    const history: HistoryTransaction[] = [
      { id: 1, status: 'committed', ops: [append('x', 1)], start: 1, end: 2 },
      { id: 2, status: 'committed', ops: [read('x', [])], start: 3, end: 4 },
    ];
    expect(kinds(history, { realtime: false })).toEqual([]);
    const result = checkListAppend(history);
    expect(result.anomalies.map((anomaly) => anomaly.kind)).toEqual(['G-single-realtime']);
    const cycle = result.anomalies[0]!;
    expect('cycle' in cycle && cycle.cycle.map((step) => `${step.from}-${step.type}->${step.to}`).sort()).toEqual(['1-realtime->2', '2-rw->1']);
    // Overlapping transactions have no realtime order, so the same observations are fine.
    expect(kinds([{ ...history[0]!, end: 3.5 }, history[1]!])).toEqual([]);
  });

  it('rejects a malformed history', () => {
    expect(() => checkListAppend([committed(1, append('x', 1)), committed(2, append('x', 1))])).toThrow(/appended twice/);
    expect(() => checkListAppend([committed(1), committed(1)])).toThrow(/appears twice/);
  });

  it('accepts thousands of serially executed transactions and catches one stale read among them', () => {
    const seed = Number(process.env.SEED ?? 20240601);
    console.log(`serializability-checker: SEED=${seed}`);
    const history = serialHistory(seed, 5000, 8);
    const result = checkListAppend(history);
    expect(result.valid, describeAnomalies(result)).toBe(true);
    expect(result.stats.committed).toBeGreaterThan(4000);
    expect(result.stats.edges.rw).toBeGreaterThan(1000);

    // Make one transaction that read a key and then appended to it miss the newest element it read.
    const victim = history.findIndex(
      (transaction, index) =>
        index > 1000 &&
        transaction.status === 'committed' &&
        transaction.ops[0]!.type === 'read' &&
        transaction.ops[0]!.value.length > 0 &&
        transaction.ops.length === 2 &&
        transaction.ops[1]!.type === 'append' &&
        transaction.ops[1]!.key === transaction.ops[0]!.key,
    );
    expect(victim).toBeGreaterThan(0);
    const original = history[victim]!;
    const first = original.ops[0] as Extract<ListAppendOp, { type: 'read' }>;
    const stale = { ...original, ops: [read(first.key, first.value.slice(0, -1)), original.ops[1]!] };
    const corrupted = history.map((transaction, index) => (index === victim ? stale : transaction));
    const broken = checkListAppend(corrupted, { realtime: false });
    // The missed element may also have been the first of its writer's two appends (then also G1b).
    const cycles = broken.anomalies.filter((anomaly) => 'cycle' in anomaly);
    expect(cycles.map((anomaly) => anomaly.kind)).toEqual(['G-single']);
    expect(broken.anomalies.every((anomaly) => anomaly.kind === 'G-single' || anomaly.kind === 'intermediate-read')).toBe(true);
    const cycle = cycles[0]!;
    expect('cycle' in cycle && cycle.cycle.some((step) => step.from === original.id && step.type === 'rw')).toBe(true);
  });
});
