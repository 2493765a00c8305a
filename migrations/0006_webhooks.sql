-- Webhooks: endpoints platforms register, one delivery per (endpoint, event) fanned out from
-- the transactional outbox (object_events), and every attempt at sending one. These tables
-- are NOT written through book commands: a delivery is not money, and it is claimed and
-- settled by dispatchers (several processes may share one database) with row locks.

create table webhook_endpoints (
  platform_id uuid not null,
  id uuid not null,
  url text not null,
  -- Event types (strings of the catalogue) or ["*"].
  events jsonb not null,
  -- Signing secrets, encrypted by the vault; the previous one still signs until it expires.
  secret_enc text not null,
  previous_secret_enc text,
  previous_secret_expires_at timestamptz,
  status text not null check (status in ('active', 'disabled', 'failing')),
  failing_since timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (platform_id, id),
  check ((status = 'failing') = (failing_since is not null))
);
-- Fan-out looks at the endpoints still subscribed; operators look at the failing ones.
create index webhook_endpoints_live on webhook_endpoints (platform_id, created_at) where status <> 'disabled';
create index webhook_endpoints_failing on webhook_endpoints (failing_since, platform_id, id) where status = 'failing';

create table webhook_deliveries (
  platform_id uuid not null,
  id uuid not null,
  endpoint_id uuid not null,
  event_id uuid not null,
  -- 0 for the delivery fan-out made; 1, 2 … for each redelivery a platform asked for.
  redelivery integer not null default 0,
  event_type text not null,
  object_id uuid not null,
  sequence integer not null,
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  attempts integer not null default 0,
  first_attempt_at timestamptz,
  next_attempt_at timestamptz not null,
  -- A dispatcher's claim: the attempt in flight is its own until claimed_until (a lease, so
  -- a crashed dispatcher's claim is taken over once it has passed).
  claimed_by text,
  claimed_until timestamptz,
  last_status_code integer,
  last_error text,
  last_latency_ms integer,
  delivered_at timestamptz,
  created_at timestamptz not null,
  updated_at timestamptz not null,
  primary key (platform_id, id),
  -- Fan-out is idempotent: an event reaches an endpoint once (redeliveries aside).
  unique (platform_id, endpoint_id, event_id, redelivery)
);
-- Due deliveries, oldest due first.
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at) where status = 'pending';
-- Per-object order: is an earlier update of this object to this endpoint still pending?
create index webhook_deliveries_object on webhook_deliveries (platform_id, endpoint_id, object_id, sequence) where status = 'pending';
-- The deliveries of an event (fan-out's second look behind its cursor, redelivery).
create index webhook_deliveries_event on webhook_deliveries (platform_id, event_id);
-- An endpoint's deliveries, newest last (ids are time-ordered).
create index webhook_deliveries_endpoint on webhook_deliveries (platform_id, endpoint_id, id);

create table webhook_attempts (
  platform_id uuid not null,
  id uuid not null,
  delivery_id uuid not null,
  endpoint_id uuid not null,
  -- 1 for the first attempt of the delivery; one row per number, so an attempt is never
  -- recorded twice even if two dispatchers believed they held the claim.
  attempt integer not null,
  status_code integer,
  latency_ms integer not null,
  error text,
  attempted_at timestamptz not null,
  primary key (platform_id, id),
  unique (platform_id, delivery_id, attempt)
);

-- How far fan-out has read each platform's events (the largest event id read).
create table webhook_fanout_cursors (
  platform_id uuid not null,
  last_event_id uuid not null,
  updated_at timestamptz not null,
  primary key (platform_id)
);
