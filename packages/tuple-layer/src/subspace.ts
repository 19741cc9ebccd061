/**
 * Subspaces: a key prefix, with typed key and value encoders, that layers use to name their data.
 */
import { prefixRange, type KeyRange, type KeySelector, type RangeOptions, type Transaction, type TransactionBinding } from '@strata/core';
import { bytesEncoder, tupleEncoder, type Encoder } from './encoders.js';
import { TupleLayerError } from './errors.js';
import { pack, packWithPrefix, range as tupleRange, type Tuple, type TupleItem } from './tuple.js';

/** Options of {@link Subspace}'s constructor. */
export interface SubspaceOptions<K, V> {
  /** How keys after the prefix are encoded (default: tuples). */
  keyEncoder?: Encoder<K>;
  /** How values are encoded (default: raw bytes). */
  valueEncoder?: Encoder<V>;
}

/**
 * A key prefix with typed key and value encoders.
 *
 * @remarks
 * Keys of the subspace are the prefix followed by an encoded key (a packed tuple by default).
 * Nested subspaces extend the prefix with a packed tuple. `tx.at(subspace)` gives a typed view
 * of a transaction inside the subspace.
 * @example
 * ```ts
 * const users = new Subspace(['users']).withValueEncoder(msgpackEncoder<{ name: string }>());
 * await db.transact((tx) => tx.at(users).set([42], { name: 'Ada' }));
 * const ada = await db.transact((tx) => tx.at(users).get([42])); // { name: 'Ada' }
 * ```
 */
export class Subspace<K = TupleItem[], V = Uint8Array> implements TransactionBinding<SubspaceView<K, V>> {
  /** The prefix every key of the subspace starts with. */
  readonly prefix: Uint8Array;
  /** How keys are encoded after the prefix. */
  readonly keyEncoder: Encoder<K>;
  /** How values are encoded. */
  readonly valueEncoder: Encoder<V>;

  /**
   * @param prefix - raw prefix bytes, or a tuple packed to make them (default: empty).
   */
  constructor(prefix: Uint8Array | Tuple = new Uint8Array(), options: SubspaceOptions<K, V> = {}) {
    this.prefix = prefix instanceof Uint8Array ? new Uint8Array(prefix) : pack(prefix);
    this.keyEncoder = options.keyEncoder ?? (tupleEncoder as unknown as Encoder<K>);
    this.valueEncoder = options.valueEncoder ?? (bytesEncoder as unknown as Encoder<V>);
  }

  /** The same prefix with another key encoder. */
  withKeyEncoder<K2>(keyEncoder: Encoder<K2>): Subspace<K2, V> {
    return new Subspace<K2, V>(this.prefix, { keyEncoder, valueEncoder: this.valueEncoder });
  }

  /** The same prefix with another value encoder. */
  withValueEncoder<V2>(valueEncoder: Encoder<V2>): Subspace<K, V2> {
    return new Subspace<K, V2>(this.prefix, { keyEncoder: this.keyEncoder, valueEncoder });
  }

  /** A nested subspace: this prefix extended with `tuple`, with the same encoders. */
  subspace(tuple: Tuple): Subspace<K, V> {
    return new Subspace<K, V>(concat(this.prefix, pack(tuple)), { keyEncoder: this.keyEncoder, valueEncoder: this.valueEncoder });
  }

  /** The full key of `key`: the prefix followed by the encoded key. */
  pack(key: K): Uint8Array {
    // With the tuple encoder the prefix and the tuple are written into one array. A key that is not
    // an array takes the general path, where `pack` rejects it with the error it always gave.
    if (this.keyEncoder === (tupleEncoder as unknown as Encoder<K>) && Array.isArray(key)) return packWithPrefix(this.prefix, key as Tuple);
    return concat(this.prefix, this.keyEncoder.pack(key));
  }

  /**
   * The key of the subspace that `bytes` encodes.
   * @throws TupleLayerError `key_outside_subspace` when `bytes` does not start with the prefix.
   */
  unpack(bytes: Uint8Array): K {
    if (!this.contains(bytes)) throw new TupleLayerError('key_outside_subspace', 'the key does not start with the subspace prefix');
    return this.keyEncoder.unpack(bytes.subarray(this.prefix.length));
  }

  /** True when `bytes` starts with the prefix. */
  contains(bytes: Uint8Array): boolean {
    if (bytes.length < this.prefix.length) return false;
    for (let i = 0; i < this.prefix.length; i++) if (bytes[i] !== this.prefix[i]) return false;
    return true;
  }

  /**
   * The range of the subspace's keys that extend `tuple` (default: every key of the subspace).
   *
   * @remarks
   * With the tuple key encoder this is the prefix plus the tuple's range, as in FoundationDB.
   * With any other key encoder only the whole subspace is a range (encoded keys need not be
   * tuples, and may start with 0xFF): every key that starts with the prefix.
   * @throws TupleLayerError `tuple_encode_error` for a non-empty `tuple` with another key encoder.
   */
  range(tuple: Tuple = []): KeyRange {
    if (this.keyEncoder !== (tupleEncoder as unknown as Encoder<K>)) {
      if (tuple.length > 0) throw new TupleLayerError('tuple_encode_error', 'only a subspace with tuple keys has ranges below a tuple prefix');
      return this.prefix.length === 0 || this.prefix.every((byte) => byte === 0xff)
        ? { begin: this.prefix, end: concat(this.prefix, new Uint8Array([0xff])) }
        : prefixRange(this.prefix);
    }
    const inner = tupleRange(tuple);
    return { begin: concat(this.prefix, inner.begin), end: concat(this.prefix, inner.end) };
  }

  /** The transaction seen inside this subspace (what `tx.at(subspace)` returns). */
  bind(tx: Transaction): SubspaceView<K, V> {
    return new SubspaceView(this, tx);
  }
}

/** A typed key-value pair read from a subspace. */
export interface SubspaceEntry<K, V> {
  key: K;
  value: V;
}

/** A transaction seen inside a {@link Subspace}: typed keys and values. */
export class SubspaceView<K, V> {
  constructor(
    readonly subspace: Subspace<K, V>,
    readonly transaction: Transaction,
  ) {}

  /** The value of `key`, or `null`. */
  async get(key: K): Promise<V | null> {
    const bytes = await this.transaction.get(this.subspace.pack(key));
    return bytes === null ? null : this.subspace.valueEncoder.unpack(bytes);
  }

  /** Sets `key` to `value`. */
  set(key: K, value: V): void {
    this.transaction.set(this.subspace.pack(key), this.subspace.valueEncoder.pack(value));
  }

  /** Removes `key`. */
  clear(key: K): void {
    this.transaction.clear(this.subspace.pack(key));
  }

  /** Removes every tuple key of the subspace that extends `tuple` (default: all of them). */
  clearRange(tuple: Tuple = []): void {
    const { begin, end } = this.subspace.range(tuple);
    this.transaction.clearRange(begin, end);
  }

  /** The entries whose tuple keys extend `tuple` (default: all), decoded, in key order. */
  async getRangeAll(tuple: Tuple = [], options: RangeOptions = {}): Promise<SubspaceEntry<K, V>[]> {
    const { begin, end } = this.subspace.range(tuple);
    const rows = await this.transaction.getRangeAll(begin, end, options);
    return rows.map((row) => ({ key: this.subspace.unpack(row.key), value: this.subspace.valueEncoder.unpack(row.value) }));
  }

  /** As {@link SubspaceView.getRangeAll}, fetched in batches as the caller iterates. */
  async *getRange(tuple: Tuple = [], options: RangeOptions = {}): AsyncGenerator<SubspaceEntry<K, V>> {
    const { begin, end } = this.subspace.range(tuple);
    for await (const row of this.transaction.getRange(begin, end, options)) {
      yield { key: this.subspace.unpack(row.key), value: this.subspace.valueEncoder.unpack(row.value) };
    }
  }

  /** Entries between two raw keys or key selectors of the subspace (for ranges a tuple prefix cannot express). */
  async getRangeBetween(begin: Uint8Array | KeySelector, end: Uint8Array | KeySelector, options: RangeOptions = {}): Promise<SubspaceEntry<K, V>[]> {
    const rows = await this.transaction.getRangeAll(begin, end, options);
    return rows.map((row) => ({ key: this.subspace.unpack(row.key), value: this.subspace.valueEncoder.unpack(row.value) }));
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
