import type { Id, LedgerStore } from '../ledger/index.js';
import { normalSide } from './chart-of-accounts.js';

export interface EscrowReads {
  openEscrowTotal(platformId: Id): Promise<bigint>;
}

export interface InvariantCheck {
  readonly name: 'journal_balanced' | 'custody_equals_subaccounts' | 'guarantee_equals_open_escrows' | 'no_negative_member_buckets' | 'hash_chain_intact';
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * The books' invariants (API.md "Invariants"), checked from the stored balances, the open
 * orders and the journal itself, never from counters kept on the side.
 */
export class InvariantService {
  constructor(
    private readonly ledger: LedgerStore,
    private readonly escrows: EscrowReads,
  ) {}

  /**
   * Every invariant of a platform's books. `chainFrom`, an entry whose hash was verified
   * before (by an earlier close), lets the hash chain be walked on from there instead of
   * from the first entry; the journal below it is append-only.
   */
  async check(
    platformId: Id,
    chainFrom?: { seq: bigint; hash: string },
  ): Promise<{ ok: boolean; checks: InvariantCheck[]; chain: { seq: bigint; hash: string } }> {
    const sums = await this.ledger.accountSums(platformId);
    const checks: InvariantCheck[] = [];
    for (const currency of [...new Set(sums.map((s) => s.currency))].sort()) {
      const of = sums.filter((s) => s.currency === currency);
      const total = (pick: (s: (typeof of)[number]) => bigint) => of.reduce((sum, s) => sum + pick(s), 0n);
      const debits = total((s) => s.debitsPostedMinor);
      const credits = total((s) => s.creditsPostedMinor);
      const reservedDebits = total((s) => s.debitsPendingMinor);
      const reservedCredits = total((s) => s.creditsPendingMinor);
      checks.push({
        name: 'journal_balanced',
        ok: debits === credits && reservedDebits === reservedCredits,
        detail: `${currency}: debits ${debits}, credits ${credits}; pending debits ${reservedDebits}, pending credits ${reservedCredits}`,
      });
      const net = (code: string) => {
        const s = of.find((x) => x.code === code);
        return s === undefined ? 0n : s.creditsPostedMinor - s.debitsPostedMinor;
      };
      const assets = -(net('custody_summary') + net('channel_in_transit'));
      const owed = of.filter((s) => normalSide(s.code) === 'credit').reduce((sum, s) => sum + s.creditsPostedMinor - s.debitsPostedMinor, 0n);
      checks.push({
        name: 'custody_equals_subaccounts',
        ok: assets === owed,
        detail: `${currency}: custody summary + channel in transit ${assets}, Σ sub-accounts ${owed}`,
      });
      const escrowed = await this.escrows.openEscrowTotal(platformId);
      const held = net('guarantee') + net('member_frozen');
      checks.push({
        name: 'guarantee_equals_open_escrows',
        ok: held === escrowed,
        detail: `${currency}: guarantee + member frozen ${held}, open escrows ${escrowed}`,
      });
      const negative = of.filter((s) => s.code.startsWith('member_')).reduce((n, s) => n + s.negative, 0);
      checks.push({ name: 'no_negative_member_buckets', ok: negative === 0, detail: `${currency}: ${negative} member bucket(s) below zero` });
    }
    const chain = await this.ledger.verifyChain(platformId, chainFrom);
    const walked = chainFrom === undefined ? `${chain.seq} entries` : `entries ${chainFrom.seq + 1n} to ${chain.seq} (those before verified at an earlier close)`;
    checks.push({
      name: 'hash_chain_intact',
      ok: chain.ok,
      detail: chain.ok ? walked : `broken at entry ${chain.brokenAtSeq}: ${chain.reason}`,
    });
    return { ok: checks.every((c) => c.ok), checks, chain: { seq: chain.seq, hash: chain.hash } };
  }
}
