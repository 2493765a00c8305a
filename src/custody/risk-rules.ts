import { formatYuan } from '../money.js';

/**
 * The anti-secondary-clearing risk engine (反二清): rules are data, each with an id and a
 * version, evaluated purely against facts the withdrawal service gathers. Every decision
 * keeps the rules that fired, with their inputs, so a reviewer sees why.
 */
export type RiskAction = 'hold' | 'reject';
export type RiskDecision = 'allow' | 'hold' | 'reject';

export const riskRuleKinds = [
  'single_amount_max',
  'member_daily_amount_max',
  'member_daily_count_max',
  'platform_daily_amount_max',
  'platform_daily_count_max',
  'velocity',
  'card_cooling_period',
  'pass_through',
  'linked_to_platform',
  'structuring',
] as const;
export type RiskRuleKind = (typeof riskRuleKinds)[number];

export interface RiskRule {
  readonly id: RiskRuleKind;
  readonly version: number;
  readonly action: RiskAction;
  readonly enabled: boolean;
  /** Thresholds: amounts in fen as decimal strings, counts and seconds as numbers. */
  readonly params: Readonly<Record<string, string | number>>;
}

/** What the service knows when a withdrawal is asked for. */
export interface RiskFacts {
  readonly amountMinor: bigint;
  readonly nowMs: number;
  /** The member's withdrawals of today (not rejected), before this one. */
  readonly memberTodayAmountMinor: bigint;
  readonly memberTodayCount: number;
  readonly platformTodayAmountMinor: bigint;
  readonly platformTodayCount: number;
  /** The member's withdrawals within each velocity window, by window length in seconds. */
  readonly memberRecentCount: (windowSeconds: number) => number;
  readonly cardBoundAtMs: number;
  /** The member shares the platform's legal person's ID number, or is flagged as linked. */
  readonly linkedToPlatform: boolean;
  /** The trades behind the money leaving: when each arrived and who paid for it. */
  readonly sources: readonly { readonly arrivedAtMs: number; readonly counterparty: string | null; readonly amountMinor: bigint }[];
  /** Distinct orders the member ever took part in (as buyer or payee). */
  readonly memberTradeCount: number;
  /** Today's withdrawals of the member whose amounts were just under a threshold (see structuring). */
  readonly memberTodayAmounts: readonly bigint[];
}

export interface FiredRule {
  readonly id: RiskRuleKind;
  readonly version: number;
  readonly action: RiskAction;
  readonly reason: string;
  readonly inputs: Readonly<Record<string, string | number | boolean>>;
}

export interface RiskOutcome {
  readonly decision: RiskDecision;
  readonly fired: readonly FiredRule[];
}

const yuan = formatYuan;

function amountParam(rule: RiskRule, name: string): bigint {
  const value = rule.params[name];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) throw new Error(`risk rule ${rule.id} needs ${name} as fen`);
  return BigInt(value);
}

function numberParam(rule: RiskRule, name: string): number {
  const value = rule.params[name];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new Error(`risk rule ${rule.id} needs ${name} as a whole number`);
  return value;
}

type Check = (rule: RiskRule, facts: RiskFacts) => Omit<FiredRule, 'id' | 'version' | 'action'> | null;

const checks: Record<RiskRuleKind, Check> = {
  single_amount_max: (rule, f) => {
    const max = amountParam(rule, 'amount');
    return f.amountMinor > max ? { reason: `a single withdrawal above ${yuan(max)}`, inputs: { amount: f.amountMinor.toString(), max: max.toString() } } : null;
  },
  member_daily_amount_max: (rule, f) => {
    const max = amountParam(rule, 'amount');
    const total = f.memberTodayAmountMinor + f.amountMinor;
    return total > max ? { reason: `the member's withdrawals today would reach ${yuan(total)}, above ${yuan(max)}`, inputs: { today: total.toString(), max: max.toString() } } : null;
  },
  member_daily_count_max: (rule, f) => {
    const max = numberParam(rule, 'count');
    return f.memberTodayCount + 1 > max ? { reason: `more than ${max} withdrawals by the member today`, inputs: { count: f.memberTodayCount + 1, max } } : null;
  },
  platform_daily_amount_max: (rule, f) => {
    const max = amountParam(rule, 'amount');
    const total = f.platformTodayAmountMinor + f.amountMinor;
    return total > max ? { reason: `the platform's withdrawals today would reach ${yuan(total)}, above ${yuan(max)}`, inputs: { today: total.toString(), max: max.toString() } } : null;
  },
  platform_daily_count_max: (rule, f) => {
    const max = numberParam(rule, 'count');
    return f.platformTodayCount + 1 > max ? { reason: `more than ${max} withdrawals on the platform today`, inputs: { count: f.platformTodayCount + 1, max } } : null;
  },
  velocity: (rule, f) => {
    const max = numberParam(rule, 'count');
    const window = numberParam(rule, 'window_seconds');
    const recent = f.memberRecentCount(window) + 1;
    return recent > max ? { reason: `${recent} withdrawals within ${window} s`, inputs: { count: recent, max, window_seconds: window } } : null;
  },
  card_cooling_period: (rule, f) => {
    const seconds = numberParam(rule, 'seconds');
    const age = Math.floor((f.nowMs - f.cardBoundAtMs) / 1000);
    return seconds > 0 && age < seconds ? { reason: `the card was bound ${age} s ago, less than the cooling period of ${seconds} s`, inputs: { card_age_seconds: age, cooling_seconds: seconds } } : null;
  },
  pass_through: (rule, f) => {
    // Money that came in from one counterparty and leaves at once, from a member without a
    // trading history of its own: the shape of a channel for someone else's money.
    const window = numberParam(rule, 'window_seconds');
    const minTrades = numberParam(rule, 'min_trades');
    if (window === 0 || f.sources.length === 0) return null;
    const fresh = f.sources.every((s) => f.nowMs - s.arrivedAtMs <= window * 1000);
    const counterparties = new Set(f.sources.map((s) => s.counterparty ?? 'channel'));
    const thin = f.memberTradeCount < minTrades;
    return fresh && counterparties.size === 1 && thin
      ? { reason: `money from a single counterparty leaves within ${window} s, from a member with ${f.memberTradeCount} trade(s)`, inputs: { window_seconds: window, trades: f.memberTradeCount, min_trades: minTrades } }
      : null;
  },
  linked_to_platform: (_rule, f) =>
    f.linkedToPlatform ? { reason: "the member is linked to the platform (its legal person's ID number, or flagged)", inputs: { linked: true } } : null,
  structuring: (rule, f) => {
    // Several withdrawals today each just under a threshold: splitting to stay below it.
    const threshold = amountParam(rule, 'amount');
    const marginBps = BigInt(numberParam(rule, 'margin_bps'));
    const count = numberParam(rule, 'count');
    const floor = threshold - (threshold * marginBps) / 10_000n;
    const near = (a: bigint) => a >= floor && a <= threshold;
    const hits = [...f.memberTodayAmounts, f.amountMinor].filter(near).length;
    return near(f.amountMinor) && hits >= count
      ? { reason: `${hits} withdrawals today just under ${yuan(threshold)}`, inputs: { hits, count, floor: floor.toString(), threshold: threshold.toString() } }
      : null;
  },
};

/** Reject beats hold beats allow; every enabled rule is evaluated and the fired ones kept. */
export function evaluateRisk(rules: readonly RiskRule[], facts: RiskFacts): RiskOutcome {
  const fired: FiredRule[] = [];
  for (const rule of rules) {
    if (!rule.enabled) continue;
    const hit = checks[rule.id](rule, facts);
    if (hit !== null) fired.push({ id: rule.id, version: rule.version, action: rule.action, ...hit });
  }
  const decision: RiskDecision = fired.some((r) => r.action === 'reject') ? 'reject' : fired.length > 0 ? 'hold' : 'allow';
  return { decision, fired };
}

/**
 * The rules every platform starts with. They hold a single withdrawal over ¥200,000 and
 * are otherwise set so that the sandbox's magic values behave as API.md says: no cooling
 * period and no pass-through check unless a platform configures them.
 */
export const defaultRiskRules: readonly RiskRule[] = [
  { id: 'single_amount_max', version: 1, action: 'hold', enabled: true, params: { amount: '20000000' } },
  { id: 'member_daily_amount_max', version: 1, action: 'hold', enabled: true, params: { amount: '100000000' } },
  { id: 'member_daily_count_max', version: 1, action: 'hold', enabled: true, params: { count: 20 } },
  { id: 'platform_daily_amount_max', version: 1, action: 'hold', enabled: true, params: { amount: '100000000000' } },
  { id: 'platform_daily_count_max', version: 1, action: 'hold', enabled: true, params: { count: 1_000_000 } },
  { id: 'velocity', version: 1, action: 'hold', enabled: true, params: { count: 10, window_seconds: 600 } },
  { id: 'card_cooling_period', version: 1, action: 'hold', enabled: true, params: { seconds: 0 } },
  { id: 'pass_through', version: 1, action: 'hold', enabled: true, params: { window_seconds: 0, min_trades: 3 } },
  { id: 'linked_to_platform', version: 1, action: 'hold', enabled: true, params: {} },
  { id: 'structuring', version: 1, action: 'hold', enabled: true, params: { amount: '20000000', margin_bps: 500, count: 3 } },
];

/** Checks a rule's parameters before it is stored: a bad rule must never reach a decision. */
export function checkRiskRule(rule: RiskRule): string | null {
  try {
    checks[rule.id](rule, sampleFacts);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const sampleFacts: RiskFacts = {
  amountMinor: 1n,
  nowMs: 0,
  memberTodayAmountMinor: 0n,
  memberTodayCount: 0,
  platformTodayAmountMinor: 0n,
  platformTodayCount: 0,
  memberRecentCount: () => 0,
  cardBoundAtMs: 0,
  linkedToPlatform: false,
  sources: [{ arrivedAtMs: 0, counterparty: null, amountMinor: 1n }],
  memberTradeCount: 0,
  memberTodayAmounts: [],
};
