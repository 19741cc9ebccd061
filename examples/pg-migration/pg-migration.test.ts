/**
 * Checks the PostgreSQL-to-Strata move of the rental desk end to end, on a real PostgreSQL with
 * Pagila and the real `strata-pg` command: the desk's day returns identical, non-trivial results on
 * both backends; the checked-in schema.ts is exactly what `strata-pg introspect` generates from a
 * freshly loaded Pagila (so it cannot drift); copy and verify move every row; and the indexes the
 * desk adds are built online, without which the record layer refuses the desk's queries.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from '@strata/core';
import { RecordStore } from '@strata/records';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CategoryRevenue, CustomerSummary, OverdueRental, RentalReceipt, ReturnReceipt } from './desk.js';
import { compareReports, type DeskReport } from './desk-scenario.js';
import { deskSchema } from './desk-schema.js';
import { runPgMigration, type PgMigrationSummary } from './pg-migration.js';
import { schema as pagilaSchema } from './schema.js';
import { StrataDesk } from './strata-desk.js';

describe('the pg-migration example', () => {
  let directory: string;
  let summary: PgMigrationSummary;

  // One run of the whole story (a PostgreSQL server, Pagila, three strata-pg commands, two desks);
  // each test checks one part of its summary.
  beforeAll(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-pg-migration-'));
    summary = await runPgMigration({ path: directory, log: () => {} });
  }, 120_000);

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  const result = <T>(report: DeskReport, call: string): T => {
    const step = report.steps.find((candidate) => candidate.call.startsWith(call));
    if (step === undefined) throw new Error(`no step ${call}`);
    return step.result as T;
  };
  const results = <T>(report: DeskReport, call: string): T[] => report.steps.filter((step) => step.call.startsWith(call)).map((step) => step.result as T);

  it('returns identical results on PostgreSQL and on Strata, call by call', () => {
    expect(summary.difference).toBeNull();
    expect(summary.identical).toBe(true);
    expect(summary.strata).toEqual(summary.postgres);
    expect(summary.postgres.steps).toHaveLength(11);
  });

  it('finds customers by email and by last-name prefix', () => {
    const byEmail = result<CustomerSummary[]>(summary.strata, 'findCustomer({ email');
    expect(byEmail).toEqual([{ customerId: 1, storeId: 1, firstName: 'MARY', lastName: 'SMITH', email: 'MARY.SMITH@sakilacustomer.org', active: true }]);
    const byPrefix = result<CustomerSummary[]>(summary.strata, 'findCustomer({ lastNamePrefix');
    expect(byPrefix.map((c) => c.lastName)).toEqual(['WILES', 'WILLIAMS', 'WILLIAMSON', 'WILLIS', 'WILSON']);
  });

  it('rents the free copy with new ids from the sequences, refuses a second, and rents it again once returned', () => {
    const [first, none, again] = results<RentalReceipt | null>(summary.strata, 'rentFilm');
    // Ids continue after PostgreSQL's sequences: the copy set them to its last values.
    expect(first).toMatchObject({ rentalId: 16050, filmId: 178, storeId: 1, customerId: 1, rentedAt: '2022-07-30T10:00:00.000000Z', dueAt: '2022-08-05T10:00:00.000000Z' });
    expect(first!.payment).toEqual({ paymentId: 32099, amount: '0.99' });
    expect(none).toBeNull();
    expect(again).toMatchObject({ rentalId: 16051, inventoryId: 817, payment: { paymentId: 32100, amount: '0.99' } });
    const [late, twice, onTime] = results<ReturnReceipt | null>(summary.strata, 'returnFilm');
    expect(late).toMatchObject({ rentalId: 11593, late: true });
    expect(twice).toBeNull();
    expect(onTime).toMatchObject({ rentalId: 16050, returnedAt: '2022-07-31T17:00:00.000000Z', late: false });
  });

  it('lists overdue rentals oldest first, and a returned one drops out', () => {
    const [before, after] = results<OverdueRental[]>(summary.strata, 'listOverdue');
    expect(before).toHaveLength(182);
    expect(after).toHaveLength(181);
    expect(before!.map((r) => r.rentalId)).toContain(11593);
    expect(after!.map((r) => r.rentalId)).not.toContain(11593);
    for (let i = 1; i < before!.length; i++) {
      const [a, b] = [before![i - 1]!, before![i]!];
      expect(a.rentedAt < b.rentedAt || (a.rentedAt === b.rentedAt && a.rentalId < b.rentalId)).toBe(true);
    }
    for (const row of before!) expect(row.dueAt < '2022-07-31T18:00:00.000000Z' && row.daysOverdue > 0).toBe(true);
  });

  it('sums revenue exactly for every category, the new payments included', () => {
    const revenue = result<CategoryRevenue[]>(summary.strata, 'revenueByCategory');
    expect(revenue).toHaveLength(16);
    expect(revenue.map((r) => r.category).sort()).toEqual(
      ['Action', 'Animation', 'Children', 'Classics', 'Comedy', 'Documentary', 'Drama', 'Family', 'Foreign', 'Games', 'Horror', 'Music', 'New', 'Sci-Fi', 'Sports', 'Travel'].sort(),
    );
    for (const r of revenue) expect(r.revenue).toMatch(/^\d+\.\d{2}$/);
    // Pagila's 16,049 payments and the desk's 2, each film in one category.
    expect(revenue.reduce((sum, r) => sum + r.payments, 0)).toBe(16_051);
    expect(revenue[0]).toEqual({ categoryId: 15, category: 'Sports', revenue: '5314.21', payments: 1179 });
  });

  it('strata-pg introspect regenerates the checked-in schema.ts byte for byte', () => {
    // If this fails, the mapping changed: `npm run pg-migration -w examples` writes the new module to
    // .data/pg-migration/schema.ts; check it in as examples/pg-migration/schema.ts.
    expect(summary.migration.schemaModuleMatches).toBe(true);
    expect(summary.migration.notMapped).toEqual(
      expect.arrayContaining([
        expect.stringContaining('function public.film_in_stock('),
        expect.stringContaining('trigger public.rental.last_updated'),
        expect.stringContaining('partitioning public.payment.payment'),
      ]),
    );
  });

  it('copies every row and verifies them identical', () => {
    expect(summary.migration.copyOutput[0]).toBe('copied 15 tables, 46273 rows into pagila');
    expect(summary.migration.verifyStatus).toBe(0);
    expect(summary.migration.verifyOutput.at(-1)).toBe('identical');
    expect(summary.migration.verifyOutput.filter((line) => line.startsWith('ok '))).toHaveLength(15);
  });

  it("builds the desk's two indexes online over the copied records", () => {
    expect(summary.migration.builtIndexes).toEqual(['customer.customer_email', 'rental.rental_open_by_date']);
    // 599 customers and 16,044 rentals.
    expect(summary.migration.indexedRecords).toBe(16_643);
  });

  it("refuses the desk's query without its index, and while the index is building", async () => {
    const db = await open({ path: path.join(directory, 'data') });
    try {
      // Pagila's own record types: no index on customer.email, and no full scans unless asked.
      const plain = await RecordStore.open(db, { path: ['pagila'], schema: pagilaSchema });
      await expect(db.transact((tx) => tx.at(plain).customer.findMany({ where: { email: 'MARY.SMITH@sakilacustomer.org' } }))).rejects.toMatchObject({
        code: 'no_index_for_query',
        details: { suggestedIndex: ['email'] },
      });
      // Declared again, the indexes start write-only over the stored records: refused until built.
      const store = await RecordStore.open(db, { path: ['pagila'], schema: deskSchema });
      const desk = new StrataDesk({ db, store });
      await expect(desk.findCustomer({ email: 'MARY.SMITH@sakilacustomer.org' })).rejects.toThrow(/still building/);
      await store.buildIndexes(db);
      expect(await desk.findCustomer({ email: 'MARY.SMITH@sakilacustomer.org' })).toHaveLength(1);
    } finally {
      await db.close();
    }
  });

  it('compareReports names the first step that differs', () => {
    const changed: DeskReport = structuredClone(summary.postgres);
    (changed.steps[2]!.result as RentalReceipt).payment!.amount = '0.990';
    expect(compareReports(summary.postgres, changed)).toMatch(/^step 3 differs/);
    expect(compareReports(summary.postgres, { steps: summary.postgres.steps.slice(0, 10) })).toMatch(/^step 11 differs/);
  });
});
