import { sql } from 'kysely';
import type { Kysely } from 'kysely';
import { decideAccount } from '../ledger/index.js';
import type { Account, AccountInput, AccountResult, Id } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { Database } from './database.js';
import { flagBits, lockBook, selectAccounts } from './ledger-rows.js';
import { plainArray, textArray } from './pg-array.js';

/**
 * Opens accounts inside the caller's transaction (so that a platform's or a member's rows and
 * their ledger accounts commit together). Creates the book with its first account; each new
 * account gets the next number in its book under the book lock. Idempotent per id.
 */
export async function createAccountsIn(
  trx: Kysely<Database>,
  platformId: Id,
  inputs: readonly AccountInput[],
  createdAtMs: number,
): Promise<AccountResult[]> {
  if (inputs.length > limits.accountsPerCallMax) throw new RangeError('too many accounts in one call');
  const createdAt = new Date(createdAtMs).toISOString();
  await sql`insert into ledger_books (platform_id) values (${platformId}::uuid) on conflict do nothing`.execute(trx);
  await lockBook(trx, platformId);
  const { rows } = await sql<{ opened: bigint }>`
    select accounts_opened as opened from ledger_books where platform_id = ${platformId}::uuid`.execute(trx);
  const opened = rows[0]?.opened ?? 0n;
  const valid = inputs.filter((input) => decideAccount(input, undefined) === 'created');
  const known = new Map<Id, Account>();
  for (const account of await selectAccounts(trx, platformId, valid.map((input) => input.id), false)) {
    known.set(account.id, account);
  }
  const results: AccountResult[] = [];
  const created: AccountInput[] = [];
  for (const input of inputs) {
    const code = decideAccount(input, known.get(input.id));
    results.push({ id: input.id, code });
    if (code !== 'created') continue;
    created.push(input);
    known.set(input.id, { ...input, closed: false, debitsPendingMinor: 0n, debitsPostedMinor: 0n, creditsPendingMinor: 0n, creditsPostedMinor: 0n });
  }
  if (created.length === 0) return results;
  const nums = created.map((_, index) => opened + BigInt(index + 1));
  await sql`
    insert into ledger_accounts (platform_id, id, num, code, currency, flags, created_at)
    select ${platformId}::uuid, u.id, u.num, u.code, u.currency, u.flags, ${createdAt}::timestamptz
    from unnest(${plainArray(created.map((a) => a.id))}::uuid[], ${plainArray(nums)}::int8[],
                ${textArray(created.map((a) => a.code))}::text[], ${textArray(created.map((a) => a.currency))}::text[],
                ${plainArray(created.map(flagBits))}::int4[]) as u(id, num, code, currency, flags)`.execute(trx);
  await sql`update ledger_books set accounts_opened = accounts_opened + ${created.length}
    where platform_id = ${platformId}::uuid`.execute(trx);
  return results;
}
