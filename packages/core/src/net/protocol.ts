/**
 * The wire protocol between a database served over WebSocket and its remote clients: one msgpack
 * message per WebSocket frame.
 *
 * - Server to client, once on connect: `{ hello: { protocol, recovery } }`.
 * - Client to server: `{ i, op, args }`, a request with a client-chosen id.
 * - Server to client: `{ i, result }` or `{ i, error }`, the answer to request `i`; and
 *   `{ watch, fired: true }` or `{ watch, error }` when a watch the client registered ends.
 *
 * Keys travel as the engine's binary strings (one char per byte); values as binary.
 */
import { Packr } from 'msgpackr';
import { StrataError, type ErrorCode, ERROR_CODES } from '../api/errors.js';

/**
 * The protocol version both ends must speak. 2: commit requests carry conflict points
 * (`readPoints`, `writePoints`) beside their ranges; a server of version 1 would ignore them. 3: a
 * read version comes as `[version, since, through, metadataVersion]`, the metadata version and the
 * read versions it holds for (see `api/metadata-version.ts`).
 */
export const PROTOCOL_VERSION = 3;

/** The requests a client makes. */
export type Operation = 'getReadVersion' | 'get' | 'getRange' | 'commit' | 'watch' | 'unwatch';

/** An error as it travels. */
export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

const packr = new Packr({ useRecords: false, moreTypes: true });

/** Encodes one message. */
export function encodeMessage(message: unknown): Uint8Array {
  return packr.pack(message);
}

/** Decodes one message; `null` when the bytes are not a message. */
export function decodeMessage(bytes: Uint8Array): Record<string, unknown> | null {
  try {
    const message = packr.unpack(bytes) as unknown;
    return typeof message === 'object' && message !== null && !Array.isArray(message) ? (message as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** An error to send: a StrataError keeps its code; anything else travels as `internal_error`. */
export function toWireError(error: unknown): WireError {
  if (error instanceof StrataError) return { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) };
  return { code: 'internal_error', message: error instanceof Error ? error.message : String(error) };
}

/** The StrataError a received error stands for (codes this side does not know become `internal_error`). */
export function fromWireError(error: WireError): StrataError {
  const known = Object.hasOwn(ERROR_CODES, error.code);
  return new StrataError(known ? (error.code as ErrorCode) : 'internal_error', known ? error.message : `${error.code}: ${error.message}`, {
    ...(error.details === undefined ? {} : { details: error.details }),
  });
}
