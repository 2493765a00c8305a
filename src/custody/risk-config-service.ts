import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import type { Id } from '../ledger/index.js';
import type { MemberService } from './member-service.js';
import type { PlatformService } from './platform-service.js';
import { checkRiskRule, riskRuleKinds } from './risk-rules.js';
import type { RiskAction, RiskRule, RiskRuleKind } from './risk-rules.js';

export interface RiskConfigStore {
  riskRules(platformId: Id): Promise<RiskRule[]>;
  saveRiskRule(platformId: Id, rule: RiskRule, actor: string, nowMs: number): Promise<void>;
  riskRuleHistory(platformId: Id, id: RiskRuleKind): Promise<{ version: number; action: string; enabled: boolean; params: unknown; updated_by: string; updated_at: Date }[]>;
  memberLinked(platformId: Id, memberId: Id): Promise<boolean>;
  setMemberFlag(platformId: Id, memberId: Id, linked: boolean, reason: string | null, actor: string, nowMs: number): Promise<void>;
}

export interface RuleChange {
  readonly action?: RiskAction | undefined;
  readonly enabled?: boolean | undefined;
  /** Parameters to change (others keep their value). */
  readonly params?: Readonly<Record<string, string | number>> | undefined;
}

/** Per-platform thresholds of the risk rules, each change a new version; and members flagged as linked. */
export class RiskConfigService {
  constructor(
    private readonly store: RiskConfigStore,
    private readonly platforms: PlatformService,
    private readonly members: MemberService,
    private readonly clock: Clock,
  ) {}

  async rules(platformId: Id): Promise<RiskRule[]> {
    await this.platforms.record(platformId);
    return this.store.riskRules(platformId);
  }

  async update(platformId: Id, id: string, change: RuleChange, actor: string): Promise<RiskRule> {
    if (!(riskRuleKinds as readonly string[]).includes(id)) throw new CustodyError('not_found', 'No such risk rule.', 'rule_id');
    const current = (await this.rules(platformId)).find((rule) => rule.id === id);
    if (current === undefined) throw new CustodyError('not_found', 'No such risk rule.', 'rule_id');
    for (const key of Object.keys(change.params ?? {})) {
      if (!(key in current.params)) throw new CustodyError('invalid_request', `The rule ${id} has no parameter ${key}.`, `params.${key}`);
    }
    const next: RiskRule = {
      ...current,
      version: current.version + 1,
      action: change.action ?? current.action,
      enabled: change.enabled ?? current.enabled,
      params: { ...current.params, ...(change.params ?? {}) },
    };
    const problem = checkRiskRule(next);
    if (problem !== null) throw new CustodyError('invalid_request', problem, 'params');
    try {
      await this.store.saveRiskRule(platformId, next, actor, this.clock.nowMs());
    } catch {
      throw new CustodyError('state_conflict', 'The rule changed meanwhile; read it again and retry.');
    }
    return next;
  }

  async history(platformId: Id, id: string) {
    if (!(riskRuleKinds as readonly string[]).includes(id)) throw new CustodyError('not_found', 'No such risk rule.', 'rule_id');
    await this.platforms.record(platformId);
    return this.store.riskRuleHistory(platformId, id as RiskRuleKind);
  }

  async flagMember(platformId: Id, memberId: Id, linked: boolean, reason: string | null, actor: string): Promise<void> {
    await this.members.record(platformId, memberId).catch(() => {
      throw new CustodyError('not_found', 'No such member.', 'member_id');
    });
    await this.store.setMemberFlag(platformId, memberId, linked, reason, actor, this.clock.nowMs());
  }
}
