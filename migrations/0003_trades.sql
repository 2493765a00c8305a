-- Money in and witnessed trades. Every table here is written through book commands: its
-- rows carry a version, are checked under the book's lock and written in the same
-- transaction as the ledger entry they go with (src/storage/guarded-rows.ts).

-- Business numbers (order_no) are unique per platform across payins, orders, transfers and
-- withdrawals: the key row is written with the object that uses it.
create table business_keys (
  platform_id uuid not null,
  id text not null,
  version integer not null,
  kind text not null,
  object_id uuid not null,
  created_at timestamptz not null,
  primary key (platform_id, id)
);

create table payins (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  order_no text not null,
  purpose text not null check (purpose in ('recharge', 'order_payment')),
  member_id uuid,
  account_code text check (account_code in ('marketing', 'own_funds')),
  order_id uuid,
  amount bigint not null check (amount > 0),
  currency text not null,
  channel text not null,
  channel_txn_id text,
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  failure_reason text,
  entry_id uuid,
  business_date date not null,
  created_at timestamptz not null,
  decided_at timestamptz,
  primary key (platform_id, id)
);
create index payins_pending on payins (platform_id, created_at) where status = 'pending';
create index payins_channel_txn on payins (platform_id, channel, channel_txn_id);
-- Callbacks name a payment by the id Custos gave the channel, before the platform is known.
create index payins_id on payins (id);

create table orders (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  order_no text not null,
  buyer_id uuid,
  mode text not null check (mode in ('guaranteed', 'direct_t0', 'direct_t1')),
  funding text not null check (funding in ('balance', 'channel')),
  channel text,
  payin_id uuid,
  escrow_mode text not null check (escrow_mode in ('intermediate', 'buyer', 'seller')),
  status text not null check (status in ('awaiting_payment', 'escrowed', 'completed', 'refunded', 'failed')),
  amount bigint not null check (amount > 0),
  escrowed_amount bigint not null check (escrowed_amount >= 0),
  released_amount bigint not null check (released_amount >= 0),
  refunded_amount bigint not null check (refunded_amount >= 0),
  -- Per payee: member, amount, fee, escrowed, released, fee_released, refunded, fee_refunded.
  payees jsonb not null,
  -- Where the buyer's money came from, bucket by bucket, for refunds and lineage.
  funded_from jsonb not null,
  auto_confirm_at timestamptz,
  business_date date not null,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (platform_id, id)
);
create index orders_due on orders (auto_confirm_at) where status = 'escrowed';
create index orders_buyer on orders (platform_id, buyer_id) where status = 'escrowed';

create table refunds (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  order_id uuid not null,
  member_id uuid not null,
  buyer_id uuid not null,
  amount bigint not null check (amount > 0),
  from_escrow bigint not null,
  from_payee bigint not null,
  from_fees bigint not null,
  entry_id uuid not null,
  created_at timestamptz not null,
  primary key (platform_id, id)
);
create index refunds_order on refunds (platform_id, order_id);

create table transfers (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  order_no text not null,
  purpose text not null check (purpose in ('subsidy', 'pay_to_platform', 'same_name')),
  from_member_id uuid,
  from_account text,
  to_member_id uuid,
  to_account text,
  amount bigint not null check (amount > 0),
  status text not null,
  entry_id uuid not null,
  created_at timestamptz not null,
  primary key (platform_id, id)
);

-- One-time codes by which a member consents to pay the platform.
create table consents (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  member_id uuid not null,
  purpose text not null,
  amount bigint not null,
  code_hash text not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  created_at timestamptz not null,
  primary key (platform_id, id)
);
create index consents_member on consents (platform_id, member_id, created_at);

create table bank_credits (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  amount bigint not null check (amount > 0),
  payer_account_enc text not null,
  payer_account_hash text not null,
  payer_name_enc text not null,
  memo text not null,
  status text not null check (status in ('credited', 'suspense')),
  member_id uuid,
  suspense_id uuid,
  entry_id uuid not null,
  bank_txn_id text,
  business_date date not null,
  created_at timestamptz not null,
  primary key (platform_id, id)
);

create table suspense_items (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  bank_credit_id uuid not null,
  amount bigint not null check (amount > 0),
  allocated bigint not null default 0,
  reversed bigint not null default 0,
  status text not null check (status in ('open', 'allocated', 'reversed', 'settled')),
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (platform_id, id),
  check (allocated + reversed <= amount)
);

-- Trade proceeds a member holds, lot by lot (order, business date), so that pending money
-- becomes withdrawable by its own date and every withdrawal can name the trades behind it.
create table proceeds_lots (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  member_id uuid not null,
  bucket text not null check (bucket in ('pending', 'withdrawable')),
  order_id uuid,
  order_no text,
  business_date date not null,
  amount bigint not null check (amount > 0),
  remaining bigint not null check (remaining >= 0),
  created_at timestamptz not null,
  primary key (platform_id, id)
);
create index proceeds_lots_member on proceeds_lots (platform_id, member_id, bucket, business_date) where remaining > 0;

-- The audit trail and outbox: every state change of an object, numbered per object.
create table object_events (
  platform_id uuid not null,
  id uuid not null,
  version integer not null,
  object_type text not null,
  object_id uuid not null,
  sequence integer not null,
  type text not null,
  actor text not null,
  reason text,
  data jsonb not null,
  created_at timestamptz not null,
  primary key (platform_id, id),
  unique (platform_id, object_id, sequence)
);
