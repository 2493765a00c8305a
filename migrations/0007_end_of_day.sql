-- End of day: the trade journal behind the day's files, closes per platform and date,
-- the day's balances per account (trial balance, reserve), and year-end closes.

-- One row per business movement of money between parties (the bank's JY file): the buyer's
-- payment of an order, a release to a payee, a refund, a direct order's credit to a payee,
-- a platform transfer. Written in the same transaction as the journal entry it describes.
create table trade_movements (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  entry_id uuid not null,
  -- The movement's place among those of its entry, for the file's order.
  position smallint not null,
  order_no text not null,
  kind text not null check (kind in ('pay', 'confirm', 'refund', 'direct', 'transfer')),
  payer_member_id uuid,
  payee_member_id uuid,
  amount bigint not null check (amount >= 0),
  fee bigint not null check (fee >= 0),
  -- The change of the buyer's escrow held in the guarantee account (intermediate escrow
  -- mode): a day's closing frozen balances are told from later movements by it.
  buyer_escrow_delta bigint not null default 0,
  business_date date not null,
  occurred_at timestamptz not null,
  primary key (platform_id, id)
);
-- The day's file reads the day's entries in order and finds each one's movements.
create index trade_movements_entry on trade_movements (platform_id, entry_id);

-- A proceeds lot names the entry that brought it: it becomes withdrawable at the close of
-- the day that entry is booked in.
alter table proceeds_lots add column entry_id uuid;
create index proceeds_lots_pending on proceeds_lots (platform_id, business_date)
  where bucket = 'pending' and remaining > 0;

-- The day's recharges and withdrawals files.
create index payins_succeeded on payins (platform_id, decided_at) where status = 'succeeded';
create index withdrawals_updated on withdrawals (platform_id, updated_at);

-- Each platform's close of a business date, at most one. A run that stopped (a failed
-- invariant, a crash) is run again; its settlement has a derived id, so it books once.
create table eod_runs (
  platform_id uuid not null,
  business_date date not null,
  status text not null check (status in ('running', 'closed', 'failed')),
  -- The journal of the day: entries after the previous day's last, up to its own last
  -- (the settlement and T+1 conversion of the close come after it and belong to the day).
  previous_last_seq bigint not null,
  last_seq bigint not null,
  -- The hash chain was verified up to this entry when the day closed.
  verified_seq bigint,
  verified_hash text,
  settled_amount bigint not null default 0,
  -- statement: the matched payins of the channels' statements imported for the date;
  -- books: no channel statement was imported before the close, so our in-transit balance.
  settlement_basis text not null default 'books' check (settlement_basis in ('books', 'statement')),
  converted_members integer not null default 0,
  converted_amount bigint not null default 0,
  invariants jsonb,
  error text,
  started_at timestamptz not null,
  completed_at timestamptz,
  primary key (platform_id, business_date)
);

-- Every ledger account's posted balances for a closed date: opening, the day's movement and
-- what was reserved out of it at the close (withdrawals in flight). The trial balance, the
-- reserve requirement, the balances file and the year-end close read these.
create table account_day_balances (
  platform_id uuid not null,
  business_date date not null,
  account_id uuid not null,
  code text not null,
  member_id uuid,
  opening_debits bigint not null,
  opening_credits bigint not null,
  debits bigint not null,
  credits bigint not null,
  debits_reserved bigint not null,
  primary key (platform_id, business_date, account_id)
);

-- Members' five buckets as the day closed (the bank's YE file).
create table member_day_balances (
  platform_id uuid not null,
  business_date date not null,
  member_id uuid not null,
  available bigint not null,
  withdrawable bigint not null,
  pending bigint not null,
  spendable bigint not null,
  frozen bigint not null,
  primary key (platform_id, business_date, member_id)
);

-- A platform's close of a year (年终决算): every account's opening on 1 January, the
-- year's debits and credits, from the days' balances.
create table year_end_runs (
  platform_id uuid not null,
  year integer not null,
  first_date date not null,
  last_date date not null,
  accounts integer not null,
  debits bigint not null,
  credits bigint not null,
  completed_at timestamptz not null,
  primary key (platform_id, year)
);

create table year_end_balances (
  platform_id uuid not null,
  year integer not null,
  account_id uuid not null,
  code text not null,
  member_id uuid,
  opening_debits bigint not null,
  opening_credits bigint not null,
  debits bigint not null,
  credits bigint not null,
  primary key (platform_id, year, account_id)
);

-- What operators must look at: a close stopped by a failed invariant, and the like.
create table alerts (
  id uuid primary key,
  platform_id uuid,
  kind text not null,
  message text not null,
  detail jsonb not null default '{}',
  created_at timestamptz not null
);
create index alerts_recent on alerts (created_at);
