import type { Generated } from 'kysely';

/**
 * Table types for Kysely, as both drivers return them: bigint for int8 (parsers set in each
 * adapter), string for uuid and text, Date for timestamptz, bytes for bytea.
 */
export interface LedgerBooksTable {
  platform_id: string;
  entry_seq: bigint;
  head_hash: Uint8Array;
  version: bigint;
  accounts_opened: bigint;
  last_occurred_at: Date;
  created_at: Date;
}

export interface LedgerAccountsTable {
  platform_id: string;
  id: string;
  num: bigint;
  code: string;
  currency: string;
  flags: number;
  closed: boolean;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
  created_at: Date;
}

export interface LedgerEntriesTable {
  platform_id: string;
  seq: bigint;
  id: string;
  kind: string;
  pending_id: string | null;
  timeout_at: Date | null;
  command: string;
  reference: string | null;
  actor: string | null;
  occurred_at: Date;
  posting_count: number;
  hash: Uint8Array;
  /** The posting of an entry with one posting (migration 0010); null for the others. */
  debit_account: bigint | null;
  credit_account: bigint | null;
  amount: bigint | null;
  pending_released: bigint | null;
  debit_posted_after: bigint | null;
  debit_pending_after: bigint | null;
  credit_posted_after: bigint | null;
  credit_pending_after: bigint | null;
}

export interface LedgerPostingsTable {
  platform_id: string;
  entry_seq: bigint;
  idx: number;
  debit_account: bigint;
  credit_account: bigint;
  amount: bigint;
  pending_released: bigint;
  debit_posted_after: bigint;
  debit_pending_after: bigint;
  credit_posted_after: bigint;
  credit_pending_after: bigint;
}

export interface LedgerPendingTable {
  platform_id: string;
  entry_id: string;
  entry_seq: bigint;
  timeout_at: Date | null;
  state: string;
  resolved_seq: bigint | null;
}

export interface Database {
  ledger_books: LedgerBooksTable;
  ledger_accounts: LedgerAccountsTable;
  ledger_entries: LedgerEntriesTable;
  ledger_postings: LedgerPostingsTable;
  ledger_pending: LedgerPendingTable;
}

export interface PlatformsTable {
  platform_id: string;
  no: Generated<number>;
  name: string;
  escrow_mode: string;
  auto_confirm_seconds: number;
  legal_id_number_enc: string | null;
  legal_id_number_hash: string | null;
  members_opened: Generated<bigint>;
  status: Generated<string>;
  created_at: Date;
}

export interface PlatformAccountsTable {
  platform_id: string;
  code: string;
  account_id: string;
}

export interface CredentialsTable {
  platform_id: string;
  id: string;
  kind: string;
  name: string;
  role: string | null;
  secret_hash: string;
  secret_prefix: string;
  created_at: Date;
  revoked_at: Date | null;
}

export interface MembersTable {
  platform_id: string;
  id: string;
  external_id: string;
  seq: bigint;
  sub_account_no: string;
  type: string;
  property: string;
  status: string;
  name_enc: string;
  id_number_enc: string;
  id_number_hash: string;
  phone_enc: string;
  phone_hash: string;
  spendable_account_id: string;
  pending_account_id: string;
  withdrawable_account_id: string;
  frozen_account_id: string | null;
  created_at: Date;
}

export interface CardsTable {
  platform_id: string;
  id: string;
  member_id: string;
  method: string;
  status: string;
  card_number_enc: string;
  card_number_hash: string;
  last4: string;
  phone_enc: string | null;
  challenge_hash: string | null;
  challenge_expires_at: Date | null;
  wrong_answers: number;
  failure_reason: string | null;
  created_at: Date;
  bound_at: Date | null;
  ended_at: Date | null;
}

export interface VerificationCallsTable {
  platform_id: string;
  id: string;
  member_id: string;
  card_id: string;
  kind: string;
  provider: string;
  request_id: string;
  provider_ref: string | null;
  outcome: string;
  fee_minor: bigint;
  attempts: number;
  latency_ms: number;
  created_at: Date;
}

export interface IdempotentRequestsTable {
  platform_id: string;
  credential_id: string;
  key: string;
  request_hash: string;
  state: string;
  locked_until: Date;
  response_status: number | null;
  response_body: string | null;
  created_at: Date;
  expires_at: Date;
}

export interface SystemSettingsTable {
  platform_id: string;
  key: string;
  value: string;
  updated_at: Date;
}

export interface BusinessKeysTable {
  platform_id: string;
  id: string;
  version: number;
  kind: string;
  object_id: string;
  created_at: Date;
}

export interface PayinsTable {
  platform_id: string;
  id: string;
  version: number;
  order_no: string;
  purpose: string;
  member_id: string | null;
  account_code: string | null;
  order_id: string | null;
  amount: bigint;
  currency: string;
  channel: string;
  channel_txn_id: string | null;
  status: string;
  failure_reason: string | null;
  entry_id: string | null;
  business_date: string;
  created_at: Date;
  decided_at: Date | null;
}

export interface OrdersTable {
  platform_id: string;
  id: string;
  version: number;
  order_no: string;
  buyer_id: string | null;
  mode: string;
  funding: string;
  channel: string | null;
  payin_id: string | null;
  escrow_mode: string;
  status: string;
  amount: bigint;
  escrowed_amount: bigint;
  released_amount: bigint;
  refunded_amount: bigint;
  payees: unknown;
  funded_from: unknown;
  auto_confirm_at: Date | null;
  business_date: string;
  created_at: Date;
  updated_at: Date;
}

export interface RefundsTable {
  platform_id: string;
  id: string;
  version: number;
  order_id: string;
  member_id: string;
  buyer_id: string;
  amount: bigint;
  from_escrow: bigint;
  from_payee: bigint;
  from_fees: bigint;
  entry_id: string;
  created_at: Date;
}

export interface TransfersTable {
  platform_id: string;
  id: string;
  version: number;
  order_no: string;
  purpose: string;
  from_member_id: string | null;
  from_account: string | null;
  to_member_id: string | null;
  to_account: string | null;
  amount: bigint;
  status: string;
  entry_id: string;
  created_at: Date;
}

export interface ConsentsTable {
  platform_id: string;
  id: string;
  version: number;
  member_id: string;
  purpose: string;
  amount: bigint;
  code_hash: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: Date;
}

export interface BankCreditsTable {
  platform_id: string;
  id: string;
  version: number;
  amount: bigint;
  payer_account_enc: string;
  payer_account_hash: string;
  payer_name_enc: string;
  memo: string;
  status: string;
  member_id: string | null;
  suspense_id: string | null;
  entry_id: string;
  bank_txn_id: string | null;
  business_date: string;
  created_at: Date;
}

export interface SuspenseItemsTable {
  platform_id: string;
  id: string;
  version: number;
  bank_credit_id: string;
  amount: bigint;
  allocated: bigint;
  reversed: bigint;
  status: string;
  created_at: Date;
  updated_at: Date;
}

export interface ProceedsLotsTable {
  platform_id: string;
  id: string;
  version: number;
  member_id: string;
  bucket: string;
  order_id: string | null;
  order_no: string | null;
  entry_id: string | null;
  business_date: string;
  amount: bigint;
  remaining: bigint;
  created_at: Date;
}

export interface ObjectEventsTable {
  platform_id: string;
  id: string;
  version: number;
  object_type: string;
  object_id: string;
  sequence: number;
  type: string;
  actor: string;
  reason: string | null;
  data: unknown;
  created_at: Date;
}

export interface WithdrawalsTable {
  platform_id: string;
  id: string;
  version: number;
  order_no: string;
  member_id: string;
  card_id: string;
  card_last4: string;
  amount: bigint;
  fee: bigint;
  currency: string;
  rail: string;
  status: string;
  step: string;
  risk_decision: string;
  risk_rules: unknown;
  reserve_entry_id: string | null;
  rail_txn_id: string | null;
  failure_reason: string | null;
  attempts: number;
  next_attempt_at: Date | null;
  watch_until: Date | null;
  reviewed_by: string | null;
  review_reason: string | null;
  business_date: string;
  created_at: Date;
  updated_at: Date;
  decided_at: Date | null;
  returned_at: Date | null;
}

export interface WithdrawalSourcesTable {
  platform_id: string;
  id: string;
  version: number;
  withdrawal_id: string;
  lot_id: string;
  order_id: string | null;
  order_no: string | null;
  business_date: string;
  amount: bigint;
}

export interface RiskRulesTable {
  platform_id: string;
  id: string;
  version: number;
  action: string;
  enabled: boolean;
  params: unknown;
  updated_by: string;
  updated_at: Date;
}

export interface MemberFlagsTable {
  platform_id: string;
  id: string;
  linked_to_platform: boolean;
  reason: string | null;
  updated_by: string;
  updated_at: Date;
}

export interface AdjustmentsTable {
  platform_id: string;
  id: string;
  version: number;
  debit_account_id: string;
  credit_account_id: string;
  amount: bigint;
  reason: string;
  status: string;
  maker: string;
  checker: string | null;
  decision_reason: string | null;
  entry_id: string | null;
  created_at: Date;
  decided_at: Date | null;
}

export interface CustodyDatabase extends Database {
  withdrawals: WithdrawalsTable;
  withdrawal_sources: WithdrawalSourcesTable;
  risk_rules: RiskRulesTable;
  member_flags: MemberFlagsTable;
  adjustments: AdjustmentsTable;
  business_keys: BusinessKeysTable;
  payins: PayinsTable;
  orders: OrdersTable;
  refunds: RefundsTable;
  transfers: TransfersTable;
  consents: ConsentsTable;
  bank_credits: BankCreditsTable;
  suspense_items: SuspenseItemsTable;
  proceeds_lots: ProceedsLotsTable;
  object_events: ObjectEventsTable;
  platforms: PlatformsTable;
  platform_accounts: PlatformAccountsTable;
  credentials: CredentialsTable;
  members: MembersTable;
  cards: CardsTable;
  verification_calls: VerificationCallsTable;
  idempotent_requests: IdempotentRequestsTable;
  system_settings: SystemSettingsTable;
}
