/**
 * The disk a log server writes its segment files to: the real file system, or memory.
 *
 * @remarks
 * The log server reaches files only through {@link LogDisk}, so the simulator and the in-memory
 * database can hand in another disk.
 */
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LOG_PREALLOCATE_BYTES } from '../limits.js';
import { LogWritePolicy } from './log-write-policy.js';

/** A segment file open for appending. */
export interface AppendFile {
  /** Bytes appended so far (the file may be longer: space allocated ahead is zeros). */
  readonly size: number;
  /** Appends `data` and resolves once it is durable (one synchronous-data write). */
  appendDurable(data: Uint8Array): Promise<void>;
  /** Closes the file. */
  close(): Promise<void>;
}

/** A directory of segment files. */
export interface LogDisk {
  /** Names of the files in the directory. */
  list(): Promise<string[]>;
  /** The whole content of a file. */
  read(name: string): Promise<Uint8Array>;
  /** Creates a new, empty file and makes its directory entry durable. */
  create(name: string): Promise<AppendFile>;
  /** Cuts a file to `size` bytes, durably. */
  truncate(name: string, size: number): Promise<void>;
  /** Deletes a file. */
  remove(name: string): Promise<void>;
}

// Zeros written ahead of the data (never written to; shared by every file).
let zeros = new Uint8Array(0);
function zeroBytes(length: number): Uint8Array {
  if (zeros.length < length) zeros = new Uint8Array(length);
  return zeros.subarray(0, length);
}

class NodeAppendFile implements AppendFile {
  #size = 0;
  #allocated = 0;
  // The write of zeros ahead under way, if any (see appendDurable).
  #extending: Promise<void> | null = null;
  #extendFailed = false;
  constructor(
    readonly fd: number,
    readonly preallocateBytes: number,
    readonly policy: LogWritePolicy,
  ) {}
  get size(): number {
    return this.#size;
  }
  async appendDurable(data: Uint8Array): Promise<void> {
    // The file is opened with O_DSYNC: each write returns once its data (and any size change
    // needed to read it back) is on stable storage — a write plus fdatasync in one system call.
    // Writes into space already holding zeros change no metadata and sync faster, so the file is
    // extended ahead of the data: in the background once less than half of one extension is left
    // (the appends that follow do not wait for it), and together with the data when an append
    // would run past the allocated end anyway.
    const position = this.#size;
    const end = position + data.length;
    if (end > this.#allocated && this.#extending !== null) await this.#extending;
    if (end > this.#allocated && this.preallocateBytes > 0) {
      const buffer = new Uint8Array(data.length + this.preallocateBytes);
      buffer.set(data);
      await this.#write(buffer, position);
      this.#allocated = Math.max(this.#allocated, position + buffer.length);
    } else {
      await this.#writeData(data, position);
    }
    this.#size = end;
    this.#extendAhead();
  }
  #extendAhead(): void {
    const step = this.preallocateBytes;
    if (step <= 0 || this.#extending !== null || this.#extendFailed || this.#allocated - this.#size >= step / 2) return;
    const from = this.#allocated;
    this.#extending = this.#write(zeroBytes(step), from).then(
      () => {
        this.#allocated = Math.max(this.#allocated, from + step);
        this.#extending = null;
      },
      () => {
        // Extending ahead is only an optimization: appends extend the file themselves from now on,
        // and report any error the disk gives them.
        this.#extendFailed = true;
        this.#extending = null;
      },
    );
  }
  // Writes data (not zeros ahead) on the event loop's thread or through libuv's pool, as the policy
  // says, and tells the policy what the write took.
  async #writeData(data: Uint8Array, position: number): Promise<void> {
    const start = performance.now();
    if (this.policy.shouldBlock(data.length, start)) {
      for (let written = 0; written < data.length; ) {
        written += fs.writeSync(this.fd, data, written, data.length - written, position + written);
      }
      this.policy.recordBlocking(performance.now() - start);
      return;
    }
    const loop = performance.eventLoopUtilization();
    await this.#write(data, position);
    this.policy.recordPooled(performance.now() - start, performance.eventLoopUtilization(loop).utilization);
  }
  #write(buffer: Uint8Array, position: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let written = 0;
      const step = (): void => {
        fs.write(this.fd, buffer, written, buffer.length - written, position + written, (error, bytes) => {
          if (error) return reject(error);
          written += bytes;
          if (written < buffer.length) return step();
          resolve();
        });
      };
      step();
    });
  }
  async close(): Promise<void> {
    if (this.#extending !== null) await this.#extending;
    return new Promise((resolve, reject) => fs.close(this.fd, (error) => (error ? reject(error) : resolve())));
  }
}

/** Segment files in a real directory. */
export class NodeLogDisk implements LogDisk {
  /**
   * @param directory - where the segment files live (created if missing).
   * @param preallocateBytes - zeros written ahead of the data when a write grows a file.
   * @param policy - when a write blocks the event loop's thread (shared by the directory's files).
   */
  constructor(
    readonly directory: string,
    readonly preallocateBytes = LOG_PREALLOCATE_BYTES,
    readonly policy = new LogWritePolicy(),
  ) {
    fs.mkdirSync(directory, { recursive: true });
  }
  async list(): Promise<string[]> {
    return fs.promises.readdir(this.directory);
  }
  async read(name: string): Promise<Uint8Array> {
    return fs.promises.readFile(path.join(this.directory, name));
  }
  async create(name: string): Promise<AppendFile> {
    const { O_WRONLY, O_CREAT, O_EXCL, O_DSYNC } = fs.constants;
    const fd = fs.openSync(path.join(this.directory, name), O_WRONLY | O_CREAT | O_EXCL | O_DSYNC, 0o644);
    await this.#syncDirectory();
    return new NodeAppendFile(fd, this.preallocateBytes, this.policy);
  }
  async truncate(name: string, size: number): Promise<void> {
    const handle = await fs.promises.open(path.join(this.directory, name), 'r+');
    try {
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  async remove(name: string): Promise<void> {
    await fs.promises.rm(path.join(this.directory, name), { force: true });
  }
  async #syncDirectory(): Promise<void> {
    const handle = await fs.promises.open(this.directory, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}

class MemoryAppendFile implements AppendFile {
  constructor(readonly chunks: Uint8Array[]) {}
  get size(): number {
    let size = 0;
    for (const chunk of this.chunks) size += chunk.length;
    return size;
  }
  async appendDurable(data: Uint8Array): Promise<void> {
    this.chunks.push(new Uint8Array(data));
  }
  async close(): Promise<void> {}
}

/** Segment files in memory (the in-memory database and tests). */
export class MemoryLogDisk implements LogDisk {
  readonly #files = new Map<string, Uint8Array[]>();
  async list(): Promise<string[]> {
    return [...this.#files.keys()];
  }
  async read(name: string): Promise<Uint8Array> {
    return Buffer.concat(this.#files.get(name) ?? []);
  }
  async create(name: string): Promise<AppendFile> {
    const chunks: Uint8Array[] = [];
    this.#files.set(name, chunks);
    return new MemoryAppendFile(chunks);
  }
  async truncate(name: string, size: number): Promise<void> {
    const data = await this.read(name);
    this.#files.set(name, [data.slice(0, size)]);
  }
  async remove(name: string): Promise<void> {
    this.#files.delete(name);
  }
}
