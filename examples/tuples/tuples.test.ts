/**
 * Checks that the tuple layer walkthrough shows what it says it shows: it runs on a fresh
 * temporary directory without printing and inspects the summary it returns.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTuples, type TuplesSummary } from './tuples.js';

describe('the tuples example', () => {
  let directory: string;
  let summary: TuplesSummary;

  // The walkthrough is one story whose steps build on each other, so it runs once and each test
  // checks one part of the summary.
  beforeAll(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-tuples-'));
    summary = await runTuples({ path: path.join(directory, 'db'), log: () => {} });
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('reads tuple keys back in tuple order, not in the order they were written', () => {
    const { tuples } = summary;
    expect(tuples.listed).toEqual(["['order', -1]", "['order', 2]", "['order', 10]", "['order', 10, 'line', 1]", "['order', 300]"]);
    expect([...tuples.written].sort()).toEqual([...tuples.listed].sort());
    expect(tuples.written).not.toEqual(tuples.listed);
    // The hex strings have one space between bytes, and every byte is two digits, so comparing
    // them as strings compares the bytes: the listed keys are in byte order.
    expect(tuples.hex).toEqual([...tuples.hex].sort());
    expect(tuples.hex[0]).toBe('02 6f 72 64 65 72 00 13 fe');
    expect(tuples.hex[4]).toBe('02 6f 72 64 65 72 00 16 01 2c');
    expect(tuples.roundTrip).toBe(true);
  });

  it('reads typed values and one order\'s lines through a subspace', () => {
    const { subspace } = summary;
    expect(subspace.line).toEqual({ item: 'mug', quantity: 2, cents: 1200 });
    expect(subspace.orderOneKeys).toEqual(['[1, 1]', '[1, 2]']);
    expect(subspace.textPrefixMatches).toBe(4);
  });

  it('gives directories short prefixes, moves one without moving its data, and removes one with its data', () => {
    const { directories } = summary;
    expect(directories.listed).toEqual(['customers', 'orders']);
    // One allocated integer packed as a tuple: 14 for zero, 15 xx below 256.
    for (const prefix of [directories.ordersPrefix, directories.customersPrefix]) expect(prefix).toMatch(/^(14|15 [0-9a-f]{2})$/);
    expect(directories.ordersPrefix).not.toBe(directories.customersPrefix);
    expect(directories.listedAfterMove).toEqual(['archived-orders', 'customers']);
    expect(directories.movePrefixUnchanged).toBe(true);
    expect(directories.ordersAfterMove).toBe(3);
    expect(directories.customerKeysBefore).toBe(2);
    expect(directories.customerKeysAfter).toBe(0);
    expect(directories.listedAfterRemove).toEqual(['archived-orders']);
    expect(directories.customersExistAfterRemove).toBe(false);
  });

  it('lists versionstamped events in commit order, ordered by user version within a commit', () => {
    const { events } = summary;
    expect(events.written).toEqual(['cart-created', 'item-added', 'checkout', 'payment']);
    expect(events.listed).toEqual(events.written);
    expect(events.stampsMatchCommits).toBe(true);
    expect(events.stamps).toHaveLength(4);
    const stampOf = (entry: string): string => entry.split(' user ')[0]!;
    // Three transactions, three stamps; the second wrote two events with user versions 0 and 1.
    expect(new Set(events.stamps.map(stampOf)).size).toBe(3);
    expect(stampOf(events.stamps[1]!)).toBe(stampOf(events.stamps[2]!));
    expect(events.stamps.map((entry) => entry.split(' user ')[1])).toEqual(['0', '0', '1', '0']);
    expect(events.stamps).toEqual([...events.stamps].sort());
  });
});
