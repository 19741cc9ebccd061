/**
 * The metadata version: one key whose value changes, as a versionstamp, whenever a layer changes
 * metadata that other processes cache (a record store's schema, a directory removed), and whose
 * value reaches every transaction with its read version, so that checking a cache costs no read.
 * FoundationDB's `\xff/metadataVersion`.
 *
 * @remarks
 * Invariants:
 * 1. The key changes only through `setVersionstampedValue` (`Transaction.bumpMetadataVersion`), so
 *    every change gives it a value it never had before, ordered as the commits are.
 * 2. The sequencer holds the value as of its committed version, and the version since which it has
 *    held it; a read version at or above that version and at or below the committed version reads
 *    that value without asking storage. Any other read version reads the key from storage, where
 *    it is stored like any other key.
 */
import { StrataError } from './errors.js';
import { MutationType, VERSIONSTAMP_BYTES, readVersionstampOffset, type Mutation } from './mutation.js';
import { fromKeyString, type KeyString } from '../util/bytes.js';

const SYSTEM_PREFIX = 0xff;

/** The metadata version key, as the engine's key string. */
export const METADATA_VERSION_KEY_STRING: KeyString = '\xff/metadataVersion';

/**
 * The metadata version key (`\xff/metadataVersion`, as in FoundationDB). `tx.get` reads it without
 * `accessSystemKeys` and without a storage read (its value comes with the read version);
 * `Transaction.bumpMetadataVersion` changes it. A non-snapshot read makes the transaction
 * conflict with any change committed after its read version. Other writes of the key are refused.
 */
export const METADATA_VERSION_KEY: Uint8Array = fromKeyString(METADATA_VERSION_KEY_STRING);

/** The metadata version a read version carries: its value, and the version since which it has held it. */
export interface MetadataVersion {
  /** The versionstamp stored under the key, or `null` if it was never set. */
  readonly value: Uint8Array | null;
  /** The commit version that set `value` (or where the sequencer started, if it was set before). */
  readonly since: number;
}

/** What `Transaction.bumpMetadataVersion` writes: a value that is the versionstamp alone (placeholder at offset 0). */
export const METADATA_VERSION_PLACEHOLDER: Uint8Array = new Uint8Array(VERSIONSTAMP_BYTES + 4);

/**
 * Refuses a mutation that would change the metadata version key other than by setting it to the
 * commit's versionstamp alone (invariant 1): a set, a clear, an atomic op, a range clear over it, a
 * versionstamped value with other bytes around the stamp.
 * @throws StrataError `client_invalid_operation` naming the operation.
 */
export function checkMetadataVersionWrite(mutation: Mutation): void {
  const key = mutation.key;
  // Most mutations are of user keys, and only a range clear can reach the key from below 0xFF.
  if (key.charCodeAt(0) !== SYSTEM_PREFIX && (mutation.type !== MutationType.clearRange || (mutation.param as KeyString).charCodeAt(0) !== SYSTEM_PREFIX)) return;
  if (mutation.type === MutationType.clearRange) {
    if (key <= METADATA_VERSION_KEY_STRING && METADATA_VERSION_KEY_STRING < (mutation.param as KeyString)) throw refused('a range clear');
    return;
  }
  if (key !== METADATA_VERSION_KEY_STRING) return;
  if (mutation.type === MutationType.setVersionstampedValue) {
    const value = mutation.param as Uint8Array;
    if (value.length === METADATA_VERSION_PLACEHOLDER.length && readVersionstampOffset(value) === 0) return;
    throw refused('a versionstamped value with bytes besides the versionstamp');
  }
  throw refused(mutation.type === MutationType.set ? 'a set' : mutation.type === MutationType.clear ? 'a clear' : 'an atomic op');
}

function refused(what: string): StrataError {
  return new StrataError(
    'client_invalid_operation',
    `${what} cannot change the metadata version key (\\xff/metadataVersion); change it with bumpMetadataVersion, which sets it to the commit's versionstamp`,
  );
}
