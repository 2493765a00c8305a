import { randomInt } from 'node:crypto';
import { ProviderUnavailableError } from '../channels/identity/identity-verifier.js';
import type { IdentityVerifier, ProviderCall } from '../channels/identity/identity-verifier.js';
import type { Clock } from '../clock.js';
import { defaultTimeZone, businessDate, startOfBusinessDate } from '../business-date.js';
import { CustodyError } from '../errors.js';
import { newId } from '../ids.js';
import type { Id } from '../ledger/index.js';
import { limits } from '../limits.js';
import { last4, maskCardNumber } from '../security/masking.js';
import type { PiiVault } from '../security/pii-vault.js';
import { isBankCardNumber, isMainlandMobile, normalizeBankCardNumber, normalizeMainlandMobile } from './identity-validators.js';
import type { MemberService } from './member-service.js';
import type { CardMethod, CardRecord, CardStatus, MemberRecord, VerificationCallRecord, VerificationFeeLine, VerificationKind } from './records.js';

/** A change of a card recorded with it, for the audit trail and webhooks (`card.bound`). */
export interface CardEvent {
  readonly id: Id;
  readonly type: string;
  readonly actor: string;
  readonly atMs: number;
  /** The card as the API shows it after the change (ids internal, times RFC 3339). */
  readonly data: Readonly<Record<string, unknown>>;
}

export interface CardRepository {
  insertCard(card: CardRecord): Promise<'inserted' | 'live_binding_exists'>;
  getCard(platformId: Id, id: Id): Promise<CardRecord | undefined>;
  findLiveCard(platformId: Id, memberId: Id, cardNumberHash: string): Promise<CardRecord | undefined>;
  listCards(platformId: Id, memberId: Id): Promise<CardRecord[]>;
  updateCard(card: CardRecord, expected: { status: CardStatus; wrongAnswers: number }, event?: CardEvent): Promise<boolean>;
  recordVerificationCall(call: VerificationCallRecord): Promise<void>;
  countVerificationCalls(platformId: Id, memberId: Id, kind: VerificationKind, sinceMs: number): Promise<number>;
  verificationFees(platformId: Id, fromMs: number, toMsExclusive: number): Promise<VerificationFeeLine[]>;
}

export interface StartBinding {
  readonly method: CardMethod;
  readonly cardNumber: string;
  /** The phone number the card's bank holds (four-element binding). */
  readonly phone?: string | undefined;
}

export interface ConfirmBinding {
  readonly smsCode?: string | undefined;
  readonly amountMinor?: bigint | undefined;
}

export interface CardView {
  readonly id: Id;
  readonly memberId: Id;
  readonly method: CardMethod;
  readonly status: CardStatus;
  readonly cardNumber: string;
  readonly last4: string;
  readonly createdAtMs: number;
  readonly boundAtMs: number | null;
  readonly failureReason: string | null;
  /** Only in sandbox mode: the answer the member would receive. */
  readonly sandbox?: { readonly smsCode?: string; readonly amountMinor?: bigint };
}

/**
 * Binding withdrawal cards (绑卡): four-element verification with an SMS code, or a
 * small-amount deposit the member types back within 48 hours. Only bound cards receive
 * withdrawals. Every provider call is recorded with its result and fee.
 */
export class CardService {
  constructor(
    private readonly repository: CardRepository,
    private readonly members: MemberService,
    private readonly verifier: IdentityVerifier,
    private readonly vault: PiiVault,
    private readonly clock: Clock,
    private readonly sandbox: boolean,
  ) {}

  async start(platformId: Id, memberId: Id, command: StartBinding): Promise<CardView> {
    const member = await this.members.record(platformId, memberId);
    const { cardNumber, phone } = this.checkStart(member, command);
    const nowMs = this.clock.nowMs();
    await this.checkDailyLimit(member, nowMs);
    const cardNumberHash = this.vault.lookupHash('card_number', cardNumber);
    await this.supersede(member, cardNumberHash, nowMs);
    const id = newId(nowMs);
    const card: CardRecord = {
      platformId,
      id,
      memberId,
      method: command.method,
      status: 'verifying',
      cardNumberEnc: this.vault.encrypt(cardNumber, `card:${platformId}:${id}:card_number`),
      cardNumberHash,
      last4: last4(cardNumber),
      phoneEnc: phone === null ? null : this.vault.encrypt(phone, `card:${platformId}:${id}:phone`),
      challengeHash: null,
      challengeExpiresAtMs: null,
      wrongAnswers: 0,
      failureReason: null,
      createdAtMs: nowMs,
      boundAtMs: null,
      endedAtMs: null,
    };
    if ((await this.repository.insertCard(card)) === 'live_binding_exists') {
      throw new CustodyError('card_already_bound', 'This card is being bound or is bound already.', 'card_number');
    }
    return command.method === 'four_element'
      ? this.startFourElement(member, card, cardNumber, phone ?? '')
      : this.startSmallAmount(member, card, cardNumber);
  }

  async confirm(platformId: Id, memberId: Id, cardId: Id, answer: ConfirmBinding, actor = 'platform'): Promise<CardView> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const card = await this.card(platformId, memberId, cardId);
      const nowMs = this.clock.nowMs();
      if (card.status !== 'verifying') throw new CustodyError('card_not_verifying', `The card is ${card.status}.`);
      const expected = { status: card.status, wrongAnswers: card.wrongAnswers };
      if (card.challengeExpiresAtMs === null || nowMs > card.challengeExpiresAtMs) {
        if (await this.repository.updateCard({ ...card, status: 'expired', challengeHash: null, endedAtMs: nowMs, failureReason: 'answer_window_passed' }, expected)) {
          throw new CustodyError('verification_expired', 'The time to answer has passed; start binding again.');
        }
        continue;
      }
      const given = this.answerOf(card, answer);
      if (this.vault.lookupHash('challenge', `${card.id}:${given}`) === card.challengeHash) {
        const bound: CardRecord = { ...card, status: 'bound', challengeHash: null, challengeExpiresAtMs: null, boundAtMs: nowMs };
        const view = this.view(bound);
        const event = { id: newId(nowMs), type: 'card.bound', actor, atMs: nowMs, data: cardEventData(view) };
        if (await this.repository.updateCard(bound, expected, event)) return view;
        continue;
      }
      const wrongAnswers = card.wrongAnswers + 1;
      const failed = wrongAnswers >= limits.verificationWrongAnswersMax;
      const next: CardRecord = failed
        ? { ...card, wrongAnswers, status: 'failed', challengeHash: null, endedAtMs: nowMs, failureReason: 'too_many_wrong_answers' }
        : { ...card, wrongAnswers };
      if (!(await this.repository.updateCard(next, expected))) continue;
      throw new CustodyError(
        'verification_failed',
        failed
          ? 'Wrong answer; too many wrong answers, the binding failed. Start binding again.'
          : `Wrong answer; ${limits.verificationWrongAnswersMax - wrongAnswers} attempt(s) left.`,
        card.method === 'four_element' ? 'sms_code' : 'amount',
      );
    }
    throw new CustodyError('state_conflict', 'The card changed while answering; try again.');
  }

  async unbind(platformId: Id, memberId: Id, cardId: Id): Promise<CardView> {
    const card = await this.card(platformId, memberId, cardId);
    if (card.status === 'unbound') return this.view(card);
    if (card.status !== 'bound' && card.status !== 'verifying') {
      throw new CustodyError('card_not_bound', `The card is ${card.status}.`);
    }
    const unbound: CardRecord = { ...card, status: 'unbound', challengeHash: null, endedAtMs: this.clock.nowMs() };
    if (!(await this.repository.updateCard(unbound, { status: card.status, wrongAnswers: card.wrongAnswers }))) {
      return this.unbind(platformId, memberId, cardId);
    }
    return this.view(unbound);
  }

  async get(platformId: Id, memberId: Id, cardId: Id): Promise<CardView> {
    return this.view(await this.card(platformId, memberId, cardId));
  }

  async list(platformId: Id, memberId: Id): Promise<CardView[]> {
    await this.members.record(platformId, memberId);
    return (await this.repository.listCards(platformId, memberId)).map((card) => this.view(card));
  }

  /** The card a withdrawal may pay to: the member's own, and bound. */
  async boundCard(platformId: Id, memberId: Id, cardId: Id): Promise<CardRecord> {
    const card = await this.repository.getCard(platformId, cardId);
    if (card === undefined) throw new CustodyError('card_not_bound', 'No such card.', 'card_id');
    // Bound first, then owned: the order the checks are documented in.
    if (card.status !== 'bound') throw new CustodyError('card_not_bound', `The card is ${card.status}.`, 'card_id');
    if (card.memberId !== memberId) throw new CustodyError('card_not_owned', 'The card belongs to another member.', 'card_id');
    return card;
  }

  /** The stored card, whatever its state (for paying out a withdrawal already reserved to it). */
  async recordOf(platformId: Id, cardId: Id): Promise<CardRecord> {
    const card = await this.repository.getCard(platformId, cardId);
    if (card === undefined) throw new CustodyError('not_found', 'No such card.', 'card_id');
    return card;
  }

  cardNumberOf(card: CardRecord): string {
    return this.vault.decrypt(card.cardNumberEnc, `card:${card.platformId}:${card.id}:card_number`);
  }

  async fees(platformId: Id, fromMs: number, toMsExclusive: number): Promise<VerificationFeeLine[]> {
    return this.repository.verificationFees(platformId, fromMs, toMsExclusive);
  }

  private checkStart(member: MemberRecord, command: StartBinding): { cardNumber: string; phone: string | null } {
    // The bank-reserved phone defaults to the member's phone on file.
    if (command.method === 'four_element' && member.type === 'enterprise') {
      throw new CustodyError('invalid_request', 'Enterprises bind cards by small-amount verification only.', 'method');
    }
    const cardNumber = normalizeBankCardNumber(command.cardNumber);
    if (!isBankCardNumber(cardNumber)) {
      throw new CustodyError('invalid_request', 'card_number must be 12 to 19 digits passing the Luhn check.', 'card_number');
    }
    if (command.method === 'small_amount') return { cardNumber, phone: null };
    const phone = normalizeMainlandMobile(command.phone ?? this.members.personal(member).phone);
    if (!isMainlandMobile(phone)) {
      throw new CustodyError('invalid_request', "phone (the card's bank-reserved mobile number) is required.", 'phone');
    }
    return { cardNumber, phone };
  }

  /** Verification messages (SMS codes and small deposits) per member per business day. */
  private async checkDailyLimit(member: MemberRecord, nowMs: number): Promise<void> {
    const since = startOfBusinessDate(businessDate(nowMs, defaultTimeZone), defaultTimeZone);
    const sent =
      (await this.repository.countVerificationCalls(member.platformId, member.id, 'sms', since)) +
      (await this.repository.countVerificationCalls(member.platformId, member.id, 'micro_deposit', since));
    if (sent >= limits.smsSendsPerMemberPerDayMax) {
      throw new CustodyError(
        'verification_limit_exceeded',
        `At most ${limits.smsSendsPerMemberPerDayMax} verification messages per member per day.`,
      );
    }
    const live = (await this.repository.listCards(member.platformId, member.id)).filter(
      (card) => card.status === 'bound' || card.status === 'verifying',
    );
    if (live.length >= limits.cardsPerMemberMax) {
      throw new CustodyError('verification_limit_exceeded', `At most ${limits.cardsPerMemberMax} cards per member.`);
    }
  }

  /** Starting again on a card that is still verifying ends the old attempt; a bound card stays. */
  private async supersede(member: MemberRecord, cardNumberHash: string, nowMs: number): Promise<void> {
    const live = await this.repository.findLiveCard(member.platformId, member.id, cardNumberHash);
    if (live === undefined) return;
    if (live.status === 'bound') throw new CustodyError('card_already_bound', 'The member has bound this card already.', 'card_number');
    await this.repository.updateCard(
      { ...live, status: 'expired', challengeHash: null, endedAtMs: nowMs, failureReason: 'superseded' },
      { status: live.status, wrongAnswers: live.wrongAnswers },
    );
  }

  private async startFourElement(member: MemberRecord, card: CardRecord, cardNumber: string, phone: string): Promise<CardView> {
    const personal = this.members.personal(member);
    const check = await this.call(card, 'four_element', () =>
      this.verifier.verifyFourElements({ requestId: `${card.id}:four_element`, name: personal.name, idNumber: personal.idNumber, cardNumber, phone }),
    );
    if (check.outcome === 'mismatch') {
      await this.fail(card, 'four_element_mismatch');
      throw new CustodyError('verification_failed', 'The name, ID number, card and phone do not match at the bank.', 'card_number');
    }
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await this.call(card, 'sms', () =>
      this.verifier.sendSms({ requestId: `${card.id}:sms`, phone, text: `[Custos] Your card binding code is ${code}. It expires in ${limits.smsCodeTtlSeconds / 60} minutes.` }),
    );
    return this.challenge(card, code, limits.smsCodeTtlSeconds, { smsCode: code });
  }

  private async startSmallAmount(member: MemberRecord, card: CardRecord, cardNumber: string): Promise<CardView> {
    const personal = this.members.personal(member);
    const amountMinor = BigInt(randomInt(1, Number(limits.microDepositMinorMax) + 1));
    const deposit = await this.call(card, 'micro_deposit', () =>
      this.verifier.sendMicroDeposit({ requestId: `${card.id}:micro_deposit`, name: personal.name, cardNumber, amountMinor }),
    );
    if (deposit.outcome === 'rejected') {
      await this.fail(card, 'deposit_rejected');
      throw new CustodyError('verification_failed', "The card's bank refused the verification deposit.", 'card_number');
    }
    return this.challenge(card, amountMinor.toString(), limits.smallAmountWindowSeconds, { amountMinor });
  }

  private async challenge(
    card: CardRecord,
    answer: string,
    ttlSeconds: number,
    sandbox: { smsCode?: string; amountMinor?: bigint },
  ): Promise<CardView> {
    const next: CardRecord = {
      ...card,
      challengeHash: this.vault.lookupHash('challenge', `${card.id}:${answer}`),
      challengeExpiresAtMs: this.clock.nowMs() + ttlSeconds * 1000,
    };
    await this.repository.updateCard(next, { status: card.status, wrongAnswers: card.wrongAnswers });
    const view = this.view(next);
    return this.sandbox ? { ...view, sandbox } : view;
  }

  /** Calls the provider and records the call, whatever came of it. */
  private async call<R extends ProviderCall & { outcome: string }>(
    card: CardRecord,
    kind: VerificationKind,
    request: () => Promise<R>,
  ): Promise<R> {
    const base = { platformId: card.platformId, memberId: card.memberId, cardId: card.id, kind };
    try {
      const result = await request();
      await this.repository.recordVerificationCall({
        ...base,
        id: newId(this.clock.nowMs()),
        provider: result.provider,
        requestId: result.requestId,
        providerRef: result.providerRef,
        outcome: result.outcome,
        feeMinor: result.feeMinor,
        attempts: result.attempts,
        latencyMs: Math.round(result.latencyMs),
        createdAtMs: this.clock.nowMs(),
      });
      return result;
    } catch (error) {
      // Whatever went wrong with the provider, the attempt is over: it is recorded, the card
      // fails (never left verifying without a challenge), and the member may start again.
      const unavailable = error instanceof ProviderUnavailableError ? error : null;
      await this.repository.recordVerificationCall({
        ...base,
        id: newId(this.clock.nowMs()),
        provider: unavailable?.provider ?? this.verifier.provider,
        requestId: unavailable?.requestId ?? `${card.id}:${kind}`,
        providerRef: null,
        outcome: unavailable === null ? 'error' : 'unavailable',
        feeMinor: 0n,
        attempts: unavailable?.attempts ?? 1,
        latencyMs: 0,
        createdAtMs: this.clock.nowMs(),
      });
      await this.fail(card, unavailable === null ? 'provider_error' : 'provider_unavailable');
      throw new CustodyError('unavailable', 'The identity-verification provider did not answer properly; try again later.');
    }
  }

  private async fail(card: CardRecord, reason: string): Promise<void> {
    await this.repository.updateCard(
      { ...card, status: 'failed', failureReason: reason, endedAtMs: this.clock.nowMs() },
      { status: card.status, wrongAnswers: card.wrongAnswers },
    );
  }

  private answerOf(card: CardRecord, answer: ConfirmBinding): string {
    if (card.method === 'four_element') {
      if (answer.smsCode === undefined || !/^\d{6}$/.test(answer.smsCode)) {
        throw new CustodyError('invalid_request', 'sms_code (6 digits) is required to confirm this card.', 'sms_code');
      }
      return answer.smsCode;
    }
    if (answer.amountMinor === undefined) {
      throw new CustodyError('invalid_request', 'amount (the deposit received, in fen) is required to confirm this card.', 'amount');
    }
    return answer.amountMinor.toString();
  }

  private async card(platformId: Id, memberId: Id, cardId: Id): Promise<CardRecord> {
    const card = await this.repository.getCard(platformId, cardId);
    if (card === undefined || card.memberId !== memberId) throw new CustodyError('not_found', 'No such card.', 'card_id');
    return card;
  }

  private view(card: CardRecord): CardView {
    return {
      id: card.id,
      memberId: card.memberId,
      method: card.method,
      status: card.status,
      cardNumber: maskCardNumber(this.cardNumberOf(card)),
      last4: card.last4,
      createdAtMs: card.createdAtMs,
      boundAtMs: card.boundAtMs,
      failureReason: card.failureReason,
    };
  }
}

/** A card as its events carry it: the view's fields, snake_case, times RFC 3339. */
function cardEventData(view: CardView): Record<string, unknown> {
  return {
    id: view.id,
    member_id: view.memberId,
    method: view.method,
    status: view.status,
    card_number: view.cardNumber,
    last4: view.last4,
    created_at: new Date(view.createdAtMs).toISOString(),
    bound_at: view.boundAtMs === null ? null : new Date(view.boundAtMs).toISOString(),
    failure_reason: view.failureReason,
  };
}
