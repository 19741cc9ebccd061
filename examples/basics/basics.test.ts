/**
 * Checks that the basics walkthrough shows what it says it shows: it runs on a fresh temporary
 * directory without printing and inspects the summary it returns.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBasics, type BasicsSummary } from './basics.js';

describe('the basics example', () => {
  let directory: string;
  let summary: BasicsSummary;

  // The walkthrough is one story whose steps build on each other, so it runs once and each test
  // checks one part of the summary.
  beforeAll(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-basics-'));
    summary = await runBasics({ path: path.join(directory, 'db'), log: () => {} });
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('opens a data directory holding a write-ahead log and a storage engine', () => {
    expect(summary.dataDirEntries).toEqual(expect.arrayContaining(['log', 'storage']));
  });

  it('reads back every user it wrote', () => {
    expect(summary.usersReadBack).toBe(summary.usersWritten);
  });

  it('makes the second withdrawal conflict, retries it, and keeps both withdrawals', () => {
    const { conflict } = summary;
    expect(conflict.firstErrorOfB).toBe('not_committed');
    expect(conflict.attemptsA).toBe(1);
    expect(conflict.attemptsB).toBe(2);
    expect(conflict.finalBalance).toBe(conflict.startingBalance - 30 - 50);
  });

  it('scans a prefix forward and in reverse with a limit', () => {
    expect(summary.range.forward).toEqual(['alice', 'bob', 'carol']);
    expect(summary.range.reverse).toEqual(['erin', 'dave']);
  });

  it('counts every concurrent atomic increment without a single retry', () => {
    const { counter } = summary;
    expect(counter.finalCount).toBe(counter.transactions);
    expect(counter.attempts).toBe(counter.transactions);
  });

  it('lists versionstamped events in commit order', () => {
    const { events } = summary;
    expect(events.written.slice(0, 3)).toEqual(['signup', 'payment', 'order-shipped']);
    expect(events.listed).toEqual(events.written);
    // Stamps are 20 hex digits plus a space, so comparing them as strings compares the bytes.
    const sorted = [...events.versionstamps].sort();
    expect(events.versionstamps).toEqual(sorted);
    expect(new Set(events.versionstamps).size).toBe(events.versionstamps.length);
  });

  it('fires the watch only after another transaction changed the key', () => {
    const { watch } = summary;
    expect(watch.fired).toBe(true);
    expect(watch.firedEarly).toBe(false);
    const fired = watch.order.findIndex((step) => step.startsWith('the watch fired'));
    const changed = watch.order.findIndex((step) => step.startsWith('B set the greeting'));
    expect(changed).toBeGreaterThan(0);
    expect(fired).toBeGreaterThan(changed);
  });

  it('finds all the data again after closing and reopening', () => {
    const { reopen } = summary;
    expect(reopen.usersAfterReopen).toBe(summary.usersWritten);
    expect(reopen.balanceAfterReopen).toBe(summary.conflict.finalBalance);
    expect(reopen.counterAfterReopen).toBe(summary.counter.finalCount);
    expect(reopen.eventsAfterReopen).toEqual(summary.events.written);
    expect(reopen.recovery.tornLogBytes).toBe(0);
    expect(reopen.recovery.recoveredVersion).toBeGreaterThan(0);
  });
});
