/**
 * `@strata/tuple`: tuple-encoded keys byte-compatible with FoundationDB, subspaces with typed
 * encoders, and the directory layer.
 *
 * @example
 * ```ts
 * import { open } from '@strata/core';
 * import { Subspace, msgpackEncoder } from '@strata/tuple';
 * const db = await open();
 * const users = new Subspace(['users']).withValueEncoder(msgpackEncoder<{ name: string }>());
 * await db.transact((tx) => tx.at(users).set([42], { name: 'Ada' }));
 * ```
 * @packageDocumentation
 */
export {
  pack,
  unpack,
  range,
  packWithVersionstamp,
  packWithPrefix,
  packedItemOffsets,
  Uuid,
  Float32,
  Double,
  Versionstamp,
  TRANSACTION_VERSION_BYTES,
  TUPLE_NESTING_DEPTH_MAX,
  type Tuple,
  type TupleItem,
} from './tuple.js';
export { Subspace, SubspaceView, type SubspaceOptions, type SubspaceEntry } from './subspace.js';
export { tupleEncoder, bytesEncoder, msgpackEncoder, type Encoder } from './encoders.js';
export { TupleLayerError, TUPLE_LAYER_ERROR_CODES, type TupleLayerErrorCode } from './errors.js';
export { strinc } from '@strata/core';
export {
  DirectoryLayer,
  DirectorySubspace,
  DirectoryPartition,
  DIRECTORY_LAYER_VERSION,
  DIRECTORY_PARTITION_LAYER,
  type DirectoryLayerOptions,
  type DirectoryOpenOptions,
  type DirectoryCreateOptions,
  type DirectoryPath,
  type DirectoryContext,
} from './directory-layer.js';
export { HighContentionAllocator, type HighContentionAllocatorOptions } from './high-contention-allocator.js';
