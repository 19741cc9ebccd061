/**
 * Checks that the record layer walkthrough shows what it says it shows: it runs on a fresh
 * temporary directory without printing and inspects the summary it returns.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runRecords, type RecordsSummary } from './records.js';

describe('the records example', () => {
  let directory: string;
  let summary: RecordsSummary;

  // The walkthrough is one story whose steps build on each other, so it runs once and each test
  // checks one part of the summary.
  beforeAll(async () => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'strata-records-'));
    summary = await runRecords({ path: path.join(directory, 'db'), log: () => {} });
  });

  afterAll(() => {
    fs.rmSync(directory, { recursive: true, force: true });
  });

  it('declares customers, products and orders with the indexes it describes', () => {
    const { schema } = summary;
    expect(schema.primaryKeys).toEqual({ customers: ['id'], products: ['sku'], orders: ['id'] });
    expect(schema.indexes.customers).toEqual({ byEmail: { kind: 'value', fields: ['email'], unique: true } });
    expect(schema.indexes.products).toEqual({});
    expect(schema.indexes.orders).toEqual({
      byCustomerDate: { kind: 'value', fields: ['customerId', 'createdAt'], unique: false },
      countByStatus: { kind: 'count', groupBy: ['status'] },
      spentByCustomer: { kind: 'sum', field: 'totalCents', groupBy: ['customerId'] },
    });
  });

  it('refuses an invalid record naming the field and rule, and a duplicate email naming the index, writing nothing', () => {
    const { writes } = summary;
    expect(writes.customersInserted).toBe(3);
    expect(writes.productsInserted).toBe(4);
    expect(writes.invalid).toMatchObject({ code: 'record_invalid', details: { type: 'customers', field: 'email', rule: 'invalid_format' } });
    expect(writes.invalid?.message).toContain('customers.email');
    expect(writes.duplicate).toMatchObject({ code: 'unique_violation', details: { type: 'customers', index: 'byEmail', values: ['ada@example.com'] } });
    expect(writes.duplicate?.message).toContain('customers.byEmail');
    expect(writes.customersAfterRefusals).toBe(3);
  });

  it('places an order and lowers the stock together, and rolls both back when one item is short', () => {
    const { orders } = summary;
    expect(orders.first).toEqual({ id: 1001n, total: 6400n, stockBefore: { mug: 8, lamp: 3 }, stockAfter: { mug: 6, lamp: 2 } });
    expect(orders.placed).toEqual([1001n, 1002n, 1003n, 1004n, 1005n, 1006n, 1007n, 1008n]);
    const { failed } = orders;
    expect(failed.id).toBe(1009n);
    expect(failed.refusal).toMatchObject({ code: 'record_invalid', details: { type: 'products', field: 'stock', rule: 'too_small' } });
    // The mug's update happened inside the transaction, and went away with it.
    expect(failed.stockBefore).toEqual({ mug: 3, lamp: 1 });
    expect(failed.mugStockInsideTransaction).toBe(2);
    expect(failed.stockAfter).toEqual(failed.stockBefore);
    expect(failed.orderStored).toBe(false);
  });

  it('serves the latest orders from the (customerId, createdAt) index, in reverse', () => {
    const { queries } = summary;
    expect(queries.latest).toEqual([1007n, 1005n, 1003n]);
    expect(queries.latestExplain).toMatchObject({ index: 'byCustomerDate', fullScan: false, ordered: true, sortInMemory: false });
    expect(queries.latestExplain.ranges).toHaveLength(1);
    expect(queries.latestExplain.ranges[0]).toContain('customerId = 1n');
    expect(queries.latestExplain.ranges[0]).toContain('reverse');
  });

  it('refuses a query no index serves, naming the index to add, and runs it with allowFullScan', () => {
    const { queries } = summary;
    expect(queries.noIndex).toMatchObject({ code: 'no_index_for_query', details: { type: 'products', suggestedIndex: ['stock'] } });
    expect(queries.noIndex?.message).toContain("index.value(['stock'])");
    expect(queries.fullScan).toEqual(['lamp', 'mug']);
    expect(queries.fullScanExplain).toMatchObject({ index: 'primaryKey', fullScan: true });
  });

  it('pages through every order with a cursor, once each, and streams the same orders', () => {
    const { queries } = summary;
    expect(queries.pages).toEqual([
      { ids: [1001n, 1002n, 1003n], more: true },
      { ids: [1004n, 1005n, 1006n], more: true },
      { ids: [1007n, 1008n], more: false },
    ]);
    expect(queries.streamed).toBe(8);
  });

  it('reads counts by status and the total spent by a customer from their indexes', () => {
    const { aggregates } = summary;
    expect(aggregates.byStatus).toEqual({ placed: 5n, paid: 1n, shipped: 2n });
    expect(aggregates.adaOrders).toBe(4);
    expect(aggregates.spentByAda).toBe(13300n);
    expect(aggregates.spentByAdaComputed).toBe(aggregates.spentByAda);
  });
});
