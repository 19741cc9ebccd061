/**
 * A serializability checker for list-append histories: it proves that a history of committed
 * transactions has no serial explanation, or finds none of the anomalies it looks for.
 *
 * The model: every key holds a list; a transaction is a sequence of micro-ops, `append(key, value)`
 * (each value unique in the whole history) and `read(key)`, which observes the key's whole list.
 * Because lists only grow by appends, any list a committed transaction observed is a prefix of the
 * key's version order, so the longest observed list reveals the version order of the key. From it
 * the checker builds the dependency graph of the committed transactions, with FoundationDB's (and
 * Adya's) edge types:
 *
 * - ww (write-write): T1 appended an element and T2 appended the next one of the same key;
 * - wr (write-read): T2 observed a list whose last element T1 appended;
 * - rw (read-write, anti-dependency): T1 observed a list and T2 appended the element that follows it;
 * - realtime (optional, for strict serializability): T1 completed before T2 started.
 *
 * A cycle in that graph means no serial order explains what the transactions observed. Cycles are
 * found per strongly connected component (iterative Tarjan), first among ww edges (G0), then ww and
 * wr (G1c), then with anti-dependencies (G-single when one rw edge suffices, otherwise G2), then
 * with realtime edges. Besides cycles the checker reports reads of values nobody appended, reads of
 * aborted transactions' appends (G1a), reads of a state in the middle of another transaction's
 * appends (G1b), duplicate elements, lists that are not a prefix of the key's version order, and
 * transactions that do not see their own appends or see two different states of one key.
 *
 * Inference rules used (each holds in every serializable execution, so anything they derive from a
 * history is a real anomaly): an appended value of a committed transaction that no read observed
 * comes after every observed element of its key; a transaction that observed a list without value x
 * precedes the transaction that appended x.
 */

/** One micro-op: an append of a unique value, or a read and the list it observed. */
export type ListAppendOp =
  | { readonly type: 'append'; readonly key: string; readonly value: number }
  | { readonly type: 'read'; readonly key: string; readonly value: readonly number[] };

/**
 * What became of a transaction: `committed`; `aborted` (certainly not committed, for example
 * `not_committed`); `unknown` (it may have committed, as after `commit_unknown_result`).
 */
export type TransactionStatus = 'committed' | 'aborted' | 'unknown';

/** One transaction (one attempt of `db.transact`) of a history. */
export interface HistoryTransaction {
  /** Unique in the history; anomalies name transactions by it. */
  readonly id: number;
  readonly status: TransactionStatus;
  readonly ops: readonly ListAppendOp[];
  /**
   * Logical times at which the attempt started (before its first read) and completed (after its
   * commit was acknowledged). When every committed transaction has both and `realtime` is on, the
   * checker adds realtime edges and so checks strict serializability.
   */
  readonly start?: number;
  readonly end?: number;
}

/** Edge types of the dependency graph. */
export type DependencyType = 'ww' | 'wr' | 'rw' | 'realtime';

/** One edge of a reported cycle. `key` is `null` for realtime edges. */
export interface CycleStep {
  readonly from: number;
  readonly to: number;
  readonly type: DependencyType;
  readonly key: string | null;
}

/** Names of cycle anomalies; the `-realtime` variants need a realtime edge to close the cycle. */
export type CycleKind = 'G0' | 'G1c' | 'G-single' | 'G2' | 'G0-realtime' | 'G1c-realtime' | 'G-single-realtime' | 'G2-realtime';

/** One anomaly. Every variant carries a one-line `description`. */
export type Anomaly =
  | { readonly kind: CycleKind; readonly cycle: readonly CycleStep[]; readonly description: string }
  | { readonly kind: 'garbage-read'; readonly transaction: number; readonly key: string; readonly value: number; readonly description: string }
  | { readonly kind: 'aborted-read'; readonly transaction: number; readonly key: string; readonly value: number; readonly writer: number; readonly description: string }
  | {
      readonly kind: 'intermediate-read';
      readonly transaction: number;
      readonly key: string;
      readonly value: number;
      readonly writer: number;
      readonly description: string;
    }
  | { readonly kind: 'duplicate-element'; readonly transaction: number; readonly key: string; readonly value: number; readonly description: string }
  | {
      readonly kind: 'incompatible-order';
      readonly transaction: number;
      readonly key: string;
      readonly observed: readonly number[];
      readonly longest: readonly number[];
      readonly description: string;
    }
  | { readonly kind: 'internal'; readonly transaction: number; readonly key: string; readonly observed: readonly number[]; readonly description: string };

/** Every anomaly kind. */
export type AnomalyKind = Anomaly['kind'];

/** Options of {@link checkListAppend}. */
export interface CheckOptions {
  /** Add realtime edges from the transactions' `start`/`end` (default: true when all committed ones have them). */
  realtime?: boolean;
  /** Most cycles reported (default 20); each comes from a different strongly connected component. */
  cyclesMax?: number;
}

/** The checker's verdict. */
export interface CheckResult {
  /** True when no anomaly was found. */
  readonly valid: boolean;
  readonly anomalies: readonly Anomaly[];
  /** Inferred version order of each key: its longest observed list, then unobserved committed appends. */
  readonly versionOrders: ReadonlyMap<string, readonly number[]>;
  readonly stats: {
    readonly transactions: number;
    readonly committed: number;
    readonly edges: Readonly<Record<DependencyType, number>>;
    readonly realtime: boolean;
  };
}

const WW = 1;
const WR = 2;
const RW = 4;
const RT = 8;
const TYPE_NAMES: Record<number, DependencyType> = { [WW]: 'ww', [WR]: 'wr', [RW]: 'rw', [RT]: 'realtime' };
const G_SINGLE_TRIES_MAX = 200;

interface Writer {
  /** Index of the transaction in the history. */
  readonly tx: number;
  /** Position of this value among the transaction's appends to the key. */
  readonly position: number;
}

interface Read {
  readonly tx: number;
  readonly key: string;
  /** The list as observed. */
  readonly full: readonly number[];
  /** The part that came from other transactions (`full` without the reader's own appends). */
  readonly external: readonly number[];
}

/** A directed multigraph in compressed sparse row form. */
interface Graph {
  readonly nodeCount: number;
  readonly offsets: Int32Array;
  readonly targets: Int32Array;
  readonly types: Uint8Array;
  readonly keys: Int32Array;
  readonly sources: Int32Array;
}

class GraphBuilder {
  readonly sources: number[] = [];
  readonly targets: number[] = [];
  readonly types: number[] = [];
  readonly keys: number[] = [];
  readonly counts: Record<DependencyType, number> = { ww: 0, wr: 0, rw: 0, realtime: 0 };

  add(from: number, to: number, type: number, key: number): void {
    if (from === to) return;
    this.sources.push(from);
    this.targets.push(to);
    this.types.push(type);
    this.keys.push(key);
    this.counts[TYPE_NAMES[type]!]++;
  }

  build(nodeCount: number): Graph {
    const edgeCount = this.sources.length;
    const offsets = new Int32Array(nodeCount + 1);
    for (const source of this.sources) offsets[source + 1]!++;
    for (let i = 0; i < nodeCount; i++) offsets[i + 1]! += offsets[i]!;
    const fill = offsets.slice(0, nodeCount);
    const targets = new Int32Array(edgeCount);
    const types = new Uint8Array(edgeCount);
    const keys = new Int32Array(edgeCount);
    const sources = new Int32Array(edgeCount);
    for (let e = 0; e < edgeCount; e++) {
      const at = fill[this.sources[e]!]!++;
      targets[at] = this.targets[e]!;
      types[at] = this.types[e]!;
      keys[at] = this.keys[e]!;
      sources[at] = this.sources[e]!;
    }
    return { nodeCount, offsets, targets, types, keys, sources };
  }
}

/**
 * Checks a list-append history for anomalies.
 *
 * @remarks
 * Only committed transactions become nodes of the dependency graph; aborted and unknown ones only
 * matter as writers (observing an aborted transaction's append is G1a; observing an unknown one's is
 * allowed). Read-only transactions count as committed when they completed.
 * @throws Error when the history is malformed: duplicate transaction ids, or a value appended twice
 * to one key.
 */
export function checkListAppend(history: readonly HistoryTransaction[], options: CheckOptions = {}): CheckResult {
  const anomalies: Anomaly[] = [];
  const ids = new Set<number>();
  for (const transaction of history) {
    if (ids.has(transaction.id)) throw new Error(`malformed history: transaction id ${transaction.id} appears twice`);
    ids.add(transaction.id);
  }

  // Who appended each value, and each transaction's appends per key in order.
  const writers = new Map<string, Map<number, Writer>>();
  const appendsOf: Map<string, number[]>[] = history.map(() => new Map());
  history.forEach((transaction, tx) => {
    for (const op of transaction.ops) {
      if (op.type !== 'append') continue;
      let byValue = writers.get(op.key);
      if (byValue === undefined) writers.set(op.key, (byValue = new Map()));
      if (byValue.has(op.value)) throw new Error(`malformed history: value ${op.value} appended twice to key ${op.key}`);
      let own = appendsOf[tx]!.get(op.key);
      if (own === undefined) appendsOf[tx]!.set(op.key, (own = []));
      byValue.set(op.value, { tx, position: own.length });
      own.push(op.value);
    }
  });
  const writerOf = (key: string, value: number): Writer | undefined => writers.get(key)?.get(value);
  const committed = (tx: number): boolean => history[tx]!.status === 'committed';

  // Reads of committed transactions, split into what came from others and the reader's own appends.
  const reads: Read[] = [];
  history.forEach((transaction, tx) => {
    if (transaction.status !== 'committed') return;
    const own = new Map<string, number[]>();
    const externalSeen = new Map<string, readonly number[]>();
    for (const op of transaction.ops) {
      if (op.type === 'append') {
        let list = own.get(op.key);
        if (list === undefined) own.set(op.key, (list = []));
        list.push(op.value);
        continue;
      }
      const read = checkRead(transaction.id, tx, op.key, op.value, own.get(op.key) ?? [], writerOf, history, anomalies);
      const previous = externalSeen.get(op.key);
      if (previous === undefined) externalSeen.set(op.key, read.external);
      else if (!sameList(previous, read.external)) {
        anomalies.push({
          kind: 'internal',
          transaction: transaction.id,
          key: op.key,
          observed: op.value,
          description: `T${transaction.id} read ${op.key} twice and saw two states of other transactions' appends: [${previous.join(',')}] then [${read.external.join(',')}]`,
        });
      }
      reads.push(read);
    }
  });

  // Version order of each key: the longest observed list; every observed list must be a prefix of it.
  const keys = [...new Set([...writers.keys(), ...reads.map((read) => read.key)])].sort();
  const keyIndex = new Map(keys.map((key, i) => [key, i]));
  const longest = new Map<string, readonly number[]>();
  for (const read of reads) {
    const current = longest.get(read.key);
    if (current === undefined || read.full.length > current.length) longest.set(read.key, read.full);
  }
  const prefixOk = new Set<Read>();
  for (const read of reads) {
    const order = longest.get(read.key)!;
    if (isPrefix(read.full, order)) {
      prefixOk.add(read);
      continue;
    }
    anomalies.push({
      kind: 'incompatible-order',
      transaction: history[read.tx]!.id,
      key: read.key,
      observed: read.full,
      longest: order,
      description: `T${history[read.tx]!.id} observed ${read.key} = [${read.full.join(',')}], which is not a prefix of the longest observed list [${order.join(',')}]`,
    });
  }
  const versionOrders = new Map<string, readonly number[]>();
  const unobserved = new Map<string, number[]>();
  for (const key of keys) {
    const order = longest.get(key) ?? [];
    const seen = new Set(order);
    const rest: number[] = [];
    for (const [value, writer] of writers.get(key) ?? new Map<number, Writer>()) {
      if (!seen.has(value) && committed(writer.tx)) rest.push(value);
    }
    unobserved.set(key, rest);
    versionOrders.set(key, [...order, ...rest]);
  }

  // The dependency graph over committed transactions (node = index in the history).
  const builder = new GraphBuilder();
  for (const key of keys) {
    const k = keyIndex.get(key)!;
    const order = longest.get(key) ?? [];
    let previous = -1;
    for (const value of order) {
      const writer = writerOf(key, value);
      if (writer === undefined || !committed(writer.tx)) continue;
      if (previous >= 0) builder.add(previous, writer.tx, WW, k);
      previous = writer.tx;
    }
    if (previous >= 0) for (const value of unobserved.get(key)!) builder.add(previous, writerOf(key, value)!.tx, WW, k);
  }
  for (const read of reads) {
    const k = keyIndex.get(read.key)!;
    const last = read.external[read.external.length - 1];
    if (last !== undefined) {
      const writer = writerOf(read.key, last);
      if (writer !== undefined && committed(writer.tx)) builder.add(writer.tx, read.tx, WR, k);
    }
  }
  for (const read of reads) {
    if (!prefixOk.has(read)) continue;
    const k = keyIndex.get(read.key)!;
    const order = longest.get(read.key)!;
    if (read.external.length < order.length) {
      // The element after what the reader saw from others (its own appends, if any, come next and
      // are followed by ww edges to later writers).
      const writer = writerOf(read.key, order[read.external.length]!);
      if (writer !== undefined && committed(writer.tx)) builder.add(read.tx, writer.tx, RW, k);
    }
    if (read.full.length === order.length) {
      for (const value of unobserved.get(read.key)!) builder.add(read.tx, writerOf(read.key, value)!.tx, RW, k);
    }
  }

  // Realtime edges through a chain of event nodes: T -> end(T) -> ... -> start(U) -> U.
  const committedTransactions = history.map((_, tx) => tx).filter(committed);
  const timed = committedTransactions.every((tx) => history[tx]!.start !== undefined && history[tx]!.end !== undefined);
  const realtime = (options.realtime ?? timed) && committedTransactions.length > 0;
  if (realtime && !timed) throw new Error('checkListAppend: realtime needs start and end on every committed transaction');
  let nodeCount = history.length;
  if (realtime) {
    const events: { time: number; start: boolean; tx: number }[] = [];
    for (const tx of committedTransactions) {
      const { start, end, id } = history[tx]!;
      if (!(start! < end!)) throw new Error(`malformed history: T${id} does not start before it ends`);
      events.push({ time: start!, start: true, tx }, { time: end!, start: false, tx });
    }
    // At equal times a start sorts before an end, so equal times give no edge.
    events.sort((a, b) => a.time - b.time || (a.start === b.start ? 0 : a.start ? -1 : 1));
    const base = history.length;
    events.forEach((event, i) => {
      if (i > 0) builder.add(base + i - 1, base + i, RT, -1);
      if (event.start) builder.add(base + i, event.tx, RT, -1);
      else builder.add(event.tx, base + i, RT, -1);
    });
    nodeCount += events.length;
  }
  const graph = builder.build(nodeCount);

  // Cycles, weakest edge set first; a component already reported is not reported again.
  const cyclesMax = options.cyclesMax ?? 20;
  const covered = new Uint8Array(nodeCount);
  const levels = realtime ? [WW, WW | WR, WW | WR | RW, WW | WR | RW | RT] : [WW, WW | WR, WW | WR | RW];
  let cycles = 0;
  for (const mask of levels) {
    for (const component of stronglyConnectedComponents(graph, mask)) {
      if (cycles >= cyclesMax) break;
      if (component.some((node) => covered[node] === 1)) continue;
      const member = new Uint8Array(nodeCount);
      for (const node of component) member[node] = 1;
      const edges = findCycle(graph, component, member, mask);
      for (const node of component) covered[node] = 1;
      const cycle = collapse(graph, edges, history, keys);
      anomalies.push({ kind: classify(cycle), cycle, description: describeCycle(cycle) });
      cycles++;
    }
  }

  return {
    valid: anomalies.length === 0,
    anomalies,
    versionOrders,
    stats: { transactions: history.length, committed: committedTransactions.length, edges: { ...builder.counts }, realtime },
  };
}

/** A short multi-line summary of a result's anomalies, for assertion messages. */
export function describeAnomalies(result: CheckResult, limit = 10): string {
  if (result.valid) return 'no anomalies';
  const counts = new Map<string, number>();
  for (const anomaly of result.anomalies) counts.set(anomaly.kind, (counts.get(anomaly.kind) ?? 0) + 1);
  const lines = [`${result.anomalies.length} anomalies (${[...counts].map(([kind, n]) => `${kind}: ${n}`).join(', ')})`];
  for (const anomaly of result.anomalies.slice(0, limit)) lines.push(`  ${anomaly.kind}: ${anomaly.description}`);
  return lines.join('\n');
}

function checkRead(
  id: number,
  tx: number,
  key: string,
  observed: readonly number[],
  own: readonly number[],
  writerOf: (key: string, value: number) => Writer | undefined,
  history: readonly HistoryTransaction[],
  anomalies: Anomaly[],
): Read {
  const seen = new Set<number>();
  const duplicates = new Set<number>();
  for (const value of observed) {
    if (seen.has(value) && !duplicates.has(value)) {
      duplicates.add(value);
      anomalies.push({ kind: 'duplicate-element', transaction: id, key, value, description: `T${id} observed ${value} more than once in ${key}` });
    }
    seen.add(value);
    const writer = writerOf(key, value);
    if (writer === undefined) {
      anomalies.push({ kind: 'garbage-read', transaction: id, key, value, description: `T${id} observed ${value} in ${key}, which no transaction appended` });
    } else if (history[writer.tx]!.status === 'aborted') {
      const writerId = history[writer.tx]!.id;
      anomalies.push({
        kind: 'aborted-read',
        transaction: id,
        key,
        value,
        writer: writerId,
        description: `T${id} observed ${value} in ${key}, appended by T${writerId}, which aborted (G1a)`,
      });
    }
  }
  const endsWithOwn = own.length <= observed.length && own.every((value, i) => observed[observed.length - own.length + i] === value);
  const external = endsWithOwn ? observed.slice(0, observed.length - own.length) : observed.filter((value) => writerOf(key, value)?.tx !== tx);
  const ownInExternal = external.some((value) => writerOf(key, value)?.tx === tx);
  if (!endsWithOwn || ownInExternal) {
    anomalies.push({
      kind: 'internal',
      transaction: id,
      key,
      observed,
      description: `T${id} observed ${key} = [${observed.join(',')}], which does not end with exactly its own appends so far [${own.join(',')}]`,
    });
  }
  const last = external[external.length - 1];
  if (last !== undefined) {
    const writer = writerOf(key, last);
    if (writer !== undefined && writer.tx !== tx) {
      const writerAppends = history[writer.tx]!.ops.filter((op) => op.type === 'append' && op.key === key).length;
      if (writer.position < writerAppends - 1) {
        const writerId = history[writer.tx]!.id;
        anomalies.push({
          kind: 'intermediate-read',
          transaction: id,
          key,
          value: last,
          writer: writerId,
          description: `T${id} observed ${key} ending in ${last}, but T${writerId} appended more to ${key} after it (G1b)`,
        });
      }
    }
  }
  return { tx, key, full: observed, external };
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => b[i] === value);
}

function isPrefix(prefix: readonly number[], list: readonly number[]): boolean {
  return prefix.length <= list.length && prefix.every((value, i) => list[i] === value);
}

/** Tarjan's strongly connected components, iterative, over edges whose type is in `mask`; only components with a cycle. */
function stronglyConnectedComponents(graph: Graph, mask: number): number[][] {
  const n = graph.nodeCount;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const callNodes: number[] = [];
  const callEdges: number[] = [];
  const components: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    index[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;
    callNodes.push(root);
    callEdges.push(graph.offsets[root]!);
    while (callNodes.length > 0) {
      const top = callNodes.length - 1;
      const v = callNodes[top]!;
      const end = graph.offsets[v + 1]!;
      let e = callEdges[top]!;
      let descended = false;
      while (e < end) {
        const w = graph.targets[e]!;
        const type = graph.types[e]!;
        e++;
        if ((type & mask) === 0) continue;
        if (index[w] === -1) {
          callEdges[top] = e;
          index[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = 1;
          callNodes.push(w);
          callEdges.push(graph.offsets[w]!);
          descended = true;
          break;
        }
        if (onStack[w] === 1 && index[w]! < low[v]!) low[v] = index[w]!;
      }
      if (descended) continue;
      callNodes.pop();
      callEdges.pop();
      if (callNodes.length > 0) {
        const parent = callNodes[callNodes.length - 1]!;
        if (low[v]! < low[parent]!) low[parent] = low[v]!;
      }
      if (low[v] === index[v]) {
        const component: number[] = [];
        for (;;) {
          const w = stack.pop()!;
          onStack[w] = 0;
          component.push(w);
          if (w === v) break;
        }
        // Self-loops are never added, so a component with a cycle has two nodes or more.
        if (component.length > 1) components.push(component);
      }
    }
  }
  return components;
}

/** Shortest path (edge indices) from `from` to `to` inside the component over edges in `mask`, or null. */
function shortestPath(graph: Graph, from: number, to: number, member: Uint8Array, mask: number): number[] | null {
  const parentEdge = new Map<number, number>();
  const queue = [from];
  const visited = new Set([from]);
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head]!;
    for (let e = graph.offsets[v]!; e < graph.offsets[v + 1]!; e++) {
      const w = graph.targets[e]!;
      if ((graph.types[e]! & mask) === 0 || member[w] !== 1) continue;
      if (w === to) {
        const path = [e];
        for (let at = v; at !== from; ) {
          const edge = parentEdge.get(at)!;
          path.push(edge);
          at = graph.sources[edge]!;
        }
        return path.reverse();
      }
      if (visited.has(w)) continue;
      visited.add(w);
      parentEdge.set(w, e);
      queue.push(w);
    }
  }
  return null;
}

/**
 * A cycle inside a strongly connected component. When anti-dependencies are allowed, it first looks
 * for a cycle with a single rw edge (G-single) before settling for any cycle.
 */
function findCycle(graph: Graph, component: readonly number[], member: Uint8Array, mask: number): number[] {
  if ((mask & RW) !== 0) {
    let tries = 0;
    for (const v of component) {
      for (let e = graph.offsets[v]!; e < graph.offsets[v + 1]! && tries < G_SINGLE_TRIES_MAX; e++) {
        if (graph.types[e] !== RW || member[graph.targets[e]!] !== 1) continue;
        tries++;
        const back = shortestPath(graph, graph.targets[e]!, v, member, mask & ~RW);
        if (back !== null) return [e, ...back];
      }
    }
  }
  // Start from a transaction node, not a realtime event node, so the cycle reads naturally.
  const start = component.reduce((best, node) => Math.min(best, node));
  const cycle = shortestPath(graph, start, start, member, mask);
  if (cycle === null) throw new Error('checkListAppend: a strongly connected component without a cycle (checker bug)');
  return cycle;
}

/** Turns edge indices into steps between transactions, merging realtime event-node chains into one edge. */
function collapse(graph: Graph, edges: readonly number[], history: readonly HistoryTransaction[], keys: readonly string[]): CycleStep[] {
  const transactions = history.length;
  // Rotate so the cycle starts at a transaction node.
  const first = edges.findIndex((e) => graph.sources[e]! < transactions);
  const rotated = [...edges.slice(first), ...edges.slice(0, first)];
  const steps: CycleStep[] = [];
  let realtimeFrom = -1;
  for (const e of rotated) {
    const from = graph.sources[e]!;
    const to = graph.targets[e]!;
    const type = TYPE_NAMES[graph.types[e]!]!;
    if (type !== 'realtime') {
      steps.push({ from: history[from]!.id, to: history[to]!.id, type, key: keys[graph.keys[e]!]! });
      continue;
    }
    if (from < transactions) realtimeFrom = from;
    if (to < transactions) {
      steps.push({ from: history[realtimeFrom]!.id, to: history[to]!.id, type: 'realtime', key: null });
      realtimeFrom = -1;
    }
  }
  return steps;
}

function classify(cycle: readonly CycleStep[]): CycleKind {
  const rw = cycle.filter((step) => step.type === 'rw').length;
  const wr = cycle.some((step) => step.type === 'wr');
  const base = rw === 0 ? (wr ? 'G1c' : 'G0') : rw === 1 ? 'G-single' : 'G2';
  return (cycle.some((step) => step.type === 'realtime') ? `${base}-realtime` : base) as CycleKind;
}

function describeCycle(cycle: readonly CycleStep[]): string {
  const parts = cycle.map((step) => `-${step.type}${step.key === null ? '' : `(${step.key})`}-> T${step.to}`);
  return `T${cycle[0]!.from} ${parts.join(' ')}`;
}
