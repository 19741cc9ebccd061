/**
 * Key selectors: a key, a flag and an offset that together name a key relative to the keys that
 * exist, as in FoundationDB.
 */
import { StrataError } from './errors.js';

/**
 * Names a key relative to the keys in the database.
 *
 * @remarks
 * A selector resolves to the `offset`-th key after the last key that is less than `key` (or less
 * than or equal to `key` when `orEqual` is set); offset 0 is that key itself, negative offsets go
 * backwards. Resolution past the last key yields the end of the key space (`\xff`, or `\xff\xff`
 * with system access); before the first key, the empty key.
 *
 * @example
 * ```ts
 * const next = await tx.getKey(KeySelector.firstGreaterThan(key));
 * const third = await tx.getKey(KeySelector.firstGreaterOrEqual(prefix).add(2));
 * ```
 */
export class KeySelector {
  /** The reference key. */
  readonly key: Uint8Array;
  /** Whether the reference key itself counts as "before". */
  readonly orEqual: boolean;
  /** How many keys to move from the reference point. */
  readonly offset: number;

  constructor(key: Uint8Array, orEqual: boolean, offset: number) {
    if (!(key instanceof Uint8Array)) throw new StrataError('invalid_argument', 'KeySelector key must be a Uint8Array');
    if (!Number.isSafeInteger(offset)) throw new StrataError('invalid_argument', `KeySelector offset must be an integer, got ${offset}`);
    this.key = key;
    this.orEqual = orEqual;
    this.offset = offset;
  }

  /** The last key less than `key`. */
  static lastLessThan(key: Uint8Array): KeySelector {
    return new KeySelector(key, false, 0);
  }
  /** The last key less than or equal to `key`. */
  static lastLessOrEqual(key: Uint8Array): KeySelector {
    return new KeySelector(key, true, 0);
  }
  /** The first key greater than `key`. */
  static firstGreaterThan(key: Uint8Array): KeySelector {
    return new KeySelector(key, true, 1);
  }
  /** The first key greater than or equal to `key`. */
  static firstGreaterOrEqual(key: Uint8Array): KeySelector {
    return new KeySelector(key, false, 1);
  }

  /** The same selector moved by `offset` more keys. */
  add(offset: number): KeySelector {
    return new KeySelector(this.key, this.orEqual, this.offset + offset);
  }
}
