import { describe, expect, it } from 'vitest';
import { checkRiskRule, defaultRiskRules, evaluateRisk, riskRuleKinds } from '../../src/custody/risk-rules.js';
import type { RiskFacts, RiskRule, RiskRuleKind } from '../../src/custody/risk-rules.js';

/**
 * The risk engine alone (src/custody/risk-rules.ts): each rule kind fires just past its
 * threshold and not at it, reject beats hold, a disabled rule never fires, the default rules
 * let ordinary sandbox withdrawals through and hold only a single one above ¥200,000, and a
 * rule with bad parameters is refused before it is stored. Thresholds and expected outcomes
 * are written out here, not computed by the module under test.
 */

const nowMs = Date.UTC(2024, 2, 4, 2);

/** A quiet member: nothing withdrawn today, an old card, many trades, no sources. */
function facts(more: Partial<RiskFacts> = {}): RiskFacts {
  return {
    amountMinor: 1_000n,
    nowMs,
    memberTodayAmountMinor: 0n,
    memberTodayCount: 0,
    platformTodayAmountMinor: 0n,
    platformTodayCount: 0,
    memberRecentCount: () => 0,
    cardBoundAtMs: nowMs - 30 * 86_400_000,
    linkedToPlatform: false,
    sources: [],
    memberTradeCount: 50,
    memberTodayAmounts: [],
    ...more,
  };
}

function rule(id: RiskRuleKind, params: RiskRule['params'], more: Partial<RiskRule> = {}): RiskRule {
  return { id, version: 7, action: 'hold', enabled: true, params, ...more };
}

/** Whether this one rule fires for these facts (and the decision follows its action). */
function fires(r: RiskRule, f: RiskFacts): boolean {
  const outcome = evaluateRisk([r], f);
  expect(outcome.decision).toBe(outcome.fired.length > 0 ? r.action : 'allow');
  return outcome.fired.some((x) => x.id === r.id);
}

describe('evaluateRisk, rule by rule, at the boundary', () => {
  it('single_amount_max fires above the amount, not at it', () => {
    const r = rule('single_amount_max', { amount: '20000000' });
    expect(fires(r, facts({ amountMinor: 20_000_000n }))).toBe(false);
    expect(fires(r, facts({ amountMinor: 20_000_001n }))).toBe(true);
    const outcome = evaluateRisk([r], facts({ amountMinor: 20_000_001n }));
    expect(outcome).toEqual({
      decision: 'hold',
      fired: [{ id: 'single_amount_max', version: 7, action: 'hold', reason: expect.stringContaining('¥200000.00'), inputs: { amount: '20000001', max: '20000000' } }],
    });
  });

  it("member_daily_amount_max counts today's withdrawals plus this one", () => {
    const r = rule('member_daily_amount_max', { amount: '5000' });
    expect(fires(r, facts({ memberTodayAmountMinor: 4_000n, amountMinor: 1_000n }))).toBe(false);
    expect(fires(r, facts({ memberTodayAmountMinor: 4_001n, amountMinor: 1_000n }))).toBe(true);
    expect(fires(r, facts({ memberTodayAmountMinor: 0n, amountMinor: 5_001n }))).toBe(true);
  });

  it('member_daily_count_max fires on the withdrawal beyond the count', () => {
    const r = rule('member_daily_count_max', { count: 3 });
    expect(fires(r, facts({ memberTodayCount: 2 }))).toBe(false);
    expect(fires(r, facts({ memberTodayCount: 3 }))).toBe(true);
    expect(fires(rule('member_daily_count_max', { count: 0 }), facts())).toBe(true);
  });

  it("platform_daily_amount_max and platform_daily_count_max look at the platform's day", () => {
    const amount = rule('platform_daily_amount_max', { amount: '1000000' });
    expect(fires(amount, facts({ platformTodayAmountMinor: 999_000n, amountMinor: 1_000n }))).toBe(false);
    expect(fires(amount, facts({ platformTodayAmountMinor: 999_001n, amountMinor: 1_000n }))).toBe(true);
    // The member's own day does not count for the platform rule.
    expect(fires(amount, facts({ memberTodayAmountMinor: 5_000_000n, amountMinor: 1_000n }))).toBe(false);
    const count = rule('platform_daily_count_max', { count: 100 });
    expect(fires(count, facts({ platformTodayCount: 99 }))).toBe(false);
    expect(fires(count, facts({ platformTodayCount: 100 }))).toBe(true);
    expect(fires(count, facts({ memberTodayCount: 1_000 }))).toBe(false);
  });

  it('velocity counts the withdrawals within its own window, this one included', () => {
    const r = rule('velocity', { count: 2, window_seconds: 600 });
    const within = (n: number) => (seconds: number) => (seconds === 600 ? n : 99);
    expect(fires(r, facts({ memberRecentCount: within(1) }))).toBe(false);
    expect(fires(r, facts({ memberRecentCount: within(2) }))).toBe(true);
    const asked: number[] = [];
    evaluateRisk([r], facts({ memberRecentCount: (s) => (asked.push(s), 0) }));
    expect(asked).toEqual([600]);
  });

  it('card_cooling_period fires while the card is younger than the period; a period of 0 never fires', () => {
    const r = rule('card_cooling_period', { seconds: 3600 });
    expect(fires(r, facts({ cardBoundAtMs: nowMs - 3_599_000 }))).toBe(true);
    expect(fires(r, facts({ cardBoundAtMs: nowMs - 3_600_000 }))).toBe(false);
    expect(fires(r, facts({ cardBoundAtMs: nowMs }))).toBe(true);
    expect(fires(rule('card_cooling_period', { seconds: 0 }), facts({ cardBoundAtMs: nowMs }))).toBe(false);
  });

  it('pass_through fires for fresh money from one counterparty leaving a member with few trades', () => {
    const r = rule('pass_through', { window_seconds: 3600, min_trades: 3 });
    const fresh = (ageMs: number, counterparty: string | null = 'mbr_a') => ({ arrivedAtMs: nowMs - ageMs, counterparty, amountMinor: 500n });
    const thin = { memberTradeCount: 2 };
    expect(fires(r, facts({ ...thin, sources: [fresh(0), fresh(3_600_000)] }))).toBe(true);
    expect(fires(r, facts({ ...thin, sources: [fresh(0), fresh(3_600_001)] }))).toBe(false);
    expect(fires(r, facts({ ...thin, sources: [fresh(0, 'mbr_a'), fresh(0, 'mbr_b')] }))).toBe(false);
    expect(fires(r, facts({ memberTradeCount: 3, sources: [fresh(0)] }))).toBe(false);
    expect(fires(r, facts({ ...thin, sources: [] }))).toBe(false);
    // Money paid in through a channel has no counterparty member: still one source.
    expect(fires(r, facts({ ...thin, sources: [fresh(0, null), fresh(10, null)] }))).toBe(true);
    expect(fires(rule('pass_through', { window_seconds: 0, min_trades: 3 }), facts({ ...thin, sources: [fresh(0)] }))).toBe(false);
  });

  it('linked_to_platform fires exactly when the member is linked', () => {
    const r = rule('linked_to_platform', {});
    expect(fires(r, facts({ linkedToPlatform: true }))).toBe(true);
    expect(fires(r, facts({ linkedToPlatform: false }))).toBe(false);
  });

  it('structuring fires when this withdrawal and enough of today’s fall just under the threshold', () => {
    // Threshold ¥200,000, margin 5 %: "just under" is 19,000,000 to 20,000,000 fen.
    const r = rule('structuring', { amount: '20000000', margin_bps: 500, count: 3 });
    const near = [19_000_000n, 20_000_000n];
    expect(fires(r, facts({ memberTodayAmounts: near, amountMinor: 19_500_000n }))).toBe(true);
    expect(fires(r, facts({ memberTodayAmounts: near, amountMinor: 18_999_999n }))).toBe(false);
    expect(fires(r, facts({ memberTodayAmounts: near, amountMinor: 20_000_001n }))).toBe(false);
    expect(fires(r, facts({ memberTodayAmounts: [19_000_000n, 18_999_999n], amountMinor: 19_500_000n }))).toBe(false);
    expect(fires(r, facts({ memberTodayAmounts: [19_000_000n, 20_000_001n], amountMinor: 19_500_000n }))).toBe(false);
  });
});

describe('evaluateRisk, rules together', () => {
  const over = facts({ amountMinor: 30_000_000n, linkedToPlatform: true });

  it('allows when nothing fires, holds when only holds fire, rejects when any reject fires; every fired rule is kept', () => {
    const hold = rule('single_amount_max', { amount: '20000000' }, { version: 2 });
    const linked = rule('linked_to_platform', {}, { version: 4 });
    expect(evaluateRisk([hold, linked], facts())).toEqual({ decision: 'allow', fired: [] });
    expect(evaluateRisk([hold, linked], over).decision).toBe('hold');
    const reject = { ...linked, action: 'reject' as const };
    for (const rules of [
      [hold, reject],
      [reject, hold],
    ]) {
      const outcome = evaluateRisk(rules, over);
      expect(outcome.decision).toBe('reject');
      expect(outcome.fired.map((x) => [x.id, x.version, x.action]).sort()).toEqual([
        ['linked_to_platform', 4, 'reject'],
        ['single_amount_max', 2, 'hold'],
      ]);
    }
  });

  it('never fires a disabled rule, whatever the facts', () => {
    const tripping: RiskRule[] = [
      rule('single_amount_max', { amount: '0' }),
      rule('member_daily_amount_max', { amount: '0' }),
      rule('member_daily_count_max', { count: 0 }),
      rule('platform_daily_amount_max', { amount: '0' }),
      rule('platform_daily_count_max', { count: 0 }),
      rule('velocity', { count: 0, window_seconds: 600 }),
      rule('card_cooling_period', { seconds: 3600 }),
      rule('pass_through', { window_seconds: 3600, min_trades: 100 }),
      rule('linked_to_platform', {}),
      rule('structuring', { amount: '1000', margin_bps: 10_000, count: 1 }),
    ];
    expect(tripping.map((r) => r.id).sort()).toEqual([...riskRuleKinds].sort());
    const everything = facts({ linkedToPlatform: true, cardBoundAtMs: nowMs, sources: [{ arrivedAtMs: nowMs, counterparty: 'mbr_a', amountMinor: 1_000n }], memberTradeCount: 0 });
    // Enabled, each of them fires (so the facts really trip them) …
    expect(evaluateRisk(tripping, everything).fired.map((x) => x.id).sort()).toEqual([...riskRuleKinds].sort());
    expect(evaluateRisk(tripping.map((r) => ({ ...r, action: 'reject' as const })), everything).decision).toBe('reject');
    // … and disabled, none does.
    expect(evaluateRisk(tripping.map((r) => ({ ...r, enabled: false })), everything)).toEqual({ decision: 'allow', fired: [] });
    expect(evaluateRisk(tripping.map((r) => ({ ...r, enabled: false, action: 'reject' as const })), everything)).toEqual({ decision: 'allow', fired: [] });
  });
});

describe('defaultRiskRules', () => {
  /** A sandbox seller: a card bound a moment ago, proceeds of one trade that just arrived. */
  const sandbox = (amountMinor: bigint, more: Partial<RiskFacts> = {}) =>
    facts({
      amountMinor,
      cardBoundAtMs: nowMs - 1_000,
      memberTradeCount: 1,
      sources: [{ arrivedAtMs: nowMs - 1_000, counterparty: 'mbr_buyer', amountMinor }],
      ...more,
    });

  it('covers every rule kind once, at version 1, enabled, with valid parameters', () => {
    expect(defaultRiskRules.map((r) => r.id).sort()).toEqual([...riskRuleKinds].sort());
    for (const r of defaultRiskRules) {
      expect({ id: r.id, version: r.version, enabled: r.enabled }).toEqual({ id: r.id, version: 1, enabled: true });
      expect(checkRiskRule(r)).toBeNull();
    }
  });

  it('let ordinary sandbox withdrawals through, the magic-card amounts included, up to ¥200,000', () => {
    for (const amount of [1n, 12_345n, 5_000_000n, 5_000_001n, 19_999_999n, 20_000_000n]) {
      expect(evaluateRisk(defaultRiskRules, sandbox(amount))).toEqual({ decision: 'allow', fired: [] });
    }
    // A few withdrawals the same day, under the daily limits, still go.
    expect(evaluateRisk(defaultRiskRules, sandbox(10_000n, { memberTodayCount: 5, memberTodayAmountMinor: 50_000n, memberTodayAmounts: [10_000n], memberRecentCount: () => 5 })).decision).toBe('allow');
  });

  it('hold a single withdrawal above ¥200,000 by single_amount_max version 1, and nothing else', () => {
    const outcome = evaluateRisk(defaultRiskRules, sandbox(20_000_001n));
    expect(outcome.decision).toBe('hold');
    expect(outcome.fired.map((x) => [x.id, x.version, x.action])).toEqual([['single_amount_max', 1, 'hold']]);
  });
});

describe('checkRiskRule', () => {
  const base = (id: RiskRuleKind) => defaultRiskRules.find((r) => r.id === id) as RiskRule;

  it('accepts good parameters', () => {
    expect(checkRiskRule({ ...base('single_amount_max'), params: { amount: '1' } })).toBeNull();
    expect(checkRiskRule({ ...base('velocity'), params: { count: 0, window_seconds: 1 } })).toBeNull();
    expect(checkRiskRule(base('linked_to_platform'))).toBeNull();
  });

  it('refuses amounts that are not fen as decimal strings, counts that are not whole non-negative numbers, and missing parameters', () => {
    const bad: RiskRule[] = [
      { ...base('single_amount_max'), params: { amount: 5_000 } },
      { ...base('single_amount_max'), params: { amount: '12.50' } },
      { ...base('single_amount_max'), params: { amount: '-1' } },
      { ...base('single_amount_max'), params: { amount: '' } },
      { ...base('single_amount_max'), params: {} },
      { ...base('member_daily_amount_max'), params: { amount: '1e6' } },
      { ...base('member_daily_count_max'), params: { count: -1 } },
      { ...base('member_daily_count_max'), params: { count: 1.5 } },
      { ...base('member_daily_count_max'), params: { count: '3' } },
      { ...base('velocity'), params: { count: 3 } },
      { ...base('card_cooling_period'), params: { seconds: Number.MAX_SAFE_INTEGER + 2 } },
      { ...base('pass_through'), params: { window_seconds: 60 } },
      { ...base('structuring'), params: { amount: '20000000', margin_bps: 500 } },
    ];
    for (const r of bad) {
      const problem = checkRiskRule(r);
      expect({ rule: r, problem: typeof problem }).toEqual({ rule: r, problem: 'string' });
      expect(problem).toContain(r.id);
    }
  });
});
