import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { customerFunds, defaultReserveSchedule, parseReserveSchedule, ratioOn, requiredDeposit } from '../../src/custody/reserve-rules.js';

describe('reserve rules', () => {
  it('follows the published steps', () => {
    expect(ratioOn(defaultReserveSchedule, '2017-04-16')).toBe(0);
    expect(ratioOn(defaultReserveSchedule, '2017-04-17')).toBe(2000);
    expect(ratioOn(defaultReserveSchedule, '2017-12-29')).toBe(2000);
    expect(ratioOn(defaultReserveSchedule, '2018-04-15')).toBe(2000);
    expect(ratioOn(defaultReserveSchedule, '2018-04-16')).toBe(5000);
    expect(ratioOn(defaultReserveSchedule, '2019-01-13')).toBe(5000);
    expect(ratioOn(defaultReserveSchedule, '2019-01-14')).toBe(10000);
    expect(ratioOn(defaultReserveSchedule, '2026-11-25')).toBe(10000);
  });

  it('rounds half up to the fen', () => {
    expect(requiredDeposit(1n, 5000)).toBe(1n); // 0.5 → 1
    expect(requiredDeposit(3n, 5000)).toBe(2n); // 1.5 → 2
    expect(requiredDeposit(7n, 2000)).toBe(1n); // 1.4 → 1
    expect(requiredDeposit(123_457n, 2000)).toBe(24_691n); // 24691.4
    expect(requiredDeposit(123_455n, 2000)).toBe(24_691n); // 24691.0
    expect(requiredDeposit(5n, 1000)).toBe(1n); // 0.5 → 1
    expect(requiredDeposit(-5n, 1000)).toBe(0n); // −0.5 → 0 (half up, towards +∞)
    expect(requiredDeposit(10_000n, 10000)).toBe(10_000n);
    expect(requiredDeposit(0n, 10000)).toBe(0n);
  });

  it('agrees with exact rational rounding for any amount and ratio', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 62n }), fc.integer({ min: 0, max: 10000 }), (funds, bps) => {
        const deposit = requiredDeposit(funds, bps);
        // deposit − 1/2 ≤ funds × bps / 10000 < deposit + 1/2
        const twice = funds * BigInt(bps) * 2n;
        expect((2n * deposit - 1n) * 10000n <= twice).toBe(true);
        expect(twice < (2n * deposit + 1n) * 10000n).toBe(true);
      }),
    );
  });

  it('counts what is owed to customers, not the platform’s own money', () => {
    const normal = new Map<string, bigint>([
      ['custody_summary', 1_000_000n],
      ['channel_in_transit', 50_000n],
      ['fees', 3_000n],
      ['marketing', 20_000n],
      ['interest', 700n],
      ['own_funds', 100_000n],
      ['suspense', 9_000n],
      ['guarantee', 40_000n],
    ]);
    expect(customerFunds(normal)).toBe(1_050_000n - 123_700n);
  });

  it('reads a schedule from configuration and refuses a bad one', () => {
    expect(parseReserveSchedule('2020-01-01:1500, 2021-06-30:10000')).toEqual([
      { from: '2020-01-01', ratioBps: 1500 },
      { from: '2021-06-30', ratioBps: 10000 },
    ]);
    expect(() => parseReserveSchedule('2020-01-01:10001')).toThrow(/0 to 10000/);
    expect(() => parseReserveSchedule('2020-02-30:100')).toThrow(/DATE:BPS/);
    expect(() => parseReserveSchedule('2021-01-01:100,2020-01-01:200')).toThrow(/ascending/);
    expect(() => parseReserveSchedule('20%')).toThrow(/DATE:BPS/);
  });
});
