/**
 * The ordered map used by the engine's in-memory structures (a B+ tree from `sorted-btree`).
 * @remarks
 * The package is CommonJS with a default export. Node's ESM loader hands over `module.exports`
 * (the class is its `.default`); bundler-style loaders such as vitest's hand over the class itself.
 */
import sortedBtree from 'sorted-btree';

type BTreeClass = typeof sortedBtree.default;
const loaded = sortedBtree as unknown as { default?: BTreeClass };

/** The B+ tree class. */
export const BTree: BTreeClass = loaded.default ?? (sortedBtree as unknown as BTreeClass);
/** An instance of {@link BTree}. */
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
