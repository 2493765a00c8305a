import { isBusinessDate } from '../business-date.js';

/** From this business date on, this share (basis points) of customer funds is deposited. */
export interface ReserveStep {
  readonly from: string;
  readonly ratioBps: number;
}

/**
 * The published steps of the reserve-fund deposit (备付金集中交存): about 20% from
 * 2017-04-17, 50% from 2018-04-16, all of it from 2019-01-14. Configuration may replace it.
 */
export const defaultReserveSchedule: readonly ReserveStep[] = [
  { from: '2017-04-17', ratioBps: 2000 },
  { from: '2018-04-16', ratioBps: 5000 },
  { from: '2019-01-14', ratioBps: 10000 },
];

/** The ratio in force on a date: the latest step begun by then, 0 before the first. */
export function ratioOn(schedule: readonly ReserveStep[], date: string): number {
  let ratio = 0;
  for (const step of schedule) if (step.from <= date) ratio = step.ratioBps;
  return ratio;
}

/** customer funds × ratio / 10000, rounded half up (to the fen). */
export function requiredDeposit(customerFundsMinor: bigint, ratioBps: number): bigint {
  const scaled = customerFundsMinor * BigInt(ratioBps);
  // Floor division, so that halves round up on both sides of zero.
  const shifted = scaled + 5000n;
  const quotient = shifted / 10000n;
  return shifted % 10000n < 0n ? quotient - 1n : quotient;
}

/**
 * The money owed to customers (API.md "Reserve funds"): what the custody account and the
 * channels hold for the platform, less what belongs to the platform itself. Balances on
 * their normal side, per account code.
 */
export function customerFunds(normalByCode: ReadonlyMap<string, bigint>): bigint {
  const of = (code: string) => normalByCode.get(code) ?? 0n;
  return of('custody_summary') + of('channel_in_transit') - (of('fees') + of('marketing') + of('interest') + of('own_funds'));
}

/** `2017-04-17:2000,2018-04-16:5000`: dates ascending, ratios in basis points (0 to 10000). */
export function parseReserveSchedule(text: string): ReserveStep[] {
  const steps = text.split(',').map((part) => part.trim()).filter((part) => part !== '').map((part) => {
    const match = /^(\d{4}-\d{2}-\d{2}):(\d{1,5})$/.exec(part);
    const ratioBps = Number(match?.[2]);
    if (match === null || !isBusinessDate(match[1] ?? '') || ratioBps > 10000) {
      throw new RangeError(`a reserve step is DATE:BPS with BPS from 0 to 10000, not "${part}"`);
    }
    return { from: match[1] as string, ratioBps };
  });
  steps.forEach((step, i) => {
    const before = steps[i - 1];
    if (before !== undefined && before.from >= step.from) throw new RangeError('reserve steps go in ascending date order');
  });
  return steps;
}
