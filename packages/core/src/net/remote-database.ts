/**
 * A database another process serves (see `serve`), reached over WebSocket: the same `Database`
 * and `Transaction` API, with every read, commit and watch a request to the server.
 *
 * Invariants:
 * 1. Every request is settled exactly once: by its answer, or when the connection ends (a commit
 *    then with `commit_unknown_result`, since it may have been applied; anything else with
 *    `connection_failed`).
 * 2. Every watch is settled: fired, failed by the server, cancelled, or failed when the connection
 *    ends.
 */
import WebSocket from 'ws';
import { Database, type RecoveryReport } from '../api/database.js';
import { StrataError } from '../api/errors.js';
import type { KnownMetadataVersion, TransactionHost } from '../api/transaction.js';
import { CONNECT_TIMEOUT_MS, NETWORK_MESSAGE_BYTES_MAX } from '../limits.js';
import type { CommitRequest, CommitResult } from '../roles/commit-proxy.js';
import type { StorageRangeResult } from '../roles/storage-server.js';
import { nodeRuntime } from '../runtime/runtime.js';
import type { KeyString } from '../util/bytes.js';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage, fromWireError, type Operation, type WireError } from './protocol.js';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** How long to wait for the server (default 10 s). */
  timeoutMs?: number;
}

interface Pending {
  op: Operation;
  /** Resolves once the request is settled, either way. */
  settled: Promise<void>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface RemoteWatch {
  fire: () => void;
  fail: (error: unknown) => void;
}

/**
 * Connects to a database served by another process.
 * @remarks
 * The returned `Database` works as a local one does, except that `close()` only closes the
 * connection, and a lost connection fails it: requests in flight reject (`connection_failed`, or
 * `commit_unknown_result` for a commit) and so does every later call. Connect again to go on.
 * @throws StrataError `connection_failed` when the server cannot be reached or speaks another protocol.
 * @example
 * ```ts
 * const db = await connect('ws://127.0.0.1:7400');
 * await db.transact((tx) => tx.set(key, value));
 * await db.close();
 * ```
 */
export async function connect(url: string, options: ConnectOptions = {}): Promise<Database> {
  if (typeof url !== 'string' || !/^wss?:\/\//.test(url)) throw new StrataError('invalid_argument', `connect: url must be a ws:// address, got ${String(url)}`);
  const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  const socket = new WebSocket(url, { maxPayload: NETWORK_MESSAGE_BYTES_MAX });
  const connection = new Connection(socket);
  const recovery = await connection.ready(url, timeoutMs);
  return new Database({ host: connection.host, shutdown: () => connection.close(), recovery, path: null });
}

class Connection {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #watches = new Map<number, RemoteWatch>();
  #nextId = 1;
  #failure: StrataError | null = null;
  #closing = false;
  // The newest metadata version a read version came with (none yet: no read version matches).
  #metadataVersion: KnownMetadataVersion = { value: null, since: 1, through: 0 };
  #hello: { resolve: (recovery: RecoveryReport) => void; reject: (error: unknown) => void } | null = null;
  readonly host: TransactionHost;

  constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer, isBinary: boolean) => this.#receive(isBinary ? decodeMessage(data) : null));
    socket.on('close', (code: number, reason: Buffer) => this.#end(new StrataError('connection_failed', `the connection to the database closed (${code}${reason.length > 0 ? `: ${reason.toString()}` : ''})`)));
    socket.on('error', (error: Error) => this.#end(new StrataError('connection_failed', `the connection to the database failed: ${error.message}`, { cause: error })));
    const request = <T>(op: Operation, args: unknown[]): Promise<T> => this.#request(op, args) as Promise<T>;
    const watches = this.#watches;
    this.host = {
      runtime: nodeRuntime,
      getReadVersion: () => request<[number, number, number, Uint8Array | null]>('getReadVersion', []).then(([readVersion, since, through, value]) => {
        if (through > this.#metadataVersion.through) this.#metadataVersion = { value, since, through };
        return readVersion;
      }),
      metadataVersion: () => this.#metadataVersion,
      read: (key: KeyString, version: number) => request<Uint8Array | null>('get', [key, version]),
      readMany: (keys: readonly KeyString[], version: number) => Promise.all(keys.map((key) => request<Uint8Array | null>('get', [key, version]))),
      readRange: (begin: KeyString, end: KeyString, version: number, limit: number, reverse: boolean) =>
        request<StorageRangeResult>('getRange', [begin, end, version, limit, reverse]),
      commit: (commitRequest: CommitRequest) => request<CommitResult>('commit', [commitRequest]),
      watch: (key, version, fire, fail) => this.#watch(key, version, fire, fail),
      get watchCount() {
        return watches.size;
      },
    };
  }

  ready(url: string, timeoutMs: number): Promise<RecoveryReport> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#hello = null;
        reject(new StrataError('connection_failed', `no answer from ${url} within ${timeoutMs} ms`));
        this.#socket.terminate();
      }, timeoutMs);
      this.#hello = {
        resolve: (recovery) => {
          clearTimeout(timer);
          resolve(recovery);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  // Lets the requests in flight get their answers (a commit among them may be applied), then
  // closes the connection.
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled([...this.#pending.values()].map((pending) => pending.settled));
    this.#end(new StrataError('database_closed', 'the database connection was closed'));
    if (this.#socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.close();
    });
  }

  #request(op: Operation, args: unknown[]): Promise<unknown> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#closing) return Promise.reject(new StrataError('database_closed', 'the database connection is closing'));
    const id = this.#nextId++;
    let settle!: () => void;
    const settled = new Promise<void>((resolve) => (settle = resolve));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        op,
        settled,
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
      });
      this.#socket.send(encodeMessage({ i: id, op, args }));
    });
  }

  #watch(key: KeyString, version: number, fire: () => void, fail: (error: unknown) => void): () => void {
    if (this.#failure !== null) {
      fail(this.#failure);
      return () => {};
    }
    const id = this.#nextId++;
    this.#watches.set(id, { fire, fail });
    this.#request('watch', [id, key, version]).catch((error: unknown) => {
      if (this.#watches.delete(id)) fail(error);
    });
    return () => {
      if (!this.#watches.delete(id)) return;
      if (this.#failure === null) this.#request('unwatch', [id]).catch(() => {});
    };
  }

  #receive(message: Record<string, unknown> | null): void {
    if (message === null) {
      this.#socket.close(1003, 'not a Strata protocol message');
      return;
    }
    if (message['hello'] !== undefined) {
      const hello = message['hello'] as { protocol?: unknown; recovery?: RecoveryReport; error?: WireError };
      const waiting = this.#hello;
      this.#hello = null;
      if (waiting === null) return;
      if (hello.error !== undefined) waiting.reject(fromWireError(hello.error));
      else if (hello.protocol !== PROTOCOL_VERSION) waiting.reject(new StrataError('connection_failed', `the server speaks protocol ${String(hello.protocol)}, this client ${PROTOCOL_VERSION}`));
      else waiting.resolve(hello.recovery!);
      return;
    }
    if (typeof message['watch'] === 'number') {
      const watch = this.#watches.get(message['watch']);
      if (watch === undefined) return;
      this.#watches.delete(message['watch']);
      if (message['fired'] === true) watch.fire();
      else watch.fail(fromWireError(message['error'] as WireError));
      return;
    }
    const pending = this.#pending.get(message['i'] as number);
    if (pending === undefined) return;
    this.#pending.delete(message['i'] as number);
    if (message['error'] !== undefined) pending.reject(fromWireError(message['error'] as WireError));
    else pending.resolve(message['result']);
  }

  // Settles everything once the connection is over (invariants 1 and 2).
  #end(error: StrataError): void {
    if (this.#failure !== null) return;
    this.#failure = error;
    this.#hello?.reject(error);
    this.#hello = null;
    for (const pending of this.#pending.values()) {
      pending.reject(
        pending.op === 'commit' && error.code !== 'database_closed'
          ? new StrataError('commit_unknown_result', 'the connection ended while the commit was in flight', { cause: error })
          : error,
      );
    }
    this.#pending.clear();
    for (const watch of this.#watches.values()) watch.fail(error);
    this.#watches.clear();
  }
}
