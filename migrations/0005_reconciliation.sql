-- Reconciliation (对账): a channel's or the bank's statement of one business date matched
-- against our records. These tables are not written through book commands: an import moves
-- no money itself (an unmatched bank credit is recorded through the suspense service, which
-- does), so they are written directly, and every row carries the reconciliation it belongs to.

-- One import of one statement file. `status` is `importing` while the file streams in (its
-- breaks and matches are then not shown), `completed` when classified, `failed` when an
-- import stopped after it had recorded bank credits (see docs/reconciliation.md).
create table reconciliations (
  platform_id uuid not null,
  id uuid not null,
  source text not null check (source = 'bank' or source like 'channel:%'),
  business_date date not null,
  status text not null check (status in ('importing', 'completed', 'failed')),
  lines bigint not null default 0,
  matched bigint not null default 0,
  breaks bigint not null default 0,
  breaks_long bigint not null default 0,
  breaks_short bigint not null default 0,
  breaks_amount_mismatch bigint not null default 0,
  breaks_status_mismatch bigint not null default 0,
  detail text,
  created_by text not null,
  created_at timestamptz not null,
  -- Moved at every chunk: an `importing` row that stops moving was abandoned by a crash.
  updated_at timestamptz not null,
  completed_at timestamptz,
  primary key (platform_id, id)
);
-- Operators read a reconciliation by its id alone.
create index reconciliations_id on reconciliations (id);
create index reconciliations_day on reconciliations (platform_id, source, business_date);
-- One import at a time per platform and source: two at once could record the same unmatched
-- bank credit twice.
create unique index reconciliations_one_running on reconciliations (platform_id, source) where status = 'importing';

-- A line of the file that does not agree with our records, or a record of ours the file never
-- named. `txn_id` is the channel_txn_id or bank_txn_id; `expected_*` are ours, `actual_*`
-- theirs. `object_type`/`object_id` name our record (a payin, a withdrawal or its return, a
-- bank credit), when there is one.
create table reconciliation_breaks (
  platform_id uuid not null,
  id uuid not null,
  reconciliation_id uuid not null,
  kind text not null check (kind in ('long', 'short', 'amount_mismatch', 'status_mismatch')),
  txn_id text,
  order_no text,
  line_no bigint,
  object_type text check (object_type in ('payin', 'withdrawal', 'withdrawal_return', 'bank_credit')),
  object_id uuid,
  expected_amount bigint,
  actual_amount bigint,
  expected_status text,
  actual_status text,
  detail text,
  resolution text check (resolution in ('explained', 'adjusted', 'recorded')),
  resolution_note text,
  adjustment_id uuid,
  resolved_by text,
  resolved_at timestamptz,
  primary key (platform_id, id),
  check ((resolution is null) = (resolved_at is null)),
  check ((resolution = 'adjusted') = (adjustment_id is not null))
);
create index reconciliation_breaks_rec on reconciliation_breaks (platform_id, reconciliation_id, id);
create index reconciliation_breaks_id on reconciliation_breaks (id);
-- Shorts still open, by the record they name: a neighbouring day's file may explain them.
create index reconciliation_breaks_open_short on reconciliation_breaks (platform_id, object_id) where kind = 'short' and resolution is null;

-- Our records a file named, one row per record and leg, written chunk by chunk while the file
-- streams: at the end, our records of the date with no row here are short, found by one query
-- rather than by holding the file's ids in memory. `decided_at` is our record's time, for the
-- window across midnight.
create table reconciliation_matches (
  platform_id uuid not null,
  reconciliation_id uuid not null,
  object_type text not null check (object_type in ('payin', 'withdrawal', 'withdrawal_return', 'bank_credit')),
  object_id uuid not null,
  line_no bigint not null,
  outcome text not null check (outcome in ('matched', 'amount_mismatch', 'status_mismatch', 'recorded')),
  decided_at timestamptz,
  primary key (platform_id, reconciliation_id, object_type, object_id)
);
create index reconciliation_matches_object on reconciliation_matches (platform_id, object_id);

-- Staging: credits of a bank statement that match nothing of ours. They are recorded (as a
-- member's credit or a suspense item) only once the whole file has validated, then removed;
-- the payer's account and name wait here in the clear for that short while only.
create table reconciliation_staged_credits (
  platform_id uuid not null,
  reconciliation_id uuid not null,
  bank_txn_id text not null,
  line_no bigint not null,
  amount bigint not null check (amount > 0),
  counterparty_account text not null,
  counterparty_name text not null,
  memo text not null,
  primary key (platform_id, reconciliation_id, bank_txn_id)
);

-- Lookups an import makes, one batch per chunk, and the day's records it looks for at the end.
create index payins_channel_decided on payins (platform_id, channel, decided_at) where status in ('succeeded', 'failed');
create index withdrawals_rail_txn on withdrawals (platform_id, rail_txn_id) where rail_txn_id is not null;
create index withdrawals_decided on withdrawals (platform_id, decided_at) where status in ('succeeded', 'returned');
create index withdrawals_returned on withdrawals (platform_id, returned_at) where status = 'returned';
create index bank_credits_bank_txn on bank_credits (platform_id, bank_txn_id) where bank_txn_id is not null;
create index bank_credits_created on bank_credits (platform_id, created_at);
