-- Custody: platforms, credentials, members, cards, identity-verification calls, idempotent
-- requests and system settings. The bank itself is tenant zero: rows that belong to no
-- platform (operators, operators' idempotency keys, system settings) carry the nil uuid as
-- platform_id, so that every key still starts with platform_id.

create sequence platform_no_seq start 1001;

create table platforms (
  platform_id uuid primary key references ledger_books (platform_id),
  -- Four digits that start every sub-account number of this platform.
  no integer not null default nextval('platform_no_seq'),
  name text not null,
  escrow_mode text not null check (escrow_mode in ('intermediate', 'buyer', 'seller')),
  auto_confirm_seconds integer not null check (auto_confirm_seconds > 0),
  legal_id_number_enc text,
  legal_id_number_hash text,
  members_opened bigint not null default 0,
  status text not null default 'active' check (status in ('active', 'suspended')),
  created_at timestamptz not null
);

-- The platform's chart of accounts: one ledger account per function.
create table platform_accounts (
  platform_id uuid not null references platforms (platform_id),
  code text not null,
  account_id uuid not null,
  primary key (platform_id, code)
);

-- Platform API keys and operator tokens; only a hash of the secret is kept.
create table credentials (
  platform_id uuid not null,
  id uuid not null,
  kind text not null check (kind in ('api_key', 'operator')),
  name text not null,
  role text check (role in ('viewer', 'operator', 'approver', 'admin')),
  secret_hash text not null,
  -- The first characters of the secret, to recognise a key in lists and logs.
  secret_prefix text not null,
  created_at timestamptz not null,
  revoked_at timestamptz,
  primary key (platform_id, id),
  check ((kind = 'operator') = (role is not null))
);
-- Looked up on every request, before the platform is known; a hash of 32 random bytes.
create index credentials_secret on credentials (secret_hash);

create table members (
  platform_id uuid not null references platforms (platform_id),
  id uuid not null,
  external_id text not null,
  seq bigint not null,
  sub_account_no text not null,
  type text not null check (type in ('individual', 'enterprise')),
  property text not null check (property in ('ordinary', 'merchant')),
  status text not null default 'active' check (status in ('active', 'frozen', 'closed')),
  name_enc text not null,
  id_number_enc text not null,
  id_number_hash text not null,
  phone_enc text not null,
  phone_hash text not null,
  spendable_account_id uuid not null,
  pending_account_id uuid not null,
  withdrawable_account_id uuid not null,
  frozen_account_id uuid,
  created_at timestamptz not null,
  primary key (platform_id, id),
  unique (platform_id, external_id),
  unique (platform_id, sub_account_no),
  unique (platform_id, seq)
);
create index members_id_number on members (platform_id, id_number_hash);

create table cards (
  platform_id uuid not null,
  id uuid not null,
  member_id uuid not null,
  method text not null check (method in ('four_element', 'small_amount')),
  status text not null check (status in ('verifying', 'bound', 'failed', 'expired', 'unbound')),
  card_number_enc text not null,
  card_number_hash text not null,
  last4 text not null,
  phone_enc text,
  -- What the member must answer (an SMS code or the deposited amount), as a keyed hash.
  challenge_hash text,
  challenge_expires_at timestamptz,
  wrong_answers integer not null default 0,
  failure_reason text,
  created_at timestamptz not null,
  bound_at timestamptz,
  ended_at timestamptz,
  primary key (platform_id, id),
  foreign key (platform_id, member_id) references members (platform_id, id)
);
create index cards_member on cards (platform_id, member_id);
-- One binding per card and member at a time.
create unique index cards_one_live on cards (platform_id, member_id, card_number_hash)
  where status in ('verifying', 'bound');

-- Every call to an identity-verification provider, with what it cost.
create table verification_calls (
  platform_id uuid not null,
  id uuid not null,
  member_id uuid not null,
  card_id uuid not null,
  kind text not null check (kind in ('four_element', 'sms', 'micro_deposit')),
  provider text not null,
  request_id text not null,
  provider_ref text,
  outcome text not null,
  fee_minor bigint not null check (fee_minor >= 0),
  attempts integer not null,
  latency_ms integer not null,
  created_at timestamptz not null,
  primary key (platform_id, id)
);
create index verification_calls_member on verification_calls (platform_id, member_id, kind, created_at);
create index verification_calls_time on verification_calls (platform_id, created_at);

-- Idempotent requests, scoped to the credential that sent them, kept 24 hours.
create table idempotent_requests (
  platform_id uuid not null,
  credential_id uuid not null,
  key text not null,
  request_hash text not null,
  state text not null check (state in ('running', 'done')),
  -- A running request whose process died is taken over once this has passed.
  locked_until timestamptz not null,
  response_status integer,
  response_body text,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  primary key (platform_id, credential_id, key)
);
create index idempotent_requests_expiry on idempotent_requests (expires_at);

create table system_settings (
  platform_id uuid not null,
  key text not null,
  value text not null,
  updated_at timestamptz not null,
  primary key (platform_id, key)
);
