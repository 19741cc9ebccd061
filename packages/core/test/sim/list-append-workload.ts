/**
 * The list-append workload shared by list-append.test.ts and broken-resolver.test.ts: concurrent
 * clients run random transactions of append and read micro-ops through `db.transact`, and every
 * attempt is recorded so the serializability checker can judge the history.
 *
 * Lists are stored four ways, one per key, so each list exercises a different part of the engine:
 * - `point-atomic`: one key holds the list (4-byte big-endian elements); appends are blind
 *   `appendIfFits` atomic ops (no read conflict);
 * - `point-set`: one key holds the list; an append reads it with `get` and writes it with `set`;
 * - `range-versionstamp`: one key per element under a prefix, read with `getRange`; appends are
 *   blind `setVersionstampedKey` writes, so elements sort in commit order (the workload never reads
 *   such a list after appending to it in the same transaction: that key is unreadable until commit);
 * - `range-index`: one key per element under a prefix at a 4-byte big-endian index; an append finds
 *   the last index with a reverse range read of limit 1 (a narrowed read conflict range) and sets
 *   the next one.
 *
 * Replay: the seed fixes every transaction's plan, the clients' yields and the retry jitter; the
 * interleaving of clients can still vary between runs, because commits wait on real I/O callbacks.
 */
import { type Database, type Transaction, StrataError, encodeVersionstampOffset, seededRandom, strinc, utf8 } from '../../src/index.js';
import type { HistoryTransaction, ListAppendOp, TransactionStatus } from './serializability-checker.js';

/** How a list is stored (see the module comment). */
export type ListKind = 'point-atomic' | 'point-set' | 'range-versionstamp' | 'range-index';

/** Every list kind. */
export const LIST_KINDS: readonly ListKind[] = ['point-atomic', 'point-set', 'range-versionstamp', 'range-index'];

/** Options of {@link runListAppendWorkload}. */
export interface ListAppendWorkloadOptions {
  seed: number;
  clients: number;
  transactionsPerClient: number;
  /** Number of lists (default 8). Key i is stored as `kinds[i % kinds.length]`. */
  keyCount?: number;
  kinds?: readonly ListKind[];
  /** Most micro-ops per transaction (default 4). */
  opsMax?: number;
  /** Prefix of every key the workload writes (default `la/`). */
  prefix?: string;
}

/** What a workload run produced. */
export interface ListAppendRun {
  /** Every attempt of every transaction, and a final read of every list (the last entry). */
  history: HistoryTransaction[];
  /** Each list's kind, by list name. */
  kinds: ReadonlyMap<string, ListKind>;
  /** The final read of every list, after all clients finished. */
  finalLists: ReadonlyMap<string, number[]>;
  committed: number;
  aborted: number;
}

interface Attempt {
  id: number;
  status: TransactionStatus;
  ops: ListAppendOp[];
  start: number;
  end?: number;
}

interface PlannedOp {
  type: 'append' | 'read';
  list: string;
  reverse: boolean;
}

/** A list's storage: one point key, or a prefix with one key per element. */
export class ListStore {
  readonly point: Uint8Array;
  readonly begin: Uint8Array;
  readonly end: Uint8Array;

  constructor(
    prefix: string,
    readonly name: string,
    readonly kind: ListKind,
  ) {
    this.point = utf8(`${prefix}${name}`);
    this.begin = utf8(`${prefix}${name}/`);
    this.end = strinc(this.begin);
  }

  /** The list as the transaction sees it. */
  async read(tx: Transaction, reverse = false): Promise<number[]> {
    if (this.kind === 'point-atomic' || this.kind === 'point-set') return decodeList(await tx.get(this.point));
    const pairs = await tx.getRangeAll(this.begin, this.end, { reverse });
    const values = pairs.map((pair) => decodeElement(pair.value));
    return reverse ? values.reverse() : values;
  }

  /** Appends `value`; `sequence` numbers this transaction's appends to the list. */
  async append(tx: Transaction, value: number, sequence: number): Promise<void> {
    const element = encodeElement(value);
    switch (this.kind) {
      case 'point-atomic':
        tx.appendIfFits(this.point, element);
        return;
      case 'point-set': {
        const current = (await tx.get(this.point)) ?? new Uint8Array(0);
        const next = new Uint8Array(current.length + 4);
        next.set(current);
        next.set(element, current.length);
        tx.set(this.point, next);
        return;
      }
      case 'range-versionstamp': {
        // prefix, 10-byte versionstamp placeholder, then the append's sequence in the transaction.
        const key = new Uint8Array(this.begin.length + 11);
        key.set(this.begin);
        key[this.begin.length + 10] = sequence;
        tx.setVersionstampedKey(encodeVersionstampOffset(key, this.begin.length), element);
        return;
      }
      case 'range-index': {
        const last = await tx.getRangeAll(this.begin, this.end, { reverse: true, limit: 1 });
        const index = last.length === 0 ? 0 : readIndex(last[0]!.key, this.begin.length) + 1;
        const key = new Uint8Array(this.begin.length + 4);
        key.set(this.begin);
        new DataView(key.buffer).setUint32(this.begin.length, index, false);
        tx.set(key, element);
        return;
      }
    }
  }
}

function encodeElement(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value, false);
  return out;
}

function decodeElement(bytes: Uint8Array): number {
  if (bytes.length !== 4) throw new Error(`a list element must be 4 bytes, got ${bytes.length}`);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
}

function decodeList(bytes: Uint8Array | null): number[] {
  if (bytes === null) return [];
  if (bytes.length % 4 !== 0) throw new Error(`a point list must be a multiple of 4 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: number[] = [];
  for (let at = 0; at < bytes.length; at += 4) out.push(view.getUint32(at, false));
  return out;
}

function readIndex(key: Uint8Array, offset: number): number {
  return new DataView(key.buffer, key.byteOffset, key.length).getUint32(offset, false);
}

const yieldTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Makes the lists of a workload. */
export function makeLists(options: Pick<ListAppendWorkloadOptions, 'keyCount' | 'kinds' | 'prefix'>): ListStore[] {
  const kinds = options.kinds ?? LIST_KINDS;
  const prefix = options.prefix ?? 'la/';
  return Array.from({ length: options.keyCount ?? 8 }, (_, i) => new ListStore(prefix, `k${String(i).padStart(2, '0')}`, kinds[i % kinds.length]!));
}

/**
 * Runs the workload on `db` and returns its history. Every attempt of `db.transact` is recorded with
 * fresh values; the attempt that committed is `committed`, the others `aborted` (or `unknown` after
 * an error that may have committed). The history ends with one read-only transaction reading every list.
 */
export async function runListAppendWorkload(db: Database, options: ListAppendWorkloadOptions): Promise<ListAppendRun> {
  const lists = makeLists(options);
  const opsMax = options.opsMax ?? 4;
  const history: Attempt[] = [];
  let clock = 0;
  let nextValue = 1;
  let nextId = 1;

  const runTransaction = async (plan: PlannedOp[], random: () => number): Promise<void> => {
    let attempt: Attempt | null = null;
    try {
      await db.transact(
        async (tx) => {
          // A new attempt means the previous one failed with a retryable error: it did not commit.
          if (attempt !== null) attempt.status = 'aborted';
          const current: Attempt = { id: nextId++, status: 'aborted', ops: [], start: ++clock };
          attempt = current;
          history.push(current);
          const sequences = new Map<string, number>();
          for (const op of plan) {
            if (random() < 0.5) await yieldTurn();
            const list = lists.find((candidate) => candidate.name === op.list)!;
            if (op.type === 'read') {
              current.ops.push({ type: 'read', key: list.name, value: await list.read(tx, op.reverse) });
            } else {
              const value = nextValue++;
              const sequence = sequences.get(list.name) ?? 0;
              sequences.set(list.name, sequence + 1);
              await list.append(tx, value, sequence);
              current.ops.push({ type: 'append', key: list.name, value });
            }
          }
        },
        { maxRetryDelayMs: 20 },
      );
      const done = attempt as Attempt | null;
      if (done !== null) {
        done.status = 'committed';
        done.end = ++clock;
      }
    } catch (error) {
      const failed = attempt as Attempt | null;
      if (failed !== null && error instanceof StrataError && error.maybeCommitted) failed.status = 'unknown';
      throw error;
    }
  };

  const client = async (index: number): Promise<void> => {
    const random = seededRandom((options.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    for (let t = 0; t < options.transactionsPerClient; t++) {
      const plan: PlannedOp[] = [];
      const appended = new Set<string>();
      const count = 1 + Math.floor(random() * opsMax);
      for (let i = 0; i < count; i++) {
        const list = lists[Math.floor(random() * lists.length)]!;
        let type: 'append' | 'read' = random() < 0.5 ? 'append' : 'read';
        // A versionstamped element cannot be read back before commit: read such a list before appending.
        if (type === 'read' && list.kind === 'range-versionstamp' && appended.has(list.name)) type = 'append';
        if (type === 'append') appended.add(list.name);
        plan.push({ type, list: list.name, reverse: random() < 0.3 });
      }
      await runTransaction(plan, random);
    }
  };
  await Promise.all(Array.from({ length: options.clients }, (_, i) => client(i)));

  const finalLists = new Map<string, number[]>();
  const finalRead: Attempt = { id: nextId++, status: 'committed', ops: [], start: ++clock };
  await db.transact(async (tx) => {
    finalRead.ops = [];
    for (const list of lists) {
      const values = await list.read(tx);
      finalRead.ops.push({ type: 'read', key: list.name, value: values });
      finalLists.set(list.name, values);
    }
  });
  finalRead.end = ++clock;
  history.push(finalRead);

  return {
    history,
    kinds: new Map(lists.map((list) => [list.name, list.kind])),
    finalLists,
    committed: history.filter((attempt) => attempt.status === 'committed').length,
    aborted: history.filter((attempt) => attempt.status === 'aborted').length,
  };
}
