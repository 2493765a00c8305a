-- The ledger: books, accounts, the journal (entries and postings) and pending entries.
-- Every table carries platform_id, and every primary and unique key starts with it, so one
-- platform's books live together and the schema can be distributed by platform_id.

create table ledger_books (
  platform_id uuid primary key,
  -- The last entry's position and hash: the head of this book's hash chain.
  entry_seq bigint not null default 0 check (entry_seq >= 0),
  head_hash bytea not null default decode(repeat('00', 32), 'hex'),
  -- Bumped by every transaction that changes balances or account state. A process that
  -- finds the version it last wrote may trust the balances it remembers.
  version bigint not null default 0,
  -- Accounts opened in this book: the next account's number.
  accounts_opened bigint not null default 0 check (accounts_opened >= 0),
  last_occurred_at timestamptz not null default 'epoch',
  created_at timestamptz not null default now()
);

create table ledger_accounts (
  platform_id uuid not null,
  id uuid not null,
  -- The account's number in its book (1, 2, 3 …): postings and their indexes name accounts
  -- by it, eight bytes instead of sixteen.
  num bigint not null check (num > 0),
  code text not null,
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  -- 1: debits must not exceed credits; 2: credits must not exceed debits.
  flags integer not null default 0 check (flags between 0 and 2),
  closed boolean not null default false,
  debits_pending bigint not null default 0 check (debits_pending >= 0),
  debits_posted bigint not null default 0 check (debits_posted >= 0),
  credits_pending bigint not null default 0 check (credits_pending >= 0),
  credits_posted bigint not null default 0 check (credits_posted >= 0),
  created_at timestamptz not null,
  primary key (platform_id, id),
  unique (platform_id, num),
  foreign key (platform_id) references ledger_books (platform_id)
) with (fillfactor = 70); -- room for HOT updates: balances change, keys never do

create table ledger_entries (
  platform_id uuid not null,
  seq bigint not null check (seq > 0),
  id uuid not null,
  kind text not null check (kind in ('posted', 'pending', 'post_pending', 'void_pending', 'expire')),
  pending_id uuid,
  timeout_at timestamptz,
  command text not null,
  reference text,
  actor text,
  occurred_at timestamptz not null,
  posting_count smallint not null check (posting_count >= 1),
  hash bytea not null,
  primary key (platform_id, seq),
  unique (platform_id, id)
);

-- One row per posting; accounts by their number in the book; the balances after it are net
-- (credits − debits) of each account.
create table ledger_postings (
  platform_id uuid not null,
  entry_seq bigint not null,
  idx smallint not null check (idx >= 0),
  debit_account bigint not null,
  credit_account bigint not null,
  amount bigint not null check (amount >= 0),
  pending_released bigint not null default 0 check (pending_released >= 0),
  debit_posted_after bigint not null,
  debit_pending_after bigint not null,
  credit_posted_after bigint not null,
  credit_pending_after bigint not null,
  primary key (platform_id, entry_seq, idx),
  check (debit_account <> credit_account)
);
create index ledger_postings_debit on ledger_postings (platform_id, debit_account, entry_seq);
create index ledger_postings_credit on ledger_postings (platform_id, credit_account, entry_seq);

-- The state of each pending entry. Mutable, unlike the journal: open, then posted, voided
-- or expired by a later entry (resolved_seq).
create table ledger_pending (
  platform_id uuid not null,
  entry_id uuid not null,
  entry_seq bigint not null,
  timeout_at timestamptz,
  state text not null check (state in ('open', 'posted', 'voided', 'expired')),
  resolved_seq bigint,
  primary key (platform_id, entry_id),
  check ((state = 'open') = (resolved_seq is null))
);
create index ledger_pending_due on ledger_pending (timeout_at, platform_id)
  where state = 'open' and timeout_at is not null;

-- The journal is append-only, enforced here and not only in code.
create function ledger_journal_is_append_only() returns trigger
language plpgsql as $$
begin
  raise exception 'ledger journal rows are never updated or deleted (% on %)', tg_op, tg_table_name
    using errcode = 'restrict_violation';
end;
$$;

create trigger ledger_entries_append_only before update or delete on ledger_entries
  for each row execute function ledger_journal_is_append_only();
create trigger ledger_entries_no_truncate before truncate on ledger_entries
  for each statement execute function ledger_journal_is_append_only();
create trigger ledger_postings_append_only before update or delete on ledger_postings
  for each row execute function ledger_journal_is_append_only();
create trigger ledger_postings_no_truncate before truncate on ledger_postings
  for each statement execute function ledger_journal_is_append_only();
