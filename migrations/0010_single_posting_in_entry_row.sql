-- An entry with one posting (a transfer, a payment, a release: nearly every entry) keeps that
-- posting in its own row. Written as two rows, it cost a second heap tuple and a primary-key
-- entry in ledger_postings: measured on the batch's shape, a quarter of the database's work
-- per transfer. Entries with several postings keep them in ledger_postings, as every entry
-- written before this migration does; the journal is append-only, so nothing is moved.
--
-- Readers read postings through ledger_postings_all, wherever they are stored.
alter table ledger_entries
  add column debit_account bigint,
  add column credit_account bigint,
  add column amount bigint,
  add column pending_released bigint,
  add column debit_posted_after bigint,
  add column debit_pending_after bigint,
  add column credit_posted_after bigint,
  add column credit_pending_after bigint;

-- All of the posting or none of it; the same rules as a row of ledger_postings.
alter table ledger_entries add constraint ledger_entries_posting_in_row check (
  (debit_account is null and credit_account is null and amount is null and pending_released is null
    and debit_posted_after is null and debit_pending_after is null
    and credit_posted_after is null and credit_pending_after is null)
  or (posting_count = 1 and debit_account is not null and credit_account is not null
    and amount is not null and amount >= 0 and pending_released is not null and pending_released >= 0
    and debit_posted_after is not null and debit_pending_after is not null
    and credit_posted_after is not null and credit_pending_after is not null
    and debit_account <> credit_account)
);

-- The accounts' histories, as ledger_postings_debit and _credit are for the other postings.
create index ledger_entries_debit on ledger_entries (debit_account, platform_id, seq)
  with (deduplicate_items = off) where debit_account is not null;
create index ledger_entries_credit on ledger_entries (credit_account, platform_id, seq)
  with (deduplicate_items = off) where credit_account is not null;

-- Every posting of the journal: those in their entry's row (always the entry's first and
-- only, idx 0) and those in ledger_postings.
create view ledger_postings_all as
  select platform_id, seq as entry_seq, 0::smallint as idx, debit_account, credit_account, amount,
         pending_released, debit_posted_after, debit_pending_after, credit_posted_after, credit_pending_after
  from ledger_entries
  where debit_account is not null
  union all
  select platform_id, entry_seq, idx, debit_account, credit_account, amount,
         pending_released, debit_posted_after, debit_pending_after, credit_posted_after, credit_pending_after
  from ledger_postings;
