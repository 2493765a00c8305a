import { describe, expect, it } from 'vitest';
import { newId } from '../../src/ids.js';
import { accountErrorCodes, decideAccount, zeroBalances } from '../../src/ledger/index.js';
import type { Account, AccountFlags, AccountInput } from '../../src/ledger/index.js';
import { limits } from '../../src/limits.js';
import { asset, free, owed } from '../support/fixtures.js';

const both: AccountFlags = { debitsMustNotExceedCredits: true, creditsMustNotExceedDebits: true };

function input(more: Partial<AccountInput> = {}): AccountInput {
  return { id: newId(), code: 'member_spendable', currency: 'CNY', flags: owed, ...more };
}

function stored(from: AccountInput, more: Partial<Account> = {}): Account {
  return { ...from, ...zeroBalances, closed: false, ...more };
}

describe('decideAccount', () => {
  it('creates a new account with any valid code, currency and flags', () => {
    const codes = ['member_spendable', 'a', 'guarantee', 'fees_2', `a${'b'.repeat(limits.accountCodeLengthMax - 1)}`];
    for (const code of codes) {
      for (const flags of [free, owed, asset]) {
        for (const currency of ['CNY', 'USD', 'EUR']) {
          expect(decideAccount(input({ code, currency, flags }), undefined)).toBe('created');
        }
      }
    }
  });

  it('refuses an id that is not a canonical lowercase UUID, before anything else', () => {
    const ids = [
      '',
      'not-a-uuid',
      newId().toUpperCase(),
      newId().replaceAll('-', ''),
      `${newId()} `,
      '00000000-0000-0000-0000-000000000000',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
    ];
    for (const id of ids) {
      const worst = input({ id, code: 'Bad Code', currency: 'cny', flags: both });
      expect(decideAccount(worst, stored(input()))).toBe('id_invalid');
      expect(decideAccount(input({ id }), undefined)).toBe('id_invalid');
    }
  });

  it('refuses a code that is empty, too long or not snake_case, before the currency', () => {
    const tooLong = 'a'.repeat(limits.accountCodeLengthMax + 1);
    const codes = ['', 'Member', '1member', '_member', 'member-spendable', 'member spendable', tooLong];
    for (const code of codes) {
      expect(decideAccount(input({ code, currency: 'cny', flags: both }), stored(input()))).toBe('code_invalid');
      expect(decideAccount(input({ code }), undefined)).toBe('code_invalid');
    }
  });

  it('refuses a currency that is not three capital letters, before the flags', () => {
    for (const currency of ['', 'cny', 'CN', 'CNYX', 'C1Y', ' CNY']) {
      expect(decideAccount(input({ currency, flags: both }), stored(input()))).toBe('currency_invalid');
      expect(decideAccount(input({ currency }), undefined)).toBe('currency_invalid');
    }
  });

  it('refuses both flags at once, before looking at the stored account', () => {
    const wanted = input({ flags: both });
    expect(decideAccount(wanted, undefined)).toBe('flags_are_mutually_exclusive');
    expect(decideAccount(wanted, stored(input({ id: wanted.id, code: 'other', currency: 'USD' })))).toBe(
      'flags_are_mutually_exclusive',
    );
  });

  it('answers exists for an identical account, whatever its balances or state', () => {
    const wanted = input();
    expect(decideAccount(wanted, stored(wanted))).toBe('exists');
    const used = stored(wanted, { creditsPostedMinor: 5n, closed: true });
    expect(decideAccount({ ...wanted, flags: { ...owed } }, used)).toBe('exists');
  });

  it('refuses the same id with another code, then currency, then flags', () => {
    const wanted = input();
    const before = (more: Partial<AccountInput>) => stored({ ...wanted, ...more });
    expect(decideAccount(wanted, before({ code: 'guarantee', currency: 'USD', flags: asset }))).toBe(
      'exists_with_different_code',
    );
    expect(decideAccount(wanted, before({ currency: 'USD', flags: asset }))).toBe('exists_with_different_currency');
    expect(decideAccount(wanted, before({ flags: asset }))).toBe('exists_with_different_flags');
    expect(decideAccount(wanted, before({ flags: free }))).toBe('exists_with_different_flags');
    expect(decideAccount({ ...wanted, flags: free }, before({ flags: asset }))).toBe('exists_with_different_flags');
  });

  it('answers only codes from the catalog, in its order of precedence', () => {
    const wanted = input();
    const steps: AccountInput[] = [
      { id: 'x', code: 'X', currency: 'x', flags: both },
      { ...wanted, code: 'X', currency: 'x', flags: both },
      { ...wanted, currency: 'x', flags: both },
      { ...wanted, flags: both },
    ];
    const existing = stored({ ...wanted, code: 'guarantee', currency: 'USD', flags: asset });
    const answers = [
      ...steps.map((s) => decideAccount(s, existing)),
      decideAccount(wanted, existing),
      decideAccount(wanted, { ...existing, code: wanted.code }),
      decideAccount(wanted, { ...existing, code: wanted.code, currency: wanted.currency }),
    ];
    expect(answers).toEqual([...accountErrorCodes]);
  });
});
