/**
 * Checks that the jobs walkthrough shows what it says it shows: it runs on a fresh temporary
 * directory without printing and inspects the summary it returns.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runJobs, type JobsSummary } from './jobs.js';

const idle = { delayed: 0, ready: 0, running: 0, dead: 0, cancelled: 0 };

describe('the jobs example', () => {
  let directory: string;
  let summary: JobsSummary;

  // The walkthrough is one story whose steps build on each other, so it runs once and each test
  // checks one part of the summary.
  beforeAll(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-jobs-'));
    summary = await runJobs({ path: path.join(directory, 'db'), log: () => {} });
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('enqueues jobs with the order that needs them, and nothing when that transaction throws or a payload is invalid', () => {
    const { enqueue } = summary;
    expect(enqueue.ordersPlaced).toEqual([1001, 1002, 1003, 1004]);
    for (const queue of ['invoices', 'emails', 'shipments']) {
      expect(enqueue.countsAfterOrders[queue]).toEqual({ ...idle, ready: 4, completed: 0 });
    }
    expect(enqueue.rolledBack.error).toBe('card declined');
    expect(enqueue.rolledBack.countsAfter).toEqual(enqueue.rolledBack.countsBefore);
    expect(enqueue.rolledBack.countsAfter['invoices']?.ready).toBe(4);
    expect(enqueue.rolledBack.orderStored).toBe(false);
    expect(enqueue.invalidPayload).toMatchObject({ code: 'payload_invalid', details: { queue: 'emails', field: 'to' } });
    expect(enqueue.emailCountsAfterInvalid.ready).toBe(4);
  });

  it('runs every invoice in the worker pool, each written exactly once with its completion', () => {
    const { pool } = summary;
    expect(pool.completedAttempts).toEqual({ 1001: 1, 1002: 1, 1003: 1, 1004: 1 });
    expect(pool.invoiceWrites).toEqual({ 1001: 1, 1002: 1, 1003: 1, 1004: 1 });
    expect(pool.counts).toEqual({ ...idle, completed: 4 });
  });

  it('retries the email the mail server refused, which then completes on attempt 3', () => {
    const { retries } = summary;
    expect(retries.flakyOrder).toBe(1003);
    expect(retries.failed).toEqual([
      { attempt: 1, error: 'Error: 451 greylisted, try again later' },
      { attempt: 2, error: 'Error: 451 greylisted, try again later' },
    ]);
    expect(retries.completedAttempts).toEqual({ 1001: 1, 1002: 1, 1003: 3, 1004: 1 });
    expect(retries.refusedDeliveries).toBe(2);
    expect(retries.acceptedDeliveries).toBe(4);
    expect(retries.emailWrites).toEqual({ 1001: 1, 1002: 1, 1003: 1, 1004: 1 });
    expect(retries.counts).toEqual({ ...idle, completed: 4 });
  });

  it('sends a job out of attempts to the dead letters, and completes it once redriven after the fix', () => {
    const { deadLetter } = summary;
    expect(deadLetter.failedAttempts).toEqual([1]);
    expect(deadLetter.deadAttempt).toBe(2);
    expect(deadLetter.deadLetterOrders).toEqual([1005]);
    expect(deadLetter.lastError).toBe('Error: no VAT rate for country IS');
    expect(deadLetter.countsWhileDead).toEqual({ ...idle, completed: 4, dead: 1 });
    expect(deadLetter.redriven).toBe(1);
    expect(deadLetter.completedAttempt).toBe(1);
    expect(deadLetter.invoiceWrites).toBe(1);
    expect(deadLetter.countsAfter).toEqual({ ...idle, completed: 5 });
  });

  it("reclaims a crashed worker's job after its lease expires and refuses the stale completion", () => {
    const { crash } = summary;
    expect(crash.claim).toEqual({ worker: 'crashed-worker', attempt: 1, token: 1 });
    expect(crash.recoveredAttempt).toBe(2);
    expect(crash.recoveredToken).toBe(2);
    expect(crash.lastError).toBe('the lease of worker crashed-worker expired');
    expect(crash.otherAttempts).toEqual([1, 1, 1, 1]);
    expect(crash.staleCompletion).toMatchObject({ code: 'lease_lost', details: { token: 1 } });
    expect(crash.staleCompletion?.message).toContain('the job is completed');
    // The stale completion also tried to write a shipment; only the live worker's write is there.
    expect(crash.shipmentWrites).toEqual({ 1001: 1, 1002: 1, 1003: 1, 1004: 1, 1005: 1 });
    expect(crash.counts).toEqual({ ...idle, completed: 5 });
  });

  it('enqueues one job per cron fire time, on whole seconds, however many workers fire it', () => {
    const { cron } = summary;
    expect(cron.fires.length).toBeGreaterThanOrEqual(3);
    expect(cron.fires[0]?.offsetMs).toBe(0);
    const offsets = cron.fires.map((fire) => fire.offsetMs);
    for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]!);
    for (const fire of cron.fires) {
      expect(fire).toMatchObject({ wholeSecond: true, jobs: 1, writes: 1, orders: 5 });
      expect(fire.offsetMs % 1000).toBe(0);
    }
    expect(cron.schedulesAfter).toBe(0);
  });

  it('stops every worker with all work done and no worker errors', () => {
    const { final } = summary;
    expect(final.counts).toEqual({
      invoices: { ...idle, completed: 5 },
      emails: { ...idle, completed: 5 },
      shipments: { ...idle, completed: 5 },
      reports: { ...idle, completed: summary.cron.fires.length },
    });
    expect(final.workerErrors).toEqual([]);
  });
});
