/**
 * `@strata/core`: an ordered, transactional, strictly serializable key-value store with
 * FoundationDB's semantics, embedded in a Node.js process.
 *
 * @example
 * ```ts
 * import { open } from '@strata/core';
 * const db = await open({ path: './data' });
 * const key = new TextEncoder().encode('greeting');
 * await db.transact((tx) => tx.set(key, new TextEncoder().encode('hello')));
 * console.log(await db.transact((tx) => tx.get(key)));
 * await db.close();
 * ```
 * @packageDocumentation
 */
export { open, Database, type OpenOptions, type TransactOptions, type RecoveryReport } from './api/database.js';
export {
  Transaction,
  type KeyValue,
  type ReadOptions,
  type GetOptions,
  type RangeOptions,
  type TransactionOptions,
  type TransactionBinding,
  type WriteOptions,
  type Watch,
} from './api/transaction.js';
export { KeySelector } from './api/key-selector.js';
export { serve, DatabaseServer, type ServeOptions } from './net/database-server.js';
export { connect, type ConnectOptions } from './net/remote-database.js';
export { StrataError, isStrataError, ERROR_CODES, type ErrorCode, type ErrorDefinition, type StrataErrorOptions } from './api/errors.js';
export { type AtomicOpName, VERSIONSTAMP_BYTES } from './api/mutation.js';
export { METADATA_VERSION_KEY } from './api/metadata-version.js';
export { nodeRuntime, seededRandom, type Runtime, type Timer } from './runtime/runtime.js';
export * as limits from './limits.js';
export { strinc, prefixRange, encodeVersionstampOffset, utf8, printable, copyBytes, type KeyRange } from './util/public-bytes.js';
