/**
 * Where the sequencer keeps its version lease: the highest version it may hand out, recorded
 * durably before any version up to it is used, so versions never repeat after a crash.
 */
import fs from 'node:fs';
import path from 'node:path';
import { StrataError } from '../api/errors.js';
import { crc32c } from './crc32c.js';

/** Durable storage for one number, the version lease. */
export interface LeaseStore {
  /** The stored lease, or 0 if none was ever written. */
  read(): Promise<number>;
  /** Replaces the lease durably. */
  write(version: number): Promise<void>;
}

/** The lease in memory (in-memory databases: nothing survives the process anyway). */
export class MemoryLeaseStore implements LeaseStore {
  #version = 0;
  async read(): Promise<number> {
    return this.#version;
  }
  async write(version: number): Promise<void> {
    this.#version = version;
  }
}

const LEASE_BYTES = 12;

/**
 * The lease in a 12-byte file (`[version u64][crc32c u32]`), replaced atomically: written to a
 * temporary file, synced, renamed over the old one, and the directory synced.
 */
export class FileLeaseStore implements LeaseStore {
  readonly #file: string;
  constructor(readonly directory: string) {
    this.#file = path.join(directory, 'version-lease');
  }

  async read(): Promise<number> {
    let bytes: Buffer;
    try {
      bytes = await fs.promises.readFile(this.#file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw error;
    }
    if (bytes.length !== LEASE_BYTES || crc32c(bytes.subarray(0, 8)) !== bytes.readUInt32LE(8)) {
      throw new StrataError('file_corrupt', `the version lease ${this.#file} is damaged`, { details: { file: this.#file } });
    }
    return Number(bytes.readBigUInt64LE(0));
  }

  async write(version: number): Promise<void> {
    const bytes = Buffer.alloc(LEASE_BYTES);
    bytes.writeBigUInt64LE(BigInt(version), 0);
    bytes.writeUInt32LE(crc32c(bytes.subarray(0, 8)), 8);
    const temporary = this.#file + '.tmp';
    const handle = await fs.promises.open(temporary, 'w');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.promises.rename(temporary, this.#file);
    const directory = await fs.promises.open(this.directory, 'r');
    try {
      await directory.sync();
    } finally {
      await directory.close();
    }
  }
}
