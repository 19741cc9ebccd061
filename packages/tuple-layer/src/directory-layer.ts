/**
 * The directory layer: a tree of named directories, each mapped to a short key prefix, stored in
 * FoundationDB's layout so that directories written by Strata and by FoundationDB's bindings are
 * interchangeable.
 *
 * @remarks
 * Layout, for a node subspace `N` (default: the raw prefix 0xFE) and a content subspace `C`
 * (default: the empty prefix), where `N[x]` is `N`'s prefix followed by the packed tuple `(x,)`:
 * - a directory with prefix `p` is described by its node `N[p]`; the root's node is `N[N.prefix]`;
 * - `N[p][0][name]` (0 is FoundationDB's subdirectory key) holds the prefix of the subdirectory
 *   `name` (a string item);
 * - `N[p]['layer']` holds the directory's layer bytes, empty when it has none;
 * - `N[root]['version']` holds the layout version, three little-endian uint32: 1, 0, 0;
 * - `N[root]['hca']` holds the {@link HighContentionAllocator}'s state;
 * - the contents of a directory are the keys under its prefix: `C.prefix` followed by an integer
 *   from the allocator, packed as a tuple (or a manual prefix, when the layer allows them);
 * - a partition (layer `'partition'`) with prefix `P` holds a directory layer of its own, with node
 *   subspace `P + 0xFE` and content subspace `P`, so all of it moves and is removed with `P`.
 * `'layer'`, `'version'` and `'hca'` are byte-string items, as FoundationDB's bindings write them.
 *
 * Invariants:
 * 1. The prefixes of a layer's directories never overlap: neither is a prefix of the other, and
 *    none overlaps the node subspace. Allocated prefixes are unique (the allocator's invariant 1)
 *    and are checked against every existing prefix; manual prefixes are refused if they overlap.
 * 2. The directories form a tree: every directory is reached from the root by exactly one path,
 *    because a move never puts a directory under itself and removes the old name as it adds the new.
 * 3. Nothing is written under a stored layout version newer than the one this code writes.
 * 4. Operations on one transaction run one at a time, so two concurrent calls on the same
 *    transaction cannot both create the same missing parent.
 */
import { Database, StrataError, Transaction, printable, strinc, utf8 } from '@strata/core';
import type { Encoder } from './encoders.js';
import { TupleLayerError, type TupleLayerErrorCode } from './errors.js';
import { HighContentionAllocator } from './high-contention-allocator.js';
import { Subspace } from './subspace.js';
import type { Tuple, TupleItem } from './tuple.js';

/** The key under a node that holds its subdirectories (FoundationDB's `SUBDIRS`). */
const SUBDIRS = 0;
const LAYER_KEY = utf8('layer');
const VERSION_KEY = utf8('version');
const HCA_KEY = utf8('hca');
const PARTITION_LAYER_BYTES = utf8('partition');
const EMPTY = new Uint8Array(0);

/** The layout version this directory layer writes and reads: FoundationDB's 1.0.0. */
export const DIRECTORY_LAYER_VERSION: readonly [major: number, minor: number, patch: number] = [1, 0, 0];

/** The layer of a directory partition: its contents are a directory layer of their own. */
export const DIRECTORY_PARTITION_LAYER = 'partition';

/** A directory path: names from the root (or from the directory it is relative to). A single string is a one-name path. */
export type DirectoryPath = string | readonly string[];

/**
 * What a directory operation runs in: a transaction, or a database (the operation then runs in its
 * own `db.transact`, with its retries).
 */
export type DirectoryContext = Transaction | Database;

/** Options of {@link DirectoryLayer}'s constructor. */
export interface DirectoryLayerOptions {
  /** Where directory metadata lives: a subspace or raw prefix (default: the raw prefix 0xFE, as in FoundationDB). */
  nodeSubspace?: Subspace<unknown, unknown> | Uint8Array;
  /** Where allocated prefixes go: a subspace or raw prefix (default: the empty prefix). */
  contentSubspace?: Subspace<unknown, unknown> | Uint8Array;
  /** Allow `create` and `createOrOpen` to take a `prefix` (default false, as in FoundationDB). */
  allowManualPrefixes?: boolean;
  /** Uniform numbers in [0, 1) for the allocator's candidates (default: the node runtime's). */
  random?: () => number;
}

/** Options of {@link DirectoryLayer.open}. */
export interface DirectoryOpenOptions {
  /** The layer the directory must have been created with; unchecked when absent or empty. */
  layer?: Uint8Array | string;
}

/** Options of {@link DirectoryLayer.create} and {@link DirectoryLayer.createOrOpen}. */
export interface DirectoryCreateOptions extends DirectoryOpenOptions {
  /**
   * The prefix of a new directory, instead of an allocated one; needs `allowManualPrefixes`, and is
   * not available inside partitions. The raw prefix: the content subspace is not prepended.
   */
  prefix?: Uint8Array;
}

/** A directory found by walking a path: its node, or where the walk stopped. */
interface Node {
  /** The directory's prefix (the root's is the node subspace's prefix), or `null` if the path does not exist. */
  readonly prefix: Uint8Array | null;
  /** The path walked, from the layer's root: the whole target, or up to the first missing name or partition. */
  readonly path: readonly string[];
  /** The path looked up. */
  readonly targetPath: readonly string[];
  /** The stored layer (empty when none or missing). */
  readonly layer: Uint8Array;
  /** The prefix of the node whose subdirectory entry was read last (`null` for the root). */
  readonly parentPrefix: Uint8Array | null;
}

/** Operations under way per transaction: each waits for the previous one (invariant 4). */
const operationQueues = new WeakMap<Transaction, Promise<void>>();

/**
 * The directory layer: creates, opens, lists, moves and removes directories, each a
 * {@link DirectorySubspace} with a short allocated prefix, in FoundationDB's on-disk layout.
 *
 * @remarks
 * Every method takes the transaction to run in (or a database, to run in a transaction of its
 * own). Paths are arrays of names; a single string is a one-name path. `create` and
 * `createOrOpen` create missing parents as plain directories. A directory with the layer
 * `'partition'` is a {@link DirectoryPartition}: everything below it lives under its prefix, in a
 * directory layer of its own, and nothing moves across its boundary.
 * @example
 * ```ts
 * const directory = new DirectoryLayer();
 * const users = await db.transact((tx) => directory.createOrOpen(tx, ['app', 'users']));
 * await db.transact((tx) => tx.at(users).set([42], utf8('Ada')));
 * ```
 */
export class DirectoryLayer {
  /** Where this layer keeps directory metadata. */
  readonly nodeSubspace: Subspace;
  /** Where allocated prefixes go. */
  readonly contentSubspace: Subspace;
  /** Whether `create` and `createOrOpen` accept a manual `prefix`. */
  readonly allowManualPrefixes: boolean;
  #path: readonly string[] = [];
  readonly #rootNode: Subspace;
  readonly #allocator: HighContentionAllocator;
  readonly #random: (() => number) | undefined;

  /**
   * A directory layer over `options.nodeSubspace` (default 0xFE) and `options.contentSubspace`
   * (default the empty prefix): the defaults are FoundationDB's, so both see the same directories.
   * @throws StrataError `invalid_argument` when a subspace option is neither a Subspace nor bytes.
   */
  constructor(options: DirectoryLayerOptions = {}) {
    this.nodeSubspace = toSubspace(options.nodeSubspace, new Uint8Array([0xfe]), 'nodeSubspace');
    this.contentSubspace = toSubspace(options.contentSubspace, EMPTY, 'contentSubspace');
    this.allowManualPrefixes = options.allowManualPrefixes === true;
    this.#random = options.random;
    this.#rootNode = this.nodeSubspace.subspace([this.nodeSubspace.prefix]);
    this.#allocator = new HighContentionAllocator(this.#rootNode.subspace([HCA_KEY]), this.#random === undefined ? {} : { random: this.#random });
  }

  /** The directory layer that holds a partition's contents, rooted at the partition's prefix. */
  static #forPartition(parent: DirectoryLayer, path: readonly string[], prefix: Uint8Array): DirectoryLayer {
    const layer = new DirectoryLayer({
      nodeSubspace: concat(prefix, new Uint8Array([0xfe])),
      contentSubspace: prefix,
      ...(parent.#random === undefined ? {} : { random: parent.#random }),
    });
    layer.#path = path;
    return layer;
  }

  /** The path of this layer's root: empty for a top-level layer, the partition's path for a partition's layer. */
  get path(): readonly string[] {
    return this.#path;
  }

  /**
   * Opens the directory at `path`, creating it (and missing parents) if it does not exist.
   *
   * @remarks
   * A new directory gets `options.layer` (default: none) and an allocated prefix, or
   * `options.prefix` when manual prefixes are allowed. An existing one must have been created with
   * `options.layer` when that is given.
   * @throws TupleLayerError `directory_layer_mismatch` if the existing directory has another layer;
   * `directory_invalid_operation` for the root path, a manual prefix that is not allowed or is in
   * use, or a prefix given for an existing directory that has another one;
   * `directory_version_incompatible` if the stored layout is newer than this code.
   * @example
   * ```ts
   * const queue = await directory.createOrOpen(tx, ['jobs', 'email'], { layer: 'queue' });
   * ```
   */
  createOrOpen(context: DirectoryContext, path: DirectoryPath, options: DirectoryCreateOptions = {}): Promise<DirectorySubspace> {
    return this.#run(context, (tx) => this.#createOrOpen(tx, toPath(path, 'path'), checkCreateOptions(options), { create: true, open: true }));
  }

  /**
   * Opens the existing directory at `path`.
   * @throws TupleLayerError `directory_does_not_exist`; `directory_layer_mismatch` if
   * `options.layer` is given and differs; `directory_invalid_operation` for the root path.
   * @example
   * ```ts
   * const users = await directory.open(tx, ['app', 'users']);
   * ```
   */
  open(context: DirectoryContext, path: DirectoryPath, options: DirectoryOpenOptions = {}): Promise<DirectorySubspace> {
    return this.#run(context, (tx) => this.#createOrOpen(tx, toPath(path, 'path'), checkCreateOptions({ layer: options.layer }), { create: false, open: true }));
  }

  /**
   * Creates the directory at `path` (and missing parents).
   * @throws TupleLayerError `directory_already_exists`; `directory_invalid_operation` for the root
   * path or a manual prefix that is not allowed or is in use; `directory_version_incompatible`.
   * @example
   * ```ts
   * const logs = await directory.create(tx, 'logs', { layer: 'log' });
   * ```
   */
  create(context: DirectoryContext, path: DirectoryPath, options: DirectoryCreateOptions = {}): Promise<DirectorySubspace> {
    return this.#run(context, (tx) => this.#createOrOpen(tx, toPath(path, 'path'), checkCreateOptions(options), { create: true, open: false }));
  }

  /**
   * Whether a directory exists at `path` (the root always does).
   * @throws TupleLayerError `directory_version_incompatible`.
   * @example
   * ```ts
   * if (await directory.exists(tx, ['app', 'users'])) console.log('found');
   * ```
   */
  exists(context: DirectoryContext, path: DirectoryPath = []): Promise<boolean> {
    return this.#run(context, (tx) => this.#exists(tx, toPath(path, 'path')));
  }

  /**
   * The names of the subdirectories of `path` (default: the root), in the order their packed
   * names sort (UTF-8 byte order).
   * @throws TupleLayerError `directory_does_not_exist`; `directory_version_incompatible`.
   * @example
   * ```ts
   * const names = await directory.list(tx, ['app']); // ['orders', 'users']
   * ```
   */
  list(context: DirectoryContext, path: DirectoryPath = []): Promise<string[]> {
    return this.#run(context, (tx) => this.#list(tx, toPath(path, 'path')));
  }

  /**
   * Moves the directory at `oldPath`, with its contents and subdirectories, to `newPath`. Its
   * prefix does not change, so subspaces already open keep working.
   * @throws TupleLayerError `directory_does_not_exist` when `oldPath` does not exist;
   * `directory_invalid_operation` when `newPath` exists, its parent does not, it is inside
   * `oldPath`, either is the root, or the paths are in different partitions;
   * `directory_version_incompatible`.
   * @example
   * ```ts
   * const renamed = await directory.move(tx, ['app', 'users'], ['app', 'members']);
   * ```
   */
  move(context: DirectoryContext, oldPath: DirectoryPath, newPath: DirectoryPath): Promise<DirectorySubspace> {
    return this.#run(context, (tx) => this.#move(tx, toPath(oldPath, 'oldPath'), toPath(newPath, 'newPath')));
  }

  /**
   * Removes the directory at `path`, its subdirectories, and every key under their prefixes.
   * @remarks Clients that already opened the directory can still write under its prefix afterwards;
   * the removal bumps the database's metadata version (core's `METADATA_VERSION_KEY`), so that
   * layers which cache what lives under a prefix (an open record store) can tell, and a transaction
   * that read the metadata version and has not committed yet conflicts with the removal.
   * @throws TupleLayerError `directory_does_not_exist`; `directory_invalid_operation` for the
   * root; `directory_version_incompatible`.
   * @example
   * ```ts
   * await directory.remove(tx, ['app', 'sessions']);
   * ```
   */
  async remove(context: DirectoryContext, path: DirectoryPath): Promise<void> {
    await this.#run(context, (tx) => this.#remove(tx, toPath(path, 'path'), true));
  }

  /**
   * As {@link DirectoryLayer.remove}, but a missing directory is not an error.
   * @returns whether the directory existed.
   * @throws TupleLayerError `directory_invalid_operation` for the root; `directory_version_incompatible`.
   * @example
   * ```ts
   * const removed = await directory.removeIfExists(tx, ['tmp']);
   * ```
   */
  removeIfExists(context: DirectoryContext, path: DirectoryPath): Promise<boolean> {
    return this.#run(context, (tx) => this.#remove(tx, toPath(path, 'path'), false));
  }

  // ---------------------------------------------------------------------------------------------
  // Implementation: these run with the transaction's queue held and call each other directly.

  async #run<T>(context: DirectoryContext, operation: (tx: Transaction) => Promise<T>): Promise<T> {
    if (context instanceof Transaction) {
      const previous = operationQueues.get(context) ?? Promise.resolve();
      const result = previous.then(() => operation(context));
      operationQueues.set(
        context,
        result.then(
          () => undefined,
          () => undefined,
        ),
      );
      return result;
    }
    if (context instanceof Database) return context.transact((tx) => operation(tx));
    throw new StrataError('invalid_argument', 'a directory operation needs a Transaction or a Database as its first argument');
  }

  async #createOrOpen(
    tx: Transaction,
    path: string[],
    options: { layer: Uint8Array; prefix: Uint8Array | undefined },
    allow: { create: boolean; open: boolean },
  ): Promise<DirectorySubspace> {
    await this.#checkVersion(tx, false);
    if (options.prefix !== undefined && !this.allowManualPrefixes) {
      const reason = this.#path.length === 0 ? 'manual prefixes are not enabled on this directory layer' : 'a prefix cannot be given inside a partition';
      throw this.#error('directory_invalid_operation', `cannot create ${this.#describe(path)} with a manual prefix: ${reason}`, path);
    }
    if (path.length === 0) throw this.#error('directory_invalid_operation', 'the root directory cannot be opened or created', path);
    const existing = await this.#find(tx, path);
    if (existing.prefix !== null) {
      if (isInPartition(existing, false)) return this.#partitionLayer(existing).#createOrOpen(tx, partitionSubpath(existing), options, allow);
      if (!allow.open) throw this.#error('directory_already_exists', `the directory ${this.#describe(path)} already exists`, path);
      if (options.layer.length > 0 && !bytesEqual(existing.layer, options.layer)) {
        throw this.#error('directory_layer_mismatch', `the directory ${this.#describe(path)} was created with the layer ${printable(existing.layer)}, not ${printable(options.layer)}`, path, {
          layer: printable(existing.layer),
          expectedLayer: printable(options.layer),
        });
      }
      // FoundationDB's create_or_open has no prefix; for an existing directory a given prefix can
      // only be a claim about it, and a wrong claim is refused rather than ignored.
      if (options.prefix !== undefined && !bytesEqual(options.prefix, existing.prefix)) {
        throw this.#error('directory_invalid_operation', `the directory ${this.#describe(path)} exists with another prefix`, path, {
          prefix: printable(existing.prefix),
          requestedPrefix: printable(options.prefix),
        });
      }
      return this.#contentsOfNode(existing.prefix, path, existing.layer);
    }
    if (!allow.create) throw this.#error('directory_does_not_exist', `the directory ${this.#describe(path)} does not exist`, path);
    await this.#checkVersion(tx, true);

    let prefix: Uint8Array;
    if (options.prefix === undefined) {
      prefix = concat(this.contentSubspace.prefix, await this.#allocator.allocate(tx));
      // The allocator never hands an integer out twice, so keys already here were written around
      // the directory layer; sharing the prefix with them would mix two owners' data.
      const occupied = await tx.getRangeAll(prefix, strinc(prefix), { limit: 1 });
      if (occupied.length > 0) {
        throw this.#error('directory_invalid_operation', `the database has keys under the prefix ${printable(prefix)} that the allocator chose for ${this.#describe(path)}`, path, {
          prefix: printable(prefix),
        });
      }
      // A snapshot read, as in FoundationDB: the allocator's own conflict ranges already make the
      // prefix unique among allocated ones; this only catches manual prefixes in the way.
      if (!(await this.#isPrefixFree(tx, prefix, true))) {
        throw this.#error('directory_invalid_operation', `the allocated prefix ${printable(prefix)} overlaps a manually chosen prefix`, path, {
          prefix: printable(prefix),
        });
      }
    } else {
      prefix = options.prefix;
      if (!(await this.#isPrefixFree(tx, prefix, false))) {
        throw this.#error('directory_invalid_operation', `the prefix ${printable(prefix)} for ${this.#describe(path)} is empty or overlaps a prefix in use`, path, {
          prefix: printable(prefix),
        });
      }
    }

    let parentPrefix = this.nodeSubspace.prefix;
    if (path.length > 1) {
      const parent = await this.#createOrOpen(tx, path.slice(0, -1), { layer: EMPTY, prefix: undefined }, { create: true, open: true });
      // A partition on the way would have stopped #find above and taken the partition branch.
      invariant(!(parent instanceof DirectoryPartition), 'the parent of a new directory is a partition');
      parentPrefix = parent.prefix;
    }
    tx.set(this.#nodeWithPrefix(parentPrefix).pack([SUBDIRS, path[path.length - 1]!]), prefix);
    tx.set(this.#nodeWithPrefix(prefix).pack([LAYER_KEY]), options.layer);
    return this.#contentsOfNode(prefix, path, options.layer);
  }

  async #exists(tx: Transaction, path: string[]): Promise<boolean> {
    await this.#checkVersion(tx, false);
    const node = await this.#find(tx, path);
    if (node.prefix === null) return false;
    if (isInPartition(node, false)) return this.#partitionLayer(node).#exists(tx, partitionSubpath(node));
    return true;
  }

  async #list(tx: Transaction, path: string[]): Promise<string[]> {
    await this.#checkVersion(tx, false);
    const node = await this.#find(tx, path);
    if (node.prefix === null) throw this.#error('directory_does_not_exist', `the directory ${this.#describe(path)} does not exist`, path);
    // Listing a partition itself lists the root of its own layer.
    if (isInPartition(node, true)) return this.#partitionLayer(node).#list(tx, partitionSubpath(node));
    const names: string[] = [];
    for (const [name] of await this.#subdirectories(tx, node.prefix)) names.push(name);
    return names;
  }

  async #move(tx: Transaction, oldPath: string[], newPath: string[]): Promise<DirectorySubspace> {
    await this.#checkVersion(tx, true);
    // Covers moving the root (every path starts with it) and moving onto itself.
    if (startsWithPath(newPath, oldPath)) {
      const what = oldPath.length === 0 ? 'the root directory cannot be moved' : `cannot move ${this.#describe(oldPath)} into itself (${this.#describe(newPath)})`;
      throw this.#error('directory_invalid_operation', what, oldPath, { newPath: [...this.#path, ...newPath] });
    }
    const oldNode = await this.#find(tx, oldPath);
    const newNode = await this.#find(tx, newPath);
    if (oldNode.prefix === null) throw this.#error('directory_does_not_exist', `the directory ${this.#describe(oldPath)} to move does not exist`, oldPath);
    const oldInPartition = isInPartition(oldNode, false);
    const newInPartition = isInPartition(newNode, false);
    if (oldInPartition || newInPartition) {
      if (!oldInPartition || !newInPartition || !pathsEqual(oldNode.path, newNode.path)) {
        throw this.#error('directory_invalid_operation', `cannot move ${this.#describe(oldPath)} to ${this.#describe(newPath)}: a directory cannot move between partitions`, oldPath, {
          newPath: [...this.#path, ...newPath],
        });
      }
      return this.#partitionLayer(newNode).#move(tx, partitionSubpath(oldNode), partitionSubpath(newNode));
    }
    if (newNode.prefix !== null) {
      throw this.#error('directory_invalid_operation', `cannot move ${this.#describe(oldPath)}: the destination ${this.#describe(newPath)} already exists`, oldPath, {
        newPath: [...this.#path, ...newPath],
      });
    }
    // The walk stops at the first missing name: it reached the last one iff the parent exists.
    if (newNode.path.length !== newPath.length) {
      throw this.#error('directory_invalid_operation', `cannot move ${this.#describe(oldPath)}: the parent of ${this.#describe(newPath)} does not exist`, oldPath, {
        newPath: [...this.#path, ...newPath],
      });
    }
    invariant(newNode.parentPrefix !== null && oldNode.parentPrefix !== null, 'a non-root node has a parent');
    tx.set(this.#nodeWithPrefix(newNode.parentPrefix).pack([SUBDIRS, newPath[newPath.length - 1]!]), oldNode.prefix);
    tx.clear(this.#nodeWithPrefix(oldNode.parentPrefix).pack([SUBDIRS, oldPath[oldPath.length - 1]!]));
    return this.#contentsOfNode(oldNode.prefix, newPath, oldNode.layer);
  }

  async #remove(tx: Transaction, path: string[], failIfMissing: boolean): Promise<boolean> {
    await this.#checkVersion(tx, true);
    if (path.length === 0) throw this.#error('directory_invalid_operation', 'the root directory cannot be removed', path);
    const node = await this.#find(tx, path);
    if (node.prefix === null) {
      if (failIfMissing) throw this.#error('directory_does_not_exist', `the directory ${this.#describe(path)} does not exist`, path);
      return false;
    }
    if (isInPartition(node, false)) return this.#partitionLayer(node).#remove(tx, partitionSubpath(node), failIfMissing);
    // Collect the whole subtree before clearing anything, so no clear can hide a node still to be
    // read. The subtree is finite and acyclic (invariant 2); `seen` turns a corrupt cycle into an
    // error instead of a loop.
    const prefixes: Uint8Array[] = [];
    const seen = new Set<string>();
    const pending: Uint8Array[] = [node.prefix];
    while (pending.length > 0) {
      const prefix = pending.pop()!;
      const id = printable(prefix);
      invariant(!seen.has(id), `the directory tree has a cycle through the prefix ${id}`);
      seen.add(id);
      prefixes.push(prefix);
      for (const [, child] of await this.#subdirectories(tx, prefix)) pending.push(child);
    }
    for (const prefix of prefixes) {
      const contents = prefixRange(prefix);
      tx.clearRange(contents.begin, contents.end);
      const metadata = this.#nodeWithPrefix(prefix).range();
      tx.clearRange(metadata.begin, metadata.end);
    }
    invariant(node.parentPrefix !== null, 'a non-root node has a parent');
    tx.clear(this.#nodeWithPrefix(node.parentPrefix).pack([SUBDIRS, path[path.length - 1]!]));
    // Whoever caches what lives under the removed prefixes (an open record store) learns of it
    // from the metadata version, which comes with every read version.
    tx.bumpMetadataVersion();
    return true;
  }

  /**
   * Reads the stored layout version. Absent: written now if this operation writes. A newer major
   * version cannot be read; a newer minor version cannot be written (FoundationDB's rule).
   */
  async #checkVersion(tx: Transaction, write: boolean): Promise<void> {
    const key = this.#rootNode.pack([VERSION_KEY]);
    const stored = await tx.get(key);
    if (stored === null) {
      if (write) tx.set(key, encodeVersion(DIRECTORY_LAYER_VERSION));
      return;
    }
    const version = decodeVersion(stored);
    const [major, minor] = DIRECTORY_LAYER_VERSION;
    const details = { storedVersion: version === null ? printable(stored) : version.join('.'), version: DIRECTORY_LAYER_VERSION.join('.') };
    if (version === null) {
      throw new TupleLayerError('directory_version_incompatible', `the stored directory layer version ${printable(stored)} is not three little-endian uint32`, { details });
    }
    if (version[0] > major) {
      throw new TupleLayerError('directory_version_incompatible', `cannot read a directory layer of version ${details.storedVersion} with version ${details.version}`, { details });
    }
    if (version[1] > minor && write) {
      throw new TupleLayerError('directory_version_incompatible', `a directory layer of version ${details.storedVersion} is read-only for version ${details.version}`, { details });
    }
  }

  /**
   * Walks `path` from the root, one subdirectory entry at a time, stopping at the first missing
   * name or at a partition (whose inside belongs to the partition's own layer).
   */
  async #find(tx: Transaction, path: readonly string[]): Promise<Node> {
    let node: Node = { prefix: this.nodeSubspace.prefix, path: [], targetPath: path, layer: EMPTY, parentPrefix: null };
    for (let i = 0; i < path.length; i++) {
      const parent = node.prefix!;
      const prefix = await tx.get(this.#nodeWithPrefix(parent).pack([SUBDIRS, path[i]!]));
      if (prefix === null) return { prefix: null, path: path.slice(0, i + 1), targetPath: path, layer: EMPTY, parentPrefix: parent };
      const layer = (await tx.get(this.#nodeWithPrefix(prefix).pack([LAYER_KEY]))) ?? EMPTY;
      node = { prefix, path: path.slice(0, i + 1), targetPath: path, layer, parentPrefix: parent };
      if (bytesEqual(layer, PARTITION_LAYER_BYTES)) return node;
    }
    return node;
  }

  /** The subdirectories of the node with `prefix`: names and prefixes, in key order. */
  async #subdirectories(tx: Transaction, prefix: Uint8Array): Promise<[string, Uint8Array][]> {
    const node = this.#nodeWithPrefix(prefix);
    const { begin, end } = node.range([SUBDIRS]);
    const rows = await tx.getRangeAll(begin, end);
    return rows.map((row) => {
      const [, name] = node.unpack(row.key);
      invariant(typeof name === 'string', `a subdirectory name under ${printable(prefix)} is not a string`);
      return [name, row.value];
    });
  }

  /**
   * Whether `prefix` can be a new directory's prefix: not empty, not inside an existing prefix or
   * the node subspace, and not around one.
   */
  async #isPrefixFree(tx: Transaction, prefix: Uint8Array, snapshot: boolean): Promise<boolean> {
    if (prefix.length === 0) return false;
    if (startsWith(prefix, this.nodeSubspace.prefix)) return false;
    // The last node at or before `prefix` in key order is the only one whose prefix can contain it.
    const before = await tx.getRangeAll(this.nodeSubspace.range().begin, concat(this.nodeSubspace.pack([prefix]), new Uint8Array([0x00])), {
      reverse: true,
      limit: 1,
      snapshot,
    });
    if (before.length > 0) {
      const [previous] = this.nodeSubspace.unpack(before[0]!.key);
      if (previous instanceof Uint8Array && startsWith(prefix, previous)) return false;
    }
    // Any node whose prefix starts with `prefix` sorts between (prefix,) and (strinc(prefix),).
    const end = isAllFf(prefix) ? concat(this.nodeSubspace.prefix, new Uint8Array([0x02])) : this.nodeSubspace.pack([strinc(prefix)]);
    const inside = await tx.getRangeAll(this.nodeSubspace.pack([prefix]), end, { limit: 1, snapshot });
    return inside.length === 0;
  }

  #nodeWithPrefix(prefix: Uint8Array): Subspace {
    return this.nodeSubspace.subspace([prefix]);
  }

  #partitionLayer(node: Node): DirectoryLayer {
    invariant(node.prefix !== null, 'a partition node exists');
    return DirectoryLayer.#forPartition(this, [...this.#path, ...node.path], node.prefix);
  }

  #contentsOfNode(prefix: Uint8Array, path: readonly string[], layer: Uint8Array): DirectorySubspace {
    const fullPath = [...this.#path, ...path];
    if (bytesEqual(layer, PARTITION_LAYER_BYTES)) return new DirectoryPartition(fullPath, prefix, DirectoryLayer.#forPartition(this, fullPath, prefix), this);
    return new DirectorySubspace(fullPath, prefix, this, layer);
  }

  #describe(path: readonly string[]): string {
    return JSON.stringify([...this.#path, ...path]);
  }

  #error(code: TupleLayerErrorCode, message: string, path: readonly string[], details: Record<string, unknown> = {}): TupleLayerError {
    return new TupleLayerError(code, message, { details: { path: [...this.#path, ...path], ...details } });
  }
}

/**
 * The contents of a directory: a {@link Subspace} at the directory's prefix that also remembers
 * its path and layer and runs directory operations relative to itself.
 *
 * @remarks
 * Obtained from a {@link DirectoryLayer}; `tx.at(directory)` gives the typed view of any subspace.
 * Paths given to its methods are relative to it; `moveTo` takes an absolute path.
 * @example
 * ```ts
 * const app = await directory.createOrOpen(tx, 'app');
 * const users = await app.createOrOpen(tx, 'users'); // path ['app', 'users']
 * tx.at(users).set([42], utf8('Ada'));
 * ```
 */
export class DirectorySubspace extends Subspace {
  /** The directory's absolute path. */
  readonly path: readonly string[];
  /** The layer the directory was created with (empty when none). */
  readonly layer: Uint8Array;
  /** The directory layer its relative operations go to (a partition's own layer, for a partition). */
  readonly directoryLayer: DirectoryLayer;
  readonly #parentLayer: DirectoryLayer | null;

  /**
   * @internal Directories come from a {@link DirectoryLayer}.
   */
  constructor(path: readonly string[], prefix: Uint8Array, directoryLayer: DirectoryLayer, layer: Uint8Array, parentLayer: DirectoryLayer | null = null) {
    super(prefix);
    this.path = Object.freeze([...path]);
    this.layer = new Uint8Array(layer);
    this.directoryLayer = directoryLayer;
    this.#parentLayer = parentLayer;
  }

  /**
   * Opens the subdirectory at `path`, creating it if missing (see {@link DirectoryLayer.createOrOpen}).
   * @throws TupleLayerError as {@link DirectoryLayer.createOrOpen}.
   * @example `const users = await app.createOrOpen(tx, 'users');`
   */
  async createOrOpen(context: DirectoryContext, path: DirectoryPath, options: DirectoryCreateOptions = {}): Promise<DirectorySubspace> {
    return this.directoryLayer.createOrOpen(context, this.#subpath(path), options);
  }

  /**
   * Opens the existing subdirectory at `path` (see {@link DirectoryLayer.open}).
   * @throws TupleLayerError as {@link DirectoryLayer.open}.
   * @example `const users = await app.open(tx, 'users');`
   */
  async open(context: DirectoryContext, path: DirectoryPath, options: DirectoryOpenOptions = {}): Promise<DirectorySubspace> {
    return this.directoryLayer.open(context, this.#subpath(path), options);
  }

  /**
   * Creates the subdirectory at `path` (see {@link DirectoryLayer.create}).
   * @throws TupleLayerError as {@link DirectoryLayer.create}.
   * @example `const users = await app.create(tx, 'users');`
   */
  async create(context: DirectoryContext, path: DirectoryPath, options: DirectoryCreateOptions = {}): Promise<DirectorySubspace> {
    return this.directoryLayer.create(context, this.#subpath(path), options);
  }

  /**
   * The names of the subdirectories of this directory, or of its subdirectory `path`.
   * @throws TupleLayerError as {@link DirectoryLayer.list}.
   * @example `const names = await app.list(tx);`
   */
  async list(context: DirectoryContext, path: DirectoryPath = []): Promise<string[]> {
    return this.directoryLayer.list(context, this.#subpath(path));
  }

  /**
   * Moves the subdirectory `oldPath` to `newPath`, both relative to this directory.
   * @throws TupleLayerError as {@link DirectoryLayer.move}.
   * @example `await app.move(tx, 'users', 'members');`
   */
  async move(context: DirectoryContext, oldPath: DirectoryPath, newPath: DirectoryPath): Promise<DirectorySubspace> {
    return this.directoryLayer.move(context, this.#subpath(oldPath), this.#subpath(newPath));
  }

  /**
   * Moves this directory to the absolute path `newAbsolutePath`, within the same partition.
   * @throws TupleLayerError `directory_invalid_operation` when the new path is outside this
   * directory's partition, and as {@link DirectoryLayer.move}.
   * @example `const moved = await users.moveTo(tx, ['app', 'members']);`
   */
  async moveTo(context: DirectoryContext, newAbsolutePath: DirectoryPath): Promise<DirectorySubspace> {
    const layer = this.#layerFor([]);
    const target = toPath(newAbsolutePath, 'newAbsolutePath');
    if (!startsWithPath(target, layer.path)) {
      throw new TupleLayerError('directory_invalid_operation', `cannot move ${JSON.stringify(this.path)} to ${JSON.stringify(target)}: a directory cannot move between partitions`, {
        details: { path: [...this.path], newPath: target },
      });
    }
    return layer.move(context, this.path.slice(layer.path.length), target.slice(layer.path.length));
  }

  /**
   * Removes this directory (or its subdirectory `path`), its subdirectories and their contents.
   * @throws TupleLayerError as {@link DirectoryLayer.remove}.
   * @example `await users.remove(tx);`
   */
  async remove(context: DirectoryContext, path: DirectoryPath = []): Promise<void> {
    const relative = toPath(path, 'path');
    const layer = this.#layerFor(relative);
    return layer.remove(context, this.#subpath(relative, layer));
  }

  /**
   * As {@link DirectorySubspace.remove}, but a missing directory is not an error.
   * @returns whether the directory existed.
   * @throws TupleLayerError as {@link DirectoryLayer.removeIfExists}.
   * @example `const removed = await users.removeIfExists(tx);`
   */
  async removeIfExists(context: DirectoryContext, path: DirectoryPath = []): Promise<boolean> {
    const relative = toPath(path, 'path');
    const layer = this.#layerFor(relative);
    return layer.removeIfExists(context, this.#subpath(relative, layer));
  }

  /**
   * Whether this directory (or its subdirectory `path`) exists.
   * @throws TupleLayerError as {@link DirectoryLayer.exists}.
   * @example `if (!(await users.exists(tx))) console.log('removed meanwhile');`
   */
  async exists(context: DirectoryContext, path: DirectoryPath = []): Promise<boolean> {
    const relative = toPath(path, 'path');
    const layer = this.#layerFor(relative);
    return layer.exists(context, this.#subpath(relative, layer));
  }

  /**
   * The layer an operation on `path` goes to. A partition itself belongs to its parent's layer
   * (that is where it is moved, removed or looked up); everything below it to its own.
   */
  #layerFor(path: readonly string[]): DirectoryLayer {
    return path.length === 0 && this.#parentLayer !== null ? this.#parentLayer : this.directoryLayer;
  }

  /** `path` relative to `layer`'s root: this directory's path below the layer, then `path`. */
  #subpath(path: DirectoryPath, layer: DirectoryLayer = this.directoryLayer): string[] {
    return [...this.path.slice(layer.path.length), ...toPath(path, 'path')];
  }
}

/**
 * A directory partition: a directory (layer `'partition'`) whose subdirectories live in a
 * directory layer of its own under its prefix.
 *
 * @remarks
 * A partition isolates a tree of directories: its subdirectories' prefixes start with the
 * partition's prefix, so removing or moving the partition takes all of them along, and no
 * directory moves in or out of it. Its own prefix is only a container: making keys with it
 * (`pack`, `range`, `subspace`, `tx.at(partition)`, ...) throws `directory_invalid_operation`,
 * as in FoundationDB; `prefix` stays readable for inspection.
 * @example
 * ```ts
 * const tenant = await directory.create(tx, ['tenants', 'acme'], { layer: 'partition' });
 * const orders = await tenant.createOrOpen(tx, 'orders'); // prefix starts with tenant.prefix
 * ```
 */
export class DirectoryPartition extends DirectorySubspace {
  /**
   * @internal Partitions come from a {@link DirectoryLayer}.
   */
  constructor(path: readonly string[], prefix: Uint8Array, ownLayer: DirectoryLayer, parentLayer: DirectoryLayer) {
    super(path, prefix, ownLayer, PARTITION_LAYER_BYTES, parentLayer);
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override pack(_key: TupleItem[]): never {
    throw this.#unusable('pack keys with');
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override unpack(_bytes: Uint8Array): never {
    throw this.#unusable('unpack keys with');
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override contains(_bytes: Uint8Array): never {
    throw this.#unusable('check keys against');
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override range(_tuple?: Tuple): never {
    throw this.#unusable('take a range of');
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override subspace(_tuple: Tuple): never {
    throw this.#unusable('open a subspace in');
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override withKeyEncoder<K2>(_keyEncoder: Encoder<K2>): never {
    throw this.#unusable('re-encode');
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override withValueEncoder<V2>(_valueEncoder: Encoder<V2>): never {
    throw this.#unusable('re-encode');
  }

  /** @throws TupleLayerError `directory_invalid_operation`: a partition's prefix cannot make keys. */
  override bind(_tx: Transaction): never {
    throw this.#unusable('bind a transaction to');
  }

  #unusable(what: string): TupleLayerError {
    return new TupleLayerError('directory_invalid_operation', `cannot ${what} the partition ${JSON.stringify(this.path)}: use its subdirectories`, {
      details: { path: [...this.path] },
    });
  }
}

// -----------------------------------------------------------------------------------------------
// Helpers

function toPath(path: DirectoryPath, what: string): string[] {
  if (typeof path === 'string') return [path];
  if (!Array.isArray(path)) throw new StrataError('invalid_argument', `${what} must be a string or an array of strings`, { details: { argument: what } });
  const names = path as readonly unknown[];
  for (let i = 0; i < names.length; i++) {
    if (typeof names[i] !== 'string') {
      throw new StrataError('invalid_argument', `${what}[${i}] must be a string, got ${names[i] === null ? 'null' : typeof names[i]}`, { details: { argument: what, index: i } });
    }
  }
  return [...(path as readonly string[])];
}

function checkCreateOptions(options: DirectoryCreateOptions): { layer: Uint8Array; prefix: Uint8Array | undefined } {
  if (typeof options !== 'object' || options === null) throw new StrataError('invalid_argument', 'directory options must be an object');
  const { layer, prefix } = options;
  let layerBytes: Uint8Array;
  if (layer === undefined) layerBytes = EMPTY;
  else if (typeof layer === 'string') layerBytes = utf8(layer);
  else if (layer instanceof Uint8Array) layerBytes = new Uint8Array(layer);
  else throw new StrataError('invalid_argument', 'layer must be a string or a Uint8Array', { details: { argument: 'layer' } });
  if (prefix !== undefined && !(prefix instanceof Uint8Array)) throw new StrataError('invalid_argument', 'prefix must be a Uint8Array', { details: { argument: 'prefix' } });
  return { layer: layerBytes, prefix: prefix === undefined ? undefined : new Uint8Array(prefix) };
}

function toSubspace(value: Subspace<unknown, unknown> | Uint8Array | undefined, fallback: Uint8Array, what: string): Subspace {
  if (value === undefined) return new Subspace(fallback);
  if (value instanceof Uint8Array) return new Subspace(value);
  if (value instanceof Subspace) return new Subspace(value.prefix);
  throw new StrataError('invalid_argument', `${what} must be a Subspace or a Uint8Array prefix`, { details: { argument: what } });
}

function isInPartition(node: Node, includeEmptySubpath: boolean): boolean {
  return node.prefix !== null && bytesEqual(node.layer, PARTITION_LAYER_BYTES) && (includeEmptySubpath || node.targetPath.length > node.path.length);
}

function partitionSubpath(node: Node): string[] {
  return node.targetPath.slice(node.path.length);
}

function encodeVersion(version: readonly number[]): Uint8Array {
  const out = new Uint8Array(12);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 3; i++) view.setUint32(i * 4, version[i]!, true);
  return out;
}

function decodeVersion(bytes: Uint8Array): [number, number, number] | null {
  if (bytes.length !== 12) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return [view.getUint32(0, true), view.getUint32(4, true), view.getUint32(8, true)];
}

function prefixRange(prefix: Uint8Array): { begin: Uint8Array; end: Uint8Array } {
  return { begin: prefix, end: strinc(prefix) };
}

function startsWithPath(path: readonly string[], prefix: readonly string[]): boolean {
  if (prefix.length > path.length) return false;
  for (let i = 0; i < prefix.length; i++) if (path[i] !== prefix[i]) return false;
  return true;
}

function pathsEqual(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && startsWithPath(a, b);
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.length > bytes.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && startsWith(a, b);
}

function isAllFf(bytes: Uint8Array): boolean {
  return bytes.every((byte) => byte === 0xff);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** A broken invariant is a bug (or corrupt directory metadata): stop loudly. */
function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`invariant broken: ${message}`);
}
