import type { Clock } from '../clock.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Account, Id, LedgerStore } from '../ledger/index.js';
import { limits } from '../limits.js';
import type { PiiVault } from '../security/pii-vault.js';
import { normalBalance, platformAccountCodes } from './chart-of-accounts.js';
import type { EscrowMode, PlatformAccountCode } from './chart-of-accounts.js';
import type { CredentialService } from './credential-service.js';
import { isResidentIdNumber, isUnifiedSocialCreditCode, normalizeIdNumber } from './identity-validators.js';
import type { CredentialRecord, NewPlatform, Page, PlatformRecord } from './records.js';

export interface PlatformRepository {
  createPlatform(platform: NewPlatform, apiKey: CredentialRecord): Promise<PlatformRecord>;
  getPlatform(id: Id): Promise<PlatformRecord | undefined>;
  listPlatformIds(page: Page): Promise<Id[]>;
}

export interface SignPlatform {
  readonly name: string;
  readonly escrowMode?: EscrowMode | undefined;
  readonly autoConfirmSeconds?: number | undefined;
  /** The platform's legal person (resident ID number or unified social credit code). */
  readonly legalIdNumber?: string | undefined;
}

export interface AccountView {
  readonly id: Id;
  readonly code: string;
  readonly currency: string;
  /** On the account's normal side: ≥ 0 in normal operation. */
  readonly balanceMinor: bigint;
}

export interface PlatformView extends Omit<PlatformRecord, 'accounts' | 'legalIdNumberHash'> {
  readonly accounts: readonly AccountView[];
}

/** Signing platforms (签约): a platform's row, its chart of accounts and its first API key, together. */
export class PlatformService {
  constructor(
    private readonly repository: PlatformRepository,
    private readonly ledger: LedgerStore,
    private readonly credentials: CredentialService,
    private readonly vault: PiiVault,
    private readonly clock: Clock,
  ) {}

  async sign(command: SignPlatform): Promise<{ platform: PlatformView; apiKey: string }> {
    const name = command.name.trim();
    if (name.length === 0 || name.length > limits.platformNameLengthMax) {
      throw new CustodyError('invalid_request', `name must be 1 to ${limits.platformNameLengthMax} characters.`, 'name');
    }
    const autoConfirmSeconds = command.autoConfirmSeconds ?? limits.autoConfirmSecondsDefault;
    if (autoConfirmSeconds < limits.autoConfirmSecondsMin || autoConfirmSeconds > limits.autoConfirmSecondsMax) {
      throw new CustodyError(
        'invalid_request',
        `auto_confirm_seconds must be between ${limits.autoConfirmSecondsMin} and ${limits.autoConfirmSecondsMax}.`,
        'auto_confirm_seconds',
      );
    }
    const nowMs = this.clock.nowMs();
    const id = newId(nowMs);
    const legal = this.legalIdNumber(id, command.legalIdNumber, nowMs);
    const accounts = Object.fromEntries(platformAccountCodes.map((code) => [code, newId(nowMs)])) as Record<PlatformAccountCode, Id>;
    const apiKey = this.credentials.apiKey(id, 'first key');
    const record = await this.repository.createPlatform(
      {
        id,
        name,
        escrowMode: command.escrowMode ?? 'intermediate',
        autoConfirmSeconds,
        legalIdNumberEnc: legal?.enc ?? null,
        legalIdNumberHash: legal?.hash ?? null,
        createdAtMs: nowMs,
        accounts,
      },
      apiKey.record,
    );
    return { platform: await this.view(record), apiKey: apiKey.secret };
  }

  async get(id: Id): Promise<PlatformView> {
    return this.view(await this.record(id));
  }

  /** `param`: the request field that named the platform, for the 404. */
  async record(id: Id, param = 'id'): Promise<PlatformRecord> {
    const record = await this.repository.getPlatform(id);
    if (record === undefined) throw new CustodyError('not_found', 'No such platform.', param);
    return record;
  }

  async list(page: Page): Promise<PlatformView[]> {
    const ids = await this.repository.listPlatformIds(page);
    return Promise.all(ids.map((id) => this.get(id)));
  }

  private legalIdNumber(platformId: Id, value: string | undefined, nowMs: number): { enc: string; hash: string } | null {
    if (value === undefined) return null;
    const normalized = normalizeIdNumber(value);
    if (!isResidentIdNumber(normalized, nowMs) && !isUnifiedSocialCreditCode(normalized)) {
      throw new CustodyError(
        'invalid_request',
        'legal_id_number must be a resident ID number or a unified social credit code.',
        'legal_id_number',
      );
    }
    return {
      enc: this.vault.encrypt(normalized, `platform:${platformId}:legal_id_number`),
      hash: this.vault.lookupHash('id_number', normalized),
    };
  }

  private async view(record: PlatformRecord): Promise<PlatformView> {
    const ids = platformAccountCodes.map((code) => record.accounts[code]);
    const accounts = new Map((await this.ledger.getAccounts(record.id, ids)).map((a) => [a.id, a]));
    const { legalIdNumberHash: _hash, accounts: _ids, ...rest } = record;
    return {
      ...rest,
      accounts: platformAccountCodes.map((code) => accountView(accounts.get(record.accounts[code]), code)),
    };
  }
}

export function accountView(account: Account | undefined, code: string): AccountView {
  if (account === undefined) throw new Error(`ledger account for ${code} is missing`);
  return { id: account.id, code, currency: account.currency, balanceMinor: normalBalance(code, account) };
}
