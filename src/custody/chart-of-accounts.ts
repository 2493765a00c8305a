import type { AccountFlags } from '../ledger/index.js';

/**
 * The accounts a platform gets when it signs (DOMAIN.md "Accounts") and the buckets each
 * member gets when it registers. Assets (what the bank holds for the platform) are debit
 * normal; everything the custody owes to someone is credit normal, and may never go below
 * zero on its normal side: the ledger's flags enforce it.
 */
export const platformAccountCodes = [
  'custody_summary',
  'channel_in_transit',
  'suspense',
  'fees',
  'guarantee',
  'marketing',
  'interest',
  'own_funds',
  'withdrawal_in_transit',
] as const;
export type PlatformAccountCode = (typeof platformAccountCodes)[number];

export const memberAccountCodes = ['member_spendable', 'member_pending', 'member_withdrawable', 'member_frozen'] as const;
export type MemberAccountCode = (typeof memberAccountCodes)[number];

export type AccountCode = PlatformAccountCode | MemberAccountCode;

const debitNormal = new Set<string>(['custody_summary', 'channel_in_transit']);

export function normalSide(code: string): 'debit' | 'credit' {
  return debitNormal.has(code) ? 'debit' : 'credit';
}

/**
 * The withdrawal in-transit account is the bank's transitional account (内部过渡户): a
 * withdrawal's reservation passes money through it (member → in transit → custody account)
 * in one entry, so it holds reserved credits and debits at once and may not carry either
 * flag. It nets to zero whenever nothing is in flight.
 */
const transitional = new Set<string>(['withdrawal_in_transit']);

export function flagsFor(code: string): AccountFlags {
  if (transitional.has(code)) return { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: false };
  return normalSide(code) === 'debit'
    ? { debitsMustNotExceedCredits: false, creditsMustNotExceedDebits: true }
    : { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: false };
}

/** A balance on the account's normal side (≥ 0 in normal operation). */
export function normalBalance(
  code: string,
  balances: { debitsPostedMinor: bigint; creditsPostedMinor: bigint },
): bigint {
  const credit = balances.creditsPostedMinor - balances.debitsPostedMinor;
  return normalSide(code) === 'debit' ? -credit : credit;
}

export type EscrowMode = 'intermediate' | 'buyer' | 'seller';

/** Members hold a frozen bucket of their own only when escrow sits with buyer or seller. */
export function memberCodesFor(mode: EscrowMode): MemberAccountCode[] {
  return mode === 'intermediate'
    ? ['member_spendable', 'member_pending', 'member_withdrawable']
    : ['member_spendable', 'member_pending', 'member_withdrawable', 'member_frozen'];
}
