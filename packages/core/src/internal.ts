/**
 * `@strata/core/internal`: the roles and building blocks behind the public API, for the core's
 * own tests, the simulator and the cluster. Not a stable API for applications.
 * @packageDocumentation
 */
export { Sequencer, type SequencerOptions } from './roles/sequencer.js';
export { Resolver, type ResolverOptions, type ResolveTransaction, type Resolution } from './roles/resolver.js';
export { CommitProxy, type CommitProxyOptions, type CommitRequest, type CommitResult } from './roles/commit-proxy.js';
export { LogServer, type LogRecovery, type LoggedBatch, type LogListener } from './roles/log-server.js';
export { StorageServer, type StorageServerOptions, type StorageEntry, type StorageRangeResult } from './roles/storage-server.js';
export { RateKeeper, type RateKeeperOptions, type StorageLoad } from './roles/rate-keeper.js';
export { MemoryEngine, type StorageEngine, type EngineCursor } from './storage/storage-engine.js';
export { LevelEngine } from './storage/level-engine.js';
export { FileLeaseStore, MemoryLeaseStore, type LeaseStore } from './storage/version-lease.js';
export { MemoryLogDisk, NodeLogDisk, type LogDisk, type AppendFile } from './storage/log-disk.js';
export { LogWritePolicy, type LogWritePolicyOptions } from './storage/log-write-policy.js';
export { encodeFrame, scanSegment, encodeMutations, decodeMutations, FRAME_HEADER_BYTES } from './storage/log-frame.js';
export { crc32c } from './storage/crc32c.js';
export { MutationType, applyAtomicOp, makeVersionstamp, type Mutation } from './api/mutation.js';
export { WriteMap } from './api/write-map.js';
export { toKeyString, fromKeyString, keyAfter, strincKey, type KeyString } from './util/bytes.js';
export { assert, AssertionError } from './util/assert.js';
