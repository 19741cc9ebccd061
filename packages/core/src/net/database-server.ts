/**
 * Serves a database to other processes over WebSocket: each connection gets read versions, reads,
 * commits and watches of the database this process holds, so several processes (workers of a job
 * queue, say) share one database with the same transactional guarantees.
 *
 * Invariants:
 * 1. A request is answered at most once, and only while its connection is open.
 * 2. Every watch a connection registered is cancelled when the connection closes.
 * 3. A malformed request is answered with `invalid_argument` naming the problem and changes
 *    nothing; a frame that is not a protocol message closes the connection (code 1003).
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { Database } from '../api/database.js';
import { StrataError } from '../api/errors.js';
import type { TransactionHost } from '../api/transaction.js';
import { MutationType, substituteVersionstamp, VERSIONSTAMP_BYTES } from '../api/mutation.js';
import type { CommitRequest } from '../roles/commit-proxy.js';
import { KEY_SIZE_MAX, NETWORK_MESSAGE_BYTES_MAX, TRANSACTION_SIZE_MAX, VALUE_SIZE_MAX } from '../limits.js';
import { pointBytes } from '../util/bytes.js';
import { PROTOCOL_VERSION, decodeMessage, encodeMessage, toWireError } from './protocol.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The TCP port (default 0: any free port; see {@link DatabaseServer.port}). */
  port?: number;
  /** The address to listen on (default `127.0.0.1`). */
  host?: string;
}

/** A database served over WebSocket; `connect(server.url)` reaches it from another process. */
export class DatabaseServer {
  readonly #server: WebSocketServer;
  #closing: Promise<void> | null = null;
  /** The port it listens on. */
  readonly port: number;
  /** The `ws://` address clients connect to. */
  readonly url: string;

  /** @internal Use {@link serve}. */
  constructor(server: WebSocketServer, host: string) {
    this.#server = server;
    const address = server.address();
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    this.url = `ws://${host}:${this.port}`;
  }

  /** Stops listening and closes every connection (their requests in flight are dropped). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise((resolve, reject) => {
      for (const client of this.#server.clients) client.terminate();
      this.#server.close((error) => (error ? reject(error) : resolve()));
    });
    return this.#closing;
  }
}

/**
 * Serves `db` over WebSocket.
 * @remarks
 * The database stays this process's: closing it ends the service. There is no authentication:
 * listen on a loopback or private address only.
 * @throws StrataError `invalid_argument` for a bad port; the listen error (address in use) as is.
 * @example
 * ```ts
 * const db = await open({ path: './data' });
 * const server = await serve(db, { port: 7400 });
 * // in another process: const remote = await connect('ws://127.0.0.1:7400');
 * ```
 */
export async function serve(db: Database, options: ServeOptions = {}): Promise<DatabaseServer> {
  const port = options.port ?? 0;
  if (!Number.isSafeInteger(port) || port < 0 || port > 65_535) throw new StrataError('invalid_argument', `serve: port must be an integer from 0 to 65535, got ${String(port)}`);
  const host = options.host ?? '127.0.0.1';
  const server = new WebSocketServer({ port, host, maxPayload: NETWORK_MESSAGE_BYTES_MAX });
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  server.on('connection', (socket) => handleConnection(db, socket));
  return new DatabaseServer(server, host);
}

function handleConnection(db: Database, socket: WebSocket): void {
  const watches = new Map<number, () => void>();
  const send = (message: unknown): void => {
    if (socket.readyState === socket.OPEN) socket.send(encodeMessage(message));
  };
  socket.on('close', () => {
    for (const cancel of watches.values()) cancel();
    watches.clear();
  });
  // A socket error ends the connection; its close handler cleans up.
  socket.on('error', () => {});
  let host: TransactionHost;
  try {
    host = db.host;
  } catch (error) {
    send({ hello: { protocol: PROTOCOL_VERSION, error: toWireError(error) } });
    socket.close(1011, 'the database is not available');
    return;
  }
  send({ hello: { protocol: PROTOCOL_VERSION, recovery: db.recovery } });
  socket.on('message', (data, isBinary) => {
    const message = isBinary ? decodeMessage(data as Buffer) : null;
    if (message === null || typeof message['i'] !== 'number' || typeof message['op'] !== 'string' || !Array.isArray(message['args'])) {
      socket.close(1003, 'not a Strata protocol message');
      return;
    }
    const id = message['i'];
    const args = message['args'] as unknown[];
    let answer: unknown;
    try {
      answer = dispatch(host, message['op'], args, watches, send);
    } catch (error) {
      send({ i: id, error: toWireError(error) });
      return;
    }
    Promise.resolve(answer).then(
      (result) => send({ i: id, result: result ?? null }),
      (error: unknown) => send({ i: id, error: toWireError(error) }),
    );
  });
}

function dispatch(host: TransactionHost, op: string, args: unknown[], watches: Map<number, () => void>, send: (message: unknown) => void): unknown {
  switch (op) {
    case 'getReadVersion':
      return Promise.resolve(host.getReadVersion()).then((readVersion) => {
        const known = host.metadataVersion?.();
        return known === undefined ? [readVersion, 1, 0, null] : [readVersion, known.since, known.through, known.value];
      });
    case 'get':
      return host.read(key(args[0], 'get key'), version(args[1]));
    case 'getRange': {
      const limit = args[3];
      if (!Number.isSafeInteger(limit) || (limit as number) < 0) throw invalid('getRange limit must be a non-negative integer');
      return host.readRange(key(args[0], 'getRange begin'), key(args[1], 'getRange end'), version(args[2]), limit as number, args[4] === true);
    }
    case 'commit':
      return host.commit(commitRequest(args[0]));
    case 'watch': {
      const watchId = args[0];
      if (!Number.isSafeInteger(watchId) || watches.has(watchId as number)) throw invalid('watch needs a new integer id');
      // Registered before the storage server is asked, which may fire it at once.
      watches.set(watchId as number, () => {});
      const cancel = host.watch(
        key(args[1], 'watch key'),
        version(args[2]),
        () => {
          watches.delete(watchId as number);
          send({ watch: watchId, fired: true });
        },
        (error) => {
          watches.delete(watchId as number);
          send({ watch: watchId, error: toWireError(error) });
        },
      );
      if (watches.has(watchId as number)) watches.set(watchId as number, cancel);
      return null;
    }
    case 'unwatch': {
      const cancel = watches.get(args[0] as number);
      watches.delete(args[0] as number);
      cancel?.();
      return null;
    }
    default:
      throw invalid(`unknown operation ${JSON.stringify(op)}`);
  }
}

function invalid(message: string): StrataError {
  return new StrataError('invalid_argument', `remote request: ${message}`);
}

function key(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a key`);
  return value;
}

function version(value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw invalid('a version must be a non-negative integer');
  return value as number;
}

// Checks the shape of a commit request from the network (the commit proxy trusts its callers).
function commitRequest(value: unknown): CommitRequest {
  if (typeof value !== 'object' || value === null) throw invalid('commit needs a request object');
  const request = value as Record<string, unknown>;
  const strings = (name: string): string[] => {
    const list = request[name];
    if (!Array.isArray(list) || list.length % 2 !== 0 || !list.every((item) => typeof item === 'string')) throw invalid(`commit ${name} must be pairs of keys`);
    return list as string[];
  };
  const keys = (name: string): string[] => {
    const list = request[name] ?? [];
    if (!Array.isArray(list) || !list.every((item) => typeof item === 'string')) throw invalid(`commit ${name} must be an array of keys`);
    return list as string[];
  };
  const readVersion = request['readVersion'];
  if (readVersion !== null && (!Number.isSafeInteger(readVersion) || (readVersion as number) < 0)) throw invalid('commit readVersion must be null or a version');
  const mutations = request['mutations'];
  if (!Array.isArray(mutations)) throw invalid('commit mutations must be an array');
  const readRanges = strings('readRanges');
  const writeRanges = strings('writeRanges');
  const readPoints = keys('readPoints');
  const writePoints = keys('writePoints');
  // The size is counted here, not taken from the client: the limit holds whoever sent the request.
  let bytes = 0;
  for (const key of readRanges) bytes += key.length;
  for (const key of writeRanges) bytes += key.length;
  for (const key of readPoints) bytes += pointBytes(key);
  for (const key of writePoints) bytes += pointBytes(key);
  for (const mutation of mutations as unknown[]) bytes += checkMutation(mutation);
  if (bytes > TRANSACTION_SIZE_MAX) {
    throw new StrataError('transaction_too_large', `remote request: the transaction's mutations and conflict ranges take ${bytes} bytes; the limit is ${TRANSACTION_SIZE_MAX}`, {
      details: { bytes, limit: TRANSACTION_SIZE_MAX },
    });
  }
  return { readVersion: readVersion as number | null, readRanges, readPoints, writeRanges, writePoints, mutations: mutations as CommitRequest['mutations'], bytes };
}

// A mutation as the commit path expects it: a known type with the parameter of that type, sizes
// within the limits (a versionstamped key or value carries a 4-byte offset more), and a
// versionstamp placeholder that lies inside its key or value (what Transaction checks on the
// client side; the commit proxy checks writes of the metadata version key). Returns its size in bytes.
function checkMutation(mutation: unknown): number {
  const m = mutation as Record<string, unknown> | null;
  if (typeof m !== 'object' || m === null || typeof m['key'] !== 'string') throw invalid('a mutation needs a type and a key');
  const key = m['key'];
  const type = m['type'];
  const param = m['param'];
  if (key.length > KEY_SIZE_MAX + 4) throw new StrataError('key_too_large', `remote request: a key of ${key.length} bytes; the limit is ${KEY_SIZE_MAX}`);
  if (param instanceof Uint8Array && param.length > VALUE_SIZE_MAX + 4) {
    throw new StrataError('value_too_large', `remote request: a value of ${param.length} bytes; the limit is ${VALUE_SIZE_MAX}`);
  }
  const bytes = key.length + (param === null ? 0 : (param as Uint8Array | string).length);
  switch (type) {
    case MutationType.clear:
      if (param !== null) throw invalid('a clear has no parameter');
      return bytes;
    case MutationType.clearRange:
      if (typeof param !== 'string' || param < key || param.length > KEY_SIZE_MAX + 1) throw invalid('a range clear needs an end key at or after its begin');
      return bytes;
    case MutationType.setVersionstampedKey:
    case MutationType.setVersionstampedValue: {
      if (!(param instanceof Uint8Array)) throw invalid('a versionstamped mutation needs a value');
      const target = type === MutationType.setVersionstampedKey ? Buffer.from(m['key'] as string, 'latin1') : param;
      try {
        substituteVersionstamp(target, new Uint8Array(VERSIONSTAMP_BYTES));
      } catch {
        throw invalid('a versionstamped mutation needs a placeholder offset inside its bytes');
      }
      return bytes;
    }
    default:
      if (!Number.isSafeInteger(type) || (type as number) < MutationType.set || (type as number) > MutationType.compareAndClear) {
        throw invalid(`unknown mutation type ${String(type)}`);
      }
      if (!(param instanceof Uint8Array)) throw invalid('a set or atomic op needs a value');
      return bytes;
  }
}
