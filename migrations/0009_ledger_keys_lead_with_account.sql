-- Every posting writes one entry into each account index, at a random place among the book's
-- accounts; each entry write descends the tree comparing keys. With the platform first, every
-- comparison first compared the same sixteen bytes of platform id, then the account. Led by
-- the account, the first column decides almost every comparison. The platform stays in every
-- key (DESIGN.md): readers name platform and account by equality, so the order is theirs too.
--
-- The keys are unique (entry_seq, the id), so deduplication could only cost: it is tried on
-- every full leaf page before the split that follows anyway.
drop index ledger_postings_debit;
drop index ledger_postings_credit;
create index ledger_postings_debit on ledger_postings (debit_account, platform_id, entry_seq)
  with (deduplicate_items = off);
create index ledger_postings_credit on ledger_postings (credit_account, platform_id, entry_seq)
  with (deduplicate_items = off);

-- The same for entry ids: a random id leads, the platform follows.
alter table ledger_entries drop constraint ledger_entries_platform_id_id_key;
alter table ledger_entries add constraint ledger_entries_id_key unique (id, platform_id)
  with (deduplicate_items = off);
