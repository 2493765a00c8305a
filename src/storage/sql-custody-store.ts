import { sql } from 'kysely';
import type { Kysely, Selectable } from 'kysely';
import type { AccountInput, Id } from '../ledger/index.js';
import { flagsFor, memberAccountCodes, platformAccountCodes } from '../custody/chart-of-accounts.js';
import type { EscrowMode, MemberAccountCode, PlatformAccountCode } from '../custody/chart-of-accounts.js';
import type {
  CardRecord,
  CardStatus,
  CredentialRecord,
  IdempotencyStart,
  MemberRecord,
  NewMember,
  NewPlatform,
  Page,
  PlatformRecord,
  Role,
  VerificationCallRecord,
  VerificationFeeLine,
  VerificationKind,
} from '../custody/records.js';
import type { CardsTable, CredentialsTable, CustodyDatabase, Database, MembersTable } from './database.js';
import { isUniqueViolation } from './pg-errors.js';
import { createAccountsIn } from './ledger-accounts.js';
import type { CardEvent } from '../custody/card-service.js';

type Db = Kysely<CustodyDatabase>;

const toDate = (ms: number): Date => new Date(ms);
const toMs = (date: Date | null): number | null => (date === null ? null : date.getTime());

/** Accounts of a chart, created in the ledger inside the same transaction as the rows. */
function chartAccounts(ids: Readonly<Partial<Record<string, Id>>>): AccountInput[] {
  return Object.entries(ids)
    .filter((entry): entry is [string, Id] => entry[1] !== undefined)
    .map(([code, id]) => ({ id, code, currency: 'CNY', flags: flagsFor(code) }));
}

/**
 * Custody rows on the same database as the ledger (PGlite or PostgreSQL, same SQL). Where a
 * row and its ledger accounts must appear together (a platform and its chart of accounts, a
 * member and its buckets) they are written in one transaction.
 */
export class SqlCustodyStore {
  constructor(private readonly db: Db) {}

  static on(ledgerKysely: Kysely<Database>): SqlCustodyStore {
    return new SqlCustodyStore(ledgerKysely as unknown as Db);
  }

  /** Readiness: the database answers and the custody tables exist. */
  async ping(): Promise<boolean> {
    try {
      await sql`select 1 from platforms limit 1`.execute(this.db);
      return true;
    } catch {
      return false;
    }
  }

  // Platforms

  async createPlatform(platform: NewPlatform, apiKey: CredentialRecord): Promise<PlatformRecord> {
    return this.db.transaction().execute(async (trx) => {
      const results = await createAccountsIn(
        trx as unknown as Kysely<Database>,
        platform.id,
        chartAccounts(platform.accounts),
        platform.createdAtMs,
      );
      if (results.some((r) => r.code !== 'created')) throw new Error('the chart of accounts could not be opened');
      const row = await trx
        .insertInto('platforms')
        .values({
          platform_id: platform.id,
          name: platform.name,
          escrow_mode: platform.escrowMode,
          auto_confirm_seconds: platform.autoConfirmSeconds,
          legal_id_number_enc: platform.legalIdNumberEnc,
          legal_id_number_hash: platform.legalIdNumberHash,
          created_at: toDate(platform.createdAtMs),
        })
        .returning(['no', 'status'])
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('platform_accounts')
        .values(platformAccountCodes.map((code) => ({ platform_id: platform.id, code, account_id: platform.accounts[code] })))
        .execute();
      await insertCredential(trx, apiKey);
      return {
        id: platform.id,
        no: row.no,
        name: platform.name,
        escrowMode: platform.escrowMode,
        autoConfirmSeconds: platform.autoConfirmSeconds,
        legalIdNumberHash: platform.legalIdNumberHash,
        status: row.status as PlatformRecord['status'],
        createdAtMs: platform.createdAtMs,
        accounts: platform.accounts,
      };
    });
  }

  async getPlatform(id: Id): Promise<PlatformRecord | undefined> {
    const row = await this.db.selectFrom('platforms').selectAll().where('platform_id', '=', id).executeTakeFirst();
    if (row === undefined) return undefined;
    const accounts = await this.db
      .selectFrom('platform_accounts')
      .select(['code', 'account_id'])
      .where('platform_id', '=', id)
      .execute();
    const byCode = Object.fromEntries(accounts.map((a) => [a.code, a.account_id])) as Record<PlatformAccountCode, Id>;
    return {
      id: row.platform_id,
      no: row.no,
      name: row.name,
      escrowMode: row.escrow_mode as EscrowMode,
      autoConfirmSeconds: row.auto_confirm_seconds,
      legalIdNumberHash: row.legal_id_number_hash,
      status: row.status as PlatformRecord['status'],
      createdAtMs: row.created_at.getTime(),
      accounts: byCode,
    };
  }

  async listPlatformIds(page: Page): Promise<Id[]> {
    let query = this.db.selectFrom('platforms').select('platform_id').orderBy('platform_id').limit(page.limit);
    if (page.afterId !== undefined) query = query.where('platform_id', '>', page.afterId);
    return (await query.execute()).map((row) => row.platform_id);
  }

  // Credentials

  async insertCredential(credential: CredentialRecord): Promise<void> {
    await insertCredential(this.db, credential);
  }

  async findCredentialBySecretHash(secretHash: string): Promise<CredentialRecord | undefined> {
    const row = await this.db
      .selectFrom('credentials')
      .selectAll()
      .where('secret_hash', '=', secretHash)
      .executeTakeFirst();
    return row === undefined ? undefined : toCredential(row);
  }

  async listCredentials(platformId: Id, kind: CredentialRecord['kind']): Promise<CredentialRecord[]> {
    const rows = await this.db
      .selectFrom('credentials')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('kind', '=', kind)
      .orderBy('id')
      .execute();
    return rows.map(toCredential);
  }

  async revokeCredential(platformId: Id, id: Id, kind: CredentialRecord['kind'], atMs: number): Promise<CredentialRecord | undefined> {
    await this.db
      .updateTable('credentials')
      .set({ revoked_at: toDate(atMs) })
      .where('platform_id', '=', platformId)
      .where('id', '=', id)
      .where('kind', '=', kind)
      .where('revoked_at', 'is', null)
      .execute();
    const row = await this.db
      .selectFrom('credentials')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('id', '=', id)
      .where('kind', '=', kind)
      .executeTakeFirst();
    return row === undefined ? undefined : toCredential(row);
  }

  async countActiveOperators(): Promise<number> {
    const row = await this.db
      .selectFrom('credentials')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('kind', '=', 'operator')
      .where('revoked_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  // Members

  /**
   * Opens a member and its bucket accounts in one transaction; the member's number and
   * sub-account number come from the platform's counter, taken under its row lock.
   */
  async createMember(
    member: NewMember,
    subAccountNo: (platformNo: number, seq: bigint) => string,
  ): Promise<MemberRecord | 'duplicate_external_id'> {
    return this.db.transaction().execute(async (trx) => {
      const platform = await trx
        .updateTable('platforms')
        .set((eb) => ({ members_opened: eb('members_opened', '+', 1n) }))
        .where('platform_id', '=', member.platformId)
        .returning(['no', 'members_opened'])
        .executeTakeFirstOrThrow();
      const taken = await trx
        .selectFrom('members')
        .select('id')
        .where('platform_id', '=', member.platformId)
        .where('external_id', '=', member.externalId)
        .executeTakeFirst();
      if (taken !== undefined) return 'duplicate_external_id';
      const seq = platform.members_opened;
      const record: MemberRecord = { ...member, seq, subAccountNo: subAccountNo(platform.no, seq), status: 'active' };
      const results = await createAccountsIn(
        trx as unknown as Kysely<Database>,
        member.platformId,
        chartAccounts(member.accounts),
        member.createdAtMs,
      );
      if (results.some((r) => r.code !== 'created')) throw new Error("the member's accounts could not be opened");
      await trx.insertInto('members').values(memberRow(record)).execute();
      return record;
    });
  }

  async getMember(platformId: Id, id: Id): Promise<MemberRecord | undefined> {
    const row = await this.db
      .selectFrom('members')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toMember(row);
  }

  async listMembers(
    platformId: Id,
    page: Page & { externalId?: string | undefined; idNumberHash?: string | undefined; phoneHash?: string | undefined },
  ): Promise<MemberRecord[]> {
    let query = this.db
      .selectFrom('members')
      .selectAll()
      .where('platform_id', '=', platformId)
      .orderBy('seq')
      .limit(page.limit);
    if (page.externalId !== undefined) query = query.where('external_id', '=', page.externalId);
    if (page.idNumberHash !== undefined) query = query.where('id_number_hash', '=', page.idNumberHash);
    if (page.phoneHash !== undefined) query = query.where('phone_hash', '=', page.phoneHash);
    if (page.afterId !== undefined) {
      const after = page.afterId;
      query = query.where('seq', '>', (eb) =>
        eb.selectFrom('members').select('seq').where('platform_id', '=', platformId).where('id', '=', after),
      );
    }
    return (await query.execute()).map(toMember);
  }

  // Cards

  async insertCard(card: CardRecord): Promise<'inserted' | 'live_binding_exists'> {
    try {
      await this.db.insertInto('cards').values(cardRow(card)).execute();
      return 'inserted';
    } catch (error) {
      if (isUniqueViolation(error, 'cards_one_live')) return 'live_binding_exists';
      throw error;
    }
  }

  async getCard(platformId: Id, id: Id): Promise<CardRecord | undefined> {
    const row = await this.db
      .selectFrom('cards')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toCard(row);
  }

  async findLiveCard(platformId: Id, memberId: Id, cardNumberHash: string): Promise<CardRecord | undefined> {
    const row = await this.db
      .selectFrom('cards')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('member_id', '=', memberId)
      .where('card_number_hash', '=', cardNumberHash)
      .where('status', 'in', ['verifying', 'bound'])
      .executeTakeFirst();
    return row === undefined ? undefined : toCard(row);
  }

  async listCards(platformId: Id, memberId: Id): Promise<CardRecord[]> {
    const rows = await this.db
      .selectFrom('cards')
      .selectAll()
      .where('platform_id', '=', platformId)
      .where('member_id', '=', memberId)
      .orderBy('id')
      .execute();
    return rows.map(toCard);
  }

  /**
   * Moves a card on only from the state the caller saw: concurrent answers cannot both win.
   * An event, if given, is recorded in the same transaction (numbered after the card's last),
   * so the audit trail and webhooks see every change that happened and nothing else.
   */
  async updateCard(card: CardRecord, expected: { status: CardStatus; wrongAnswers: number }, event?: CardEvent): Promise<boolean> {
    if (event === undefined) return this.updateCardIn(this.db, card, expected);
    return this.db.transaction().execute(async (trx) => {
      if (!(await this.updateCardIn(trx, card, expected))) return false;
      // The update holds the card's row lock until commit: no other change numbers alongside.
      const last = await trx
        .selectFrom('object_events')
        .select((eb) => eb.fn.max('sequence').as('sequence'))
        .where('platform_id', '=', card.platformId)
        .where('object_id', '=', card.id)
        .executeTakeFirst();
      await trx
        .insertInto('object_events')
        .values({
          platform_id: card.platformId,
          id: event.id,
          version: 1,
          object_type: 'card',
          object_id: card.id,
          sequence: Number(last?.sequence ?? 0) + 1,
          type: event.type,
          actor: event.actor,
          reason: null,
          data: JSON.stringify(event.data),
          created_at: toDate(event.atMs),
        })
        .execute();
      return true;
    });
  }

  private async updateCardIn(db: Kysely<CustodyDatabase>, card: CardRecord, expected: { status: CardStatus; wrongAnswers: number }): Promise<boolean> {
    const result = await db
      .updateTable('cards')
      .set({
        status: card.status,
        challenge_hash: card.challengeHash,
        challenge_expires_at: card.challengeExpiresAtMs === null ? null : toDate(card.challengeExpiresAtMs),
        wrong_answers: card.wrongAnswers,
        failure_reason: card.failureReason,
        bound_at: card.boundAtMs === null ? null : toDate(card.boundAtMs),
        ended_at: card.endedAtMs === null ? null : toDate(card.endedAtMs),
      })
      .where('platform_id', '=', card.platformId)
      .where('id', '=', card.id)
      .where('status', '=', expected.status)
      .where('wrong_answers', '=', expected.wrongAnswers)
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  // Verification calls

  async recordVerificationCall(call: VerificationCallRecord): Promise<void> {
    await this.db
      .insertInto('verification_calls')
      .values({
        platform_id: call.platformId,
        id: call.id,
        member_id: call.memberId,
        card_id: call.cardId,
        kind: call.kind,
        provider: call.provider,
        request_id: call.requestId,
        provider_ref: call.providerRef,
        outcome: call.outcome,
        fee_minor: call.feeMinor,
        attempts: call.attempts,
        latency_ms: call.latencyMs,
        created_at: toDate(call.createdAtMs),
      })
      .execute();
  }

  async countVerificationCalls(platformId: Id, memberId: Id, kind: VerificationKind, sinceMs: number): Promise<number> {
    const row = await this.db
      .selectFrom('verification_calls')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('platform_id', '=', platformId)
      .where('member_id', '=', memberId)
      .where('kind', '=', kind)
      .where('created_at', '>=', toDate(sinceMs))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async verificationFees(platformId: Id, fromMs: number, toMsExclusive: number): Promise<VerificationFeeLine[]> {
    const rows = await this.db
      .selectFrom('verification_calls')
      .select((eb) => [
        'kind',
        'provider',
        eb.fn.countAll<string>().as('calls'),
        eb.fn.sum<string>('fee_minor').as('fee'),
      ])
      .where('platform_id', '=', platformId)
      .where('created_at', '>=', toDate(fromMs))
      .where('created_at', '<', toDate(toMsExclusive))
      .groupBy(['kind', 'provider'])
      .orderBy('kind')
      .orderBy('provider')
      .execute();
    return rows.map((row) => ({
      kind: row.kind as VerificationKind,
      provider: row.provider,
      calls: Number(row.calls),
      feeMinor: BigInt(row.fee ?? '0'),
    }));
  }

  // Idempotent requests

  /**
   * Claims an Idempotency-Key for a request, or tells why not: a finished request with the
   * same body is replayed, another body is refused, a running one is in use. Expired keys
   * and running claims whose lock has passed (their process died) are taken over.
   */
  async startIdempotent(
    scope: Id,
    credentialId: Id,
    key: string,
    requestHash: string,
    nowMs: number,
    lockMs: number,
    ttlMs: number,
  ): Promise<IdempotencyStart> {
    return this.db.transaction().execute(async (trx) => {
      const claimed = await trx
        .insertInto('idempotent_requests')
        .values({
          platform_id: scope,
          credential_id: credentialId,
          key,
          request_hash: requestHash,
          state: 'running',
          locked_until: toDate(nowMs + lockMs),
          created_at: toDate(nowMs),
          expires_at: toDate(nowMs + ttlMs),
        })
        .onConflict((oc) => oc.columns(['platform_id', 'credential_id', 'key']).doNothing())
        .returning('key')
        .executeTakeFirst();
      if (claimed !== undefined) return { kind: 'started' };
      const row = await trx
        .selectFrom('idempotent_requests')
        .selectAll()
        .where('platform_id', '=', scope)
        .where('credential_id', '=', credentialId)
        .where('key', '=', key)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const expired = row.expires_at.getTime() <= nowMs;
      const abandoned = row.state === 'running' && row.locked_until.getTime() <= nowMs;
      if (expired || (abandoned && row.request_hash === requestHash)) {
        await trx
          .updateTable('idempotent_requests')
          .set({
            request_hash: requestHash,
            state: 'running',
            locked_until: toDate(nowMs + lockMs),
            response_status: null,
            response_body: null,
            created_at: toDate(nowMs),
            expires_at: toDate(nowMs + ttlMs),
          })
          .where('platform_id', '=', scope)
          .where('credential_id', '=', credentialId)
          .where('key', '=', key)
          .execute();
        return { kind: 'started' };
      }
      if (row.request_hash !== requestHash) return { kind: 'reused' };
      if (row.state === 'running') return { kind: 'in_use' };
      return { kind: 'replay', status: row.response_status ?? 500, body: row.response_body ?? '' };
    });
  }

  async finishIdempotent(scope: Id, credentialId: Id, key: string, status: number, body: string): Promise<void> {
    await this.db
      .updateTable('idempotent_requests')
      .set({ state: 'done', response_status: status, response_body: body })
      .where('platform_id', '=', scope)
      .where('credential_id', '=', credentialId)
      .where('key', '=', key)
      .execute();
  }

  /** Forgets a claim whose request failed inside Custos, so that a retry runs it again. */
  async releaseIdempotent(scope: Id, credentialId: Id, key: string): Promise<void> {
    await this.db
      .deleteFrom('idempotent_requests')
      .where('platform_id', '=', scope)
      .where('credential_id', '=', credentialId)
      .where('key', '=', key)
      .where('state', '=', 'running')
      .execute();
  }

  async deleteExpiredIdempotent(nowMs: number, limit: number): Promise<number> {
    const result = await sql`
      delete from idempotent_requests where ctid in (
        select ctid from idempotent_requests where expires_at <= ${toDate(nowMs).toISOString()}::timestamptz limit ${limit})`.execute(this.db);
    return Number(result.numAffectedRows ?? 0n);
  }

  // Settings

  async getSetting(scope: Id, key: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('system_settings')
      .select('value')
      .where('platform_id', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  async setSetting(scope: Id, key: string, value: string, nowMs: number): Promise<void> {
    await this.db
      .insertInto('system_settings')
      .values({ platform_id: scope, key, value, updated_at: toDate(nowMs) })
      .onConflict((oc) => oc.columns(['platform_id', 'key']).doUpdateSet({ value, updated_at: toDate(nowMs) }))
      .execute();
  }
}

async function insertCredential(db: Db, credential: CredentialRecord): Promise<void> {
  await db
    .insertInto('credentials')
    .values({
      platform_id: credential.platformId,
      id: credential.id,
      kind: credential.kind,
      name: credential.name,
      role: credential.role,
      secret_hash: credential.secretHash,
      secret_prefix: credential.secretPrefix,
      created_at: toDate(credential.createdAtMs),
      revoked_at: credential.revokedAtMs === null ? null : toDate(credential.revokedAtMs),
    })
    .execute();
}

function toCredential(row: Selectable<CredentialsTable>): CredentialRecord {
  return {
    platformId: row.platform_id,
    id: row.id,
    kind: row.kind as CredentialRecord['kind'],
    name: row.name,
    role: row.role as Role | null,
    secretHash: row.secret_hash,
    secretPrefix: row.secret_prefix,
    createdAtMs: row.created_at.getTime(),
    revokedAtMs: toMs(row.revoked_at),
  };
}

function memberRow(m: MemberRecord) {
  return {
    platform_id: m.platformId,
    id: m.id,
    external_id: m.externalId,
    seq: m.seq,
    sub_account_no: m.subAccountNo,
    type: m.type,
    property: m.property,
    status: m.status,
    name_enc: m.nameEnc,
    id_number_enc: m.idNumberEnc,
    id_number_hash: m.idNumberHash,
    phone_enc: m.phoneEnc,
    phone_hash: m.phoneHash,
    spendable_account_id: m.accounts.member_spendable,
    pending_account_id: m.accounts.member_pending,
    withdrawable_account_id: m.accounts.member_withdrawable,
    frozen_account_id: m.accounts.member_frozen ?? null,
    created_at: toDate(m.createdAtMs),
  };
}

function toMember(row: Selectable<MembersTable>): MemberRecord {
  const accounts: Partial<Record<MemberAccountCode, Id>> = {};
  for (const code of memberAccountCodes) {
    const column = {
      member_spendable: row.spendable_account_id,
      member_pending: row.pending_account_id,
      member_withdrawable: row.withdrawable_account_id,
      member_frozen: row.frozen_account_id,
    }[code];
    if (column !== null) accounts[code] = column;
  }
  return {
    platformId: row.platform_id,
    id: row.id,
    externalId: row.external_id,
    seq: row.seq,
    subAccountNo: row.sub_account_no,
    type: row.type as MemberRecord['type'],
    property: row.property as MemberRecord['property'],
    status: row.status as MemberRecord['status'],
    nameEnc: row.name_enc,
    idNumberEnc: row.id_number_enc,
    idNumberHash: row.id_number_hash,
    phoneEnc: row.phone_enc,
    phoneHash: row.phone_hash,
    accounts: {
      ...accounts,
      member_spendable: row.spendable_account_id,
      member_pending: row.pending_account_id,
      member_withdrawable: row.withdrawable_account_id,
    },
    createdAtMs: row.created_at.getTime(),
  };
}

function cardRow(c: CardRecord) {
  return {
    platform_id: c.platformId,
    id: c.id,
    member_id: c.memberId,
    method: c.method,
    status: c.status,
    card_number_enc: c.cardNumberEnc,
    card_number_hash: c.cardNumberHash,
    last4: c.last4,
    phone_enc: c.phoneEnc,
    challenge_hash: c.challengeHash,
    challenge_expires_at: c.challengeExpiresAtMs === null ? null : toDate(c.challengeExpiresAtMs),
    wrong_answers: c.wrongAnswers,
    failure_reason: c.failureReason,
    created_at: toDate(c.createdAtMs),
    bound_at: c.boundAtMs === null ? null : toDate(c.boundAtMs),
    ended_at: c.endedAtMs === null ? null : toDate(c.endedAtMs),
  };
}

function toCard(row: Selectable<CardsTable>): CardRecord {
  return {
    platformId: row.platform_id,
    id: row.id,
    memberId: row.member_id,
    method: row.method as CardRecord['method'],
    status: row.status as CardStatus,
    cardNumberEnc: row.card_number_enc,
    cardNumberHash: row.card_number_hash,
    last4: row.last4,
    phoneEnc: row.phone_enc,
    challengeHash: row.challenge_hash,
    challengeExpiresAtMs: toMs(row.challenge_expires_at),
    wrongAnswers: row.wrong_answers,
    failureReason: row.failure_reason,
    createdAtMs: row.created_at.getTime(),
    boundAtMs: toMs(row.bound_at),
    endedAtMs: toMs(row.ended_at),
  };
}
