/**
 * The ordered map used by the engine's in-memory structures (a B+ tree from `sorted-btree`).
 * @remarks The package is CommonJS with a default export; from ESM that export is `.default`.
 */
import sortedBtree from 'sorted-btree';

/** The B+ tree class. */
export const BTree = sortedBtree.default;
/** An instance of {@link BTree}. */
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;
