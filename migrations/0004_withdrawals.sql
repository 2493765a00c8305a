-- Money out: withdrawals through the transitional account and payout rails, the risk
-- engine's rules and decisions, the trades behind every withdrawal, and manual adjustments
-- under maker-checker. Written through book commands (guarded by version) like trades.

create table withdrawals (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  order_no text not null,
  member_id uuid not null,
  card_id uuid not null,
  card_last4 text not null,
  amount bigint not null check (amount > 0),
  fee bigint not null default 0,
  currency text not null,
  rail text not null check (rail in ('realtime', 'high_value')),
  status text not null check (status in ('processing', 'held', 'succeeded', 'failed', 'returned', 'rejected')),
  -- Where a processing withdrawal stands: reserved (to send), waiting_rail (the high-value
  -- rail is closed), sending (asked the rail; outcome unknown until answered or queried),
  -- sent (the rail has it), watching (succeeded; asked for returns for a while), done.
  step text not null check (step in ('review', 'reserved', 'waiting_rail', 'sending', 'sent', 'watching', 'done')),
  risk_decision text not null check (risk_decision in ('allow', 'hold', 'reject')),
  risk_rules jsonb not null,
  reserve_entry_id uuid,
  rail_txn_id text,
  failure_reason text,
  attempts integer not null default 0,
  next_attempt_at timestamptz,
  watch_until timestamptz,
  reviewed_by text,
  review_reason text,
  business_date date not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  decided_at timestamptz,
  returned_at timestamptz,
  primary key (platform_id, id)
);
create index withdrawals_due on withdrawals (next_attempt_at) where step in ('reserved', 'waiting_rail', 'sending', 'sent', 'watching');
create index withdrawals_member on withdrawals (platform_id, member_id, created_at);
create index withdrawals_day on withdrawals (platform_id, business_date);
create index withdrawals_held on withdrawals (platform_id, created_at) where status = 'held';
-- Operators approve a withdrawal or an adjustment by its id alone.
create index withdrawals_id on withdrawals (id);

-- The trades (orders) whose settled proceeds a withdrawal paid out, first in, first out.
create table withdrawal_sources (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  withdrawal_id uuid not null,
  lot_id uuid not null,
  order_id uuid,
  order_no text,
  business_date date not null,
  amount bigint not null check (amount > 0),
  primary key (platform_id, id)
);
create index withdrawal_sources_withdrawal on withdrawal_sources (platform_id, withdrawal_id);

-- Risk rules per platform, every version kept: a decision names the version it used.
create table risk_rules (
  platform_id uuid not null,
  id text not null,
  version integer not null,
  action text not null check (action in ('hold', 'reject')),
  enabled boolean not null,
  params jsonb not null,
  updated_by text not null,
  updated_at timestamptz not null,
  primary key (platform_id, id, version)
);

-- Members linked to their platform beyond a shared ID number (flagged by the bank).
create table member_flags (
  platform_id uuid not null,
  id uuid not null,
  linked_to_platform boolean not null,
  reason text,
  updated_by text not null,
  updated_at timestamptz not null,
  primary key (platform_id, id)
);

-- Manual adjustments (调账/补账): proposed by one operator, applied only when another approves.
create table adjustments (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  debit_account_id uuid not null,
  credit_account_id uuid not null,
  amount bigint not null check (amount > 0),
  reason text not null,
  status text not null check (status in ('pending_approval', 'applied', 'rejected')),
  maker text not null,
  checker text,
  decision_reason text,
  entry_id uuid,
  created_at timestamptz not null,
  decided_at timestamptz,
  primary key (platform_id, id)
);
create index adjustments_pending on adjustments (platform_id, created_at) where status = 'pending_approval';
create index adjustments_id on adjustments (id);
