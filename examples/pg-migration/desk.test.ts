/**
 * Checks that the desk refuses malformed requests before either backend sees them, with a message
 * naming the field, and puts instants in the one form both backends print.
 */
import { describe, expect, it } from 'vitest';
import { checkCustomerQuery, checkInstant, checkOverdueQuery, checkRentRequest, checkReturnRequest, compareCodePoints } from './desk.js';

describe('the desk checks', () => {
  it('accept UTC instants and give them six fractional digits', () => {
    expect(checkInstant('2022-07-30T10:00:00Z', 'at')).toBe('2022-07-30T10:00:00.000000Z');
    expect(checkInstant('2022-07-30T10:00:00.5Z', 'at')).toBe('2022-07-30T10:00:00.500000Z');
    for (const bad of ['2022-07-30 10:00:00', '2022-07-30T10:00:00+02:00', '2022-02-30T10:00:00Z', '2022-07-30T24:00:00Z', '2022-07-30T10:00:00.1234567Z']) {
      expect(() => checkInstant(bad, 'at')).toThrow(/^at /);
    }
  });

  it('refuse bad ids, limits and queries, naming the field', () => {
    const rent = { filmId: 1, storeId: 1, customerId: 1, staffId: 1, at: '2022-07-30T10:00:00Z' };
    expect(checkRentRequest(rent)).toEqual({ ...rent, at: '2022-07-30T10:00:00.000000Z', recordPayment: true });
    expect(() => checkRentRequest({ ...rent, filmId: 0 })).toThrow(/^filmId/);
    expect(() => checkRentRequest({ ...rent, customerId: 1.5 })).toThrow(/^customerId/);
    expect(() => checkReturnRequest({ rentalId: 2 ** 31, at: rent.at })).toThrow(/^rentalId/);
    expect(() => checkOverdueQuery({ now: rent.at, limit: 1001 })).toThrow(/limit must be an integer from 1 to 1000/);
    expect(checkCustomerQuery({ lastNamePrefix: 'WIL' })).toEqual({ by: 'lastNamePrefix', text: 'WIL', limit: 20 });
    expect(() => checkCustomerQuery({ email: 'a', lastNamePrefix: 'b' } as never)).toThrow(/either email or lastNamePrefix/);
    expect(() => checkCustomerQuery({} as never)).toThrow(/either email or lastNamePrefix/);
  });

  it('order strings by code point, as record keys and COLLATE "C" do', () => {
    const words = ['b', 'B', 'a', 'é', '\u{1F600}', '\uFF01'];
    expect([...words].sort(compareCodePoints)).toEqual(['B', 'a', 'b', 'é', '\uFF01', '\u{1F600}']);
  });
});
