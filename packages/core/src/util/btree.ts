/**
 * The ordered map used by the engine's in-memory structures (a B+ tree from `sorted-btree`).
 * @remarks
 * The package is CommonJS with a default export. Node's ESM loader hands over `module.exports`
 * (the class is its `.default`); bundler-style loaders such as vitest's hand over the class itself.
 *
 * Every tree in the engine is keyed by KeyStrings, so trees compare keys with `<` and `>`
 * alone (bytewise order, see `bytes.ts`) unless given another comparator: the package's default
 * comparator first tests for numbers, objects and NaN on every comparison, which makes each tree
 * operation about a quarter slower.
 */
import sortedBtree from 'sorted-btree';

type BTreeClass = typeof sortedBtree.default;
const loaded = sortedBtree as unknown as { default?: BTreeClass };
const SortedBTree: BTreeClass = loaded.default ?? (sortedBtree as unknown as BTreeClass);

/** Orders two keys of the same primitive type (for KeyStrings: bytewise). */
function compareKeys(a: unknown, b: unknown): number {
  return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
}

class KeyOrderedBTree<K, V> extends SortedBTree<K, V> {
  constructor(entries?: [K, V][], compare?: (a: K, b: K) => number, maxNodeSize?: number) {
    super(entries, compare ?? compareKeys, maxNodeSize);
  }
}

/** The B+ tree class; its trees compare keys as strings unless given a comparator. */
export const BTree: BTreeClass = KeyOrderedBTree as unknown as BTreeClass;
/** An instance of {@link BTree}. */
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
