// Proves that the directory layer writes and reads FoundationDB's on-disk layout key for key, that
// its operations (create, open, list, move, remove, partitions) and errors behave as FoundationDB's
// bindings do, and that many concurrent clients never receive the same or overlapping prefixes.
import { METADATA_VERSION_KEY, open, seededRandom, StrataError, nodeRuntime, utf8, type Database, type Transaction } from '@strata/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryLayer, DirectoryPartition, DirectorySubspace, type DirectoryPath } from './directory-layer.js';
import { bytesEncoder, tupleEncoder } from './encoders.js';
import { TUPLE_LAYER_ERROR_CODES, TupleLayerError, type TupleLayerErrorCode } from './errors.js';
import { Subspace } from './subspace.js';
import { pack } from './tuple.js';

let db: Database;
beforeEach(async () => {
  db = await open();
});
afterEach(async () => {
  await db.close();
});

/** Bytes from numbers (one byte each) and strings (their ASCII bytes): for writing keys by hand. */
function bytes(...parts: (number | string)[]): Uint8Array {
  const out: number[] = [];
  for (const part of parts) {
    if (typeof part === 'number') out.push(part);
    else for (const char of part) out.push(char.charCodeAt(0));
  }
  return new Uint8Array(out);
}

const hex = (value: Uint8Array): string => Buffer.from(value).toString('hex');

/** Every key and value in the database (normal key space), as hex, in key order. */
async function dump(): Promise<[string, string][]> {
  const rows = await db.transact((tx) => tx.getRangeAll(new Uint8Array(), new Uint8Array([0xff])));
  return rows.map((row) => [hex(row.key), hex(row.value)]);
}

/** A random source that returns the given numbers in order and fails loudly when they run out. */
function scripted(...values: number[]): () => number {
  return () => {
    const next = values.shift();
    if (next === undefined) throw new Error('the scripted random numbers ran out');
    return next;
  };
}

/** The random number that makes the allocator's first window (0-63) pick `candidate`. */
const pick = (candidate: number): number => (candidate + 0.5) / 64;

/** Awaits `promise`, expecting a TupleLayerError with `code` whose details name `path`. */
async function rejectsWith(promise: Promise<unknown>, code: TupleLayerErrorCode, path?: readonly string[]): Promise<TupleLayerError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  if (error === null) throw new Error(`expected the operation to fail with ${code}`);
  expect(error).toBeInstanceOf(TupleLayerError);
  const typed = error as TupleLayerError;
  expect(typed.code).toBe(code);
  expect(typed.errno).toBe(TUPLE_LAYER_ERROR_CODES[code].errno);
  if (path !== undefined) expect(typed.details.path).toEqual(path);
  return typed;
}

const run = <T>(fn: (tx: Transaction) => Promise<T>): Promise<T> => db.transact(fn);

describe('DirectoryLayer layout', () => {
  // Reference: FoundationDB's Python binding, bindings/python/fdb/directory_impl.py in
  // apple/foundationdb (DirectoryLayer and HighContentionAllocator), whose layout the other
  // bindings share: node subspace raw prefix 0xFE; the root node is node_subspace[node_subspace.key()];
  // SUBDIRS = 0; b'layer', b'version' and b'hca' are byte-string items; VERSION (1, 0, 0) packed
  // as '<III'; the allocator's counters = hca[0] (little-endian int64 '<q') and recent = hca[1];
  // a partition's layer has node subspace prefix + 0xFE and content subspace prefix. The bytes
  // below are written out by hand from those rules, not computed by the code under test.
  const root = [0xfe, 0x01, 0xfe, 0x00] as const; // node subspace 0xFE + packed (b'\xfe',)
  const layerKey = [0x01, 'layer', 0x00] as const;
  const partitionRoot = [0x15, 0x09, 0xfe, 0x01, 0x15, 0x09, 0xfe, 0x00] as const;
  const versionValue = '010000000000000000000000';

  it('writes nodes, layers, the version and the allocator state exactly as FoundationDB does', async () => {
    // Candidates 5 (app), 7 (app/users), 3 (logs), 9 (p) from the root allocator, then 2 (p/a)
    // from the partition's own allocator.
    const directory = new DirectoryLayer({ random: scripted(pick(5), pick(7), pick(3), pick(9), pick(2)) });
    const app = await run((tx) => directory.create(tx, ['app']));
    const users = await run((tx) => directory.create(tx, ['app', 'users']));
    const logs = await run((tx) => directory.create(tx, 'logs', { layer: 'log' }));
    const partition = await run((tx) => directory.create(tx, 'p', { layer: 'partition' }));
    const inPartition = await run((tx) => directory.create(tx, ['p', 'a']));
    expect([app, users, logs, partition, inPartition].map((d) => hex(d.prefix))).toEqual(['1505', '1507', '1503', '1509', '15091502']);

    const expected: [Uint8Array, Uint8Array][] = [
      // The partition's own directory layer, under its prefix 0x15 0x09.
      [bytes(0x15, 0x09, 0xfe, 0x01, 0x15, 0x09, 0x15, 0x02, 0x00, ...layerKey), bytes()],
      [bytes(...partitionRoot, 0x01, 'hca', 0x00, 0x14, 0x14), bytes(1, 0, 0, 0, 0, 0, 0, 0)],
      [bytes(...partitionRoot, 0x01, 'hca', 0x00, 0x15, 0x01, 0x15, 0x02), bytes()],
      [bytes(...partitionRoot, 0x01, 'version', 0x00), bytes(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)],
      [bytes(...partitionRoot, 0x14, 0x02, 'a', 0x00), bytes(0x15, 0x09, 0x15, 0x02)],
      // Nodes of the root layer: node_subspace[prefix]['layer'] and [prefix][0][name].
      [bytes(0xfe, 0x01, 0x15, 0x03, 0x00, ...layerKey), bytes('log')],
      [bytes(0xfe, 0x01, 0x15, 0x05, 0x00, ...layerKey), bytes()],
      [bytes(0xfe, 0x01, 0x15, 0x05, 0x00, 0x14, 0x02, 'users', 0x00), bytes(0x15, 0x07)],
      [bytes(0xfe, 0x01, 0x15, 0x07, 0x00, ...layerKey), bytes()],
      [bytes(0xfe, 0x01, 0x15, 0x09, 0x00, ...layerKey), bytes('partition')],
      // The root node: allocator counters[0] = 4 and recent[n], the version, the subdirectories.
      [bytes(...root, 0x01, 'hca', 0x00, 0x14, 0x14), bytes(4, 0, 0, 0, 0, 0, 0, 0)],
      [bytes(...root, 0x01, 'hca', 0x00, 0x15, 0x01, 0x15, 0x03), bytes()],
      [bytes(...root, 0x01, 'hca', 0x00, 0x15, 0x01, 0x15, 0x05), bytes()],
      [bytes(...root, 0x01, 'hca', 0x00, 0x15, 0x01, 0x15, 0x07), bytes()],
      [bytes(...root, 0x01, 'hca', 0x00, 0x15, 0x01, 0x15, 0x09), bytes()],
      [bytes(...root, 0x01, 'version', 0x00), bytes(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)],
      [bytes(...root, 0x14, 0x02, 'app', 0x00), bytes(0x15, 0x05)],
      [bytes(...root, 0x14, 0x02, 'logs', 0x00), bytes(0x15, 0x03)],
      [bytes(...root, 0x14, 0x02, 'p', 0x00), bytes(0x15, 0x09)],
    ];
    const expectedHex = expected.map(([key, value]): [string, string] => [hex(key), hex(value)]).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    expect(await dump()).toEqual(expectedHex);
  });

  it('opens directories written by a FoundationDB binding and allocates around its prefixes', async () => {
    // What a FoundationDB binding leaves after creating 'legacy' (layer 'table') at 42 and
    // 'legacy'/'x' at 43: written here key by key.
    await db.transact((tx) => {
      tx.set(bytes(...root, 0x01, 'version', 0x00), Buffer.from(versionValue, 'hex'));
      tx.set(bytes(...root, 0x01, 'hca', 0x00, 0x14, 0x14), bytes(2, 0, 0, 0, 0, 0, 0, 0));
      tx.set(bytes(...root, 0x01, 'hca', 0x00, 0x15, 0x01, 0x15, 42), bytes());
      tx.set(bytes(...root, 0x01, 'hca', 0x00, 0x15, 0x01, 0x15, 43), bytes());
      tx.set(bytes(...root, 0x14, 0x02, 'legacy', 0x00), bytes(0x15, 42));
      tx.set(bytes(0xfe, 0x01, 0x15, 42, 0x00, ...layerKey), bytes('table'));
      tx.set(bytes(0xfe, 0x01, 0x15, 42, 0x00, 0x14, 0x02, 'x', 0x00), bytes(0x15, 43));
      tx.set(bytes(0xfe, 0x01, 0x15, 43, 0x00, ...layerKey), bytes());
    });
    // The allocator draws 42 (taken by the binding), then 43 (taken), then 10.
    const directory = new DirectoryLayer({ random: scripted(pick(42), pick(43), pick(10)) });
    const legacy = await run((tx) => directory.open(tx, 'legacy', { layer: 'table' }));
    expect(hex(legacy.prefix)).toBe('152a');
    expect(Buffer.from(legacy.layer).toString()).toBe('table');
    expect(await run((tx) => directory.list(tx, 'legacy'))).toEqual(['x']);
    expect(hex((await run((tx) => legacy.open(tx, 'x'))).prefix)).toBe('152b');
    const fresh = await run((tx) => directory.create(tx, 'fresh'));
    expect(hex(fresh.prefix)).toBe('150a');
  });
});

describe('DirectoryLayer operations', () => {
  it('creates, opens and creates-or-opens, with FoundationDB errors', async () => {
    const directory = new DirectoryLayer();
    const a = await run((tx) => directory.create(tx, 'a'));
    expect(a).toBeInstanceOf(DirectorySubspace);
    expect(a.path).toEqual(['a']);
    expect(a.layer).toEqual(new Uint8Array());
    expect((await run((tx) => directory.open(tx, ['a']))).prefix).toEqual(a.prefix);
    expect((await run((tx) => directory.createOrOpen(tx, 'a'))).prefix).toEqual(a.prefix);
    await rejectsWith(run((tx) => directory.create(tx, 'a')), 'directory_already_exists', ['a']);
    await rejectsWith(run((tx) => directory.open(tx, 'missing')), 'directory_does_not_exist', ['missing']);
    await rejectsWith(run((tx) => directory.open(tx, ['a', 'b'])), 'directory_does_not_exist', ['a', 'b']);
    await rejectsWith(run((tx) => directory.open(tx, [])), 'directory_invalid_operation', []);
    await rejectsWith(run((tx) => directory.create(tx, [])), 'directory_invalid_operation', []);

    // Missing parents are created as plain directories.
    const deep = await run((tx) => directory.create(tx, ['x', 'y', 'z']));
    expect(deep.path).toEqual(['x', 'y', 'z']);
    expect(await run((tx) => directory.exists(tx, ['x', 'y']))).toBe(true);
    expect((await run((tx) => directory.open(tx, ['x', 'y']))).layer).toEqual(new Uint8Array());

    // Contents written through the directory stay under its prefix.
    await run(async (tx) => tx.at(a).set(['k'], utf8('v')));
    expect(await run((tx) => tx.at(a).get(['k']))).toEqual(utf8('v'));
    expect(a.pack(['k'])).toEqual(new Uint8Array([...a.prefix, ...pack(['k'])]));
  });

  it('checks layers when a directory is opened', async () => {
    const directory = new DirectoryLayer();
    await run((tx) => directory.create(tx, 'tbl', { layer: 'table' }));
    expect(Buffer.from((await run((tx) => directory.open(tx, 'tbl'))).layer).toString()).toBe('table');
    await run((tx) => directory.open(tx, 'tbl', { layer: utf8('table') }));
    await run((tx) => directory.createOrOpen(tx, 'tbl', { layer: 'table' }));
    const error = await rejectsWith(run((tx) => directory.open(tx, 'tbl', { layer: 'queue' })), 'directory_layer_mismatch', ['tbl']);
    expect(error.message).toContain('table');
    await rejectsWith(run((tx) => directory.createOrOpen(tx, 'tbl', { layer: 'queue' })), 'directory_layer_mismatch', ['tbl']);
    // A plain directory opened with a layer is a mismatch too (its layer is empty).
    await run((tx) => directory.create(tx, 'plain'));
    await rejectsWith(run((tx) => directory.open(tx, 'plain', { layer: 'table' })), 'directory_layer_mismatch', ['plain']);
  });

  it('rejects malformed paths and options without writing anything', async () => {
    const directory = new DirectoryLayer();
    for (const bad of [[1], [null], 42, [['nested']]] as unknown as DirectoryPath[]) {
      const error = await run((tx) => directory.createOrOpen(tx, bad)).then(
        () => null,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(StrataError);
      expect((error as StrataError).code).toBe('invalid_argument');
    }
    const error = await run((tx) => directory.create(tx, 'a', { layer: 5 as unknown as string })).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect((error as StrataError).code).toBe('invalid_argument');
    const manual = new DirectoryLayer({ allowManualPrefixes: true });
    const badPrefix = await run((tx) => manual.create(tx, 'a', { prefix: 'abc' as unknown as Uint8Array })).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect((badPrefix as StrataError).code).toBe('invalid_argument');
    const badContext = await directory.createOrOpen({} as Transaction, 'a').then(
      () => null,
      (caught: unknown) => caught,
    );
    expect((badContext as StrataError).code).toBe('invalid_argument');
    expect(() => new DirectoryLayer({ nodeSubspace: 'N' as unknown as Uint8Array })).toThrow(StrataError);
    expect(await dump()).toEqual([]);
  });

  it('lists subdirectories in the order of their packed names', async () => {
    const directory = new DirectoryLayer();
    for (const name of ['b', 'a', 'B', 'aa', 'é', '_']) await run((tx) => directory.create(tx, ['top', name]));
    await run((tx) => directory.create(tx, ['top', 'a', 'child']));
    // UTF-8 byte order, which is the order of the packed string items.
    expect(await run((tx) => directory.list(tx, 'top'))).toEqual(['B', '_', 'a', 'aa', 'b', 'é']);
    expect(await run((tx) => directory.list(tx))).toEqual(['top']);
    expect(await run((tx) => directory.list(tx, ['top', 'a']))).toEqual(['child']);
    expect(await run((tx) => directory.list(tx, ['top', 'b']))).toEqual([]);
    await rejectsWith(run((tx) => directory.list(tx, 'nope')), 'directory_does_not_exist', ['nope']);
    expect(await run((tx) => directory.exists(tx))).toBe(true);
    expect(await run((tx) => directory.exists(tx, ['top', 'é']))).toBe(true);
    expect(await run((tx) => directory.exists(tx, ['top', 'c']))).toBe(false);
    expect(await run((tx) => directory.exists(tx, ['none', 'c']))).toBe(false);
  });

  it('removes a directory, its subdirectories and all their contents, and nothing else', async () => {
    const directory = new DirectoryLayer();
    const keep = await run((tx) => directory.create(tx, 'keep'));
    const a = await run((tx) => directory.create(tx, 'a'));
    const b = await run((tx) => directory.create(tx, ['a', 'b']));
    const c = await run((tx) => directory.create(tx, ['a', 'b', 'c']));
    await run(async (tx) => {
      for (const d of [keep, a, b, c]) tx.at(d).set(['row'], utf8(d.path.join('/')));
    });
    await run((tx) => directory.remove(tx, 'a'));
    expect(await run((tx) => directory.list(tx))).toEqual(['keep']);
    expect(await run((tx) => directory.exists(tx, ['a', 'b']))).toBe(false);
    const remaining = (await dump()).map(([key]) => key);
    for (const gone of [a, b, c]) {
      // Neither contents nor a node (0xFE + packed prefix) of a removed directory remain.
      expect(remaining.some((key) => key.startsWith(hex(gone.prefix)))).toBe(false);
      expect(remaining.some((key) => key.startsWith(hex(new Uint8Array([0xfe, ...pack([gone.prefix])]))))).toBe(false);
    }
    expect(await run((tx) => tx.at(keep).get(['row']))).toEqual(utf8('keep'));

    await rejectsWith(run((tx) => directory.remove(tx, 'a')), 'directory_does_not_exist', ['a']);
    expect(await run((tx) => directory.removeIfExists(tx, 'a'))).toBe(false);
    expect(await run((tx) => directory.removeIfExists(tx, 'keep'))).toBe(true);
    await rejectsWith(run((tx) => directory.remove(tx, [])), 'directory_invalid_operation', []);
    expect(await run((tx) => directory.list(tx))).toEqual([]);
  });

  it('a removal bumps the metadata version, so a transaction that read it conflicts; a missing directory bumps nothing', async () => {
    const directory = new DirectoryLayer();
    await run((tx) => directory.create(tx, ['a']));
    const before = await run((tx) => tx.get(METADATA_VERSION_KEY));
    const reader = db.createTransaction();
    await reader.get(METADATA_VERSION_KEY);
    reader.set(utf8('x'), utf8('1'));
    await run((tx) => directory.remove(tx, ['a']));
    const after = await run((tx) => tx.get(METADATA_VERSION_KEY));
    expect(after).not.toEqual(before);
    expect(after).not.toBeNull();
    await expect(reader.commit()).rejects.toMatchObject({ code: 'not_committed' });
    expect(await run((tx) => directory.removeIfExists(tx, ['a']))).toBe(false);
    expect(await run((tx) => tx.get(METADATA_VERSION_KEY))).toEqual(after);
  });

  it('moves a directory with its contents and subdirectories, keeping its prefix', async () => {
    const directory = new DirectoryLayer();
    const b = await run((tx) => directory.create(tx, ['a', 'b']));
    const child = await run((tx) => directory.create(tx, ['a', 'b', 'child']));
    await run(async (tx) => tx.at(b).set(['row'], utf8('data')));
    await run((tx) => directory.create(tx, 'c'));
    const moved = await run((tx) => directory.move(tx, ['a', 'b'], ['c', 'd']));
    expect(moved.path).toEqual(['c', 'd']);
    expect(moved.prefix).toEqual(b.prefix);
    const reopened = await run((tx) => directory.open(tx, ['c', 'd']));
    expect(reopened.prefix).toEqual(b.prefix);
    expect(await run((tx) => tx.at(reopened).get(['row']))).toEqual(utf8('data'));
    expect((await run((tx) => directory.open(tx, ['c', 'd', 'child']))).prefix).toEqual(child.prefix);
    expect(await run((tx) => directory.list(tx, 'a'))).toEqual([]);
    expect(await run((tx) => directory.exists(tx, ['a', 'b']))).toBe(false);

    // Layers move along.
    await run((tx) => directory.create(tx, 'tbl', { layer: 'table' }));
    expect(Buffer.from((await run((tx) => directory.move(tx, 'tbl', 'table2'))).layer).toString()).toBe('table');
  });

  it('refuses invalid moves with FoundationDB errors', async () => {
    const directory = new DirectoryLayer();
    await run((tx) => directory.create(tx, ['a', 'b']));
    await run((tx) => directory.create(tx, 'other'));
    const before = await dump();
    await rejectsWith(run((tx) => directory.move(tx, 'a', ['a', 'b', 'x'])), 'directory_invalid_operation', ['a']);
    await rejectsWith(run((tx) => directory.move(tx, 'a', 'a')), 'directory_invalid_operation', ['a']);
    await rejectsWith(run((tx) => directory.move(tx, [], 'root')), 'directory_invalid_operation', []);
    await rejectsWith(run((tx) => directory.move(tx, 'a', [])), 'directory_invalid_operation', ['a']);
    await rejectsWith(run((tx) => directory.move(tx, 'a', 'other')), 'directory_invalid_operation', ['a']);
    await rejectsWith(run((tx) => directory.move(tx, 'a', ['missing', 'x'])), 'directory_invalid_operation', ['a']);
    await rejectsWith(run((tx) => directory.move(tx, 'missing', 'x')), 'directory_does_not_exist', ['missing']);
    expect(await dump()).toEqual(before);
  });

  it('runs operations relative to a DirectorySubspace, and on a database', async () => {
    const directory = new DirectoryLayer();
    const app = await directory.createOrOpen(db, 'app');
    const users = await app.createOrOpen(db, 'users');
    expect(users.path).toEqual(['app', 'users']);
    expect((await app.open(db, 'users')).prefix).toEqual(users.prefix);
    await rejectsWith(app.create(db, 'users'), 'directory_already_exists', ['app', 'users']);
    await app.create(db, ['orders', 'open']);
    expect(await app.list(db)).toEqual(['orders', 'users']);
    expect(await app.list(db, 'orders')).toEqual(['open']);
    expect(await app.exists(db)).toBe(true);
    expect(await app.exists(db, ['orders', 'open'])).toBe(true);

    const members = await app.move(db, 'users', 'members');
    expect(members.path).toEqual(['app', 'members']);
    expect(members.prefix).toEqual(users.prefix);
    const top = await members.moveTo(db, ['members']);
    expect(top.path).toEqual(['members']);
    expect(await directory.list(db)).toEqual(['app', 'members']);

    expect(await app.removeIfExists(db, 'nope')).toBe(false);
    await app.remove(db, 'orders');
    expect(await app.list(db)).toEqual([]);
    await app.remove(db);
    expect(await app.exists(db)).toBe(false);
    expect(await directory.list(db)).toEqual(['members']);
  });

  it('serializes concurrent operations on one transaction so they do not create the same parent twice', async () => {
    const directory = new DirectoryLayer();
    const [x, y] = await run((tx) => Promise.all([directory.createOrOpen(tx, ['shared', 'x']), directory.createOrOpen(tx, ['shared', 'y'])]));
    expect(await run((tx) => directory.list(tx, 'shared'))).toEqual(['x', 'y']);
    expect((await run((tx) => directory.open(tx, ['shared', 'x']))).prefix).toEqual(x.prefix);
    expect((await run((tx) => directory.open(tx, ['shared', 'y']))).prefix).toEqual(y.prefix);
    // Exactly three nodes carry a layer key: shared, x and y (no orphaned second 'shared').
    const layerKeys = (await dump()).filter(([key]) => key.endsWith(hex(bytes(0x01, 'layer', 0x00))));
    expect(layerKeys).toHaveLength(3);
  });

  it('makes two transactions creating the same path conflict, so both see one directory', async () => {
    const directory = new DirectoryLayer();
    const first = db.createTransaction();
    const second = db.createTransaction();
    const created = await directory.createOrOpen(first, 'same');
    await directory.createOrOpen(second, 'same');
    await first.commit();
    const error = await second.commit().then(
      () => null,
      (caught: unknown) => caught,
    );
    expect((error as StrataError).code).toBe('not_committed');
    expect((await directory.createOrOpen(db, 'same')).prefix).toEqual(created.prefix);
  });
});

describe('DirectoryLayer prefixes and versions', () => {
  it('accepts manual prefixes only when allowed and only when they overlap nothing', async () => {
    await rejectsWith(run((tx) => new DirectoryLayer().create(tx, 'm', { prefix: bytes('abc') })), 'directory_invalid_operation', ['m']);
    const directory = new DirectoryLayer({ allowManualPrefixes: true, random: scripted(pick(5), pick(6)) });
    const m = await run((tx) => directory.create(tx, 'm', { prefix: bytes('abc') }));
    expect(m.prefix).toEqual(bytes('abc'));
    expect((await run((tx) => directory.createOrOpen(tx, 'm', { prefix: bytes('abc') }))).prefix).toEqual(bytes('abc'));
    await rejectsWith(run((tx) => directory.createOrOpen(tx, 'm', { prefix: bytes('xyz') })), 'directory_invalid_operation', ['m']);
    await rejectsWith(run((tx) => directory.create(tx, 'n', { prefix: bytes('ab') })), 'directory_invalid_operation', ['n']);
    await rejectsWith(run((tx) => directory.create(tx, 'n', { prefix: bytes('abcd') })), 'directory_invalid_operation', ['n']);
    await rejectsWith(run((tx) => directory.create(tx, 'n', { prefix: bytes() })), 'directory_invalid_operation', ['n']);
    await rejectsWith(run((tx) => directory.create(tx, 'n', { prefix: bytes(0xfe, 0x20) })), 'directory_invalid_operation', ['n']);
    expect((await run((tx) => directory.create(tx, 'n', { prefix: bytes('abd') }))).prefix).toEqual(bytes('abd'));
    expect((await run((tx) => directory.create(tx, 'all-ff', { prefix: bytes(0xff, 0xff) }))).prefix).toEqual(bytes(0xff, 0xff));

    // The allocator's candidate 5 is a manual prefix already: FoundationDB refuses to hand it out.
    await run((tx) => directory.create(tx, 'manual5', { prefix: pack([5]) }));
    await rejectsWith(run((tx) => directory.create(tx, 'auto')), 'directory_invalid_operation', ['auto']);
    // Keys stored under the allocator's candidate 6 outside any directory: refused as well.
    await run(async (tx) => tx.set(new Uint8Array([...pack([6]), 0x01]), bytes('stray')));
    await rejectsWith(run((tx) => directory.create(tx, 'auto')), 'directory_invalid_operation', ['auto']);
    expect(await run((tx) => directory.exists(tx, 'auto'))).toBe(false);
  });

  it('writes version 1.0.0 on the first write and refuses newer stored versions', async () => {
    const directory = new DirectoryLayer();
    const versionKey = bytes(0xfe, 0x01, 0xfe, 0x00, 0x01, 'version', 0x00);
    // Reads write nothing.
    expect(await run((tx) => directory.exists(tx, 'a'))).toBe(false);
    expect(await run((tx) => directory.list(tx))).toEqual([]);
    expect(await dump()).toEqual([]);
    await run((tx) => directory.create(tx, 'a'));
    expect(await run((tx) => tx.get(versionKey))).toEqual(bytes(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0));

    // A newer minor version can be read but not written.
    await run(async (tx) => tx.set(versionKey, bytes(1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)));
    expect((await run((tx) => directory.open(tx, 'a'))).path).toEqual(['a']);
    expect(await run((tx) => directory.list(tx))).toEqual(['a']);
    const error = await rejectsWith(run((tx) => directory.create(tx, 'b')), 'directory_version_incompatible');
    expect(error.details.storedVersion).toBe('1.1.0');
    await rejectsWith(run((tx) => directory.remove(tx, 'a')), 'directory_version_incompatible');
    await rejectsWith(run((tx) => directory.move(tx, 'a', 'c')), 'directory_version_incompatible');

    // A newer major version cannot even be read.
    await run(async (tx) => tx.set(versionKey, bytes(2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)));
    await rejectsWith(run((tx) => directory.open(tx, 'a')), 'directory_version_incompatible');
    await rejectsWith(run((tx) => directory.exists(tx, 'a')), 'directory_version_incompatible');
    // And a value that is not a version is refused rather than guessed at.
    await run(async (tx) => tx.set(versionKey, bytes(1, 0)));
    await rejectsWith(run((tx) => directory.open(tx, 'a')), 'directory_version_incompatible');
  });

  it('keeps directories of a custom node and content subspace inside them', async () => {
    const directory = new DirectoryLayer({ nodeSubspace: new Subspace(bytes('N')), contentSubspace: bytes('C') });
    const a = await run((tx) => directory.create(tx, ['a', 'b']));
    expect(hex(a.prefix).startsWith(hex(bytes('C')))).toBe(true);
    for (const [key] of await dump()) expect(key.startsWith(hex(bytes('N')))).toBe(true);
    // The default layer does not see them.
    expect(await run((tx) => new DirectoryLayer().list(tx))).toEqual([]);
  });
});

describe('DirectoryLayer partitions', () => {
  it('keeps a partition’s directories under its prefix, in a layer of its own', async () => {
    const directory = new DirectoryLayer({ allowManualPrefixes: true });
    const partition = await run((tx) => directory.create(tx, ['tenants', 'acme'], { layer: 'partition' }));
    expect(partition).toBeInstanceOf(DirectoryPartition);
    expect(Buffer.from(partition.layer).toString()).toBe('partition');
    const orders = await run((tx) => partition.createOrOpen(tx, 'orders'));
    expect(orders.path).toEqual(['tenants', 'acme', 'orders']);
    expect(hex(orders.prefix).startsWith(hex(partition.prefix))).toBe(true);
    expect(orders.directoryLayer.path).toEqual(['tenants', 'acme']);
    // The same directory through the root layer.
    const viaRoot = await run((tx) => directory.createOrOpen(tx, ['tenants', 'acme', 'orders']));
    expect(viaRoot.prefix).toEqual(orders.prefix);
    await run((tx) => directory.create(tx, ['tenants', 'acme', 'orders', 'open']));
    expect(await run((tx) => directory.list(tx, ['tenants', 'acme']))).toEqual(['orders']);
    expect(await run((tx) => partition.list(tx))).toEqual(['orders']);
    expect(await run((tx) => directory.list(tx, ['tenants', 'acme', 'orders']))).toEqual(['open']);
    expect(await run((tx) => directory.exists(tx, ['tenants', 'acme', 'orders', 'open']))).toBe(true);
    expect(await run((tx) => directory.exists(tx, ['tenants', 'acme', 'nope']))).toBe(false);
    expect(await run((tx) => partition.exists(tx))).toBe(true);
    await rejectsWith(run((tx) => directory.create(tx, ['tenants', 'acme', 'orders'])), 'directory_already_exists', ['tenants', 'acme', 'orders']);
    await rejectsWith(run((tx) => directory.open(tx, ['tenants', 'acme', 'x'])), 'directory_does_not_exist', ['tenants', 'acme', 'x']);
    // The root layer's nodes know nothing below the partition.
    const rootNodes = (await dump()).filter(([key]) => key.startsWith('fe'));
    expect(rootNodes.some(([key]) => key.includes(hex(bytes('orders'))))).toBe(false);
    // Manual prefixes are not available inside a partition, as in FoundationDB.
    await rejectsWith(run((tx) => directory.create(tx, ['tenants', 'acme', 'm'], { prefix: bytes('zz') })), 'directory_invalid_operation', [
      'tenants',
      'acme',
      'm',
    ]);
  });

  it('refuses to make keys with a partition’s own prefix', async () => {
    const directory = new DirectoryLayer();
    const partition = await run((tx) => directory.create(tx, 'p', { layer: 'partition' }));
    const attempts: (() => unknown)[] = [
      () => partition.pack(['k']),
      () => partition.unpack(new Uint8Array([...partition.prefix, 0x14])),
      () => partition.range(),
      () => partition.contains(partition.prefix),
      () => partition.subspace(['x']),
      () => partition.withKeyEncoder(tupleEncoder),
      () => partition.withValueEncoder(bytesEncoder),
      () => run(async (tx) => tx.at(partition)),
    ];
    for (const attempt of attempts) {
      const error = await Promise.resolve()
        .then(attempt)
        .then(
          () => null,
          (caught: unknown) => caught,
        );
      expect((error as TupleLayerError).code).toBe('directory_invalid_operation');
    }
  });

  it('moves within a partition but never across its boundary', async () => {
    const directory = new DirectoryLayer();
    const partition = await run((tx) => directory.create(tx, 'p', { layer: 'partition' }));
    const a = await run((tx) => partition.create(tx, 'a'));
    await run((tx) => directory.create(tx, 'outside'));
    const b = await run((tx) => directory.move(tx, ['p', 'a'], ['p', 'b']));
    expect(b.path).toEqual(['p', 'b']);
    expect(b.prefix).toEqual(a.prefix);
    const c = await run((tx) => partition.move(tx, 'b', 'c'));
    expect(c.path).toEqual(['p', 'c']);
    const d = await run((tx) => c.moveTo(tx, ['p', 'd']));
    expect(d.prefix).toEqual(a.prefix);
    expect(await run((tx) => partition.list(tx))).toEqual(['d']);

    await rejectsWith(run((tx) => directory.move(tx, ['p', 'd'], ['e'])), 'directory_invalid_operation', ['p', 'd']);
    await rejectsWith(run((tx) => directory.move(tx, 'outside', ['p', 'outside'])), 'directory_invalid_operation', ['outside']);
    await rejectsWith(run((tx) => directory.move(tx, ['p', 'd'], 'p')), 'directory_invalid_operation', ['p', 'd']);
    await rejectsWith(run((tx) => d.moveTo(tx, ['e'])), 'directory_invalid_operation', ['p', 'd']);
    await rejectsWith(run((tx) => directory.move(tx, 'p', ['p', 'inner'])), 'directory_invalid_operation', ['p']);

    // The partition itself moves in its parent's layer, with everything inside it.
    const q = await run((tx) => partition.moveTo(tx, 'q'));
    expect(q).toBeInstanceOf(DirectoryPartition);
    expect((await run((tx) => directory.open(tx, ['q', 'd']))).prefix).toEqual(a.prefix);
    expect(await run((tx) => directory.list(tx))).toEqual(['outside', 'q']);
  });

  it('removes a partition with everything inside it', async () => {
    const directory = new DirectoryLayer();
    const partition = await run((tx) => directory.create(tx, 'p', { layer: 'partition' }));
    const inner = await run((tx) => partition.create(tx, ['a', 'b']));
    await run(async (tx) => tx.at(inner).set(['row'], utf8('x')));
    await run((tx) => directory.remove(tx, ['p', 'a', 'b']));
    expect(await run((tx) => partition.list(tx, 'a'))).toEqual([]);
    await run((tx) => partition.remove(tx));
    expect(await run((tx) => directory.exists(tx, 'p'))).toBe(false);
    expect((await dump()).some(([key]) => key.startsWith(hex(partition.prefix)))).toBe(false);
    expect(await run((tx) => directory.removeIfExists(tx, ['p', 'a']))).toBe(false);
  });

  it('nests partitions inside partitions', async () => {
    const directory = new DirectoryLayer();
    const outer = await run((tx) => directory.create(tx, 'outer', { layer: 'partition' }));
    const inner = await run((tx) => outer.create(tx, 'inner', { layer: 'partition' }));
    expect(inner).toBeInstanceOf(DirectoryPartition);
    const leaf = await run((tx) => directory.create(tx, ['outer', 'inner', 'leaf']));
    expect(hex(leaf.prefix).startsWith(hex(inner.prefix))).toBe(true);
    expect(hex(inner.prefix).startsWith(hex(outer.prefix))).toBe(true);
    expect(leaf.directoryLayer.path).toEqual(['outer', 'inner']);
    expect(await run((tx) => inner.list(tx))).toEqual(['leaf']);
  });
});

describe('DirectoryLayer under concurrency', () => {
  it('never gives concurrent clients the same or overlapping prefixes', async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`directory layer concurrency test seed: ${seed} (replay with SEED=${seed})`);
    const random = seededRandom(seed);
    await db.close();
    // The retry loop's jitter draws from the seed too; interleavings still depend on timing.
    db = await open({ runtime: { ...nodeRuntime, random } });
    const directory = new DirectoryLayer({ random });
    await directory.create(db, 'part', { layer: 'partition' });

    const clients = 50;
    const operationsPerClient = 6;
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const randomPath = (): string[] => {
      const path = random() < 0.3 ? ['part'] : [];
      const depth = 1 + Math.floor(random() * 3);
      for (let i = 0; i < depth; i++) path.push(names[Math.floor(random() * names.length)]!);
      return path;
    };
    const plans = Array.from({ length: clients }, () => Array.from({ length: operationsPerClient }, randomPath));
    const received: { path: string[]; prefix: string }[] = [];
    await Promise.all(
      plans.map(async (plan) => {
        for (const path of plan) {
          const created = await db.transact((tx) => directory.createOrOpen(tx, path));
          received.push({ path, prefix: hex(created.prefix) });
        }
      }),
    );

    // One prefix per path, whichever client asked.
    const byPath = new Map<string, string>();
    for (const { path, prefix } of received) {
      const key = JSON.stringify(path);
      expect(byPath.get(key) ?? prefix, `path ${key}`).toBe(prefix);
      byPath.set(key, prefix);
    }
    // Distinct paths never share or nest prefixes (the partition's own directories nest inside
    // it by design, so it is left out).
    const prefixes = [...byPath.values()].sort();
    expect(new Set(prefixes).size).toBe(prefixes.length);
    for (let i = 1; i < prefixes.length; i++) expect(prefixes[i]!.startsWith(prefixes[i - 1]!), `${prefixes[i - 1]} and ${prefixes[i]}`).toBe(false);
    // Enough directories that the root allocator moved past its first windows.
    expect(byPath.size).toBeGreaterThan(64);

    // Every directory (and every parent created on the way) opens again with the same prefix.
    for (const [key, prefix] of byPath) {
      const reopened = await directory.open(db, JSON.parse(key) as string[]);
      expect(hex(reopened.prefix), `path ${key}`).toBe(prefix);
    }
    for (const { path } of received) {
      for (let i = 1; i < path.length; i++) expect(await directory.exists(db, path.slice(0, i))).toBe(true);
    }
  });
});
