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
